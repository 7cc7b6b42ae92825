"""Held-out accuracy of single ingredients, on demand (the Ingredients table), in this process.

It builds the classifier once and evaluates each ingredient on the held-out set only; the
page caches results by file fingerprint, so each file is measured once.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


def heldout_accuracy(config: dict, names: list[str]) -> dict[str, float]:
    """ValAcc of the named ingredients of a draft config (model, ingredients, val), on the draft's device."""
    from manifoldmix_core import runs
    from manifoldmix_core.config import parse_config
    from manifoldmix_core.runner import prepare

    subset = {**config, "ingredients": [i for i in config["ingredients"] if i["name"] in names], "test": [], "ood": [],
              "methods": ["uniform_soup"]}
    run_config = parse_config(subset)
    with tempfile.TemporaryDirectory() as tmp:
        setup = prepare(run_config, runs.Journal(Path(tmp)))
        kitchen, val = setup.kitchen, run_config.val.name
        return {name: kitchen.accuracies(kitchen.test_logits(kitchen.stored(name=name)))[val] for name in kitchen.ingredients}
