"""The paper's published numbers (data/reference/) as a Board, and the author's C8 run as replayable events."""

from __future__ import annotations

from manifoldmix_core import reference

from .scoreboard import Board, Entry

RUN = "paper"


def reference_board() -> Board:
    """The 72 finetunes, uniform and greedy soup and the author's ManifoldMixMS-C8 model."""
    board = Board(reference.VAL_DATASET, list(reference.OOD_DATASETS), list(reference.DATASETS))
    for name, acc in reference.load_models().items():
        board.entries.append(Entry(name, "ingredient", acc, RUN, acc[reference.VAL_DATASET]))
    soups = reference.load_soups()
    for kind, key in (("uniform_soup", "uniform_soup"), ("greedy_soup", "greedy_soup"), ("manifoldmixms", "manifoldmix_c8")):
        n = 8 if kind == "manifoldmixms" else None
        board.entries.append(Entry(kind, kind, soups[key], RUN, soups[key][reference.VAL_DATASET], n))
    return board


def replay() -> tuple[list[dict], float]:
    """The author's C8 log as engine events, and its measured seconds per ValAcc evaluation (about 26)."""
    run = reference.load_reference_run()
    return reference.replay_events(run), run.seconds_per_eval
