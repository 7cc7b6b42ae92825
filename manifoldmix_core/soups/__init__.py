"""Soup algorithms by name: fused soups take (kitchen, settings), ensembles take (kitchen, logits)."""

from .ensemble import ensemble, greedy_ensemble
from .greedy import greedy_soup
from .kitchen import Kitchen, SoupResult
from .manifold_mix import beta, manifoldmixms
from .uniform import uniform_soup

SOUPS = {"uniform_soup": uniform_soup, "greedy_soup": greedy_soup, "manifoldmixms": manifoldmixms}
ENSEMBLES = {"ensemble": ensemble, "greedy_ensemble": greedy_ensemble}

__all__ = ["SOUPS", "ENSEMBLES", "Kitchen", "SoupResult", "beta"]
