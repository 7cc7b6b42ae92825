"""The methods a run can use, one record each; config validation, the runner, the app's pages and figures all read it.

Adding a method is one file holding its function (and its settings model, if it has settings) and one record
here (or a `register` call from elsewhere). Every method's function takes (kitchen, config) and returns a SoupResult: fused
parameters for a fused soup, the members for an ensemble. Functions are named by import path, so this
registry (and everything that only needs names, labels and markers) stays free of torch.
The order of the records is Table 1's row order, and the run's fused.safetensors holds the last
fused method that ran (so ManifoldMixMS when it ran).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .registry import Registry


def one_step(_n: int) -> int:
    return 1


def per_ingredient(n: int) -> int:
    return n


@dataclass(frozen=True)
class Marker:
    """How a method's points look in Figure 2 (a plotly symbol) and its colour in every chart."""

    symbol: str
    size: int
    colour: str


@dataclass(frozen=True)
class SettingsRef:
    """Where a method's settings live: the run config's key and the pydantic model (a `settings.Settings` subclass
    declared in the method's own module, named by import path) that validates them, gives their defaults, the canonical
    config.json, the README's settings table and the Run page's widgets."""

    section: str
    model: str  # "package.module:Model"


@dataclass(frozen=True)
class Method:
    """One method: its name (config, results.json, events), label, kind and function, and how the app shows it."""

    name: str
    label: str
    kind: Literal["fused", "ensemble"]
    function: str  # "package.module:function", called as function(kitchen, config) -> SoupResult
    marker: Marker
    steps: Callable[[int], int] = per_ingredient  # progress steps for n ingredients (its final test accuracy adds one)
    settings: SettingsRef | None = None  # its config section; a model with a required field must be given to run the method
    default: bool = True  # part of a config's default `methods`
    per_component: bool = False  # searches λ per component: Table 1 names it with the count (-C8), the live view follows it

    @property
    def fused(self) -> bool:
        """One fused model (its parameters are tested and may become fused.safetensors), not an ensemble of logits."""
        return self.kind == "fused"


METHODS: Registry[Method] = Registry("methods")
register = METHODS.register  # make a method available to run configs, the runner and the app under its name


def defaults() -> list[str]:
    """The methods a config runs when it names none."""
    return [m.name for m in METHODS.values() if m.default]


UNIFORM_SOUP = register(Method("uniform_soup", "Uniform soup", "fused", "manifoldmix_core.soups.uniform:uniform_soup",
                               Marker("square", 13, "#1f77b4"), steps=one_step))
GREEDY_SOUP = register(Method("greedy_soup", "Greedy soup", "fused", "manifoldmix_core.soups.greedy:greedy_soup",
                              Marker("diamond", 14, "#2ca02c")))
WISE_FT = register(Method("wise_ft", "WiSE-FT", "fused", "manifoldmix_core.soups.wise_ft:wise_ft",
                          Marker("pentagon", 13, "#e377c2"), steps=one_step, default=False,
                          settings=SettingsRef("wise_ft", "manifoldmix_core.soups.wise_ft:WiseFTSettings")))
MANIFOLDMIXMS = register(Method("manifoldmixms", "ManifoldMixMS", "fused", "manifoldmix_core.soups.manifold_mix:manifoldmixms",
                                Marker("star", 18, "#d62728"), per_component=True,
                                settings=SettingsRef("manifoldmix", "manifoldmix_core.soups.manifold_mix:ManifoldMixSettings")))
ENSEMBLE = register(Method("ensemble", "Ensemble", "ensemble", "manifoldmix_core.soups.ensemble:ensemble",
                           Marker("triangle-up", 12, "#9467bd"), steps=one_step))
GREEDY_ENSEMBLE = register(Method("greedy_ensemble", "Greedy ensemble", "ensemble", "manifoldmix_core.soups.ensemble:greedy_ensemble",
                                  Marker("triangle-down", 12, "#8c564b")))
