"""The Hugging Face CLIP family: `CLIPVisionModel` / `CLIPVisionModelWithProjection` checkpoints (`vision_model.*`, or
the prefix-less names of a bare `CLIPVisionTransformer`), with a linear head; built by transformers from the model
folder's config.json, the checkpoint's shapes, `model.architecture` (a CLIPVisionConfig object) and `model.options`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from ..anatomy import Anatomy, KeyLayout, head_prefix
from .registry import Family, register

ANATOMY = Anatomy(r"^encoder\.layers\.(?P<idx>\d+)\.(?P<rest>.*)$", ("layer_norm1", "self_attn"),
                  ("post_layernorm", "visual_projection"), inner_prefix="vision_model.")
PATCH = "embeddings.patch_embedding.weight"
BARE_ROOTS = ("embeddings.", "pre_layrnorm.", "encoder.", "post_layernorm.")  # a CLIPVisionTransformer's own names
PROJECTION = "visual_projection.weight"
_NOT_CONFIG = ("architectures", "transformers_version", "model_type", "dtype", "torch_dtype")


def detect(names: set[str], folder_config: Mapping | None = None) -> KeyLayout | None:
    """`vision_model.embeddings.patch_embedding.weight` (CLIPVisionModelWithProjection, and CLIPVisionModel before
    transformers 5) or the prefix-less names (CLIPVisionModel since transformers 5, a bare CLIPVisionTransformer).

    The tower is built with the names the checkpoint has: WithProjection when it holds `visual_projection.weight`, else
    the bare vision transformer (prefix-less names whatever the transformers version)."""
    if "vision_model." + PATCH in names and PROJECTION in names:
        return KeyLayout("", head_prefix(names), "hf_clip", ANATOMY, ("vision_model.", "visual_projection."))
    if "vision_model." + PATCH in names:
        return KeyLayout("vision_model.", head_prefix(names), "hf_clip", ANATOMY)
    if PATCH in names:
        return KeyLayout("", head_prefix(names), "hf_clip", ANATOMY, BARE_ROOTS)
    return None


def check(model_config, folder_config: Mapping | None = None) -> None:
    """Without transformers: model.architecture, when given, is a CLIPVisionConfig object, not a name."""
    from ..errors import ConfigError

    if model_config.architecture is not None and not isinstance(model_config.architecture, Mapping):
        raise ConfigError("for the hf_clip family, model.architecture is a CLIPVisionConfig object "
                          f"(e.g. {{\"num_attention_heads\": 12}}) or blank (a model folder's config.json is read), "
                          f"got {model_config.architecture!r} (another family's model name?)")


def vision_config(model_config, signature, layout: KeyLayout, folder_config: Mapping | None) -> dict:
    """CLIPVisionConfig's keys: the checkpoint's shapes, then config.json (its vision_config for a full CLIPConfig),
    then `model.architecture` (an object) and `model.options`, each overriding the one before."""
    from ..anatomy import vit_depth

    tower = {layout.tower_name(n).removeprefix("vision_model."): info.shape for n, info in signature.items() if layout.tower_name(n)}
    width, _, patch, _ = tower[PATCH]
    positions = tower["embeddings.position_embedding.weight"][0]
    config = {"hidden_size": width, "patch_size": patch, "image_size": patch * math.isqrt(positions - 1),
              "num_hidden_layers": vit_depth(signature, layout), "num_attention_heads": max(1, width // 64),
              "intermediate_size": tower["encoder.layers.0.mlp.fc1.weight"][0]}
    if PROJECTION in tower:
        config["projection_dim"] = tower[PROJECTION][0]
    folder_config = dict(folder_config or {})
    config.update({k: v for k, v in folder_config.get("vision_config", folder_config).items() if k not in _NOT_CONFIG})
    check(model_config)
    return {**config, **(model_config.architecture or {}), **model_config.options}


def spec(model_config, signature, layout: KeyLayout, folder_config: Mapping | None = None):
    """The classifier's spec: the vision config and which class to build (with projection when the checkpoint has one)."""
    from ..models import ModelSpec

    config = vision_config(model_config, signature, layout, folder_config)
    head = signature[layout.head_prefix + "weight"].shape
    projected = any(layout.tower_name(n) == PROJECTION for n in signature)
    kind = "CLIPVisionModelWithProjection" if projected else "CLIPVisionModel"
    return ModelSpec({"class": kind, "config": config}, embed_dim=head[1], num_classes=head[0],
                     normalize_features=model_config.normalize_features, image_mean=tuple(model_config.image_mean),
                     image_std=tuple(model_config.image_std), family="hf_clip", input_size=int(config["image_size"]))


def build(spec):
    """The tower with transformers' public API: CLIPVisionModelWithProjection, or CLIPVisionModel's vision transformer."""
    return _tower(_model(spec))


def _model(spec):
    """The whole transformers model, CLIPVisionModel(WithProjection)(CLIPVisionConfig(...)): what save_pretrained writes."""
    import transformers

    from ..errors import ConfigError

    try:
        config = transformers.CLIPVisionConfig(**spec.architecture["config"])
        return getattr(transformers, spec.architecture["class"])(config)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"invalid CLIPVisionConfig {spec.architecture['config']}: {type(exc).__name__}: {exc}") from exc


def _tower(model):
    """CLIPVisionModel wraps its vision transformer as `vision_model` before transformers 5 and is it since: the same
    prefix-less names either way. WithProjection keeps its names (`vision_model.*`, `visual_projection.weight`)."""
    projected = any(name == PROJECTION for name, _ in model.named_parameters())
    return model if projected else getattr(model, "vision_model", model)


def features(tower, images):
    """The pooled, post-normed CLS token (CLIPVisionModel) or its projection (WithProjection): what CLIP's heads read."""
    out = tower(pixel_values=images)
    return out.image_embeds if hasattr(out, "image_embeds") else out.pooler_output


def save(tensors: Mapping, layout: KeyLayout, spec, folder: Path, metadata: Mapping) -> None:
    """A folder `from_pretrained` loads (config.json + model.safetensors, transformers' own names), and the head beside it."""
    from safetensors.torch import save_file

    model = _model(spec)
    _tower(model).load_state_dict({layout.tower_name(n): t for n, t in tensors.items() if layout.tower_name(n)}, strict=True)
    model.save_pretrained(folder)
    head = {k: tensors[layout.head_prefix + k].contiguous() for k in ("weight", "bias")}
    save_file(head, folder / "head.safetensors", metadata=dict(metadata))


HF_CLIP = register(Family(
    "hf_clip", "Hugging Face CLIP vision", detect, ("vision_model." + PATCH, PATCH),
    spec="manifoldmix_core.families.hf_clip:spec", build="manifoldmix_core.families.hf_clip:build",
    features="manifoldmix_core.families.hf_clip:features", save="manifoldmix_core.families.hf_clip:save",
    library="transformers", check="manifoldmix_core.families.hf_clip:check"))
