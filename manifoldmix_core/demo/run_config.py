"""The demo run: what the app's "Run the demo" button and `python -m manifoldmix_core demo run` start.

Torch-free (paths, split names and JSON only), so the app builds its default draft without loading torch.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import splits
from .paths import DEMO_DIR, ZOO, demo_ready

DEMO_VISION = {"image_size": 32, "patch_size": 8, "width": 64, "layers": 4, "head_width": 16, "mlp_ratio": 4, "pool_type": "avg"}
# ManifoldMixMS in the demo: the paper's Cobyla and a fixed budget per candidate, as the paper used one
# budget (~250) for every granularity; 60 keeps the app's demo run within two minutes on two cores.
DEMO_MANIFOLDMIX = {"optimizer": "Cobyla", "budget": 60}


def demo_config(root: Path = DEMO_DIR, partition: str = "medium", methods: list[str] | None = None) -> dict:
    """The default demo run: all ingredients, all methods, val + ID test + the five OOD sets, one partition preset."""
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
        **splits.dataset_sections(),
        "partition": {"preset": partition},
        "manifoldmix": dict(DEMO_MANIFOLDMIX),
        "device": "auto",
    }
    if methods:
        config["methods"] = methods
    return config
