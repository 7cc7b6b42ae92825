"""The paper's published numbers (manifoldmix_core.reference) as a Board, and the author's C8 run as replayable events."""

from __future__ import annotations

from manifoldmix_core.events import Event, parse_all
from manifoldmix_core.methods import GREEDY_SOUP, MANIFOLDMIXMS, UNIFORM_SOUP
from manifoldmix_core.reference import published, runlog
from manifoldmix_core.reference.replay import replay_events

from .scoreboard import INGREDIENT, Board, Entry

RUN = "paper"


def reference_board() -> Board:
    """The 72 finetunes, uniform and greedy soup and the author's ManifoldMixMS-C8 model."""
    board = Board(published.VAL_DATASET, list(published.OOD_DATASETS), list(published.DATASETS))
    for name, acc in published.load_models().items():
        board.entries.append(Entry(name, INGREDIENT, acc, RUN, acc[published.VAL_DATASET]))
    soups = published.load_soups()
    c8 = runlog.load_reference_run()
    models = ((UNIFORM_SOUP, soups[UNIFORM_SOUP.name], None), (GREEDY_SOUP, soups[GREEDY_SOUP.name], None),
              (MANIFOLDMIXMS, runlog.fused_model_accuracy(c8), c8.n_components))
    for method, acc, n in models:
        board.entries.append(Entry(method.name, method.name, acc, RUN, acc[published.VAL_DATASET], n))
    return board


def replay() -> tuple[list[Event], float]:
    """The author's C8 log as engine events, and its measured seconds per ValAcc evaluation (about 26)."""
    run = runlog.load_reference_run()
    return parse_all(replay_events(run)), run.seconds_per_eval
