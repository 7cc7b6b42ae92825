"""The shipped demo zoo: a pretrained ViT, its linear probe and LP-FT finetunes.

The protocol mirrors the model-soups zoo the paper used. A ViT is pretrained on a broad mixture (web
photos and four non-photo styles, never the ID camera's pictures), like CLIP on web data; its 10-class
head is the "zero-shot" classifier. A linear probe on the small labelled ID set is the LP init, and every
finetune starts from it with a recipe drawn by `random_hparams`. The zoo is the complete output of that
search: no finetune is dropped or re-rolled. `build` recreates data/demo/ deterministically; the run
on it lives in run_config.py.
"""

from __future__ import annotations

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
    FINETUNE_FAMILIES,
    PRETRAIN_AUG,
    PRETRAIN_HPARAMS,
    FinetuneSearch,
    accuracy,
    demo_spec,
    finetune,
    linear_probe,
    random_hparams,
    to_tensors,
    train,
)
from .world import CAMERA_NOISE, CLASS_NAMES

ZOO_VERSION = 3
# The finetunes' random search (v3, "anchored_hot" in docs/demo_protocols.md, which records every protocol tried):
# a plateau of equally trained finetunes (fixed epochs, one lr band) made diverse like the real zoo's members
# (each its own 80 % sample of the ID set, its own head refit, augmentation families cycled) and kept near
# their start by L2-SP so that they stay robust off the ID distribution.
SEARCH = FinetuneSearch(lr=(1.4e-3, 2.8e-3), epochs=(5, 5), families=tuple(FINETUNE_FAMILIES), bag=0.8, head_refit=True,
                        anchor=(1.0, 10.0), batch_size=32)


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


def load_model(path: Path) -> Classifier:
    """A demo checkpoint (pretrained, LP init or finetune) as an eval-mode classifier."""
    model = Classifier(demo_spec())
    model.load_state_dict(load_file(path))
    return model.eval()


def protocol(plan: BuildPlan, search: FinetuneSearch = SEARCH) -> dict:
    """The build's recipe as data, recorded in the manifest next to what it produced."""
    return {
        "pretraining": {"mixture": [asdict(_scaled(s, plan)) for s in splits.PRETRAIN], "augment": asdict(PRETRAIN_AUG),
                        "hparams": replace(PRETRAIN_HPARAMS, epochs=plan.pretrain_epochs, seed=plan.seed).to_dict()},
        "id_train": asdict(replace(splits.TRAIN, n=plan.train_n)),
        "val": asdict(splits.EVAL_SPLITS["val"]),
        "camera_noise": CAMERA_NOISE,
        "finetune_search": {"n": plan.n_finetunes, **search.to_dict(), "epoch_scale": plan.epoch_scale,
                            "augment_families": {name: asdict(f) for name, f in FINETUNE_FAMILIES.items()},
                            "smoothing": "0 or U(0, smoothing), half each", "mixup": "0 or U(mixup), half each",
                            "seed": "1000 * plan seed + index"},
    }


def _scaled(split: splits.Split, plan: BuildPlan) -> splits.Split:
    return replace(split, n=max(10, round(split.n * plan.pretrain_fraction)))


def finetune_zoo(lp_init: Classifier, x_id: torch.Tensor, y_id: torch.Tensor, val: tuple[torch.Tensor, torch.Tensor],
                 plan: BuildPlan, out: Path, search: FinetuneSearch = SEARCH, show: bool = True) -> tuple[dict, dict]:
    """Every recipe 0..n-1 of the search, finetuned from the LP init into out/zoo/ with hparams.json; their ValAcc."""
    valacc, hparams = {}, {}
    with tqdm(total=plan.n_finetunes, desc="finetuning", unit="model", disable=not show) as bar:
        for i in range(plan.n_finetunes):
            name = f"ft_{i:02d}"
            hp = random_hparams(i, plan.seed, search)
            hp = replace(hp, epochs=max(1, round(hp.epochs * plan.epoch_scale)))
            finetuned = finetune(lp_init, x_id, y_id, hp)
            _save(finetuned, out / ZOO / f"{name}.safetensors")
            valacc[name], hparams[name] = accuracy(finetuned, *val), hp.to_dict()
            bar.update(1)
            bar.set_postfix(valacc=f"{valacc[name]:.3f}")
    (out / ZOO / "hparams.json").write_text(json.dumps(hparams, indent=1))
    return valacc, hparams


def build(out: Path = DEMO_DIR, plan: BuildPlan = FULL, show: bool = True, search: FinetuneSearch = SEARCH) -> dict:
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
                "protocol": protocol(plan, search), "vision": DEMO_VISION, "classes": list(CLASS_NAMES),
                "pretrained_valacc": pretrained_valacc, "linear_probe_valacc": accuracy(model, x_val, y_val),
                "valacc": {}, "hparams": {}}
    seconds["linear_probe"] = time.time() - stage

    stage = time.time()
    manifest["valacc"], manifest["hparams"] = finetune_zoo(model, x_id, y_id, (x_val, y_val), plan, out, search, show)
    seconds["finetuning"] = time.time() - stage
    manifest["seconds_by_stage"] = {k: round(v, 1) for k, v in seconds.items()}
    manifest["seconds"] = round(time.time() - started, 1)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest
