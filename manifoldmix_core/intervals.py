"""95 % confidence half-widths of measured accuracies (normal approximation), so a difference can be told from noise.

One owner for the formula: the app's Table 1 and benchmarks/table1_demo.py both use it.
"""

from __future__ import annotations

import math

Z95 = 1.96


def half_width(p: float, n: int) -> float:
    """Half-width of the 95 % interval of an accuracy p (a fraction) measured on n images: 1.96·sqrt(p(1−p)/n).

    p(1−p) is floored at 1e-12 so that a perfect score on few images does not claim an interval of exactly zero width.
    """
    return Z95 * math.sqrt(max(p * (1 - p), 1e-12) / n)


def mean_half_width(accuracies: list[tuple[float, int]]) -> float:
    """Half-width of the 95 % interval of the plain average of accuracies (p, n) measured on independent sets."""
    variance = sum(max(p * (1 - p), 1e-12) / n for p, n in accuracies) / len(accuracies) ** 2
    return Z95 * math.sqrt(variance)
