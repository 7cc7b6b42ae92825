"""ValAcc and test accuracy of whatever parameters the classifier is currently bound to.

One evaluation = batched forward passes under `torch.inference_mode`. On the CPU the classifier
computes in float32 straight from the work buffer the soups mix into. On a CUDA GPU it computes in
bfloat16 (float16 where bf16 is missing) from a low-precision copy of the work buffer's live spans,
cast once per evaluation (`ComputeWeights.refresh`) rather than once per batch as autocast would;
mixing itself stays float32, so accepted models are exact. Attention takes PyTorch's fused path
(open_clip's batch-first `nn.MultiheadAttention` with `need_weights=False`, in inference mode and
without autocast: `_native_multi_head_attention`, which runs scaled-dot-product attention kernels),
and float32 matrix work that remains may use TF32. Images travel as uint8 and are scaled and
normalised on the device by the classifier; a set resident on the device is sliced, a set kept on
the host is streamed to the device batch by batch (pinned memory, asynchronous copies), and a set left on disk
is read a batch at a time through the staging buffers (staging.py). Only this rank's shard is ever read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from .anatomy import KeyLayout
from .data import EvalSet
from .distributed import SINGLE, Group
from .mixing import FlatLayout, Span, copy_spans
from .models import Classifier, ModelSpec, bind, build_classifier
from .staging import Staging
from .stored_sets import StoredImages

CUDA_BATCH = 2048  # ViT-B/32 at 224 px in bf16: ~0.6 GB of activations per batch, a fraction of any current card
CPU_BATCH = 256


def pick_device(name: str = "auto") -> torch.device:
    """'auto' means the GPU when one is visible, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        from .errors import ConfigError
        raise ConfigError(f"device '{name}' was requested but no CUDA GPU is visible; use 'cpu' or 'auto'")
    return device


def compute_dtype(device: torch.device) -> torch.dtype:
    """What forward passes compute in: bfloat16 on a GPU that has it, float16 on an older GPU, float32 on the CPU."""
    if device.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@dataclass
class ComputeWeights:
    """The flat weights the classifier is bound to, and the float32 work buffer they are refreshed from.

    On the CPU both are the same tensor and `refresh` does nothing; on a GPU `compute` is a bf16 vector
    whose live spans are cast from `work` once per evaluation.
    """

    work: torch.Tensor
    compute: torch.Tensor
    live_spans: Sequence[Span]

    @classmethod
    def for_device(cls, numel: int, live_spans: Sequence[Span], device: torch.device, dtype: torch.dtype | None = None) -> ComputeWeights:
        """Zeroed weights for the device, computing in `dtype` (default: `compute_dtype(device)`)."""
        work = torch.zeros(numel, dtype=torch.float32, device=device)
        dtype = dtype or compute_dtype(device)
        return cls(work, work if dtype == torch.float32 else torch.zeros(numel, dtype=dtype, device=device), tuple(live_spans))

    def refresh(self) -> None:
        """Make the classifier see what was last written into the work buffer."""
        if self.compute is not self.work:
            copy_spans(self.compute, self.work, self.live_spans)


def bound_classifier(spec: ModelSpec, flat: FlatLayout, key_layout: KeyLayout, device: torch.device,
                     dtype: torch.dtype | None = None) -> tuple[Classifier, ComputeWeights]:
    """A classifier whose parameters are views of the compute weights, and those weights (whose `work` the soups mix into)."""
    model = build_classifier(spec, device)
    weights = ComputeWeights.for_device(flat.numel, flat.live_spans, device, dtype)
    bind(model, {key_layout.classifier_name(n): view for n, view in flat.views(weights.compute).items() if key_layout.classifier_name(n)})
    return model, weights


class Evaluator:
    """Runs the bound classifier over evaluation sets; returns logits or top-1 accuracy."""

    def __init__(self, model: Classifier, device: torch.device, batch_size: int | None = None, weights: ComputeWeights | None = None,
                 group: Group = SINGLE):
        self.model, self.device, self.weights, self.group = model, device, weights, group
        self.batch_size = batch_size or (CUDA_BATCH if device.type == "cuda" else CPU_BATCH)
        self.staging = Staging(device, self.batch_size)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

    def batches(self, evalset: EvalSet) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(images, labels) of each batch of this rank's shard on the device: slices of a resident set, asynchronous
        copies of a host one, reads through the staging buffers of one on disk."""
        shard = self.group.shard(len(evalset))
        starts = range(shard.start, shard.stop, self.batch_size)
        if isinstance(evalset.images, StoredImages):
            images = self.staging.batches(evalset.images, shard)
        else:  # .to() is a no-op for a set already on the device, which holds images from evalset.first on
            images = (evalset.images[start - evalset.first:min(start + self.batch_size, shard.stop) - evalset.first]
                      .to(self.device, non_blocking=True) for start in starts)
        for start, batch in zip(starts, images):
            yield batch, evalset.labels[start:start + len(batch)].to(self.device, non_blocking=True)

    @torch.inference_mode()
    def logits(self, evalset: EvalSet) -> torch.Tensor:
        """Float32 logits of the bound model on this rank's shard of the set (every image in a single process), on the device."""
        if self.weights is not None:
            self.weights.refresh()
        return torch.cat([self.model(images).float() for images, _ in self.batches(evalset)])

    @torch.inference_mode()
    def correct(self, evalset: EvalSet) -> int:
        """How many images of the set the bound model classifies right (summed over ranks), without keeping its logits."""
        if self.weights is not None:
            self.weights.refresh()
        total = torch.zeros((), dtype=torch.int64, device=self.device)
        for images, labels in self.batches(evalset):
            total += evalset.correct(self.model(images).float(), labels)
        return self.group.sum(total)

    def accuracy(self, evalset: EvalSet) -> float:
        """Top-1 accuracy of the bound model on the set (ValAcc when the set is the held-out one)."""
        return self.correct(evalset) / len(evalset)

    def accuracy_of(self, evalset: EvalSet, logits: torch.Tensor) -> float:
        """Top-1 accuracy of logits that `logits` computed on this rank's shard (an ensemble's sum), over the whole set."""
        shard = self.group.shard(len(evalset))
        return self.group.sum(evalset.correct(logits, evalset.labels[shard.start:shard.stop])) / len(evalset)
