"""Evaluation images from disk, the built-in dataset sources: ImageFolder trees and safetensors files of tensors.

ImageFolder sets are decoded once (shorter side resized, centre-cropped) and cached as safetensors
keyed by the folder's file list, sizes and modification times; a tensor file not already uint8 [N, 3, S, S] at the
model's size S is converted once into a cached copy that is. Each source reader returns the images left in that
decoded file (stored_sets.py: evaluations read them a batch at a time), labels and a content fingerprint (what
resume checks).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .dataset_files import check_tensor_file, image_folder_files, open_image
from .errors import DatasetError
from .files import write_atomic
from .fingerprint import file_digest, files_digest
from .stored_sets import StoredImages, stored_images, stored_labels, write_stored_set

RESIZE_CHUNK_BYTES = 32 << 20  # float32 input of one resize chunk; a resize adds ~4x this (and its uint8 result) at peak


def resize_images(images: torch.Tensor, size: int, chunk_bytes: int = RESIZE_CHUNK_BYTES) -> torch.Tensor:
    """uint8 [N,3,h,w] -> uint8 [N,3,size,size] (bilinear, antialiased); a no-op when sizes match.

    Images are converted to float32 a chunk at a time (about `chunk_bytes` of them) into a uint8 result, so a
    29 GB set does not need 15x its size at once; each image is resized on its own, so chunks change nothing.
    """
    if images.shape[-2:] == (size, size):
        return images
    out = torch.empty((len(images), images.shape[1], size, size), dtype=torch.uint8)
    rows = max(1, chunk_bytes // (4 * images.shape[1:].numel()))
    for start in range(0, len(images), rows):
        chunk = images[start:start + rows].float()
        resized = torch.nn.functional.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start:start + rows] = resized.round_().clamp_(0, 255)
    return out


def decode_image(path: Path, size: int) -> np.ndarray:
    """Decode one image: RGB, shorter side resized to `size` (bicubic), centre-cropped, HWC uint8."""
    with open_image(path) as img:
        try:
            img = img.convert("RGB")
        except OSError as exc:  # a header that reads, over data that does not
            raise DatasetError(f"{path}: not a readable image ({exc})") from exc
        scale = size / min(img.size)
        img = img.resize((max(size, round(img.width * scale)), max(size, round(img.height * scale))), Image.BICUBIC)
        left, top = (img.width - size) // 2, (img.height - size) // 2
        return np.asarray(img.crop((left, top, left + size, top + size)))


def load_image_folder(root: str | Path, size: int, cache_dir: Path | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Decode an ImageFolder tree once to uint8 tensors, reusing a cache while the files are unchanged."""
    root = Path(root)
    classes, files = image_folder_files(root)
    cache = image_folder_cache(root, size, files, cache_dir) if cache_dir else None
    if cache is not None and cache.is_file():
        cached = load_file(cache)
        return cached["images"], cached["labels"], classes
    images = torch.from_numpy(np.stack([decode_image(p, size) for p, _ in files])).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor([label for _, label in files], dtype=torch.int64)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cache, lambda tmp: save_file({"images": images, "labels": labels}, tmp))
    return images, labels, classes


def image_folder_cache(root: Path, size: int, files: list[tuple[Path, int]], cache_dir: Path) -> Path:
    """Where the decoded tensors of this version of an ImageFolder tree are cached (its files, sizes and mtimes name it)."""
    digest = hashlib.sha256(f"{root.resolve()}|{size}".encode())
    for path, label in files:
        stat = path.stat()
        digest.update(f"{path}|{label}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return cache_dir / f"imagefolder-{digest.hexdigest()[:24]}.safetensors"


def load_tensor_file(path: str | Path, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A safetensors file with 'images' (uint8, NCHW or NHWC) and 'labels' (integers)."""
    path = Path(path)
    check_tensor_file(path)
    try:
        data = load_file(path)
    except (SafetensorError, OSError, ValueError, FileNotFoundError) as exc:
        raise DatasetError(f"{path}: not a readable safetensors file ({exc})") from exc
    images = data["images"]  # check_tensor_file: uint8, four dimensions, one axis of 3 channels
    if images.shape[-1] == 3 and images.shape[1] != 3:
        images = images.permute(0, 3, 1, 2).contiguous()
    return resize_images(images, size), data["labels"].to(torch.int64)


def read_image_folder(path: str, image_size: int, cache_dir: Path) -> tuple[StoredImages, torch.Tensor, str]:
    """The source "imagefolder": <path>/<class name>/<images>, decoded once into the cache and read from there,
    fingerprinted by relative file names and contents."""
    root = Path(path)
    files = image_folder_files(root)[1]
    cache = image_folder_cache(root, image_size, files, cache_dir)
    if not cache.is_file():
        load_image_folder(root, image_size, cache_dir)
    return stored_images(cache), stored_labels(cache), files_digest(((str(p.relative_to(root)), p) for p, _ in files), cache_dir)


def read_tensor_file(path: str, image_size: int, cache_dir: Path) -> tuple[StoredImages, torch.Tensor, str]:
    """The source "tensors": a safetensors file with 'images' and 'labels', fingerprinted by its content; read where it
    is when its images are uint8 [N, 3, S, S] at the model's size S, else from a converted copy in the cache."""
    check_tensor_file(path)
    fingerprint = file_digest(path, cache_dir)
    images = stored_images(path)
    if images.shape[1:] != (3, image_size, image_size):
        images = stored_images(_converted_copy(Path(path), image_size, cache_dir / f"tensors-{fingerprint[:24]}-{image_size}.safetensors"))
    return images, stored_labels(path), fingerprint


def _converted_copy(path: Path, size: int, cache: Path) -> Path:
    """A copy of a tensor file with its images as uint8 [N, 3, size, size], converted and written a chunk at a time, once."""
    if not cache.is_file():
        source = stored_images(path)
        nhwc = source.shape[1] != 3 and source.shape[3] == 3  # check_tensor_file: one of the two axes holds the 3 channels
        rows = max(1, RESIZE_CHUNK_BYTES // (4 * source.row_bytes))
        chunks = (source.read(start, min(start + rows, len(source))) for start in range(0, len(source), rows))
        chunks = (resize_images(chunk.permute(0, 3, 1, 2) if nhwc else chunk, size) for chunk in chunks)
        write_stored_set(cache, (3, size, size), chunks, stored_labels(path))
    return cache
