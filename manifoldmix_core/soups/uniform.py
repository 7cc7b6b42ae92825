"""Uniform soup (Wortsman et al. 2022): the plain average of all ingredients."""

from __future__ import annotations

from .kitchen import Kitchen, SoupResult

METHOD = "uniform_soup"


def uniform_soup(kitchen: Kitchen, _settings=None) -> SoupResult:
    """Running mean Ψ ← k/(k+1)·Ψ + 1/(k+1)·θ over every ingredient, then one ValAcc."""
    order = kitchen.order
    psi = kitchen.theta(order[0]).clone()
    for k, name in enumerate(order[1:], start=1):
        kitchen.commit(psi, name, [k / (k + 1)] * kitchen.n_components)
    valacc = kitchen.valacc(METHOD, "soup", METHOD, None, kitchen.stored(psi))
    kitchen.on_step(METHOD)
    return SoupResult(METHOD, list(order), valacc, params=psi)
