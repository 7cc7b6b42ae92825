"""ManifoldMixMS, Algorithm 1 of Fassold 2023, with the paper's or the code release's semantics.

paper:         λ ∈ [0,1]^m; skip unless ValAcc(Ψ~) > τ·ValAcc(Ψ); accept on ValAcc(Ψ'*) > ValAcc(Ψ).
code-release:  λ ∈ init ± 0.5·(1−init); both tests with ≥; optional second pass in [0.3, 1].
Components that hold no parameter of the classifier cannot change ValAcc; unless
`optimize_inert` is set they stay at init = k/(k+1) and the optimizer searches the others.
`search_subset` (off by default): the optimizer's inner evaluations use a fixed, seeded, class-stratified subset of the
held-out set (mergenetic's subset estimators do the same for evolutionary merging); the λ it finds is then measured on
the whole set, and skip tests, accept tests and the reported ValAcc only ever use whole-set values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import field_validator

from .. import events
from ..optim import Search, check_optimizer, maximize
from ..settings import Settings, setting
from .result import SoupResult

SUBSET_MOST = 10_000_000  # more held-out images than any set the paper uses: a larger value is a typo

if TYPE_CHECKING:  # the kitchen holds torch and the config sits above this module: names for hints only
    from ..config import RunConfig
    from .kitchen import Kitchen


class ManifoldMixSettings(Settings):
    """Algorithm 1's settings (the run config's `manifoldmix`); `semantics` picks the paper's text or the author's code release."""

    optimizer: str = setting("Cobyla", "Optimizer (Nevergrad)", "any nevergrad optimizer; the list holds the usual ones, "
                             "type another name to use it", choices="manifoldmix_core.optim:OPTIMIZERS")
    budget_per_component: int = setting(30, "Budget per component (evaluations)", "λ-search evaluations per candidate for "
                                        "each optimised component: the search of one candidate costs this × their number")
    budget: int | None = setting(None, "Budget per candidate", "a total per candidate; when set it replaces budget per "
                                 "component × optimised components", app="replaced")
    tau: float = setting(0.998, "τ (skip tolerance, in (0, 1])", "a candidate is skipped unless ValAcc of the plain "
                         "average exceeds τ × ValAcc of the soup so far")
    semantics: Literal["paper", "code-release"] = setting("paper", "Semantics", "the paper's text or the author's code release")
    second_pass: bool = setting(False, "Second optimizer pass", "after a success, search again in [0.3, 1] (code release only)")
    seed: int = setting(0, "Seed", "the optimizer's random seed; Cobyla and SQP never draw a random number, so for them it "
                        "changes nothing")
    optimize_inert: bool = setting(False, "Optimise inert components", "search λ also for components that hold no parameter "
                                   "of the classifier (they cannot change ValAcc)", app="hidden")
    search_subset: int | None = setting(None, "Search subset (held-out images)", "the λ search's inner evaluations use this many "
                                        "held-out images (a fixed, seeded, class-stratified subset); skip tests, accept tests "
                                        "and reported ValAcc still use every image; absent (empty on the Run page): every image, as in the paper",
                                        omitted=True)
    search_subset_seed: int | None = setting(None, "Search subset seed", "which images the search subset holds; absent (empty): the "
                                             "optimizer's seed", omitted=True)

    @classmethod
    def describe(cls, values: Mapping, components: int | None, live: int | None) -> str:
        """The search budget per candidate: budget per component × optimised components = total (what `_search` uses)."""
        per, total = values.get("budget_per_component", 30), values.get("budget")
        optimised = components if values.get("optimize_inert") else live
        if isinstance(total, int) and total > 0:
            return f"Budget: {total} evaluations per candidate in total (a fixed total, whatever the partition)."
        if not isinstance(per, int) or per < 1:
            return ""
        if optimised is None:
            return f"Budget: {per} evaluations per component × the optimised components, per candidate."
        return (f"Budget: {per} per component × {optimised} optimised component{'s' if optimised != 1 else ''} = "
                f"{per * optimised} evaluations per candidate.")

    @classmethod
    def shown(cls, values: Mapping, components: int | None, live: int | None) -> dict:
        """A total `budget` shown as its share per optimised component (rounded, at least 1): the page's one budget control."""
        shown, total = dict(values), values.get("budget")
        optimised = components if values.get("optimize_inert") else live
        if isinstance(total, int) and total > 0 and optimised:
            shown["budget_per_component"] = max(1, round(total / optimised))
            shown.pop("budget")
        return shown

    @field_validator("optimizer")
    @classmethod
    def _known(cls, value: str) -> str:
        check_optimizer(value)
        return value

    @field_validator("budget_per_component", "budget")
    @classmethod
    def _budget(cls, value: int | None, info) -> int | None:
        most = 10_000 if info.field_name == "budget_per_component" else 100_000
        if value is not None and value < 1:
            raise ValueError("is too small: a budget must be at least 1 evaluation")
        if value is not None and value > most:
            raise ValueError(f"is absurdly large: a budget must be at most {most:,} evaluations")
        return value

    @field_validator("tau")
    @classmethod
    def _tau(cls, value: float) -> float:
        if not 0.0 < value <= 1.0:
            raise ValueError("must be in (0, 1]")
        return value

    @field_validator("seed", "search_subset_seed")
    @classmethod
    def _seed(cls, value: int | None) -> int | None:
        if value is not None and not 0 <= value < 2**32:
            raise ValueError("must be between 0 and 2**32 - 1")
        return value

    @field_validator("search_subset")
    @classmethod
    def _subset(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= SUBSET_MOST:
            raise ValueError(f"must be between 1 and {SUBSET_MOST:,} held-out images (or absent: every image), and at most "
                             "the held-out set's size")
        return value

    @property
    def search_rows(self) -> tuple[int, int] | None:
        """(images, seed) of the λ search's held-out subset, or None when the search evaluates on every held-out image."""
        if self.search_subset is None:
            return None
        return self.search_subset, self.seed if self.search_subset_seed is None else self.search_subset_seed


def manifoldmixms(kitchen: Kitchen, config: RunConfig) -> SoupResult:
    """Algorithm 1: sort, Ψ = θ0, k = 1, then per candidate a skip test, a λ search and an accept test."""
    cfg = config.manifoldmix
    paper = cfg.semantics == "paper"
    m = kitchen.n_components
    free = list(range(m)) if cfg.optimize_inert else kitchen.flat_layout.live_components
    kitchen.searched = len(free)
    best, *candidates = kitchen.order
    psi, psi_acc, chosen, lambdas = kitchen.theta(best).clone(), kitchen.valacc_of[best], [best], []
    kitchen.decide(best, True, psi_acc)
    for name in candidates:
        k = len(chosen)
        init = np.full(m, k / (k + 1))
        approx = kitchen.valacc("skip_test", name, init, kitchen.mixed(psi, name, init))
        threshold = cfg.tau * psi_acc
        if not kitchen.skip_test(name, approx, threshold, approx > threshold if paper else approx >= threshold):
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
    search = {} if cfg.search_rows is None else {"search_subset": cfg.search_rows[0], "search_subset_seed": cfg.search_rows[1]}
    return SoupResult(chosen, psi_acc, params=psi, lambdas=lambdas, extra={"beta": beta(lambdas, m), **search})


def _search_lambda(kitchen: Kitchen, psi, name: str, start: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                   free: list[int], cfg: ManifoldMixSettings, pass_no: int) -> tuple[np.ndarray, float]:
    """argmax_λ ValAcc(Ψ'(λ)) over the free components (on the search subset, when the run has one) and that λ's ValAcc on
    the whole held-out set; repeated λ are answered from a cache, so a converged optimizer costs nothing more, and the
    search_end event says how many distinct evaluations the budget bought."""
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
            seen[key] = kitchen.valacc(events.search_phase(pass_no), name, lam, kitchen.mixed(psi, name, lam), search=True)
        return seen[key]

    if not free:
        return start, _whole_set(kitchen, psi, name, start, objective(start[free]))
    budget = cfg.budget or cfg.budget_per_component * len(free)
    x, value = maximize(objective, start[free], lower[free], upper[free], Search(cfg.optimizer, budget, cfg.seed), kitchen.evaluator.group)
    kitchen.record(events.search_end(kitchen.method, name, pass_no, budget, len(seen)))
    return full(x), _whole_set(kitchen, psi, name, full(x), value)


def _whole_set(kitchen: Kitchen, psi, name: str, lam: np.ndarray, value: float) -> float:
    """ValAcc of the λ a search found on the whole held-out set: `value` itself when the search used it, else one more
    evaluation, so the accept test (and a second pass's choice) compares whole-set ValAccs, never a subset's."""
    if kitchen.search_set is None:
        return value
    return kitchen.valacc(events.ACCEPT_TEST, name, lam, kitchen.mixed(psi, name, lam))


def beta(lambdas: list[list[float]], m: int) -> list[list[float]]:
    """Unroll the accepted λ's into per-ingredient weights: Ψ^j = Σ_i β_i^j·θ_i^j (rows: ingredients)."""
    lam = np.asarray(lambdas, dtype=np.float64).reshape(-1, m)
    weights = np.ones((len(lam) + 1, m))
    for t, row in enumerate(lam):
        weights[: t + 1] *= row
        weights[t + 1] = 1 - row
    return weights.tolist()
