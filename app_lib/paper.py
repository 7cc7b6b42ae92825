"""The paper's published numbers (manifoldmix_core.reference) as a Board, the author's C8 run as replayable events, and
the Play button's stepping through that replay."""

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


REPLAY_SPEEDS = (0.5, 1.0, 2.0)  # replay hours per frame the Play button can advance by (the slider's step is 0.5 h)
REPLAY_FRAME_SECONDS = 0.5  # wall time between frames while playing: 59 hours at 1 h per frame take half a minute


def replay_frame(hour: float, speed: float, end: float) -> tuple[float, bool]:
    """The replay's next frame while playing: hour + speed (never past end), and whether to keep playing after it.

    Kept apart from the page because AppTest does not run `st.fragment(run_every=...)`, so the stepping is tested here.
    """
    shown = min(hour + speed, end)
    return shown, shown < end
