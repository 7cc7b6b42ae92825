"""The demo world's named splits (style, size, seed), generated once and cached as .npz files.

Seeds differ per split, so no image is shared between pretraining, ID train, held-out validation,
ID test and the five OOD sets. Pretraining sees the web photos and the four non-photo shifts, never
the ID camera's pictures; the labelled ID training set is small, as in LP-FT on a curated dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import default_cache_dir
from .world import ALL_STYLES, OOD_STYLES, PRETRAIN_STYLES, generate

GENERATOR_VERSION = 2  # 2: the ID camera's fixed pattern on id/v2, the web style for pretraining


@dataclass(frozen=True)
class Split:
    """One generated set: which style, how many images, which seed."""

    style: str
    n: int
    seed: int


TEST_SIZE = 5000  # per ID test / OOD set: the 95 % interval of the five-set OOD average is about +-0.6 points
EVAL_SPLITS: dict[str, Split] = {
    "val": Split("id", 2500, 102),
    "test": Split("id", TEST_SIZE, 103),
    **{style: Split(style, TEST_SIZE, 104 + i) for i, style in enumerate(OOD_STYLES)},
}
TRAIN = Split("id", 2000, 101)
PRETRAIN = tuple(Split(style, 3000 if style == "web" else 6000, 200 + ALL_STYLES.index(style)) for style in PRETRAIN_STYLES)
OOD_SPLITS = tuple(OOD_STYLES)


def dataset_sections() -> dict:
    """The demo's sets as run-config sections: held-out 'val', ID 'test' and the five shifted styles as OOD."""
    sets = {split: {"name": split, "source": "demo", "path": split} for split in EVAL_SPLITS}
    return {"val": sets.pop("val"), "test": list(sets.values()), "ood": list(OOD_SPLITS)}


def generate_cached(split: Split, cache_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 [N, 32, 32, 3]) and labels of a split, from the cache when already generated."""
    cache_dir = (cache_dir or default_cache_dir()) / "demo"
    path = cache_dir / f"v{GENERATOR_VERSION}-{split.style}-{split.n}-{split.seed}.npz"
    if path.is_file():
        with np.load(path) as data:
            return data["images"], data["labels"]
    images, labels = generate(split.style, split.n, split.seed)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, images=images, labels=labels)
    os.replace(tmp, path)
    return images, labels


def load_split(name: str, cache_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """An evaluation split by name: val, test, or one of the OOD styles."""
    if name not in EVAL_SPLITS:
        from ..errors import DatasetError
        raise DatasetError(f"unknown demo split '{name}'; choose from {', '.join(EVAL_SPLITS)}")
    return generate_cached(EVAL_SPLITS[name], cache_dir)


def preview_split(name: str, count: int) -> tuple[list[np.ndarray], list[str]]:
    """The first `count` images (uint8 HWC) of a demo split with their class names: the demo source's preview."""
    from .world import CLASS_NAMES
    images, labels = load_split(name)
    return list(images[:count]), [CLASS_NAMES[int(label)] for label in labels[:count]]


def load_mixture(splits: tuple[Split, ...], cache_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Several splits concatenated (the pretraining mixture of all styles)."""
    parts = [generate_cached(s, cache_dir) for s in splits]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
