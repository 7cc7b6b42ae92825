"""A toy world with real open_clip ViTs whose soup decisions are known in advance.

A random tiny ViT plus a "teacher" head defines the labels, so the teacher is right on every
image. Ingredient `a` can only predict the two most frequent classes (the other head biases
are -100), `b` only the other two; averaging their heads gives the teacher's logits minus a
constant, so mixing b into a is a sure win.
`a_copy` equals `a` (mixing changes nothing), and `noise` has a wrecked image tower.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from manifoldmix_core.models import Classifier, ModelSpec

VISION = {"image_size": 16, "patch_size": 8, "width": 32, "layers": 2, "head_width": 16, "mlp_ratio": 2, "pool_type": "avg"}
EMBED, CLASSES = 16, 4


def spec() -> ModelSpec:
    return ModelSpec(VISION, embed_dim=EMBED, num_classes=CLASSES)


def teacher(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = Classifier(spec())
    with torch.no_grad():
        model.head.weight.mul_(20)
        model.head.bias.zero_()
    return {k: v.clone() for k, v in model.state_dict().items()}


def labelled_images(state: dict, n: int, seed: int, min_margin: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images labelled by the teacher, keeping only those with a clear margin."""
    model = Classifier(spec())
    model.load_state_dict(state)
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 16, 16), dtype=torch.uint8, generator=generator)
    with torch.no_grad():
        top2 = model.eval()(images).topk(2, dim=1)
    keep = (top2.values[:, 0] - top2.values[:, 1]) > min_margin
    return images[keep].contiguous(), top2.indices[keep, 0].contiguous()


def ingredients(state: dict, labels: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
    a, b, noise = ({k: v.clone() for k, v in state.items()} for _ in range(3))
    frequent = torch.bincount(labels, minlength=CLASSES).argsort(descending=True)
    a["head.bias"][frequent[2:]] = -100.0
    b["head.bias"][frequent[:2]] = -100.0
    generator = torch.Generator().manual_seed(1)
    for name, value in noise.items():
        if name.startswith("visual.transformer"):
            noise[name] = torch.randn(value.shape, generator=generator) * 50
    return {"a": a, "a_copy": {k: v.clone() for k, v in a.items()}, "b": b, "noise": noise}


def write_world(root: Path, methods=None, manifoldmix=None, names=("a", "a_copy", "b", "noise")) -> Path:
    """Ingredient files, val/test tensor files and a run config; returns the config path."""
    root.mkdir(parents=True, exist_ok=True)
    state = teacher()
    splits = {split: labelled_images(state, 400, seed) for split, seed in (("val", 10), ("test", 11))}
    for split, (images, labels) in splits.items():
        save_file({"images": images, "labels": labels}, root / f"{split}.safetensors")
    for name, weights in ingredients(state, splits["val"][1]).items():
        if name in names:
            save_file(weights, root / f"{name}.safetensors")
    config = {
        "name": "toy",
        "model": {"architecture": VISION},
        "ingredients": [{"name": n, "path": f"{n}.safetensors"} for n in names],
        "val": {"name": "val", "source": "tensors", "path": "val.safetensors"},
        "test": [{"name": "test", "source": "tensors", "path": "test.safetensors"}],
        "ood": ["test"],
        "partition": {"preset": "structural"},
        "methods": methods or ["uniform_soup", "greedy_soup", "manifoldmixms", "ensemble", "greedy_ensemble"],
        "manifoldmix": {"budget_per_component": 3, **(manifoldmix or {})},
        "device": "cpu",
    }
    path = root / "config.json"
    path.write_text(json.dumps(config, indent=1))
    return path
