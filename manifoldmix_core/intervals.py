"""Accuracies as people read them: percentages (`to_percent`, the one place a fraction is scaled) and 95 % confidence
half-widths (normal approximation), so a difference can be told from noise.

One owner for the formulas: the app's pages, the CLI's table and benchmarks/table1_demo.py use them.
"""

from __future__ import annotations

import math

Z95 = 1.96
PERCENT_DIGITS = 10  # rounds away float noise (100 * 0.9168 = 91.67999999999999), far below any measured difference


def to_percent(fraction):
    """An accuracy stored as a fraction (results.json, events) as a percentage: a number, a numpy value or a pandas
    Series; None stays None. Rounded to PERCENT_DIGITS so a CSV shows 91.68, not 91.67999999999999."""
    if fraction is None:
        return None
    scaled = 100 * fraction
    return scaled.round(PERCENT_DIGITS) if hasattr(scaled, "round") else round(scaled, PERCENT_DIGITS)


def percent(fraction: float | None, digits: int = 2) -> str:
    """An accuracy stored as a fraction, as text ('81.40 %'); '–' when unknown. The app's pages and the engine's status
    line both write accuracies with it."""
    return "–" if fraction is None else f"{to_percent(fraction):.{digits}f} %"


def half_width(p: float, n: int) -> float:
    """Half-width of the 95 % interval of an accuracy p (a fraction) measured on n images: 1.96·sqrt(p(1−p)/n).

    p(1−p) is floored at 1e-12 so that a perfect score on few images does not claim an interval of exactly zero width.
    """
    return Z95 * math.sqrt(max(p * (1 - p), 1e-12) / n)


def mean_half_width(accuracies: list[tuple[float, int]]) -> float:
    """Half-width of the 95 % interval of the plain average of accuracies (p, n) measured on independent sets."""
    variance = sum(max(p * (1 - p), 1e-12) / n for p, n in accuracies) / len(accuracies) ** 2
    return Z95 * math.sqrt(variance)
