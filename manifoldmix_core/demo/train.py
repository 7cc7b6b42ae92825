"""Training for the demo zoo: pretraining on the web mixture, a linear probe, and LP-FT finetunes on ID.

Everything is seeded and runs on the CPU in minutes. The ViT is open_clip's VisionTransformer (the class
of CLIP ViT-B/32) at 32x32 pixels, 16 patches of 8x8. The finetunes' hyperparameters come from a random
search shaped like the model-soups zoo's (shared/reference/hparam_info.json): learning rates at the same
ratio to the pretraining peak (1/500 to 1/5, log-uniform), weight decay, 4-16 epochs, augmentation
strength, mixup, label smoothing and the seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..models import Classifier, ModelSpec
from .run_config import DEMO_VISION
from .world import CLASS_NAMES, IMAGE_SIZE

EMBED_DIM = 64
LR_RATIO = (1 / 500, 1 / 5)  # finetune lr / pretraining peak lr in the real zoo (1e-6..1e-4 vs CLIP's 5e-4)


def demo_spec() -> ModelSpec:
    return ModelSpec(DEMO_VISION, embed_dim=EMBED_DIM, num_classes=len(CLASS_NAMES))


@dataclass(frozen=True)
class Hparams:
    """One training recipe, recorded next to each ingredient like the paper's hparam_info.json."""

    lr: float
    wd: float
    epochs: int
    aug: float
    smoothing: float
    mixup: float
    seed: int
    batch_size: int = 16

    def to_dict(self) -> dict:
        return asdict(self)


PRETRAIN_HPARAMS = Hparams(lr=2e-3, wd=0.05, epochs=40, aug=0.5, smoothing=0.1, mixup=0.0, seed=0, batch_size=128)


def random_hparams(index: int, seed: int = 0, pretrain_lr: float = PRETRAIN_HPARAMS.lr) -> Hparams:
    """Recipe `index` of the zoo's random search (the draws' order is part of the protocol)."""
    rng = np.random.default_rng([seed, index])
    low, high = (math.log10(r) for r in LR_RATIO)
    return Hparams(
        lr=float(pretrain_lr * 10 ** rng.uniform(low, high)),
        wd=float(10 ** rng.uniform(-4, -0.3)),
        epochs=int(rng.integers(4, 17)),
        aug=float(rng.uniform(0, 1)),
        smoothing=float(rng.uniform(0, 0.2)) if rng.random() < 0.5 else 0.0,
        mixup=float(rng.uniform(0.2, 0.9)) if rng.random() < 0.5 else 0.0,
        seed=index,
    )


@dataclass(frozen=True)
class AugmentFamily:
    """What augmentation strength 1.0 means: shift range (pixels), flips, photometric jitter."""

    max_shift: int
    flips: bool
    gain: float
    tint: float
    contrast: float


PRETRAIN_AUG = AugmentFamily(max_shift=4, flips=True, gain=0.4, tint=0.15, contrast=0.4)
FINETUNE_AUG = AugmentFamily(max_shift=2, flips=False, gain=0.3, tint=0.1, contrast=0.3)  # mild, like RandAugment's photometric ops


def to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """HWC uint8 numpy -> NCHW uint8 tensor, int64 labels."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels).to(torch.int64)


def augment(images: torch.Tensor, strength: float, gen: torch.Generator, family: AugmentFamily = FINETUNE_AUG) -> torch.Tensor:
    """Random shifts, optional flips and photometric jitter scaled by strength in [0, 1]; float output in 0..255."""
    x = images.float()
    if strength <= 0:
        return x
    n = len(x)
    pad = max(1, round(family.max_shift * strength))
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy, dx = (torch.randint(0, 2 * pad + 1, (n,), generator=gen) for _ in range(2))
    x = _crop(padded, dy, dx)
    if family.flips:
        flip = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    gain = 1 + strength * family.gain * (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1)
    tint = 1 + strength * family.tint * (2 * torch.rand(n, 3, 1, 1, generator=gen) - 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = 1 + strength * family.contrast * (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1)
    return ((x - mean) * contrast + mean * gain).mul(tint).clamp(0, 255)


def _crop(padded: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Per-image IMAGE_SIZE crops at offsets (dy, dx), gathered in one indexing op."""
    span = torch.arange(IMAGE_SIZE)
    rows = (dy[:, None] + span)[:, None, :, None]
    cols = (dx[:, None] + span)[:, None, None, :]
    return padded[torch.arange(len(padded))[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols]


def train(model: Classifier, images: torch.Tensor, labels: torch.Tensor, hp: Hparams, family: AugmentFamily = FINETUNE_AUG,
          on_epoch: Callable[[int, float], None] = lambda e, loss: None) -> Classifier:
    """AdamW with linear warm-up over 5 % of the steps then cosine decay, label smoothing and optional mixup."""
    gen = torch.Generator().manual_seed(hp.seed)
    torch.manual_seed(hp.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=hp.lr, weight_decay=hp.wd)
    total = hp.epochs * math.ceil(len(images) / hp.batch_size)
    warmup = max(1, int(total * 0.05))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    model.train()
    for epoch in range(hp.epochs):
        order = torch.randperm(len(images), generator=gen)
        running = 0.0
        for start in range(0, len(images), hp.batch_size):
            idx = order[start:start + hp.batch_size]
            x = augment(images[idx], hp.aug, gen, family)
            target = F.one_hot(labels[idx], model.head.out_features).float()
            if hp.mixup > 0 and torch.rand(1, generator=gen).item() < hp.mixup:
                lam = float(torch.distributions.Beta(0.4, 0.4).sample())
                perm = torch.randperm(len(x), generator=gen)
                x, target = lam * x + (1 - lam) * x[perm], lam * target + (1 - lam) * target[perm]
            loss = F.cross_entropy(model(x), target, label_smoothing=hp.smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            running += float(loss.detach()) * len(idx)
        on_epoch(epoch, running / len(images))
    return model.eval()


@torch.no_grad()
def features(model: Classifier, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The features the head sees, for a whole set."""
    model.eval()
    return torch.cat([model.features(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


def linear_probe(model: Classifier, images: torch.Tensor, labels: torch.Tensor, epochs: int = 100, seed: int = 0) -> None:
    """Fit the head on frozen features (the LP of LP-FT); the tower is untouched."""
    feats = features(model, images)
    torch.manual_seed(seed)
    head = torch.nn.Linear(feats.shape[1], model.head.out_features)
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(epochs):
        loss = F.cross_entropy(head(feats), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        model.head.weight.copy_(head.weight)
        model.head.bias.copy_(head.bias)


@torch.inference_mode()
def accuracy(model: Classifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    model.eval()
    correct = sum(int((model(images[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).sum())
                  for i in range(0, len(images), batch_size))
    return correct / len(images)
