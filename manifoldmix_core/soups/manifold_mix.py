"""ManifoldMixMS, Algorithm 1 of Fassold 2023, with the paper's or the code release's semantics.

paper:         λ ∈ [0,1]^m; skip unless ValAcc(Ψ~) > τ·ValAcc(Ψ); accept on ValAcc(Ψ'*) > ValAcc(Ψ).
code-release:  λ ∈ init ± 0.5·(1−init); both tests with ≥; optional second pass in [0.3, 1].
Components that hold no parameter of the classifier cannot change ValAcc; unless
`optimize_inert` is set they stay at init = k/(k+1) and the optimizer searches the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import events
from ..optim import Search, maximize
from .kitchen import Kitchen, SoupResult

if TYPE_CHECKING:  # the registry (methods.py) sits below config.py and names these functions
    from ..config import ManifoldMixConfig, RunConfig


def manifoldmixms(kitchen: Kitchen, config: RunConfig) -> SoupResult:
    """Algorithm 1: sort, Ψ = θ0, k = 1, then per candidate a skip test, a λ search and an accept test."""
    cfg = config.manifoldmix
    paper = cfg.semantics == "paper"
    m = kitchen.n_components
    free = list(range(m)) if cfg.optimize_inert else kitchen.flat_layout.live_components
    best, *candidates = kitchen.order
    psi, psi_acc, chosen, lambdas = kitchen.theta(best).clone(), kitchen.valacc_of[best], [best], []
    kitchen.decide(best, True, psi_acc)
    for name in candidates:
        k = len(chosen)
        init = np.full(m, k / (k + 1))
        approx = kitchen.valacc("skip_test", name, init, kitchen.mixed(psi, name, init))
        threshold = cfg.tau * psi_acc
        if not kitchen.skip_test(name, approx, threshold, approx > threshold if paper else approx >= threshold):
            kitchen.on_step(f"{kitchen.method}: {name} skipped")
            continue
        delta = 1.0 if paper else 0.5 * (1 - init)
        lam, acc = _search_lambda(kitchen, psi, name, init, np.clip(init - delta, 0, 1), np.clip(init + delta, 0, 1), free, cfg, 1)
        if not paper and cfg.second_pass and acc >= psi_acc:
            lam2, acc2 = _search_lambda(kitchen, psi, name, lam, np.full(m, 0.3), np.ones(m), free, cfg, 2)
            lam, acc = (lam2, acc2) if acc2 > acc else (lam, acc)
        accepted = acc > psi_acc if paper else acc >= psi_acc
        kitchen.decide(name, accepted, acc, lam)
        if accepted:
            kitchen.commit(psi, name, lam)
            psi_acc, chosen = acc, chosen + [name]
            lambdas.append([float(x) for x in lam])
    return SoupResult(chosen, psi_acc, params=psi, lambdas=lambdas, extra={"beta": beta(lambdas, m)})


def _search_lambda(kitchen: Kitchen, psi, name: str, start: np.ndarray, lower: np.ndarray, upper: np.ndarray,
            free: list[int], cfg: ManifoldMixConfig, pass_no: int) -> tuple[np.ndarray, float]:
    """argmax_λ ValAcc(Ψ'(λ)) over the free components; repeated λ are answered from a cache, so a converged optimizer
    costs nothing more, and the search_end event says how many distinct evaluations the budget bought."""
    seen: dict[tuple, float] = {}
    start = np.clip(start, lower, upper)

    def full(x: np.ndarray) -> np.ndarray:
        lam = start.copy()
        lam[free] = x
        return lam

    def objective(x: np.ndarray) -> float:
        lam = full(x)
        key = tuple(lam.tolist())
        if key not in seen:
            seen[key] = kitchen.valacc(events.search_phase(pass_no), name, lam, kitchen.mixed(psi, name, lam))
        return seen[key]

    if not free:
        return start, objective(start[free])
    budget = cfg.budget or cfg.budget_per_component * len(free)
    x, value = maximize(objective, start[free], lower[free], upper[free], Search(cfg.optimizer, budget, cfg.seed), kitchen.evaluator.group)
    kitchen.record(events.search_end(kitchen.method, name, pass_no, budget, len(seen)))
    return full(x), value


def beta(lambdas: list[list[float]], m: int) -> list[list[float]]:
    """Unroll the accepted λ's into per-ingredient weights: Ψ^j = Σ_i β_i^j·θ_i^j (rows: ingredients)."""
    lam = np.asarray(lambdas, dtype=np.float64).reshape(-1, m)
    weights = np.ones((len(lam) + 1, m))
    for t, row in enumerate(lam):
        weights[: t + 1] *= row
        weights[t + 1] = 1 - row
    return weights.tolist()
