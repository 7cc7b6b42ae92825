"""The run being assembled across pages (ingredients, datasets, partition, settings) as a run-config dict."""

from __future__ import annotations

import copy

from manifoldmix_core.methods import defaults
from manifoldmix_core.partition import default_spec

from .demo import demo_config, demo_status

EMPTY = {"name": "my-run", "model": {}, "ingredients": [], "val": None, "test": [], "ood": [],
         "partition": default_spec(), "methods": defaults(), "manifoldmix": {}, "device": "auto"}


def initial_draft() -> dict:
    """The demo's config when the demo is ready (so Run works out of the box), else an empty draft."""
    ready, _ = demo_status()
    if ready:
        try:
            return demo_config()
        except Exception:  # a half-built demo must not break every page; the Start page reports it
            pass
    return copy.deepcopy(EMPTY)


def missing(draft: dict) -> list[str]:
    """What still has to be chosen before a run can start, in words for the user."""
    needs = []
    if not draft.get("ingredients"):
        needs.append("ingredients (Ingredients page)")
    if not draft.get("val"):
        needs.append("a held-out set (Datasets page)")
    return needs


def blockers(config: dict) -> list[str]:
    """Why a run of this config cannot start, in words: what is still missing, else the engine's own validation
    (manifoldmix_core.config, torch-free), so an out-of-range setting is named instead of silently replaced."""
    needs = missing(config)
    if needs:
        return ["Choose " + " and ".join(needs) + "."]
    from manifoldmix_core.config import parse_config
    from manifoldmix_core.errors import ConfigError
    try:
        parsed = parse_config(config)
    except ConfigError as exc:
        said = str(exc)
        first = said.split(" ", 1)[0]
        return [(said if "." in first or "_" in first else said[:1].upper() + said[1:]) + "."]  # a config key keeps its case
    trouble = model_problem(parsed)
    return [f"{trouble}; set the model in the Model section of the Ingredients page."] if trouble else []


def model_problem(config) -> str | None:
    """What the engine can tell cheaply (safetensors headers, no torch) about the model settings and the pool's first
    checkpoint (a timm pool without a model name, a shared head for checkpoints with their own), or None."""
    from manifoldmix_core.checkpoint_files import check_model
    from manifoldmix_core.errors import ManifoldMixError
    try:
        check_model(config.model, config.ingredients[0].path)
    except ManifoldMixError as exc:
        return str(exc)
    return None


def degenerate(config: dict) -> list[str]:
    """Setups that run but teach little: what the user should know before launching them."""
    notes = []
    n = len(config.get("ingredients") or [])
    if n == 1:
        notes.append("Only one ingredient: every soup and ensemble is that ingredient itself. Add more on Ingredients.")
    mm = config.get("manifoldmix") or {}
    budget, per_component = mm.get("budget"), mm.get("budget_per_component", 30)
    if (budget is not None and budget < 2) or (budget is None and per_component == 1):
        notes.append("A budget of 1 evaluation per component is fewer than the components + 1 points a λ search needs "
                     "to move: each candidate is judged at its starting λ only.")
    return notes


def with_settings(draft: dict, methods: list[str], sections: dict[str, dict], device: str, name: str) -> dict:
    """The draft with the Run page's settings (the methods' sections from method_settings.saved), as a config for config.json."""
    config = copy.deepcopy(draft)
    config.update(methods=list(methods), device=device, name=name, **copy.deepcopy(sections))
    return config
