"""ValAcc and test accuracy of whatever parameters the classifier is currently bound to.

One evaluation = batched forward passes over tensors already on the device, under
`torch.inference_mode`, with autocast (bfloat16 where supported, else float16) on CUDA.
"""

from __future__ import annotations

import contextlib

import torch

from .data import EvalSet
from .models import Classifier


def pick_device(name: str = "auto") -> torch.device:
    """'auto' means the GPU when one is visible, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        from .errors import ConfigError
        raise ConfigError(f"device '{name}' was requested but no CUDA GPU is visible; use 'cpu' or 'auto'")
    return device


class Evaluator:
    """Runs the bound classifier over evaluation sets; returns logits or top-1 accuracy."""

    def __init__(self, model: Classifier, device: torch.device, batch_size: int | None = None, autocast: bool = True):
        self.model, self.device = model, device
        self.batch_size = batch_size or (1024 if device.type == "cuda" else 256)
        self.autocast = autocast and device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if self.autocast and torch.cuda.is_bf16_supported() else torch.float16

    def _amp(self):
        return torch.autocast("cuda", dtype=self.amp_dtype) if self.autocast else contextlib.nullcontext()

    @torch.inference_mode()
    def logits(self, evalset: EvalSet) -> torch.Tensor:
        """Float32 logits of the bound model on every image of the set (on the device)."""
        chunks = []
        with self._amp():
            for start in range(0, len(evalset), self.batch_size):
                chunks.append(self.model(evalset.images[start:start + self.batch_size]).float())
        return torch.cat(chunks)

    def accuracy(self, evalset: EvalSet) -> float:
        """Top-1 accuracy of the bound model on the set (ValAcc when the set is the held-out one)."""
        return evalset.accuracy(self.logits(evalset))
