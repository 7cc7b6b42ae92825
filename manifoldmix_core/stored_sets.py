"""Evaluation images left on disk: the uint8 [N, 3, H, W] images of a safetensors file, read a block of rows at a time.

A decoded set (an ImageFolder cache, a tensor file at the model's size) is never loaded whole: evaluations read the
rows they need into a staging buffer (staging.py), so host memory stays bounded whatever the set's size, and a rank
under torchrun reads only its own shard. Plain reads (not a memory map) keep the pages in the OS's cache, shared and
reclaimable, instead of in this process's resident memory.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

from .errors import DatasetError
from .files import write_atomic


@dataclass(frozen=True)
class StoredImages:
    """The images tensor of a safetensors file: where its bytes start and its shape; rows are read on demand."""

    path: Path
    offset: int  # of the first image's first byte in the file
    shape: tuple[int, int, int, int]

    dtype = torch.uint8
    ndim = 4

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def row_bytes(self) -> int:
        return self.shape[1] * self.shape[2] * self.shape[3]

    @property
    def nbytes(self) -> int:
        return len(self) * self.row_bytes

    def read_into(self, start: int, out: torch.Tensor) -> torch.Tensor:
        """Fill `out` (a contiguous uint8 CPU tensor of k rows, pinned or not) with images start .. start + k."""
        view = memoryview(out.numpy()).cast("B")
        position, done = self.offset + start * self.row_bytes, 0
        fd = os.open(self.path, os.O_RDONLY)
        try:
            while done < len(view):
                got = os.preadv(fd, [view[done:]], position + done)
                if got == 0:
                    raise DatasetError(f"{self.path}: the file ends before image {start + len(out)}; was it truncated?")
                done += got
        finally:
            os.close(fd)
        return out

    def read(self, start: int, stop: int) -> torch.Tensor:
        """Images start .. stop as a new tensor."""
        return self.read_into(start, torch.empty((stop - start, *self.shape[1:]), dtype=torch.uint8))


def stored_images(path: str | Path) -> StoredImages:
    """The images of a tensor file (dataset_files.check_tensor_file: uint8, four dimensions), left on disk."""
    path = Path(path)
    with path.open("rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        entry = json.loads(f.read(length))["images"]
    if entry["dtype"] != "U8" or len(entry["shape"]) != 4:
        raise DatasetError(f"{path}: 'images' must be uint8 with four dimensions, got {entry['dtype']} {entry['shape']}")
    return StoredImages(path, 8 + length + entry["data_offsets"][0], tuple(entry["shape"]))


def stored_labels(path: str | Path) -> torch.Tensor:
    """A tensor file's labels alone, as int64 (8 bytes an image: every rank reads them whole for the class checks)."""
    with safe_open(str(path), framework="pt") as f:
        return f.get_tensor("labels").to(torch.int64)


def write_stored_set(path: Path, row_shape: tuple[int, int, int], chunks: Iterable[torch.Tensor], labels: torch.Tensor) -> Path:
    """A tensor file of 'images' uint8 [N, *row_shape] written a chunk of rows at a time (never the whole set in memory)
    and int64 'labels' [N]: what `stored_images` reads."""
    labels = labels.to(torch.int64).contiguous()
    n, row = len(labels), row_shape[0] * row_shape[1] * row_shape[2]
    header = json.dumps({"images": {"dtype": "U8", "shape": [n, *row_shape], "data_offsets": [0, n * row]},
                         "labels": {"dtype": "I64", "shape": [n], "data_offsets": [n * row, n * row + 8 * n]}}).encode()
    header += b" " * (-len(header) % 8)  # safetensors aligns the data that follows the header

    def write(tmp: Path) -> None:
        written = 0
        with tmp.open("wb") as f:
            f.write(struct.pack("<Q", len(header)) + header)
            for chunk in chunks:
                f.write(memoryview(chunk.to(torch.uint8).contiguous().numpy()).cast("B"))
                written += len(chunk)
            f.write(memoryview(labels.numpy()).cast("B"))
        if written != n:
            raise DatasetError(f"{path}: {written} images written for {n} labels")

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, write)
    return path
