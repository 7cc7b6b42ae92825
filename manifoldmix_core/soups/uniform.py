"""Uniform soup (Wortsman et al. 2022): the plain average of all ingredients."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .result import SoupResult

if TYPE_CHECKING:  # the kitchen holds torch and the config sits above this module: names for hints only
    from ..config import RunConfig
    from .kitchen import Kitchen


def uniform_soup(kitchen: Kitchen, _config: RunConfig) -> SoupResult:
    """Running mean Ψ ← k/(k+1)·Ψ + 1/(k+1)·θ over every ingredient, then one ValAcc."""
    order = kitchen.order
    psi = kitchen.theta(order[0]).clone()
    for k, name in enumerate(order[1:], start=1):
        kitchen.commit(psi, name, [k / (k + 1)] * kitchen.n_components)
    valacc = kitchen.valacc("soup", kitchen.method, None, kitchen.copy_stored(psi))
    kitchen.step_done("ValAcc measured")
    return SoupResult(list(order), valacc, params=psi)
