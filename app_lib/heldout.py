"""Held-out accuracy of single ingredients, on demand (the Ingredients table), measured by the engine in its own process.

The engine's `heldout` command builds the classifier once and evaluates each ingredient on the
held-out set only; the page caches results by file version, so each file is measured once.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from .paths import REPO
from .run_store import ENGINE


def heldout_accuracy(config: dict, names: list[str]) -> dict[str, float]:
    """ValAcc of the named ingredients of a draft config (model, ingredients, val), on the draft's device."""
    subset = {key: config[key] for key in ("model", "val", "partition", "device", "batch_size", "host_memory_mb") if key in config}
    subset["ingredients"] = [i for i in config["ingredients"] if i["name"] in names]
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "config.json"
        path.write_text(json.dumps(subset))
        done = subprocess.run([*ENGINE, "heldout", str(path)], cwd=REPO, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"the engine exited with code {done.returncode}"]
        raise RuntimeError(lines[-1].removeprefix("error: "))
    return json.loads(done.stdout)
