"""The open_clip family: open_clip / OpenAI-CLIP image towers (`visual.*`), alone, in a full CLIP state dict, or in
model-soups' layout (`model.visual.*`), with a linear head; built by open_clip from a config name or vision-config dict."""

from __future__ import annotations

from collections.abc import Mapping

from ..anatomy import VISUAL_PREFIXES, KeyLayout, detect_key_layout
from .registry import Family, register


def detect(names: set[str], folder_config: Mapping | None = None) -> KeyLayout | None:
    """open_clip's key layouts, or None when no `visual.conv1.weight` (under any of its prefixes) is there."""
    if not any(p + "conv1.weight" in names for p in VISUAL_PREFIXES):
        return None
    return detect_key_layout(names)


def spec(model_config, signature, layout: KeyLayout, folder_config: Mapping | None = None):
    """The classifier's spec: the open_clip architecture (default ViT-B-32), head size and width from the checkpoint."""
    from ..errors import ConfigError
    from ..models import spec_from_signature

    if model_config.options:
        raise ConfigError("model.options are not used by the open_clip family; put vision-config keys into "
                          "model.architecture as an object instead")
    return spec_from_signature(model_config.architecture or "ViT-B-32", signature, layout, model_config.normalize_features,
                               model_config.quick_gelu, model_config.image_mean, model_config.image_std)


def build(spec):
    """open_clip's image tower. open_clip has no public builder of the tower alone (`create_model` builds the text
    tower too and wants a named config), so its `_build_vision_tower`, which `create_model` itself calls, is used."""
    from open_clip.model import CLIPVisionCfg, _build_vision_tower

    from ..errors import ConfigError

    try:
        return _build_vision_tower(spec.embed_dim, CLIPVisionCfg(**spec.vision_cfg), quick_gelu=spec.quick_gelu)
    except (TypeError, ValueError, ZeroDivisionError) as exc:  # unknown keys, or values open_clip cannot build from
        raise ConfigError(f"invalid vision config {spec.vision_cfg}: {type(exc).__name__}: {exc}") from exc


def features(tower, images):
    """open_clip's tower returns the projected image embedding."""
    return tower(images)


OPEN_CLIP = register(Family(
    "open_clip", "open_clip / OpenAI CLIP", detect, ("visual.conv1.weight", "model.visual.conv1.weight"),
    spec="manifoldmix_core.families.openclip_vit:spec", build="manifoldmix_core.families.openclip_vit:build",
    features="manifoldmix_core.families.openclip_vit:features", library="open_clip_torch", author_preset=True))
