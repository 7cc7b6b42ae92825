"""A checkpoint's files and names on disk, torch-free: a model folder's weight files and config.json, the names a shared
head file holds, whether a checkpoint may take a shared head, and the check of the model settings against the pool's first
checkpoint from safetensors headers alone (the app runs it before a launch; the engine reads the same files through these
functions when it runs)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from safetensors import SafetensorError, safe_open

from . import jsonfile
from .anatomy import FOLDER_CONFIG, FOLDER_INDEX, FOLDER_WEIGHTS, HEAD_PREFIXES, KeyLayout
from .errors import DamagedFile, IngredientError
from .families.registry import FAMILIES, detect
from .lazy import load_ref

SHARED_HEAD = "head."  # the names a shared head file's tensors take in each ingredient


def weight_files(path: Path) -> list[Path]:
    """The files holding a checkpoint's tensors: the file itself, or a model folder's weights or shards (from its index,
    whose names must be plain file names inside the folder)."""
    if not path.is_dir():
        return [path]
    index = next((path / name for name in FOLDER_INDEX if (path / name).is_file()), None)
    if index is None:
        return [next((path / name for name in FOLDER_WEIGHTS if (path / name).is_file()), path / FOLDER_WEIGHTS[0])]
    try:
        weight_map = jsonfile.load(index).get("weight_map")
    except (OSError, DamagedFile, AttributeError) as exc:
        raise IngredientError(index, f"is not a shard index ({exc})") from exc
    if not isinstance(weight_map, dict) or not weight_map:
        raise IngredientError(index, 'must hold {"weight_map": {parameter: shard file name, ...}}')
    suffix = Path(index.name.removesuffix(".index.json")).suffix  # the shards' kind (.safetensors or .bin), as the index's name says
    shards = sorted(set(weight_map.values()))
    bad = next((s for s in shards if not isinstance(s, str) or Path(s).name != s or not s.endswith(suffix)), None)
    if bad is not None:
        raise IngredientError(index, f"names the shard {bad!r}; shards are {suffix} files beside the index")
    return [path / shard for shard in shards]


def read_folder_config(path: Path) -> dict | None:
    """A model folder's config.json (None for a single file): it may say which family and shape the model has."""
    if not Path(path).is_dir():
        return None
    try:
        data = jsonfile.load(Path(path) / FOLDER_CONFIG)
    except (OSError, DamagedFile) as exc:
        raise IngredientError(Path(path) / FOLDER_CONFIG, f"cannot be read as JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise IngredientError(Path(path) / FOLDER_CONFIG, "must hold a JSON object (the model's config)")
    return data


def head_file_prefix(path: str | Path, names: Iterable[str]) -> str:
    """Under which prefix a shared head file holds exactly a `weight` and a `bias` ('' or a head prefix), else an error."""
    names = set(names)
    for prefix in ("", *HEAD_PREFIXES):
        if {prefix + "weight", prefix + "bias"} == names:
            return prefix
    raise IngredientError(path, f"is not a linear head: expected exactly 'weight' and 'bias' (or 'head.weight' and "
                          f"'head.bias'), found {sorted(names)[:6]}")


def check_headless(path: str | Path, head: str | Path, names: Iterable[str]) -> None:
    """A shared head is for headless checkpoints only: one that has a head of its own is refused, naming the parameter."""
    own = next((n for n in names if n.startswith(SHARED_HEAD)), None)
    if own is not None:
        raise IngredientError(path, f"has a head of its own, but model.head gives a shared one ({head}); "
                              "remove model.head or use headless checkpoints", param=own)


def header_names(path: Path) -> set[str]:
    """The parameter names in a safetensors file's header (nothing else is read)."""
    try:
        with safe_open(str(path), framework="numpy") as f:
            return set(f.keys())
    except (SafetensorError, OSError, ValueError) as exc:
        raise IngredientError(path, f"is not a valid safetensors file ({exc})") from exc


def check_model(model, first: str | Path) -> KeyLayout | None:
    """What the model settings (config `model`) and the pool's first checkpoint say together, from safetensors headers
    alone: the shared head (a linear head, for a headless checkpoint), the family (detected, or the one named) and the
    family's own check of the settings (a timm pool needs a model name). None, having checked nothing, when the checkpoint
    or the head is a torch file, whose names cost a full read; the runner finds the same problems when it builds the model."""
    first = Path(first)
    head = Path(model.head) if model.head else None
    files = [*weight_files(first), *([head] if head else [])]
    if not all(f.suffix == ".safetensors" and f.is_file() for f in files):
        return None
    names = set().union(*(header_names(f) for f in weight_files(first)))
    if head is not None:
        check_headless(first, head, names)
        head_file_prefix(head, header_names(head))
        names |= {SHARED_HEAD + "weight", SHARED_HEAD + "bias"}
    folder_config = read_folder_config(first)
    layout = detect(names, first, folder_config, model.family)
    family = FAMILIES[layout.family]
    if family.check:
        load_ref(family.check)(model, folder_config)
    return layout
