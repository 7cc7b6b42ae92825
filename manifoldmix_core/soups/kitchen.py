"""What every soup algorithm works with: ingredients in ValAcc order, mixing, and journaled ValAcc.

The kitchen holds at most three flat models besides the algorithm's own Ψ: the work buffer the
classifier is bound to, and a one-slot cache of the current candidate θ_i (loaded lazily, so a
resumed run that replays an evaluation does not even read the file).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from ..data import EvalSet
from ..evaluate import Evaluator
from ..ingredients import Ingredient, check_finite, read_state_dict
from ..mixing import FlatLayout, copy_spans, mix
from ..runs import Journal

Build = Callable[[torch.Tensor], object]


@dataclass
class SoupResult:
    """A method's outcome: fused parameters (None for ensembles), chosen ingredients, ValAcc, λ per accepted candidate."""

    method: str
    ingredients: list[str]
    valacc: float
    params: torch.Tensor | None = None
    lambdas: list[list[float]] = field(default_factory=list)
    logits: Mapping[str, torch.Tensor] | None = None


class Kitchen:
    """Shared machinery for soups; algorithms stay a screen long by calling these few methods."""

    def __init__(self, layout: FlatLayout, ingredients: Sequence[Ingredient], evaluator: Evaluator, work: torch.Tensor,
                 datasets: Mapping[str, EvalSet], val_name: str, journal: Journal, on_step: Callable[[str], None] = lambda _: None):
        self.layout, self.evaluator, self.work, self.journal = layout, evaluator, work, journal
        self.ingredients = {ing.name: ing for ing in ingredients}
        self.datasets, self.val = datasets, datasets[val_name]
        self.on_step = on_step
        self.valacc_of: dict[str, float] = {}
        self.order: list[str] = []
        self._slot: tuple[str, torch.Tensor] | None = None

    @property
    def n_components(self) -> int:
        return len(self.layout.component_spans)

    def theta(self, name: str) -> torch.Tensor:
        """Ingredient `name` as a flat float32 vector on the device (one-slot cache)."""
        if self._slot is None or self._slot[0] != name:
            self._slot = None
            ingredient = self.ingredients[name]
            state = read_state_dict(ingredient.path)
            check_finite(ingredient.path, state)
            self._slot = (name, self.layout.flatten(state, self.work.device, str(ingredient.path)))
        return self._slot[1]

    # -- building the parameters to evaluate into the work buffer -------------------------------
    def mixed(self, psi: torch.Tensor, name: str, lam: Sequence[float]) -> Build:
        """Ψ'(λ) on the live spans: enough for ValAcc, since inert parameters do not touch the output."""
        return lambda work: mix(work, psi, self.theta(name), lam, self.layout.live_spans)

    def stored(self, params: torch.Tensor | None = None, name: str | None = None) -> Build:
        """A stored model (given flat parameters, or ingredient `name`) copied into the work buffer."""
        return lambda work: copy_spans(work, params if params is not None else self.theta(name), self.layout.live_spans)

    def commit(self, psi: torch.Tensor, name: str, lam: Sequence[float]) -> None:
        """Ψ ← Ψ'(λ) on every component, with the very same arithmetic used when it was evaluated."""
        mix(self.work, psi, self.theta(name), lam, self.layout.component_spans)
        psi.copy_(self.work)

    # -- journaled measurements -----------------------------------------------------------------
    def valacc(self, method: str, phase: str, candidate: str, lam: Sequence[float] | None, build: Build) -> float:
        """ValAcc of the parameters `build` writes, recorded as an eval event (or replayed from it)."""
        event = {"type": "eval", "method": method, "phase": phase, "candidate": candidate,
                 "lambda": None if lam is None else [float(x) for x in lam]}
        return self.journal.record(event, lambda: {"valacc": self._measure(build)})["valacc"]

    def _measure(self, build: Build) -> float:
        build(self.work)
        return self.evaluator.accuracy(self.val)

    def record(self, event: dict) -> dict:
        return self.journal.record(event)

    def decide(self, method: str, candidate: str, accepted: bool, valacc: float, lam: Sequence[float] | None = None) -> None:
        """Record an accept/reject decision and report one finished step."""
        self.record({"type": "decision", "method": method, "candidate": candidate, "accepted": bool(accepted),
                     "valacc": valacc, "lambda": None if lam is None else [float(x) for x in lam]})
        self.on_step(f"{method}: {candidate}")

    def test_logits(self, build: Build) -> dict[str, torch.Tensor]:
        """Logits on every dataset for the parameters `build` writes."""
        build(self.work)
        return {name: self.evaluator.logits(evalset) for name, evalset in self.datasets.items()}

    def accuracies(self, logits: Mapping[str, torch.Tensor]) -> dict[str, float]:
        return {name: self.datasets[name].accuracy(value) for name, value in logits.items()}
