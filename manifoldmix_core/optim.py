"""The nevergrad wrapper: an optimizer by its nevergrad name, a budget, box bounds and a seed.

We drive nevergrad with ask/tell so every evaluation passes through our callback (events,
cancellation, caching) and keep the best λ we evaluated ourselves: λ* is an argmax over the
points actually measured, exactly what Eq. (3) asks for.

Recast optimizers (Cobyla, SQP, ...) run the wrapped library in a non-daemon thread that waits for
our next `tell`; when the objective raises (a signal, a full disk) that thread would wait forever
and keep the process from exiting, so `maximize` always stops it on the way out.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import nevergrad as ng
import numpy as np
from nevergrad.optimization.optimizerlib import NonObjectOptimizer

from .errors import ConfigError

if TYPE_CHECKING:  # config validation imports this module; torch stays out of it
    from .distributed import Group


OPTIMIZERS = ("Cobyla", "NGOpt", "CMA", "OnePlusOne", "DE", "PSO", "TwoPointsDE", "RandomSearch")
"""The curated optimizers the app lists (the paper's Cobyla first); any other name in nevergrad's registry runs too."""


@dataclass(frozen=True)
class Search:
    """One optimizer run: nevergrad optimizer name, number of evaluations and seed."""

    optimizer: str = "Cobyla"
    budget: int = 30
    seed: int = 0


def check_optimizer(name: str) -> None:
    """Fail early, with suggestions, on an optimizer name nevergrad does not know."""
    if name not in ng.optimizers.registry:
        close = difflib.get_close_matches(name, list(ng.optimizers.registry), n=5)
        raise ConfigError(f"nevergrad has no optimizer '{name}'" + (f"; did you mean {', '.join(close)}?" if close else ""))


def seed_matters(name: str) -> bool:
    """Whether the seed changes this optimizer's search: scipy's local methods that nevergrad wraps (Cobyla, SQP,
    Powell, ...) start from λ's initial value and never draw a random number, so every seed gives the same run.
    (NGOpt on 1–3 components runs Cobyla too; see maximize.)"""
    check_optimizer(name)
    factory = ng.optimizers.registry[name]
    return not (isinstance(factory, NonObjectOptimizer) and not getattr(factory, "_config", {}).get("random_restart", True))


def maximize(objective: Callable[[np.ndarray], float], init: np.ndarray, lower: np.ndarray, upper: np.ndarray,
             search: Search, group: Group | None = None) -> tuple[np.ndarray, float]:
    """Maximise objective(λ) over the box [lower, upper] starting at init; return the best λ seen and its value.

    nevergrad minimises, so it is told 1 − objective. NGOpt on 1–3 dimensional problems can fail
    inside nevergrad 1.0.12 with numpy 2; there it picks Cobyla anyway, so we use Cobyla directly.
    Under torchrun (a `group` of several ranks) only rank 0 runs nevergrad; the others evaluate each λ it shares.
    """
    if group is None:
        return _search(objective, init, lower, upper, search)
    if not group.leader:
        while (lam := group.share()) is not None:
            objective(np.asarray(lam, dtype=np.float64))
        best_lam, best_value = group.share()
        return np.asarray(best_lam, dtype=np.float64), best_value

    def shared(lam: np.ndarray) -> float:
        group.share(lam.tolist())  # the other ranks evaluate this λ with us
        return objective(lam)

    best_lam, best_value = _search(shared, init, lower, upper, search)
    group.share(None)
    group.share((best_lam.tolist(), best_value))
    return best_lam, best_value


def _search(objective: Callable[[np.ndarray], float], init: np.ndarray, lower: np.ndarray, upper: np.ndarray,
            search: Search) -> tuple[np.ndarray, float]:
    """nevergrad's ask/tell loop (see maximize)."""
    check_optimizer(search.optimizer)
    if search.budget < 1:
        raise ConfigError(f"optimizer budget must be at least 1 evaluation, got {search.budget}")
    name = "Cobyla" if search.optimizer == "NGOpt" and init.size <= 3 else search.optimizer
    param = ng.p.Array(init=np.clip(init, lower, upper), lower=lower, upper=upper)
    param.random_state.seed(search.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimizer = ng.optimizers.registry[name](parametrization=param, budget=search.budget, num_workers=1)
        best_lam, best_value = None, -np.inf
        try:
            for _ in range(search.budget):
                candidate = optimizer.ask()
                lam = np.clip(np.asarray(candidate.value, dtype=np.float64), lower, upper)
                value = objective(lam)
                optimizer.tell(candidate, 1.0 - value)
                if value > best_value:
                    best_lam, best_value = lam, value
        finally:
            _stop_thread(optimizer)
    return best_lam, float(best_value)


def _stop_thread(optimizer) -> None:
    """End a recast optimizer's background thread now, instead of when the optimizer is garbage collected.

    nevergrad stops it in `RecastOptimizer.__del__`, which never runs while an exception's traceback
    still holds the optimizer; `stop()` is what that destructor calls.
    """
    thread = getattr(optimizer, "_messaging_thread", None)
    if thread is not None:
        thread.stop()
