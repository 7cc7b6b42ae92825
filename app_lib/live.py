"""What the live view draws, from a run's typed events (manifoldmix_core.events): ValAcc over evaluations, λ trajectories,
candidate timeline. `LiveLog` keeps them as running summaries of events.jsonl, read incrementally by the Run page;
the functions below give the same views of a list of events.

Works on the engine's events and on the replay of the author's C8 log (manifoldmix_core.reference.replay: the same
event types, one evaluation per optimizer pass).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from manifoldmix_core import activity as words
from manifoldmix_core import methods, runs
from manifoldmix_core.events import ACCEPT_TEST, INGREDIENTS, Decision, Eval, Event, IngredientEval, SearchEnd, Setup, SkipTest, read_from
from manifoldmix_core.run_records import Results, Status

from .vocabulary import percent, size_text

STATUSES = ("skipped", "optimised", "accepted", "rejected")
STATUS_COLOURS = {"skipped": "#b0b0b0", "optimised": "#ff9f1c", "accepted": "#2ca02c", "rejected": "#d62728"}
EVAL_COLUMNS = ["n", "t", "method", "phase", "candidate", "valacc", "best"]
TIMELINE_COLUMNS = ["candidate", "status", "valacc", "start", "end", "evaluations"]


class LiveLog:
    """Running summaries of a run's events, fed once per event: what the live view draws, at a cost per poll that
    grows with the new events only.

    `poll()` reads events.jsonl from the byte offset it reached last time (a line still being written waits for
    the next poll; a line that is not an event ends the readable log, as in events.read); `feed()` takes typed
    events from elsewhere (the replay of the author's log).
    """

    def __init__(self, run_dir: str | Path | None = None, searched: int | None = None):
        self.path = Path(run_dir) / runs.EVENTS if run_dir is not None else None
        self.searched = searched  # components a λ search optimises at once (the run's partition); None: not known
        self.offset, self.broken, self.count = 0, False, 0
        self.components: list[str] = []
        self._eval_rows: list[tuple] = []
        self._best: dict[str, float] = {}
        self._first_per_component: str | None = None
        self._last_method: str | None = None
        self._timelines: dict[str, dict[str, dict]] = {}
        self._searches: dict[str, dict[str, list[Eval]]] = {}
        self._evals: list[float] = []  # t of every ValAcc evaluation
        self._search_ends: dict[str, dict[str, SearchEnd]] = {}
        self._steps: dict[str, str] = {}  # method -> the Algorithm 1 step its latest event belongs to
        self._ingredients: dict[str, float] = {}  # ingredient -> its ValAcc, as measured (Algorithm 1 takes them best first)
        self._latest: Eval | IngredientEval | None = None
        self._heldout = 0  # held-out images of a whole-set evaluation, once an event says (runs with a search subset)
        self._frame: pd.DataFrame | None = None

    def poll(self) -> LiveLog:
        """Take in the complete lines appended since the last poll (all of them, the first time)."""
        if self.path is None or self.broken or not self.path.is_file():
            return self
        if self.path.stat().st_size < self.offset:  # the file was replaced: start again
            self.__init__(self.path.parent, self.searched)
        parsed, self.offset, self.broken = read_from(self.path, self.offset)
        return self.feed(parsed)

    def feed(self, events: Iterable[Event]) -> LiveLog:
        """Update every summary with these events, in order."""
        for e in events:
            self.count += 1
            if isinstance(e, Setup) and not self.components:
                self.components = list(e.components)
            if isinstance(e, (IngredientEval, Eval)):
                method = INGREDIENTS if isinstance(e, IngredientEval) else e.method
                self._heldout = max(self._heldout, getattr(e, "images", None) or 0)
                best = self._best.get(method, e.valacc) if self.on_subset(e) else max(self._best.get(method, e.valacc), e.valacc)
                self._best[method] = best
                phase, candidate = ("ingredient", e.name) if isinstance(e, IngredientEval) else (e.phase, e.candidate)
                self._eval_rows.append((len(self._eval_rows) + 1, e.t, method, phase, candidate, e.valacc, best))
                self._evals.append(e.t)
                self._latest = e
                if isinstance(e, IngredientEval):
                    self._ingredients[e.name] = e.valacc
            if isinstance(e, (Eval, Decision)):
                self._last_method = e.method
                if self._first_per_component is None and e.method in methods.METHODS and methods.METHODS[e.method].per_component:
                    self._first_per_component = e.method
            if isinstance(e, Eval) and e.search_pass is not None:
                self._searches.setdefault(e.method, {}).setdefault(e.candidate, []).append(e)
            if isinstance(e, (Eval, SkipTest, Decision)):
                self._timeline_row(e)
            if isinstance(e, SearchEnd):
                self._search_ends.setdefault(e.method, {})[e.candidate] = e
            if isinstance(e, (Eval, SkipTest, SearchEnd, Decision)):
                self._steps[e.method] = _step_after(e)
        return self

    def _timeline_row(self, e: Eval | SkipTest | Decision) -> None:
        row = self._timelines.setdefault(e.method, {}).setdefault(
            e.candidate, {"candidate": e.candidate, "status": "optimised", "valacc": None, "start": e.t, "end": e.t, "evaluations": 0})
        row["end"] = e.t
        if isinstance(e, Eval):
            row["evaluations"] += 1
            row["valacc"] = e.valacc if row["valacc"] is None else max(row["valacc"], e.valacc)
        elif isinstance(e, SkipTest) and not e.passed:
            row.update(status="skipped", valacc=e.valacc)
        elif isinstance(e, Decision) and row["status"] != "skipped":  # the replayed log also decides skipped ones
            row.update(status="accepted" if e.accepted else "rejected", valacc=e.valacc)

    def on_subset(self, e: Eval | IngredientEval) -> bool:
        """Whether an evaluation used only the λ search's subset of the held-out images (its ValAcc is not a whole-set one)."""
        return getattr(e, "images", None) is not None and e.images < self._heldout

    def images_used(self, e: Eval | IngredientEval) -> str:
        """Which held-out images an evaluation used, in words: "on 500 of 2,500 held-out images", or "" for all of them."""
        return words.images(getattr(e, "images", None), self._heldout)

    # -- what the live view draws ---------------------------------------------------------------------------------
    def evaluations(self) -> pd.DataFrame:
        """One row per ValAcc evaluation: n, t, method, phase, candidate, valacc and best-so-far per method."""
        if self._frame is None or len(self._frame) != len(self._eval_rows):
            self._frame = pd.DataFrame(self._eval_rows, columns=EVAL_COLUMNS)
        return self._frame

    def mixing_method(self) -> str | None:
        """The method whose candidates the live view follows: one that searches λ per component, else the latest method seen."""
        return self._first_per_component or self._last_method

    def candidate_timeline(self, method: str | None = None) -> pd.DataFrame:
        """Per candidate of a method: status (skipped / optimised / accepted / rejected), ValAcc, start, end, evaluations.

        'optimised' means the optimizer is still searching its λ (no decision yet).
        """
        rows = self._timelines.get(method or self.mixing_method(), {})
        frame = pd.DataFrame([dict(row) for row in rows.values()], columns=TIMELINE_COLUMNS)
        frame.insert(0, "position", range(len(frame)))
        return frame

    def searched_candidates(self, method: str | None = None) -> list[str]:
        """The candidates whose λ the method's optimizer searched, in order."""
        return [c for c, found in self._searches.get(method or self.mixing_method(), {}).items() if any(e.lam for e in found)]

    def current_candidate(self, method: str | None = None) -> str | None:
        """The candidate the mixing method is working on (the last one with an optimizer evaluation)."""
        searched = self._searches.get(method or self.mixing_method(), {})
        return next(reversed(searched), None)

    def search_end(self, candidate: str | None, method: str | None = None) -> SearchEnd | None:
        """Why the λ search of a candidate ended (its last pass), or None while it runs or when it was not searched."""
        return self._search_ends.get(method or self.mixing_method(), {}).get(candidate)

    def algorithm_step(self, method: str | None = None) -> str | None:
        """The step of Algorithm 1 the method is at (a node of algorithm.ALGORITHM_STEPS), from its latest event."""
        return self._steps.get(method or self.mixing_method())

    def seconds_per_evaluation(self, window: int = 20) -> float | None:
        """The measured cost of one ValAcc evaluation: seconds between the last `window` evaluations, per evaluation."""
        recent = self._evals[-window:]
        return (recent[-1] - recent[0]) / (len(recent) - 1) if len(recent) > 1 and recent[-1] > recent[0] else None

    def search_left(self, method: str | None = None) -> int | None:
        """Evaluations the running λ search still has in its budget (the budget the method's last finished search
        had: every candidate gets the same); 0 when no search runs, None while the first one has not ended."""
        method = method or self.mixing_method()
        candidate = self.current_candidate(method)
        if candidate is None or self.search_end(candidate, method) is not None:
            return 0
        ended = list(self._search_ends.get(method, {}).values())
        running = self._searches[method][candidate]
        done = sum(1 for e in running if e.search_pass == running[-1].search_pass)
        return max(0, ended[-1].budget - done) if ended else None

    def order(self) -> list[str]:
        """The ingredients measured so far in ValAcc order, best first (the runner's order once all are measured)."""
        return sorted(self._ingredients, key=lambda name: -self._ingredients[name])

    def ingredient(self, name: str | None) -> str:
        """'ingredient 3 of 8 (c)': a candidate by its place in the ValAcc order, as the status line names it."""
        return words.ingredient(name, self.order()) if name else "—"

    def activity(self) -> str:
        """What the run is doing now, in the engine's words (manifoldmix_core.activity) and percentages, from its latest
        ValAcc evaluation ('' before the first): which ingredient's λ are searched, how many components at once."""
        e = self._latest
        if e is None:
            return ""
        if isinstance(e, IngredientEval):
            return words.evaluation(e, [], None, measured=len(self._ingredients))
        tried = sum(1 for x in self._searches[e.method][e.candidate] if x.search_pass == e.search_pass) \
            if e.search_pass is not None else None
        line = words.evaluation(e, self.order(), self.searched, tried, subset=self.images_used(e))
        return f"{line} · best ValAcc {percent(self._best[e.method])}"

    def lambda_trajectory(self, candidate: str | None = None, method: str | None = None) -> pd.DataFrame:
        """Long frame (evaluation, component, λ, valacc) of the λ the optimizer tried for one candidate."""
        method = method or self.mixing_method()
        candidate = candidate or self.current_candidate(method)
        names = self.components
        rows = []
        for i, e in enumerate((e for e in self._searches.get(method, {}).get(candidate, []) if e.lam), start=1):
            for j, lam in enumerate(e.lam):
                rows.append({"evaluation": i, "component": names[j] if j < len(names) else f"component {j}",
                             "lambda": lam, "valacc": e.valacc, "phase": e.phase})
        return pd.DataFrame(rows, columns=["evaluation", "component", "lambda", "valacc", "phase"])

    def run_summary(self, method: str | None = None) -> dict:
        """Counts that make two runs comparable: candidates by status, evaluations, seconds per evaluation.

        'optimised' counts every candidate whose λ were searched (accepted, rejected or still searching), not only the
        ones still searching: in a finished run that would always be 0.
        """
        timeline = self.candidate_timeline(method)
        counts = timeline["status"].value_counts()
        evals = self._evals
        span = evals[-1] - evals[0] if len(evals) > 1 else 0.0
        return {"candidates": len(timeline), **{status: int(counts.get(status, 0)) for status in STATUSES},
                "optimised": len(timeline) - int(counts.get("skipped", 0)),
                "evaluations": len(evals), "seconds per evaluation": span / (len(evals) - 1) if len(evals) > 1 else None}


def _step_after(e: Eval | SkipTest | SearchEnd | Decision) -> str:
    """The Algorithm 1 step running once this event is written: the skip test's ValAcc is measured, then the λ search
    (or the next candidate), the search's end leads to the accept test, a decision to the next candidate."""
    if isinstance(e, Eval):
        return "search" if e.search_pass is not None else "accept" if e.phase == ACCEPT_TEST else "skip"
    if isinstance(e, SkipTest):
        return "search" if e.passed else "next"
    return "accept" if isinstance(e, SearchEnd) else "next"


# -- the same views of a list of events (a finished run, the replayed log) ----------------------------------------
def components(events: list[Event]) -> list[str]:
    """Component names from the setup event (λ has one entry per component)."""
    return LiveLog().feed(events).components


def evaluations(events: list[Event]) -> pd.DataFrame:
    return LiveLog().feed(events).evaluations()


def mixing_method(events: list[Event]) -> str | None:
    return LiveLog().feed(events).mixing_method()


def candidate_timeline(events: list[Event], method: str | None = None) -> pd.DataFrame:
    return LiveLog().feed(events).candidate_timeline(method)


def current_candidate(events: list[Event], method: str | None = None) -> str | None:
    return LiveLog().feed(events).current_candidate(method)


def lambda_trajectory(events: list[Event], candidate: str | None = None, method: str | None = None) -> pd.DataFrame:
    return LiveLog().feed(events).lambda_trajectory(candidate, method)


def run_summary(events: list[Event], method: str | None = None) -> dict:
    return LiveLog().feed(events).run_summary(method)


def final_lambdas(results: Results) -> pd.DataFrame:
    """The final λ of the method that searches them per component: one row per accepted candidate (mixed in order)."""
    entry = next((info for name, info in results.methods.items()
                  if name in methods.METHODS and methods.METHODS[name].per_component), None)
    if not entry or not entry.lambdas:
        return pd.DataFrame()
    width = len(entry.lambdas[0])
    names = results.partition.components if results.partition and len(results.partition.components) == width else \
        [f"component {j}" for j in range(width)]
    accepted = entry.ingredients[1:]
    return pd.DataFrame(entry.lambdas, index=accepted[: len(entry.lambdas)], columns=names)


def eta_text(status: Status, live: LiveLog | None = None) -> str:
    """A short human ETA: status.json's eta_s (the engine's, from finished steps), but never less than the running λ
    search still needs at the measured cost per evaluation; "estimating" while neither knows (the engine's count-down
    reached 0 inside the first long search, where it used to say "about 0 s left")."""
    if status.state != "running":
        return ""
    eta = float(status.eta_s or 0.0)
    left, cost = (live.search_left(), live.seconds_per_evaluation()) if live is not None else (0, None)
    if left and cost:
        eta = max(eta, left * cost)
    if eta < 1 and (left is None or float(status.progress or 0.0) < 0.99):
        return "estimating the time left"
    eta = int(round(eta))
    return f"about {eta // 60} min {eta % 60} s left" if eta >= 60 else f"about {eta} s left"


def progress_text(status: Status, live: LiveLog) -> str:
    """The progress bar's words: while the run measures, what it does now (method labels, "λ search", percentages),
    else the engine's message (queued, setting up, finished ...); then the ETA."""
    now = live.activity() if status.state == "running" else ""
    return " · ".join(part for part in (now or status.message or "", eta_text(status, live)) if part)


def memory_text(status: Status) -> str:
    """Where the run keeps each evaluation set and what it takes there, from status.json's `datasets` (engine: data.place)."""
    parts = []
    for name, m in status.datasets.items():
        if m.where == "streamed":
            parts.append(f"{name} streamed from pinned host memory ({size_text(m.host_bytes)}, at most {size_text(m.device_bytes)} on the GPU)")
        elif m.where == "disk":
            gpu = f", at most {size_text(m.device_bytes)} on the GPU" if m.device_bytes else ""
            parts.append(f"{name} read from disk a batch at a time (staging buffers {size_text(m.host_bytes)}{gpu})")
        elif m.where == "device":
            parts.append(f"{name} on the device ({size_text(m.device_bytes)})")
        else:
            parts.append(f"{name} in host memory ({size_text(m.host_bytes)})")
    return "Evaluation sets: " + " · ".join(parts) if parts else ""
