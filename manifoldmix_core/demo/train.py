"""Training for the demo zoo: pretraining on all styles, a linear probe, and LP-FT finetunes on ID.

Everything is seeded and runs on the CPU in minutes: the tiny ViT (open_clip's VisionTransformer,
the same class as CLIP ViT-B/32) sees 32x32 images as 16 patches.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..models import Classifier, ModelSpec
from .world import CLASS_NAMES

# Small enough that one ValAcc evaluation on 2,000 images takes a fraction of a second on two CPU cores.
DEMO_VISION = {"image_size": 32, "patch_size": 8, "width": 32, "layers": 4, "head_width": 16, "mlp_ratio": 4, "pool_type": "avg"}
EMBED_DIM = 32


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
    batch_size: int = 128

    def to_dict(self) -> dict:
        return asdict(self)


def random_hparams(index: int, seed: int = 0) -> Hparams:
    """The random hyperparameter search of the zoo: wide ranges, so the finetunes differ."""
    rng = np.random.default_rng([seed, index])
    return Hparams(
        lr=float(10 ** rng.uniform(-3.7, -2.6)),
        wd=float(10 ** rng.uniform(-4, -0.5)),
        epochs=int(rng.integers(3, 11)),
        aug=float(rng.uniform(0, 1)),
        smoothing=float(rng.uniform(0, 0.2)) if rng.random() < 0.5 else 0.0,
        mixup=float(rng.uniform(0.2, 0.8)) if rng.random() < 0.5 else 0.0,
        seed=index,
    )


def to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """HWC uint8 numpy -> NCHW uint8 tensor, int64 labels."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels).to(torch.int64)


def augment(images: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Random shifts, flips and colour jitter scaled by strength in [0, 1]; float output in 0..255."""
    x = images.float()
    if strength <= 0:
        return x
    n = len(x)
    pad = max(1, round(4 * strength))
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy, dx = (torch.randint(0, 2 * pad + 1, (n,), generator=gen) for _ in range(2))
    x = _crop(padded, dy, dx)
    flip = torch.rand(n, generator=gen) < 0.5
    x[flip] = x[flip].flip(3)
    gain = 1 + strength * 0.4 * (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1)
    tint = 1 + strength * 0.15 * (2 * torch.rand(n, 3, 1, 1, generator=gen) - 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = 1 + strength * 0.4 * (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1)
    return ((x - mean) * contrast + mean * gain).mul(tint).clamp(0, 255)


def _crop(padded: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    return torch.stack([padded[i, :, y:y + 32, x:x + 32] for i, (y, x) in enumerate(zip(dy.tolist(), dx.tolist()))])


def train(model: Classifier, images: torch.Tensor, labels: torch.Tensor, hp: Hparams,
          params=None, on_epoch: Callable[[int, float], None] = lambda e, loss: None) -> Classifier:
    """AdamW with a cosine schedule (one warm-up epoch's tenth), label smoothing and optional mixup."""
    gen = torch.Generator().manual_seed(hp.seed)
    torch.manual_seed(hp.seed)
    params = list(params if params is not None else model.parameters())
    optimizer = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.wd)
    steps_per_epoch = math.ceil(len(images) / hp.batch_size)
    total, warmup = hp.epochs * steps_per_epoch, max(1, steps_per_epoch // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    model.train()
    for epoch in range(hp.epochs):
        order = torch.randperm(len(images), generator=gen)
        running = 0.0
        for start in range(0, len(images), hp.batch_size):
            idx = order[start:start + hp.batch_size]
            x, y = augment(images[idx], hp.aug, gen), labels[idx]
            target = F.one_hot(y, model.head.out_features).float()
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
def features(model: Classifier, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
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
