"""The demo world's named splits (style, size, seed), generated once and cached as .npz files.

Seeds differ per split, so no image is shared between pretraining, ID train, held-out validation,
ID test and the five OOD sets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import default_cache_dir
from .world import OOD_STYLES, STYLES, generate

GENERATOR_VERSION = 1


@dataclass(frozen=True)
class Split:
    """One generated set: which style, how many images, which seed."""

    style: str
    n: int
    seed: int


EVAL_SPLITS: dict[str, Split] = {
    "val": Split("id", 2000, 102),
    "test": Split("id", 2000, 103),
    **{style: Split(style, 2000, 104 + i) for i, style in enumerate(OOD_STYLES)},
}
TRAIN = Split("id", 6000, 101)
PRETRAIN = tuple(Split(style, 2000, 200 + i) for i, style in enumerate(STYLES))
OOD_SPLITS = tuple(OOD_STYLES)


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


def load_mixture(splits: tuple[Split, ...], cache_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Several splits concatenated (the pretraining mixture of all styles)."""
    parts = [generate_cached(s, cache_dir) for s in splits]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
