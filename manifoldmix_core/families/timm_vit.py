"""The timm family: timm VisionTransformer checkpoints (`patch_embed.proj.weight`, `blocks.0.norm1.weight`, with timm's
own `head.*`), built by `timm.create_model(architecture, num_classes=0, **options)` and never downloading weights.
The fused.safetensors of a run is already a timm state dict: `timm.create_model(architecture, num_classes=N,
**options).load_state_dict(...)` accepts it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from ..anatomy import Anatomy, KeyLayout, head_prefix
from ..errors import ConfigError
from .registry import Family, register

ANATOMY = Anatomy(r"^blocks\.(?P<idx>\d+)\.(?P<rest>.*)$", ("norm1", "attn", "ls1"), ("norm.", "fc_norm.", "attn_pool."))
KEYS = ("patch_embed.proj.weight", "blocks.0.norm1.weight")


def detect(names: set[str], folder_config: Mapping | None = None) -> KeyLayout | None:
    """timm's VisionTransformer names; its classifier is its own `head`."""
    if not all(k in names for k in KEYS):
        return None
    return KeyLayout("", head_prefix(names), "timm_vit", ANATOMY)


def _name(model_config, folder_config: Mapping | None):
    return model_config.architecture or (folder_config or {}).get("architecture")


def _needs_name(name, known: str) -> ConfigError:
    got = json.dumps(name) if isinstance(name, (Mapping, list)) else repr(name)
    also = " (a vision-config object is another family's setting, e.g. open_clip's)" if isinstance(name, Mapping) else ""
    return ConfigError(f"for the timm_vit family, model.architecture names a timm model (e.g. {known}, ...), "
                       f"got {got}{also}; shape changes such as depth or img_size go into model.options")


def check(model_config, folder_config: Mapping | None = None) -> None:
    """Without timm: a timm pool needs a model name (timm cannot tell one from the checkpoint's names)."""
    name = _name(model_config, folder_config)
    if not isinstance(name, str):
        raise _needs_name(name, "vit_base_patch16_224, vit_small_patch16_224")


def spec(model_config, signature, layout: KeyLayout, folder_config: Mapping | None = None):
    """The classifier's spec: the timm model name (required), its `options`, and the image size the model is built for."""
    import timm
    import torch

    from ..models import ModelSpec

    name = _name(model_config, folder_config)
    if not isinstance(name, str) or not timm.is_model(name):
        raise _needs_name(name, ", ".join(timm.list_models("vit_*")[:12]))
    head = signature[layout.head_prefix + "weight"].shape
    spec = ModelSpec(name, embed_dim=head[1], num_classes=head[0], normalize_features=model_config.normalize_features,
                     image_mean=tuple(model_config.image_mean), image_std=tuple(model_config.image_std), family="timm_vit",
                     options=dict(model_config.options))
    with torch.device("meta"):
        size = build(spec).patch_embed.img_size
    return dataclasses.replace(spec, input_size=int(size[0]))


def build(spec):
    """timm's public builder, without its head (the classifier's head is ours) and without pretrained weights."""
    import timm

    try:
        return timm.create_model(spec.architecture, pretrained=False, num_classes=0, **spec.options)
    except (TypeError, ValueError, AssertionError, RuntimeError) as exc:
        raise ConfigError(f"timm cannot build {spec.architecture} with options {dict(spec.options)}: "
                          f"{type(exc).__name__}: {exc}") from exc


def features(tower, images):
    """timm's pooled pre-logits features (its head is the identity when built with num_classes=0)."""
    return tower(images)


TIMM_VIT = register(Family(
    "timm_vit", "timm ViT", detect, KEYS,
    spec="manifoldmix_core.families.timm_vit:spec", build="manifoldmix_core.families.timm_vit:build",
    features="manifoldmix_core.families.timm_vit:features", library="timm",
    check="manifoldmix_core.families.timm_vit:check"))
