"""Evaluation sets: uint8 images decoded and resized once, with class subsets and many-to-one class maps.

Images are uint8 [N, 3, H, W] (4x smaller than float); the classifier scales and normalises each batch on the
device. A set read from a decoded file stays on disk (stored_sets.py) and is read a batch at a time through the
run's staging buffers (staging.py), so host memory does not grow with the sets; the held-out set is copied to a
GPU once when it fits there. A set is read by its source (sources.py: ImageFolder trees and tensor files, see
images.py, or the demo world). Each set carries a fingerprint of its content (see fingerprint.py), which a resumed
run checks.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import sources
from .errors import DatasetError
from .files import default_cache_dir
from .images import resize_images
from .lazy import load_ref
from .staging import IN_FLIGHT, Staging
from .stored_sets import StoredImages


@dataclass
class EvalSet:
    """Images, labels and how the model's classes map onto this set's classes."""

    name: str
    images: torch.Tensor | StoredImages  # a tensor in memory, or left on disk and read in batches
    labels: torch.Tensor
    class_subset: tuple[int, ...] | None = None
    class_map: Mapping[int, int] | None = None
    fingerprint: str = ""
    first: int = 0  # the set's index of images[0]: on a device, a rank keeps only its shard
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

    def to(self, device: torch.device | str, staging: Staging | None = None, rows: range | None = None) -> EvalSet:
        """Copy images `rows` (default: all; a rank's shard under torchrun) and the labels to the device once, for all
        later evaluations; images on disk are read a batch at a time through the staging buffers, which they need."""
        rows = rows or range(len(self))
        if isinstance(self.images, StoredImages):
            if staging is None:
                raise ValueError(f"{self.name}: a set on disk reaches the device through staging buffers; pass them")
            images = torch.empty((len(rows), *self.images.shape[1:]), dtype=torch.uint8, device=device)
            for at, batch in zip(range(0, len(rows), staging.batch_size), staging.batches(self.images, rows)):
                images[at:at + len(batch)] = batch
        else:
            images = self.images[rows.start:rows.stop].to(device)
        self.images, self.labels, self.first = images, self.labels.to(device), rows.start
        return self

    def select(self, rows: torch.Tensor, name: str) -> EvalSet:
        """A new set holding images `rows` (ascending indices) of this one, read now into memory (from the file for a set
        left on disk): the λ search's held-out subset, small enough to keep whole wherever the held-out set lives."""
        if isinstance(self.images, StoredImages):
            images = torch.stack([self.images.read(int(i), int(i) + 1)[0] for i in rows])
        else:  # before `place`: the whole set is here
            images = self.images[rows.to(self.images.device)]
        return EvalSet(name, images, self.labels[rows.to(self.labels.device)], self.class_subset, self.class_map,
                       f"{self.fingerprint}:rows:{len(rows)}")

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
            targets = set(self.class_map.values())
            beyond = sorted(c for c in targets if c >= num_classes)
            if beyond:  # many model classes onto one dataset class: never more dataset classes than the head has
                raise DatasetError(f"{self.name}: class map names dataset classes {beyond[:5]}, but mapping a head of {num_classes} "
                                   f"classes leaves at most {num_classes} dataset classes")
            # the first dataset classes without a model class; never more than len(targets) + 5 steps, whatever the labels
            unmapped = [c for c in itertools.islice((c for c in itertools.count() if c not in targets), 5) if c < n_dataset]
            if unmapped:
                raise DatasetError(f"{self.name}: dataset classes {unmapped} have no model class mapped to them "
                                   f"(labels go up to {n_dataset - 1})")
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


def stratified_rows(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """`n` row indices (ascending) drawn without replacement, each class getting its share of `n` in proportion to its
    count (largest remainders first, ties to the lower class), the rows of each class drawn by a seeded permutation:
    the subset keeps the held-out set's class mix, so its accuracy estimate has no between-class sampling error."""
    labels = labels.cpu()
    if not 1 <= n <= len(labels):
        raise ValueError(f"a subset of {n} rows of a set of {len(labels)}")
    classes, counts = labels.unique(return_counts=True)
    exact = counts.double() * n / len(labels)
    take = exact.floor().long()
    remainder = exact - take
    order = sorted(range(len(classes)), key=lambda c: (-float(remainder[c]), c))
    for c in order[:n - int(take.sum())]:
        take[c] += 1
    generator = torch.Generator().manual_seed(seed)
    picked = []
    for c, k in zip(classes.tolist(), take.tolist()):
        members = (labels == c).nonzero().flatten()
        picked.append(members[torch.randperm(len(members), generator=generator)[:k]])
    return torch.cat(picked).sort().values


RESIDENT_SHARE = 0.5  # the held-out set stays on a GPU only when it takes at most this share of the free memory


@dataclass(frozen=True)
class SetMemory:
    """Where an evaluation set lives during a run and what it takes there, in bytes (status.json shows it).

    `where` is "device" (copied once, sliced per batch), "disk" (left in its decoded file and read a batch at a time
    through the staging buffers, which every set on disk shares: `host_bytes`), "host" (held in memory on a CPU run)
    or "streamed" (held in pinned host memory, batches copied to the GPU as they are evaluated). The device share
    of a set read batch by batch is bounded by the batch.
    """

    where: str
    device_bytes: int
    host_bytes: int


def placement(device_type: str, resident: bool, size: int, free_bytes: int | None, on_disk: bool = False) -> str:
    """Where a set of `size` bytes goes: "device" when `resident` (the held-out set) on a device other than the CPU
    that it fits (a CUDA GPU's free memory, `free_bytes`, RESIDENT_SHARE of it); else "disk" when it is read from a
    file (`on_disk`); a set held in memory stays "host" on the CPU and is "streamed" from pinned memory to a CUDA GPU."""
    if device_type != "cpu" and resident and (device_type != "cuda" or free_bytes is None or size <= RESIDENT_SHARE * free_bytes):
        return "device"
    if on_disk:
        return "disk"
    if device_type == "cpu":
        return "host"
    return "streamed" if device_type == "cuda" else "device"


def place(evalset: EvalSet, staging: Staging, resident: bool, free_bytes: int | None = None, rows: range | None = None) -> SetMemory:
    """Put a set where evaluations read it (see `placement`; on a device, only `rows`, this rank's shard) and say what
    it takes there."""
    rows = rows or range(len(evalset))
    size = evalset.images.nbytes + evalset.labels.nbytes
    shard = size * len(rows) // len(evalset)
    batches = min(shard, IN_FLIGHT * staging.batch_size * size // len(evalset))
    where = placement(staging.device.type, resident, shard, free_bytes, isinstance(evalset.images, StoredImages))
    if where == "device":
        evalset.to(staging.device, staging, rows)
        return SetMemory(where, shard, 0)
    if where == "disk":
        return SetMemory(where, 0 if staging.device.type == "cpu" else batches, staging.nbytes(evalset.images) + evalset.labels.nbytes)
    if where == "host":
        return SetMemory(where, 0, size)
    evalset.pinned()
    return SetMemory(where, batches, size)


def class_map_from_json(mapping: Mapping[str, int] | None) -> dict[int, int] | None:
    """JSON object keys are strings; class maps are keyed by model class index."""
    return None if mapping is None else {int(k): int(v) for k, v in mapping.items()}


def subset_from_json(subset: Sequence[int] | None) -> tuple[int, ...] | None:
    return None if subset is None else tuple(int(c) for c in subset)


def load_dataset(cfg, image_size: int, cache_dir: Path | None = None) -> EvalSet:
    """An EvalSet from a DatasetConfig, read by its source (sources.py: an ImageFolder tree, a tensor file, the demo world...)."""
    cache_dir = cache_dir or default_cache_dir()
    images, labels, fingerprint = load_ref(sources.get(cfg.source).loader)(cfg.path, image_size, cache_dir)
    images = images if isinstance(images, StoredImages) else resize_images(images, image_size)  # a stored set has the size already
    return EvalSet(cfg.name, images, labels, subset_from_json(cfg.class_subset),
                   class_map_from_json(cfg.class_map), fingerprint)
