"""The words and numbers every page uses the same way: counts with their noun, accuracies as percentages, method labels."""

from __future__ import annotations

from manifoldmix_core.methods import METHODS


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """'1 ingredient', '13 ingredients': a count with its noun in the right number."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def to_percent(fraction: float | None) -> float | None:
    """An accuracy stored as a fraction (results.json, events) as the percentage every page shows."""
    return None if fraction is None else 100 * fraction


def percent(fraction: float | None, digits: int = 2) -> str:
    """An accuracy stored as a fraction, as text ('81.40 %'); '–' when unknown."""
    return "–" if fraction is None else f"{to_percent(fraction):.{digits}f} %"


def method_label(name: str) -> str:
    """A method's label from the registry ('Uniform soup', never 'uniform_soup'); an unknown name as it is."""
    return METHODS[name].label if name in METHODS else name
