"""The demo world's evaluation splits as the dataset source "demo": a split's name in, tensors and fingerprint out."""

from __future__ import annotations

from pathlib import Path

import torch

from ..fingerprint import arrays_digest
from .splits import load_split


def read_split(name: str, _image_size: int, cache_dir: Path) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Images [N, 3, H, W] (uint8, the model resizes), labels and the fingerprint of the generated arrays."""
    images, labels = load_split(name, cache_dir)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels).to(torch.int64), arrays_digest(images, labels)
