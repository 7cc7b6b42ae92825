"""The shipped demo zoo: a pretrained ViT, its linear probe and LP-FT finetunes.

The protocol mirrors the model-soups zoo the paper used. A ViT is pretrained on a broad mixture (web
photos and four non-photo styles, never the ID camera's pictures), like CLIP on web data; its 10-class
head is the "zero-shot" classifier. A linear probe on the small labelled ID set is the LP init, and every
finetune starts from it with a recipe drawn by `random_hparams`. The zoo is the complete output of that
search: no finetune is dropped or re-rolled. `build` recreates data/demo/ deterministically; the run
on it lives in run_config.py.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ..models import Classifier
from . import splits
from .paths import DEMO_DIR, MANIFEST, PRETRAINED, PROBE, ZOO
from .run_config import DEMO_VISION
from .train import (
    FINETUNE_AUG,
    LR_RATIO,
    PRETRAIN_AUG,
    PRETRAIN_HPARAMS,
    accuracy,
    demo_spec,
    linear_probe,
    random_hparams,
    to_tensors,
    train,
)
from .world import CAMERA_NOISE, CLASS_NAMES

ZOO_VERSION = 2


@dataclass(frozen=True)
class BuildPlan:
    """How big the build is; `REDUCED` exercises every step in seconds (tests)."""

    n_finetunes: int = 16
    pretrain_epochs: int = PRETRAIN_HPARAMS.epochs
    pretrain_fraction: float = 1.0
    train_n: int = splits.TRAIN.n
    epoch_scale: float = 1.0
    seed: int = 0


FULL = BuildPlan()
REDUCED = BuildPlan(n_finetunes=3, pretrain_epochs=1, pretrain_fraction=0.01, train_n=200, epoch_scale=0.15)


def _save(model: Classifier, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)


def _load(path: Path) -> Classifier:
    model = Classifier(demo_spec())
    model.load_state_dict(load_file(path))
    return model.eval()


def protocol(plan: BuildPlan) -> dict:
    """The build's recipe as data, recorded in the manifest next to what it produced."""
    return {
        "pretraining": {"mixture": [asdict(_scaled(s, plan)) for s in splits.PRETRAIN], "augment": asdict(PRETRAIN_AUG),
                        "hparams": replace(PRETRAIN_HPARAMS, epochs=plan.pretrain_epochs, seed=plan.seed).to_dict()},
        "id_train": asdict(replace(splits.TRAIN, n=plan.train_n)),
        "val": asdict(splits.EVAL_SPLITS["val"]),
        "camera_noise": CAMERA_NOISE,
        "finetune_search": {"n": plan.n_finetunes, "lr_ratio_to_pretraining": list(LR_RATIO), "wd": [1e-4, 10 ** -0.3],
                            "epochs": [4, 16], "epoch_scale": plan.epoch_scale, "aug": [0, 1], "augment": asdict(FINETUNE_AUG),
                            "smoothing": "0 or U(0, 0.2), half each", "mixup": "0 or U(0.2, 0.9), half each", "seed": "index"},
    }


def _scaled(split: splits.Split, plan: BuildPlan) -> splits.Split:
    return replace(split, n=max(10, round(split.n * plan.pretrain_fraction)))


def build(out: Path = DEMO_DIR, plan: BuildPlan = FULL, show: bool = True) -> dict:
    """Pretrain on the web mixture, linear-probe on ID train, then finetune every recipe of the search (LP-FT)."""
    started, seconds = time.time(), {}
    out.mkdir(parents=True, exist_ok=True)
    stage = time.time()
    mixture = [_scaled(s, plan) for s in splits.PRETRAIN]
    for split in tqdm([*mixture, replace(splits.TRAIN, n=plan.train_n), splits.EVAL_SPLITS["val"]], desc="images", disable=not show):
        splits.generate_cached(split)
    x_pre, y_pre = to_tensors(*splits.load_mixture(tuple(mixture)))
    x_id, y_id = to_tensors(*splits.generate_cached(replace(splits.TRAIN, n=plan.train_n)))
    x_val, y_val = to_tensors(*splits.load_split("val"))
    seconds["images"] = time.time() - stage

    stage = time.time()
    torch.manual_seed(plan.seed)
    model = Classifier(demo_spec())
    with tqdm(total=plan.pretrain_epochs, desc="pretraining", unit="epoch", disable=not show) as bar:
        train(model, x_pre, y_pre, replace(PRETRAIN_HPARAMS, epochs=plan.pretrain_epochs, seed=plan.seed), PRETRAIN_AUG,
              on_epoch=lambda e, loss: (bar.update(1), bar.set_postfix(loss=f"{loss:.3f}")))
    _save(model, out / PRETRAINED)
    pretrained_valacc = accuracy(model, x_val, y_val)
    seconds["pretraining"] = time.time() - stage

    stage = time.time()
    linear_probe(model, x_id, y_id, seed=plan.seed)
    _save(model, out / PROBE)
    manifest = {"zoo_version": ZOO_VERSION, "generator_version": splits.GENERATOR_VERSION, "plan": asdict(plan),
                "protocol": protocol(plan), "vision": DEMO_VISION, "classes": list(CLASS_NAMES),
                "pretrained_valacc": pretrained_valacc, "linear_probe_valacc": accuracy(model, x_val, y_val),
                "valacc": {}, "hparams": {}}
    seconds["linear_probe"] = time.time() - stage

    stage = time.time()
    with tqdm(total=plan.n_finetunes, desc="finetuning", unit="model", disable=not show) as bar:
        for i in range(plan.n_finetunes):
            name = f"ft_{i:02d}"
            hp = random_hparams(i, plan.seed)
            hp = replace(hp, epochs=max(1, round(hp.epochs * plan.epoch_scale)))
            finetuned = train(copy.deepcopy(model), x_id, y_id, hp)
            _save(finetuned, out / ZOO / f"{name}.safetensors")
            manifest["valacc"][name] = accuracy(finetuned, x_val, y_val)
            manifest["hparams"][name] = hp.to_dict()
            bar.update(1)
            bar.set_postfix(valacc=f"{manifest['valacc'][name]:.3f}")
    seconds["finetuning"] = time.time() - stage
    (out / ZOO / "hparams.json").write_text(json.dumps(manifest["hparams"], indent=1))
    manifest["seconds_by_stage"] = {k: round(v, 1) for k, v in seconds.items()}
    manifest["seconds"] = round(time.time() - started, 1)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest
