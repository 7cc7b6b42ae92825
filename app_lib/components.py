"""How many components the draft's partition has, and how many a λ search optimises, read from the first ingredient's
safetensors header without torch: the Run page's budget line (per component × optimised components = total)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from safetensors import SafetensorError, safe_open

from manifoldmix_core.anatomy import FLOAT_DTYPES, detect_key_layout
from manifoldmix_core.errors import ManifoldMixError

_FLOATS = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}


def partition_size(config: Mapping) -> tuple[int | None, int | None]:
    """(components, components holding classifier parameters) of the config's partition; (None, None) when the first
    ingredient is not a readable safetensors file or the partition does not resolve on it."""
    from manifoldmix_core.partition import resolve

    ingredients = config.get("ingredients") or []
    path = Path(str((ingredients[0] if ingredients else {}).get("path", "")))
    if path.suffix != ".safetensors" or not path.is_file():
        return None, None
    try:
        with safe_open(str(path), framework="numpy") as f:
            names = [n for n in f.keys() if _FLOATS.get(f.get_slice(n).get_dtype()) in FLOAT_DTYPES]
        layout = detect_key_layout(names)
        partition = resolve(config.get("partition") or {"preset": "structural"}, names, layout)
    except (ManifoldMixError, SafetensorError, OSError, ValueError):  # unreadable, or a partition that does not fit: the line says less
        return None, None
    live = sum(any(layout.classifier_name(n) is not None for n in c.params) for c in partition.components)
    return len(partition.components), live
