"""The shipped demo zoo: a pretrained tiny ViT, its linear probe and LP-FT finetunes, plus the demo run config.

`build` recreates data/demo/ deterministically; `demo_config` is the run the app's "run the demo"
button and `python -m manifoldmix_core demo run` start.
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
from .paths import DEMO_DIR, MANIFEST, PRETRAINED, PROBE, ZOO, demo_ready
from .train import DEMO_VISION, Hparams, accuracy, demo_spec, linear_probe, random_hparams, to_tensors, train
from .world import CLASS_NAMES

PARTITIONS = {level: {"preset": level} for level in ("coarse", "medium", "fine")}


@dataclass(frozen=True)
class BuildPlan:
    """How big the build is; `REDUCED` exercises every step in seconds (tests)."""

    n_finetunes: int = 12
    pretrain_epochs: int = 40
    pretrain_per_style: int = 2000
    train_n: int = 6000
    epoch_scale: float = 1.0
    seed: int = 0


FULL = BuildPlan()
REDUCED = BuildPlan(n_finetunes=3, pretrain_epochs=1, pretrain_per_style=60, train_n=300, epoch_scale=0.15)
PRETRAIN_HPARAMS = Hparams(lr=2e-3, wd=0.05, epochs=40, aug=0.5, smoothing=0.1, mixup=0.0, seed=0)


def _save(model: Classifier, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)


def _load(path: Path) -> Classifier:
    model = Classifier(demo_spec())
    model.load_state_dict(load_file(path))
    return model.eval()


def _valacc(model: Classifier) -> float:
    return accuracy(model, *to_tensors(*splits.load_split("val")))


def build(out: Path = DEMO_DIR, plan: BuildPlan = FULL, show: bool = True) -> dict:
    """Pretrain on all styles, linear-probe on ID train, then finetune n recipes end to end (LP-FT)."""
    started = time.time()
    out.mkdir(parents=True, exist_ok=True)
    pretrain_splits = tuple(replace(s, n=plan.pretrain_per_style) for s in splits.PRETRAIN)
    x_pre, y_pre = to_tensors(*splits.load_mixture(pretrain_splits))
    x_id, y_id = to_tensors(*splits.generate_cached(replace(splits.TRAIN, n=plan.train_n)))
    torch.manual_seed(plan.seed)
    model = Classifier(demo_spec())
    bar = tqdm(total=plan.pretrain_epochs + 1 + plan.n_finetunes, desc="pretraining", disable=not show)
    train(model, x_pre, y_pre, replace(PRETRAIN_HPARAMS, epochs=plan.pretrain_epochs, seed=plan.seed),
          on_epoch=lambda e, loss: (bar.update(1), bar.set_postfix(loss=f"{loss:.3f}")))
    _save(model, out / PRETRAINED)
    bar.set_description("linear probe")
    linear_probe(model, x_id, y_id, seed=plan.seed)
    _save(model, out / PROBE)
    bar.update(1)
    manifest = {"plan": asdict(plan), "vision": DEMO_VISION, "classes": list(CLASS_NAMES),
                "generator_version": splits.GENERATOR_VERSION, "pretrained_valacc": _valacc(_load(out / PRETRAINED)),
                "linear_probe_valacc": _valacc(model), "valacc": {}, "hparams": {}}
    for i in range(plan.n_finetunes):
        name = f"ft_{i:02d}"
        hp = random_hparams(i, plan.seed)
        hp = replace(hp, epochs=max(1, round(hp.epochs * plan.epoch_scale)))
        bar.set_description(f"finetune {name}")
        finetuned = train(copy.deepcopy(model), x_id, y_id, hp)
        _save(finetuned, out / ZOO / f"{name}.safetensors")
        manifest["valacc"][name] = _valacc(finetuned)
        manifest["hparams"][name] = hp.to_dict()
        bar.update(1)
    bar.close()
    (out / ZOO / "hparams.json").write_text(json.dumps(manifest["hparams"], indent=1))
    manifest["seconds"] = round(time.time() - started, 1)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def demo_config(root: Path = DEMO_DIR, partition: str = "medium", methods: list[str] | None = None) -> dict:
    """The default demo run: all ingredients, all methods, val + ID test + the five OOD sets."""
    if not demo_ready(root):
        from ..errors import ConfigError
        raise ConfigError(f"the demo zoo is not built in {root}; run 'python -m manifoldmix_core demo build'")
    hparams = json.loads((root / ZOO / "hparams.json").read_text())
    ingredients = [{"name": p.stem, "path": str(p), "hparams": hparams.get(p.stem)}
                   for p in sorted((root / ZOO).glob("*.safetensors"))]
    config = {
        "name": f"demo-{partition}",
        "model": {"architecture": DEMO_VISION},
        "ingredients": ingredients,
        "val": {"name": "val", "source": "demo", "path": "val"},
        "test": [{"name": name, "source": "demo", "path": name} for name in splits.EVAL_SPLITS if name != "val"],
        "ood": list(splits.OOD_SPLITS),
        "partition": PARTITIONS[partition],
        "device": "auto",
    }
    if methods:
        config["methods"] = methods
    return config
