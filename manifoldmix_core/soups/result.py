"""What a method returns (torch-free, so a method's module, and the settings model it declares, import without torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass
class SoupResult:
    """A method's outcome: fused parameters (none for an ensemble: its members are `ingredients`), ValAcc, λ per accepted candidate.

    `valacc` is None when it is the ensemble's accuracy on the held-out set, measured with its test accuracies.
    `extra` holds method-specific results (ManifoldMixMS's β, WiSE-FT's α) for results.json and the fused file's recipe.
    """

    ingredients: list[str]
    valacc: float | None
    params: torch.Tensor | None = None
    lambdas: list[list[float]] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
