"""Build the classifier (a model family's image tower + linear head) from data, never downloading weights.

A checkpoint's key layout (anatomy.KeyLayout) says where the image tower and the head live in its
parameter names and which family (families/) builds the tower; every other parameter (the text
tower's leftovers) is inert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from .anatomy import OPENAI_MEAN, OPENAI_STD, KeyLayout, Signature
from .errors import ConfigError, IngredientError
from .families.registry import FAMILIES
from .lazy import load_ref


@dataclass(frozen=True)
class ModelSpec:
    """Architecture as data: the family, its own architecture (an open_clip config name or vision-config dict, a timm
    model name, a Hugging Face vision config) and builder options, plus the head."""

    architecture: str | Mapping
    embed_dim: int
    num_classes: int
    normalize_features: bool = False
    quick_gelu: bool = False
    image_mean: tuple[float, float, float] = OPENAI_MEAN
    image_std: tuple[float, float, float] = OPENAI_STD
    family: str = "open_clip"
    options: Mapping = field(default_factory=dict)
    input_size: int | None = None  # the image size, for families whose architecture does not read as an open_clip config

    @property
    def vision_cfg(self) -> dict:
        """The open_clip vision config this spec stands for."""
        if isinstance(self.architecture, str):
            return dict(_named_config(self.architecture)["vision_cfg"])
        return dict(self.architecture)

    @property
    def image_size(self) -> int:
        if self.input_size is not None:
            return self.input_size
        size = self.vision_cfg.get("image_size", 224)
        return size if isinstance(size, int) else size[0]


def _named_config(name: str) -> dict:
    cfg = open_clip.get_model_config(name)
    if cfg is None:
        known = ", ".join(n for n in open_clip.list_models() if n.startswith("ViT"))[:400]
        raise ConfigError(f"unknown open_clip model config '{name}'; known ViT configs include: {known}")
    return cfg


def spec_from_signature(architecture: str | Mapping, signature: Signature, layout: KeyLayout,
                        normalize_features: bool = False, quick_gelu: bool | None = None,
                        image_mean=OPENAI_MEAN, image_std=OPENAI_STD) -> ModelSpec:
    """Infer head size and feature width from the checkpoint so users only name the architecture."""
    head = signature[layout.head_prefix + "weight"].shape
    if len(head) != 2:
        raise IngredientError("<checkpoint>", f"head weight must be 2-D, got shape {list(head)}",
                              param=layout.head_prefix + "weight")
    if quick_gelu is None:
        quick_gelu = bool(_named_config(architecture).get("quick_gelu", False)) if isinstance(architecture, str) else False
    return ModelSpec(architecture, embed_dim=head[1], num_classes=head[0], normalize_features=normalize_features,
                     quick_gelu=quick_gelu, image_mean=tuple(image_mean), image_std=tuple(image_std))


class Classifier(nn.Module):
    """Image tower (built by its family's library) -> (optional L2 normalisation) -> linear head, as in model-soups' ModelWrapper."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        family = FAMILIES[spec.family]
        self.visual = load_ref(family.build)(spec)
        self.tower_features = load_ref(family.features)
        self.head = nn.Linear(spec.embed_dim, spec.num_classes)
        self.normalize_features = spec.normalize_features
        self.register_buffer("mean", torch.tensor(spec.image_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.image_std).view(1, 3, 1, 1), persistent=False)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """What the head sees for images [N, 3, H, W] in 0..255: scaled and normalised in float32, then through the tower
        in the dtype of the weights (bfloat16 on a GPU, see evaluate.py)."""
        x = (images.to(self.mean.dtype) / 255.0 - self.mean) / self.std
        features = self.tower_features(self.visual, x.to(self.head.weight.dtype))
        return F.normalize(features, dim=-1) if self.normalize_features else features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits for images [N, 3, H, W] in 0..255 (uint8 or float), computed on the device."""
        return self.head(self.features(images))


def build_classifier(spec: ModelSpec, device: torch.device | str = "cpu") -> Classifier:
    """A classifier whose parameters are unset (meta) until `bind` points them at real storage."""
    with torch.device("meta"):
        model = Classifier(spec)
    model.mean = torch.tensor(spec.image_mean, device=device).view(1, 3, 1, 1)
    model.std = torch.tensor(spec.image_std, device=device).view(1, 3, 1, 1)
    stale = [name for name, buffer in model.visual.named_buffers() if buffer.is_meta]
    if stale and torch.device(device).type != "meta":  # a tower that keeps buffers (Hugging Face's position ids): their values
        real = dict(Classifier(spec).visual.named_buffers())
        for name in stale:
            module_name, _, attr = name.rpartition(".")
            setattr(model.visual.get_submodule(module_name), attr, real[name].to(device))
    return model.eval().requires_grad_(False)


def check_architecture(model: Classifier, signature: Signature, layout: KeyLayout, source: str) -> None:
    """Fail early, naming the parameter, when a checkpoint does not fit the chosen architecture."""
    expected = {name: tuple(p.shape) for name, p in model.named_parameters()}
    found = {layout.classifier_name(n): (n, info.shape) for n, info in signature.items() if layout.classifier_name(n)}
    for name, shape in expected.items():
        if name not in found:
            raise IngredientError(source, f"the architecture needs '{name}' but the checkpoint has no such parameter")
        ckpt_name, ckpt_shape = found[name]
        if tuple(ckpt_shape) != shape:
            raise IngredientError(source, f"has shape {list(ckpt_shape)} but the architecture expects {list(shape)}; "
                                  "is the model config right?", param=ckpt_name)
    extra = [ckpt for name, (ckpt, _) in found.items() if name not in expected]
    if extra:
        raise IngredientError(source, "is not used by the chosen architecture; is the model config right?", param=extra[0])


def bind(model: Classifier, tensors: Mapping[str, torch.Tensor]) -> None:
    """Make the classifier's parameters views of the given tensors, so in-place mixing needs no reload."""
    for name, tensor in tensors.items():
        module_name, _, attr = name.rpartition(".")
        module = model.get_submodule(module_name)
        setattr(module, attr, nn.Parameter(tensor, requires_grad=False))
