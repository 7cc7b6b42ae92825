"""Greedy soup as in model-soups: add an ingredient when the running average's ValAcc strictly rises."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .result import SoupResult

if TYPE_CHECKING:  # the kitchen holds torch and the config sits above this module: names for hints only
    from ..config import RunConfig
    from .kitchen import Kitchen


def greedy_soup(kitchen: Kitchen, _config: RunConfig) -> SoupResult:
    """Ingredients in descending ValAcc; each is tried in the average of those kept so far."""
    best, *candidates = kitchen.order
    psi, valacc, chosen = kitchen.theta(best).clone(), kitchen.valacc_of[best], [best]
    kitchen.decide(best, True, valacc)
    for name in candidates:
        lam = [len(chosen) / (len(chosen) + 1)] * kitchen.n_components
        candidate_acc = kitchen.valacc("candidate", name, lam, kitchen.mixed(psi, name, lam))
        accepted = candidate_acc > valacc
        kitchen.decide(name, accepted, candidate_acc)
        if accepted:
            kitchen.commit(psi, name, lam)
            valacc = candidate_acc
            chosen.append(name)
    return SoupResult(chosen, valacc, params=psi)
