"""Training for the demo zoo: pretraining on the web mixture, a linear probe, and LP-FT finetunes on ID.

Everything is seeded and runs on the CPU in minutes. The ViT is open_clip's VisionTransformer (the class
of CLIP ViT-B/32) at 32x32 pixels, 16 patches of 8x8. The finetunes' hyperparameters come from a random
search shaped like the model-soups zoo's (shared/reference/hparam_info.json): learning rates at the same
ratio to the pretraining peak (1/500 to 1/5, log-uniform), weight decay, 4-16 epochs, augmentation
strength, mixup, label smoothing and the seed.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

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
    """One training recipe, recorded next to each ingredient like the paper's hparam_info.json.

    Beyond the real zoo's fields: the augmentation ``family``, the share of the ID pool the finetune trains on
    (``bag``: its own seeded sample), whether its head is refit on that sample first (``head_refit``, its own
    linear probe with its own seed) and ``anchor``, a decay towards the finetune's starting weights (L2-SP).
    """

    lr: float
    wd: float
    epochs: int
    aug: float
    smoothing: float
    mixup: float
    seed: int
    batch_size: int = 16
    family: str = "base"
    bag: float = 1.0
    head_refit: bool = False
    anchor: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


PRETRAIN_HPARAMS = Hparams(lr=2e-3, wd=0.05, epochs=40, aug=0.5, smoothing=0.1, mixup=0.0, seed=0, batch_size=128)


@dataclass(frozen=True)
class FinetuneSearch:
    """The zoo's random search space; `random_hparams` draws recipe i from it in a fixed order.

    Ranges are (low, high): ``lr``, ``wd`` and ``anchor`` log-uniform (anchor 0 when its low is 0), ``epochs``
    uniform integers inclusive, ``aug`` uniform. Smoothing U(0, ``smoothing``) and mixup U(``mixup``) are each on
    for half the recipes, as in hparam_info.json; the augmentation family cycles through ``families`` by index.
    """

    lr: tuple[float, float]
    wd: tuple[float, float] = (1e-4, 10 ** -0.3)
    epochs: tuple[int, int] = (4, 16)
    aug: tuple[float, float] = (0.0, 1.0)
    smoothing: float = 0.2
    mixup: tuple[float, float] = (0.2, 0.9)
    families: tuple[str, ...] = ("base",)
    bag: float = 1.0
    head_refit: bool = False
    anchor: tuple[float, float] = (0.0, 0.0)
    batch_size: int = 16

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def random_hparams(index: int, seed: int, search: FinetuneSearch) -> Hparams:
    """Recipe `index` of the zoo's random search (the draws' order is part of the protocol)."""
    rng = np.random.default_rng([seed, index])
    log_uniform = lambda band: float(10 ** rng.uniform(math.log10(band[0]), math.log10(band[1])))  # noqa: E731
    return Hparams(
        lr=log_uniform(search.lr),
        wd=log_uniform(search.wd),
        epochs=int(rng.integers(search.epochs[0], search.epochs[1] + 1)),
        aug=float(rng.uniform(*search.aug)),
        smoothing=float(rng.uniform(0, search.smoothing)) if rng.random() < 0.5 else 0.0,
        mixup=float(rng.uniform(*search.mixup)) if rng.random() < 0.5 else 0.0,
        seed=1000 * seed + index,
        batch_size=search.batch_size,
        family=search.families[index % len(search.families)],
        bag=search.bag,
        head_refit=search.head_refit,
        anchor=log_uniform(search.anchor) if search.anchor[0] > 0 else 0.0,
    )


@dataclass(frozen=True)
class AugmentFamily:
    """What augmentation strength 1.0 means: shift range (pixels), flips, photometric jitter, and optionally
    rotation (degrees), zoom and shear ranges and the chance of an occluding bar across the object."""

    max_shift: int
    flips: bool
    gain: float
    tint: float
    contrast: float
    rotate: float = 0.0
    zoom: float = 0.0
    shear: float = 0.0
    occlude: float = 0.0


PRETRAIN_AUG = AugmentFamily(max_shift=4, flips=True, gain=0.4, tint=0.15, contrast=0.4)
FINETUNE_AUG = AugmentFamily(max_shift=2, flips=False, gain=0.3, tint=0.1, contrast=0.3)  # mild, like RandAugment's photometric ops
# The finetunes' augmentation families, as RandAugment's op sets differ between the real zoo's recipes
# ("rand-m12-n1" vs "rand-m4-n2"): photometric only, plus geometry, plus occlusion, or all of them.
FINETUNE_FAMILIES: dict[str, AugmentFamily] = {
    "base": FINETUNE_AUG,
    "geometric": replace(FINETUNE_AUG, rotate=30.0, zoom=0.25, shear=0.3),
    "occlusion": replace(FINETUNE_AUG, occlude=0.7),
    "both": replace(FINETUNE_AUG, rotate=30.0, zoom=0.25, shear=0.3, occlude=0.7),
}


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
    x = ((x - mean) * contrast + mean * gain).mul(tint)
    if family.rotate or family.zoom or family.shear:
        x = _warp(x, strength, gen, family)
    if family.occlude:
        x = _occlude(x, strength * family.occlude, gen)
    return x.clamp(0, 255)


def _warp(x: torch.Tensor, strength: float, gen: torch.Generator, family: AugmentFamily) -> torch.Tensor:
    """Per-image rotation, zoom and shear about the centre (one affine grid for the batch, reflected borders)."""
    n = len(x)
    u = 2 * torch.rand(n, 3, generator=gen) - 1
    angle = torch.deg2rad(u[:, 0] * family.rotate * strength)
    zoom = 1 + u[:, 1] * family.zoom * strength
    shear = u[:, 2] * family.shear * strength
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, cos * shear - sin, torch.zeros(n)], 1),
                         torch.stack([sin, sin * shear + cos, torch.zeros(n)], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _occlude(x: torch.Tensor, chance: float, gen: torch.Generator) -> torch.Tensor:
    """With probability ``chance`` per image, a bar of a random grey crosses the image near its centre (as a pole in front)."""
    n = len(x)
    hit, phi, offset, width, grey = torch.rand(n, 5, generator=gen).unbind(1)
    centre = torch.arange(IMAGE_SIZE, dtype=torch.float32) + 0.5 - IMAGE_SIZE / 2
    distance = (torch.cos(phi * math.pi)[:, None, None] * centre[None, None, :]
                + torch.sin(phi * math.pi)[:, None, None] * centre[None, :, None] - (offset[:, None, None] - 0.5) * 12)
    bar = (distance.abs() < (2 + 4 * width)[:, None, None]) & (hit < chance)[:, None, None]
    return torch.where(bar[:, None], (40 + 180 * grey)[:, None, None, None], x)


def _crop(padded: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Per-image IMAGE_SIZE crops at offsets (dy, dx), gathered in one indexing op."""
    span = torch.arange(IMAGE_SIZE)
    rows = (dy[:, None] + span)[:, None, :, None]
    cols = (dx[:, None] + span)[:, None, None, :]
    return padded[torch.arange(len(padded))[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols]


def train(model: Classifier, images: torch.Tensor, labels: torch.Tensor, hp: Hparams, family: AugmentFamily = FINETUNE_AUG,
          on_epoch: Callable[[int, float], None] = lambda e, loss: None) -> Classifier:
    """AdamW with linear warm-up over 5 % of the steps then cosine decay, label smoothing, optional mixup and L2-SP."""
    gen = torch.Generator().manual_seed(hp.seed)
    torch.manual_seed(hp.seed)
    params = list(model.parameters())
    initial = [p.detach().clone() for p in params] if hp.anchor else []
    optimizer = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.wd)
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
            if initial:  # L2-SP, decoupled like AdamW's decay: pull towards the starting weights at the current lr
                with torch.no_grad():
                    step = optimizer.param_groups[0]["lr"] * hp.anchor
                    for p, p0 in zip(params, initial):
                        p.sub_(p - p0, alpha=step)
            schedule.step()
            running += float(loss.detach()) * len(idx)
        on_epoch(epoch, running / len(images))
    return model.eval()


def finetune(lp_init: Classifier, images: torch.Tensor, labels: torch.Tensor, hp: Hparams) -> Classifier:
    """One zoo member: its own seeded sample of the ID pool, optionally its own head refit on it, then LP-FT training."""
    model = copy.deepcopy(lp_init)
    if hp.bag < 1.0:
        keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(hp.seed))[:round(hp.bag * len(images))].sort().values
        images, labels = images[keep], labels[keep]
    if hp.head_refit:
        linear_probe(model, images, labels, seed=hp.seed)
    return train(model, images, labels, hp, FINETUNE_FAMILIES[hp.family])


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
