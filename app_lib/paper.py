"""The paper's published numbers (data/reference/) as a Board, and the author's C8 run as replayable events."""

from __future__ import annotations

from manifoldmix_core import reference
from manifoldmix_core.events import Event, parse_all
from manifoldmix_core.methods import GREEDY_SOUP, MANIFOLDMIXMS, UNIFORM_SOUP

from .scoreboard import INGREDIENT, Board, Entry

RUN = "paper"


def reference_board() -> Board:
    """The 72 finetunes, uniform and greedy soup and the author's ManifoldMixMS-C8 model."""
    board = Board(reference.VAL_DATASET, list(reference.OOD_DATASETS), list(reference.DATASETS))
    for name, acc in reference.load_models().items():
        board.entries.append(Entry(name, INGREDIENT, acc, RUN, acc[reference.VAL_DATASET]))
    soups = reference.load_soups()
    for method, key, n in ((UNIFORM_SOUP, "uniform_soup", None), (GREEDY_SOUP, "greedy_soup", None), (MANIFOLDMIXMS, "manifoldmix_c8", 8)):
        board.entries.append(Entry(method.name, method.name, soups[key], RUN, soups[key][reference.VAL_DATASET], n))
    return board


def replay() -> tuple[list[Event], float]:
    """The author's C8 log as engine events, and its measured seconds per ValAcc evaluation (about 26)."""
    run = reference.load_reference_run()
    return parse_all(reference.replay_events(run)), run.seconds_per_eval
