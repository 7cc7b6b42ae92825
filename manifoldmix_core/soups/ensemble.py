"""Logit ensembles (not fused models): all ingredients, and the greedy ensemble of model-soups."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from .kitchen import Kitchen, SoupResult

Logits = Callable[[str], Mapping[str, torch.Tensor]]


def _mean(logits: Logits, names: list[str]) -> dict[str, torch.Tensor]:
    per_model = [logits(name) for name in names]
    return {ds: torch.stack([m[ds] for m in per_model]).mean(0) for ds in per_model[0]}


def ensemble(kitchen: Kitchen, logits: Logits) -> SoupResult:
    """Average the logits of every ingredient (K forward passes per image at inference)."""
    mean = _mean(logits, kitchen.order)
    valacc = kitchen.val.accuracy(mean[kitchen.val.name])
    kitchen.on_step("ensemble")
    return SoupResult("ensemble", list(kitchen.order), valacc, logits=mean)


def greedy_ensemble(kitchen: Kitchen, logits: Logits) -> SoupResult:
    """Add ingredients in descending ValAcc while the ensemble's ValAcc strictly rises."""
    method, val = "greedy_ensemble", kitchen.val
    best, *candidates = kitchen.order
    chosen, valacc = [best], kitchen.valacc_of[best]
    kitchen.decide(method, best, True, valacc)
    for name in candidates:
        trial = _mean(logits, chosen + [name])
        trial_acc = kitchen.record({"type": "eval", "method": method, "phase": "candidate", "candidate": name,
                                    "lambda": None, "valacc": val.accuracy(trial[val.name])})["valacc"]
        accepted = trial_acc > valacc
        kitchen.decide(method, name, accepted, trial_acc)
        if accepted:
            chosen.append(name)
            valacc = trial_acc
    return SoupResult(method, chosen, valacc, logits=_mean(logits, chosen))
