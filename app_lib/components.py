"""What the draft's model allows, read from the first ingredient's safetensors header without torch: how many components
its partition has and how many a λ search optimises (the Run page's budget line: per component × optimised components
= total), and which named presets fit it (the Experiments page's partitions)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from safetensors import SafetensorError, safe_open

from manifoldmix_core.anatomy import FLOAT_DTYPES, KeyLayout
from manifoldmix_core.errors import ManifoldMixError
from manifoldmix_core.families.registry import detect
from manifoldmix_core.partition import NAMED_PRESETS, NamedPreset, default_spec, fits_layout, resolve

_FLOATS = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}


def _float_names(config: Mapping) -> list[str] | None:
    """The first ingredient's floating-point parameter names from its safetensors header; None when unreadable."""
    ingredients = config.get("ingredients")
    first = ingredients[0] if isinstance(ingredients, list) and ingredients and isinstance(ingredients[0], Mapping) else {}
    path = Path(str(first.get("path", "")))
    if path.suffix != ".safetensors" or not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="numpy") as f:
            return [n for n in f.keys() if _FLOATS.get(f.get_slice(n).get_dtype()) in FLOAT_DTYPES]
    except (SafetensorError, OSError, ValueError):
        return None


def _layout(names: list[str] | None) -> KeyLayout | None:
    """The key layout of any registered family (the runner's detection), None when no family recognises the names (a
    headless finetune's head is in the shared head file): the page then says less instead of failing."""
    try:
        return detect(names) if names else None
    except ManifoldMixError:
        return None


def named_partitions(config: Mapping) -> list[NamedPreset]:
    """The engine's named presets that fit the draft's model (all of them while no ingredient can be read)."""
    names = _float_names(config)
    layout = _layout(names)
    if layout is None:
        return list(NAMED_PRESETS)
    return [p for p in NAMED_PRESETS if fits_layout(p, layout)]


def partition_size(config: Mapping) -> tuple[int | None, int | None]:
    """(components, components holding classifier parameters) of the config's partition; (None, None) when the first
    ingredient is not a readable safetensors file or the partition does not resolve on it."""
    names = _float_names(config)
    layout = _layout(names)
    if layout is None:
        return None, None
    try:
        spec = config.get("partition") or default_spec()
        partition = resolve(spec if isinstance(spec, Mapping) else {"preset": None}, names, layout)
    except (ManifoldMixError, ValueError, TypeError, KeyError):  # a partition that does not fit this model (or is damaged): the line says less
        return None, None
    live = sum(any(layout.classifier_name(n) is not None for n in c.params) for c in partition.components)
    return len(partition.components), live


def searched_components(config: Mapping) -> int | None:
    """How many components ManifoldMixMS's λ search optimises at once on this config: those holding classifier parameters
    (all of them with `optimize_inert`); None when partition_size cannot tell. The live view names it."""
    components, live = partition_size(config)
    mm = config.get("manifoldmix")
    return components if isinstance(mm, Mapping) and mm.get("optimize_inert") is True else live
