"""WiSE-FT (Wortsman et al. 2022): the zero-shot model and the best finetuned ingredient, interpolated in weight space.

θ(α) = α·θ_best + (1−α)·θ_zero-shot on every component, with α chosen on ValAcc from a grid
(`wise_ft.alphas`, 0, 0.1, …, 1 by default); each α is one journaled evaluation, so resume replays it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import field_validator

from ..settings import Settings, setting
from .result import SoupResult

if TYPE_CHECKING:  # the kitchen holds torch and the config sits above this module: names for hints only
    from ..config import RunConfig
    from .kitchen import Kitchen


class WiseFTSettings(Settings):
    """WiSE-FT's zero-shot (pretrained) checkpoint, interpolated with the best ingredient, and the α grid searched on ValAcc."""

    zero_shot: str = setting(..., "WiSE-FT: zero-shot (pretrained) checkpoint", "the pretrained model interpolated "
                             "with the best ingredient: a path (relative to the config's folder; in the app, inside an "
                             "allowed folder)", file=True)
    alphas: list[float] = setting([round(0.1 * i, 1) for i in range(11)], "WiSE-FT: α grid",
                                  "the weights of the finetuned model tried, each one ValAcc evaluation", app="hidden")

    @field_validator("alphas")
    @classmethod
    def _grid(cls, value: list[float]) -> list[float]:
        if not value or len(value) > 1000 or not all(0.0 <= a <= 1.0 for a in value):
            raise ValueError("must be a non-empty list of at most 1,000 numbers in [0, 1]")
        return value


def wise_ft(kitchen: Kitchen, config: RunConfig) -> SoupResult:
    """Evaluate every α of the grid, keep the first best, and build its model on every component."""
    best = kitchen.order[0]
    finetuned, zero_shot = kitchen.theta(best), kitchen.outside_model(config.wise_ft.zero_shot, "zero_shot")
    scores = [(kitchen.valacc("alpha", best, [alpha] * kitchen.n_components,
                              kitchen.interpolated(finetuned, zero_shot, [alpha] * kitchen.n_components)), alpha)
              for alpha in config.wise_ft.alphas]
    valacc, alpha = max(scores, key=lambda score: score[0])
    lam = [alpha] * kitchen.n_components
    psi = finetuned.clone()
    kitchen.blend_into(psi, finetuned, zero_shot, lam)
    kitchen.step_done(f"α = {alpha} chosen")
    return SoupResult([best], valacc, params=psi, lambdas=[lam], extra={"alpha": alpha})
