"""Logit ensembles (not fused models): all ingredients, and the greedy ensemble of model-soups.

Both stream: an ensemble is a running sum of its members' logits (kitchen.ensemble_sums), so memory does
not grow with the number of ingredients; its test accuracies are measured by the runner from its members.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .result import SoupResult

if TYPE_CHECKING:  # the kitchen holds torch and the config sits above this module: names for hints only
    import torch

    from ..config import RunConfig
    from .kitchen import Kitchen


def ensemble(kitchen: Kitchen, _config: RunConfig) -> SoupResult:
    """Average the logits of every ingredient (K forward passes per image at inference); its ValAcc comes with its test accuracies."""
    kitchen.step_done("its members chosen")
    return SoupResult(list(kitchen.order), None)


def greedy_ensemble(kitchen: Kitchen, _config: RunConfig) -> SoupResult:
    """Add ingredients in descending ValAcc while the ensemble's ValAcc strictly rises."""
    val = kitchen.val.name
    best, *candidates = kitchen.order
    chosen, valacc = [best], kitchen.valacc_of[best]
    kitchen.decide(best, True, valacc)
    total: torch.Tensor | None = None  # Σ of the chosen members' held-out logits; built when first needed (not on replay)
    trial: tuple[str, torch.Tensor] | None = None

    def trial_valacc(name: str) -> float:
        nonlocal total, trial
        if total is None:
            total = kitchen.ensemble_sums(chosen, [val])[val]
        trial = (name, kitchen.ensemble_sums([name], [val])[val])
        return kitchen.evaluator.accuracy_of(kitchen.val, total + trial[1])

    for name in candidates:
        trial_acc = kitchen.measure("candidate", name, None, lambda name=name: trial_valacc(name))
        accepted = trial_acc > valacc
        kitchen.decide(name, accepted, trial_acc)
        if accepted:
            chosen.append(name)
            valacc = trial_acc
            total = total + trial[1] if total is not None and trial is not None and trial[0] == name else None
    return SoupResult(chosen, valacc)
