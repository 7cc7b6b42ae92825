"""The bounded host memory that images read from disk pass through: IN_FLIGHT buffers of one batch each.

Every set left on disk (stored_sets.py) reaches the model through the same few buffers, pinned when a CUDA GPU is
the device so each copy runs asynchronously; a buffer is refilled only once the copy out of it has finished. What
they take is checked against the run's `host_memory_mb`, so host memory for sets is set by the budget, not by them.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .errors import ConfigError
from .stored_sets import StoredImages

IN_FLIGHT = 2  # buffers: the batch being evaluated (or copied to the GPU) and the one being read from disk


class Staging:
    """IN_FLIGHT host buffers of `batch_size` images, reused by every evaluation of every set read from disk."""

    def __init__(self, device: torch.device, batch_size: int):
        self.device, self.batch_size = device, batch_size
        self.pin = device.type == "cuda"
        self._buffers: list[torch.Tensor] = []
        self._copied: list[torch.cuda.Event | None] = [None] * IN_FLIGHT

    def nbytes(self, images: StoredImages) -> int:
        """Host memory the buffers take for images of this size."""
        return IN_FLIGHT * min(self.batch_size, len(images)) * images.row_bytes

    def check(self, images: StoredImages, budget_bytes: int, name: str) -> None:
        """Refuse a budget that cannot hold the buffers, saying what would fit."""
        need = self.nbytes(images)
        if need > budget_bytes:
            raise ConfigError(f"host_memory_mb={budget_bytes >> 20} cannot hold the {IN_FLIGHT} staging buffers that set {name} "
                              f"is read through ({IN_FLIGHT} x {self.batch_size} images of {images.shape[2]} px: {need / 2**20:.0f} MB); "
                              f"raise host_memory_mb or lower batch_size")

    def batches(self, images: StoredImages, rows: range) -> Iterator[torch.Tensor]:
        """Images `rows` read from disk a batch at a time, on the device; on the CPU each is a buffer, valid until the next."""
        buffers = self._ready(images.shape[1:])
        for i, start in enumerate(range(rows.start, rows.stop, self.batch_size)):
            slot = i % IN_FLIGHT
            if self._copied[slot] is not None:
                self._copied[slot].synchronize()  # the GPU has finished reading this buffer
            batch = images.read_into(start, buffers[slot][:min(self.batch_size, rows.stop - start)])
            if self.device.type == "cpu":
                yield batch
                continue
            on_device = batch.to(self.device, non_blocking=self.pin)
            if self.pin:
                self._copied[slot] = torch.cuda.Event()
                self._copied[slot].record()
            yield on_device

    def _ready(self, row_shape: tuple[int, ...]) -> list[torch.Tensor]:
        """The buffers for rows of this shape (every set of a run has the model's image size, so they are made once)."""
        if not self._buffers or self._buffers[0].shape[1:] != row_shape:
            self._buffers = [torch.empty((self.batch_size, *row_shape), dtype=torch.uint8, pin_memory=self.pin) for _ in range(IN_FLIGHT)]
            self._copied = [None] * IN_FLIGHT
        return self._buffers
