"""Logit ensembles (not fused models): all ingredients, and the greedy ensemble of model-soups."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .kitchen import Kitchen, SoupResult

if TYPE_CHECKING:  # the registry (methods.py) sits below config.py and names these functions
    from ..config import RunConfig


def _mean(kitchen: Kitchen, names: list[str]) -> dict[str, torch.Tensor]:
    per_model = [kitchen.ingredient_logits(name) for name in names]
    return {ds: torch.stack([m[ds] for m in per_model]).mean(0) for ds in per_model[0]}


def ensemble(kitchen: Kitchen, _config: RunConfig) -> SoupResult:
    """Average the logits of every ingredient (K forward passes per image at inference)."""
    mean = _mean(kitchen, kitchen.order)
    valacc = kitchen.val.accuracy(mean[kitchen.val.name])
    kitchen.on_step(kitchen.method)
    return SoupResult(list(kitchen.order), valacc, logits=mean)


def greedy_ensemble(kitchen: Kitchen, _config: RunConfig) -> SoupResult:
    """Add ingredients in descending ValAcc while the ensemble's ValAcc strictly rises."""
    val = kitchen.val
    best, *candidates = kitchen.order
    chosen, valacc = [best], kitchen.valacc_of[best]
    kitchen.decide(best, True, valacc)
    for name in candidates:
        trial_acc = kitchen.measure("candidate", name, None, lambda name=name: val.accuracy(_mean(kitchen, chosen + [name])[val.name]))
        accepted = trial_acc > valacc
        kitchen.decide(name, accepted, trial_acc)
        if accepted:
            chosen.append(name)
            valacc = trial_acc
    return SoupResult(chosen, valacc, logits=_mean(kitchen, chosen))
