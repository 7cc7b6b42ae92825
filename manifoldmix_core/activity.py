"""What a run is doing now, in words a person reads: method labels (methods.py), percentages, Algorithm 1's terms.

The engine's status.json message and the app's live view build their sentences here, so the status line, the live
view and the Run page say the same thing. Algorithm 1 takes the ingredients one by one in ValAcc order (the best is
the start) and searches one λ per component for each, all components at once: a candidate is named by its place in
that order ("ingredient 3 of 8 (c)"), and a λ search by how many components it optimises together.
Machine-readable names (phases such as optimize_1, method ids) stay in events.jsonl; none is written here.
"""

from __future__ import annotations

from collections.abc import Sequence

from .events import ACCEPT_TEST, Eval, IngredientEval
from .intervals import percent
from .methods import METHODS


def label(method: str) -> str:
    """A method's label ('ManifoldMixMS'); an id the registry does not know is shown as it is."""
    return METHODS[method].label if method in METHODS else method


def ingredient(name: str, order: Sequence[str]) -> str:
    """'ingredient 3 of 8 (c)': an ingredient by its place in the ValAcc order; 'ingredient c' before the order is known."""
    return f"ingredient {list(order).index(name) + 1} of {len(order)} ({name})" if name in order else f"ingredient {name}"


# the phases events.jsonl files evaluations under; a λ search's are optimize_<pass>
PHASES = {"ingredient": "its own ValAcc", "skip_test": "skip test", "candidate": "trying a candidate", "soup": "the soup",
          "alpha": "trying an α", ACCEPT_TEST: "accept test on every held-out image"}


def phase(name: str) -> str:
    """An evaluation's phase in words ('λ search', 'λ search (second pass)', 'skip test'); an unknown one as it is."""
    if name.startswith("optimize_"):
        return "λ search" if name == "optimize_1" else "λ search (second pass)"
    return PHASES.get(name, name)


def components(searched: int | None) -> str:
    """How many λ a search optimises at once: 'all 7 components at once', or per component when the number is unknown."""
    if searched is None:
        return "one λ per component, all at once"
    return "one λ for the whole model" if searched == 1 else f"all {searched} components at once"


def images(used: int | None, heldout: int) -> str:
    """Which held-out images an evaluation used: 'on 500 of 2,500 held-out images' for a search subset, '' for all."""
    return f"on {used:,} of {heldout:,} held-out images" if used is not None and used < heldout else ""


def evaluation(e: Eval | IngredientEval, order: Sequence[str], searched: int | None, tried: int | None = None,
               measured: int | None = None, subset: str = "") -> str:
    """What a ValAcc evaluation is part of: measuring the ingredients, a skip test, a λ search (whose ingredient, how many
    components at once, `tried` evaluations so far, `subset`: on which images), an accept test, a candidate of a soup or
    the soup itself."""
    if isinstance(e, IngredientEval):
        so_far = f" ({measured} so far)" if measured else ""
        return f"measuring the ingredients: {e.name} has ValAcc {percent(e.valacc)}{so_far}"
    who = ingredient(e.candidate, order)
    if e.search_pass is not None:
        second = " (second pass)" if e.search_pass > 1 else ""
        words = f"λ search{second} for {who}, {components(searched)}"
        if tried:
            words += f": {tried} evaluation{'s' if tried != 1 else ''} so far"
        if subset:
            words += f", {subset}"
    elif e.phase == ACCEPT_TEST:
        words = f"accept test on every held-out image for {who} (the λ its search found)"
    elif e.phase == "skip_test":
        words = f"skip test for {who}: ValAcc of the plain average"
    elif e.candidate == e.method:
        words = "measuring the soup"
    elif e.phase == "alpha" and e.lam:
        words = f"trying α = {e.lam[0]:.2f} between {who} and the zero-shot model"
    else:
        words = f"trying {who}"
    return f"{label(e.method)} · {words}"


def decided(method: str, candidate: str, accepted: bool, order: Sequence[str]) -> str:
    """A finished candidate: 'ManifoldMixMS: ingredient 3 of 8 (c) accepted'."""
    return f"{label(method)}: {ingredient(candidate, order)} {'accepted' if accepted else 'rejected'}"


def skipped(method: str, candidate: str, order: Sequence[str]) -> str:
    """A candidate that failed the skip test, so its λ were not searched."""
    return f"{label(method)}: {ingredient(candidate, order)} skipped (its plain average fails the skip test)"


def done(method: str, what: str) -> str:
    """A finished step of a method, under its label: 'Greedy soup: test accuracy measured'."""
    return f"{label(method)}: {what}"
