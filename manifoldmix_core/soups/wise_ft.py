"""WiSE-FT (Wortsman et al. 2022): the zero-shot model and the best finetuned ingredient, interpolated in weight space.

θ(α) = α·θ_best + (1−α)·θ_zero-shot on every component, with α chosen on ValAcc from a grid
(`wise_ft.alphas`, 0, 0.1, …, 1 by default); each α is one journaled evaluation, so resume replays it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .kitchen import Kitchen, SoupResult

if TYPE_CHECKING:  # the registry (methods.py) sits below config.py and names these functions
    from ..config import RunConfig


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
    kitchen.on_step(f"{kitchen.method}: α = {alpha}")
    return SoupResult([best], valacc, params=psi, lambdas=[lam], extra={"alpha": alpha})
