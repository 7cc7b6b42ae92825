"""Evaluation sets as tensors decoded and resized once, with class subsets and many-to-one class maps.

Images are kept as uint8 [N, 3, H, W] (4x smaller than float) and moved to the device once;
the classifier scales and normalises each batch on the device. ImageFolder sets are decoded once
and cached as safetensors keyed by the folder's file list, sizes and modification times.
Each set carries a fingerprint of its content (see fingerprint.py), which a resumed run checks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import sources
from .errors import DatasetError
from .files import default_cache_dir, write_atomic
from .fingerprint import file_digest, files_digest
from .lazy import resolve

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass
class EvalSet:
    """Images, labels and how the model's classes map onto this set's classes."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    class_subset: tuple[int, ...] | None = None
    class_map: Mapping[int, int] | None = None
    fingerprint: str = ""
    _index: torch.Tensor | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.ndim != 4 or self.images.shape[1] != 3:
            raise DatasetError(f"{self.name}: images must be uint8 [N, 3, H, W], got {self.images.dtype} {list(self.images.shape)}")
        if len(self.images) != len(self.labels) or len(self.images) == 0:
            raise DatasetError(f"{self.name}: {len(self.images)} images but {len(self.labels)} labels")
        if self.labels.dtype.is_floating_point or self.labels.ndim != 1:
            raise DatasetError(f"{self.name}: labels must be one integer per image, got {self.labels.dtype} {list(self.labels.shape)}")
        if int(self.labels.min()) < 0:
            raise DatasetError(f"{self.name}: labels must be class indices (0 or more), found {int(self.labels.min())}")
        if self.class_subset is not None and self.class_map is not None:
            raise DatasetError(f"{self.name}: give either a class subset or a class map, not both")

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device | str) -> EvalSet:
        """Move images and labels to the device once, for all later evaluations."""
        self.images, self.labels = self.images.to(device), self.labels.to(device)
        return self

    def pinned(self) -> EvalSet:
        """Keep the set on the host in page-locked memory, so batches stream to a GPU asynchronously."""
        self.images, self.labels = self.images.pin_memory(), self.labels.pin_memory()
        return self

    def check_classes(self, num_classes: int) -> None:
        """Labels and class subsets/maps must fit the model's head; say which ones do not."""
        n_dataset = int(self.labels.max()) + 1
        if self.class_subset is not None:
            bad = [c for c in self.class_subset if not 0 <= c < num_classes]
            if bad:
                raise DatasetError(f"{self.name}: class subset names model classes {bad[:5]} but the head has {num_classes}")
            if n_dataset > len(self.class_subset):
                raise DatasetError(f"{self.name}: labels go up to {n_dataset - 1} but the class subset has only {len(self.class_subset)} classes")
        elif self.class_map is not None:
            bad = [c for c in self.class_map if not 0 <= int(c) < num_classes]
            if bad:
                raise DatasetError(f"{self.name}: class map names model classes {bad[:5]} but the head has {num_classes}")
            unmapped = sorted(set(range(n_dataset)) - set(self.class_map.values()))
            if unmapped:
                raise DatasetError(f"{self.name}: dataset classes {unmapped[:5]} have no model class mapped to them")
        elif n_dataset > num_classes:
            raise DatasetError(f"{self.name}: labels go up to {n_dataset - 1} but the model has {num_classes} classes; "
                               "give a class subset or class map")

    def project(self, logits: torch.Tensor) -> torch.Tensor:
        """Model logits -> logits over this set's classes (subset columns, or max over mapped classes)."""
        if self.class_subset is not None:
            return logits[:, list(self.class_subset)]
        if self.class_map is not None:
            n = max(self.class_map.values()) + 1
            out = torch.full((len(logits), n), float("-inf"), dtype=logits.dtype, device=logits.device)
            for model_class, dataset_class in self.class_map.items():
                out[:, dataset_class] = torch.maximum(out[:, dataset_class], logits[:, int(model_class)])
            return out
        return logits

    def correct(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """How many of these model logits (a batch of this set, with its labels) pick the right class, as a device scalar."""
        return (self.project(logits).argmax(dim=1) == labels.to(logits.device)).sum()

    def accuracy(self, logits: torch.Tensor) -> float:
        """Top-1 accuracy of model logits on this whole set."""
        return int(self.correct(logits, self.labels)) / len(self)


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [N,3,h,w] -> uint8 [N,3,size,size] (bilinear, antialiased); a no-op when sizes match."""
    if images.shape[-2:] == (size, size):
        return images
    out = torch.nn.functional.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def decode_image(path: Path, size: int) -> np.ndarray:
    """Decode one image: RGB, shorter side resized to `size` (bicubic), centre-cropped, HWC uint8."""
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            scale = size / min(img.size)
            img = img.resize((max(size, round(img.width * scale)), max(size, round(img.height * scale))), Image.BICUBIC)
            left, top = (img.width - size) // 2, (img.height - size) // 2
            return np.asarray(img.crop((left, top, left + size, top + size)))
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"{path}: not a readable image ({exc})") from exc


def image_folder_files(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names (sorted sub-folders) and (file, label) pairs of an ImageFolder-style tree."""
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DatasetError(f"{root}: no class sub-folders; expected <root>/<class name>/<image files>")
    files = []
    for label, name in enumerate(classes):
        found = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise DatasetError(f"{root / name}: class folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        files += [(p, label) for p in found]
    return classes, files


def load_image_folder(root: str | Path, size: int, cache_dir: Path | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Decode an ImageFolder tree once to uint8 tensors, reusing a cache while the files are unchanged."""
    root = Path(root)
    classes, files = image_folder_files(root)
    digest = hashlib.sha256(f"{root.resolve()}|{size}".encode())
    for path, label in files:
        stat = path.stat()
        digest.update(f"{path}|{label}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    cache = cache_dir / f"imagefolder-{digest.hexdigest()[:24]}.safetensors" if cache_dir else None
    if cache is not None and cache.is_file():
        cached = load_file(cache)
        return cached["images"], cached["labels"], classes
    images = torch.from_numpy(np.stack([decode_image(p, size) for p, _ in files])).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor([label for _, label in files], dtype=torch.int64)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cache, lambda tmp: save_file({"images": images, "labels": labels}, tmp))
    return images, labels, classes


def load_tensor_file(path: str | Path, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A safetensors file with 'images' (uint8, NCHW or NHWC) and 'labels' (integers)."""
    path = Path(path)
    try:
        data = load_file(path)
    except (SafetensorError, OSError, ValueError, FileNotFoundError) as exc:
        raise DatasetError(f"{path}: not a readable safetensors file ({exc})") from exc
    if "images" not in data or "labels" not in data:
        raise DatasetError(f"{path}: needs tensors 'images' and 'labels', found {sorted(data)}")
    images = data["images"]
    if images.ndim == 4 and images.shape[-1] == 3 and images.shape[1] != 3:
        images = images.permute(0, 3, 1, 2).contiguous()
    if images.dtype != torch.uint8:
        raise DatasetError(f"{path}: 'images' must be uint8 (0..255), got {images.dtype}")
    labels = data["labels"]
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.ndim != 1:
        raise DatasetError(f"{path}: 'labels' must be integers, one per image, got {labels.dtype} {list(labels.shape)}")
    return resize_images(images, size), labels.to(torch.int64)


def class_map_from_json(mapping: Mapping[str, int] | None) -> dict[int, int] | None:
    """JSON object keys are strings; class maps are keyed by model class index."""
    return None if mapping is None else {int(k): int(v) for k, v in mapping.items()}


def subset_from_json(subset: Sequence[int] | None) -> tuple[int, ...] | None:
    return None if subset is None else tuple(int(c) for c in subset)


def read_image_folder(path: str, image_size: int, cache_dir: Path) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The source "imagefolder": <path>/<class name>/<images>, fingerprinted by relative file names and contents."""
    images, labels, _ = load_image_folder(path, image_size, cache_dir)
    root = Path(path)
    return images, labels, files_digest(((str(p.relative_to(root)), p) for p, _ in image_folder_files(root)[1]), cache_dir)


def read_tensor_file(path: str, image_size: int, cache_dir: Path) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The source "tensors": a safetensors file with 'images' and 'labels', fingerprinted by its content."""
    images, labels = load_tensor_file(path, image_size)
    return images, labels, file_digest(path, cache_dir)


def load_dataset(cfg, image_size: int, cache_dir: Path | None = None) -> EvalSet:
    """An EvalSet from a DatasetConfig, read by its source (sources.py: an ImageFolder tree, a tensor file, the demo world...)."""
    cache_dir = cache_dir or default_cache_dir()
    images, labels, fingerprint = resolve(sources.get(cfg.source).loader)(cfg.path, image_size, cache_dir)
    return EvalSet(cfg.name, resize_images(images, image_size), labels, subset_from_json(cfg.class_subset),
                   class_map_from_json(cfg.class_map), fingerprint)
