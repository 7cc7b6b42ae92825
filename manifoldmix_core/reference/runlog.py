"""The author's ManifoldMixMS-C8 run, parsed from its main.log (and phase1_results.json) into typed steps.

A small state machine reads the log's known messages in order: the sort, then per candidate the
skip test, each Cobyla pass and the decision, and finally the fused model's test accuracies.
A known message with a broken body, or a step that ends unfinished, raises naming file and line.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from statistics import fmean
from typing import Any, Literal

from .published import ROOT, VAL_DATASET, accuracies, load_json, require

RUN_DIR = "manifoldmixms_c8_run"
RUN_LOG_FILE, PHASE1_FILE = f"{RUN_DIR}/main.log", f"{RUN_DIR}/phase1_results.json"

Decision = Literal["skipped", "rejected", "accepted"]


@dataclass(frozen=True)
class OptimizerPass:
    """One Cobyla run of the author's log: its budget, the ValAcc it reached and when."""

    fn_evals: int
    valacc: float
    start: datetime
    end: datetime

    @property
    def duration_s(self) -> float:
        """Wall-clock seconds the pass took (log timestamps have 1 s resolution)."""
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class CandidateStep:
    """One candidate investigated by the author's run, from "Investigating ..." to its decision."""

    index: int
    name: str
    valacc: float
    soup_valacc_before: float
    approx_valacc: float
    decision: Decision
    passes: tuple[OptimizerPass, ...]
    start: datetime
    approx_at: datetime
    end: datetime

    @property
    def n_passes(self) -> int:
        """How many optimizer passes ran for this candidate (0 when short-circuited)."""
        return len(self.passes)

    @property
    def decided_at(self) -> datetime:
        """When the accept/reject/skip decision was logged."""
        return self.passes[-1].end if self.passes else self.approx_at

    @property
    def decision_valacc(self) -> float:
        """The last ValAcc measured before deciding: the last pass, or the approximate average if skipped."""
        return self.passes[-1].valacc if self.passes else self.approx_valacc


@dataclass(frozen=True)
class ReferenceRun:
    """The author's full ManifoldMixMS run, parsed from its main.log."""

    sorted_names: tuple[str, ...]
    sorted_valacc: tuple[float, ...]
    initial_valacc: float
    initial_at: datetime
    sorted_at: datetime
    steps: tuple[CandidateStep, ...]
    accepted_names: tuple[str, ...]
    n_components: int
    start: datetime
    end: datetime
    seconds_per_eval: float
    evals_per_pass: int
    final_accuracy: dict[str, float]

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last log line."""
        return (self.end - self.start).total_seconds()

    @property
    def final_valacc(self) -> float:
        """ValAcc of the final fused model (the last accepted step's, else the first ingredient's)."""
        accepted = [s for s in self.steps if s.decision == "accepted"]
        return accepted[-1].decision_valacc if accepted else self.initial_valacc


@dataclass(frozen=True)
class Phase1Result:
    """The author's phase1_results.json: chosen ingredients (indices into the sorted order) and mixing weights."""

    n_components: int
    ingredient_indices: tuple[int, ...]
    near_miss_indices: tuple[int, ...]
    beta: tuple[tuple[float, ...], ...]


def load_phase1(root: Path | None = None) -> Phase1Result:
    """The C8 run's phase1_results.json: ingredient indices (into the sorted order) and the beta matrix by rows."""
    return parse_phase1(require((root or ROOT) / PHASE1_FILE, "the C8 run's numberComponents, ingredientIndices and beta rows"))


def parse_phase1(path: Path) -> Phase1Result:
    """Validate and convert a phase1_results.json file."""
    data = load_json(path)
    try:
        n_components = int(data["numberComponents"])
        rows = sorted(data["beta"].items(), key=lambda kv: int(kv[0].removeprefix("row_")))
        beta = tuple(tuple(float(x) for x in row) for _, row in rows)
        result = Phase1Result(n_components, tuple(int(i) for i in data["ingredientIndices"]),
                              tuple(int(i) for i in data.get("indicesNearMisses", ())), beta)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: unexpected phase1 results structure ({exc!r})") from exc
    if any(len(row) != n_components for row in beta):
        raise ValueError(f"{path}: every beta row must have numberComponents={n_components} entries")
    return result


# -- main.log, line by line ---------------------------------------------------------------------------------------

_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\]\[([A-Z]+)\] (.*?)\s*$")
_NUM = r"(\d+(?:\.\d+)?)"
_MESSAGES = (  # (prefix that identifies the message, the full pattern it must then match, what it is)
    ("Sorted ingredients:", re.compile(r"Sorted ingredients: (\[.*\])"), "sorted"),
    ("Ingredients valacc:", re.compile(r"Ingredients valacc: (\[.*\])"), "sorted_valacc"),
    ("Adding ingredient with index", re.compile(rf"Adding ingredient with index 0 and ValAcc {_NUM}"), "initial"),
    ("ValAcc(A):", re.compile(rf"ValAcc\(A\): {_NUM}"), "soup"),
    ("Investigating whether candidate",
     re.compile(rf"Investigating whether candidate C with index (\d+) and ValAcc {_NUM} should be added \.\.\."), "candidate"),
    ("ValAcc(approxAvg(A, C)):", re.compile(rf"ValAcc\(approxAvg\(A, C\)\): {_NUM}"), "approx"),
    ("Short-circuit:", re.compile(r"Short-circuit: Skipping optimization step for candidate C"), "skipped"),
    ("Starting Cobyla optimizer", re.compile(r"Starting Cobyla optimizer, fn_evals = (\d+)"), "pass_start"),
    ("ValAcc(lambdaOpt", re.compile(rf"ValAcc\(lambdaOpt \* A \+ \(1-lambdaOpt\) \* C\)\): {_NUM}"), "pass_end"),
    ("Optimization not successfull", re.compile(r"Optimization not successfull, skipping Candidate C"), "rejected"),
    ("Adding ingredient model with", re.compile(r"Adding ingredient model with index (\d+) to soup"), "accepted"),
    ("Calculating accuracy of model", re.compile(r"Calculating accuracy of model .*"), "final_start"),
    ("Accuracy of 'fusedModelPhase1", re.compile(rf"Accuracy of 'fusedModelPhase1 on '(\w+)': {_NUM}"), "final"),
)


@dataclass(frozen=True)
class _LogLine:
    """One recognised message of main.log with its position and captured fields."""

    lineno: int
    at: datetime
    kind: str
    fields: tuple[str, ...]


def _read_log_lines(path: Path) -> tuple[list[_LogLine], datetime, datetime]:
    """Recognised messages of main.log plus its first and last timestamps; broken lines raise ValueError."""
    lines, stamps = [], []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        frame = _LINE.match(raw)
        if frame is None:
            raise ValueError(f"{path}:{lineno}: not a '[YYYY-MM-DD HH:MM:SS][LEVEL] message' log line: {raw!r}")
        stamp, _, message = frame.groups()
        stamps.append(datetime.fromisoformat(stamp))
        parsed = _classify(message, f"{path}:{lineno}")
        if parsed is not None:
            lines.append(_LogLine(lineno, stamps[-1], *parsed))
    if not stamps:
        raise ValueError(f"{path}: the log is empty")
    return lines, stamps[0], stamps[-1]


def _classify(message: str, where: str) -> tuple[str, tuple[str, ...]] | None:
    """Match a message against the known ManifoldMixMS messages; a known prefix with a broken body raises."""
    for prefix, pattern, kind in _MESSAGES:
        if message.startswith(prefix):
            match = pattern.fullmatch(message)
            if match is None:
                raise ValueError(f"{where}: malformed '{prefix}' message: {message!r}")
            return kind, match.groups()
    return None


def _literal_list(text: str, where: str) -> list:
    """Parse a Python list literal printed in the log."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = None
    if isinstance(value, list):
        return value
    raise ValueError(f"{where}: malformed list literal")


class _RunBuilder:
    """Accumulates main.log messages in order into the pieces of a ReferenceRun."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.names: list[str] = []
        self.sorted_valacc: list[float] = []
        self.sorted_at: datetime | None = None
        self.initial: tuple[float, datetime] | None = None
        self.soup_valacc: float | None = None
        self.steps: list[CandidateStep] = []
        self.open: dict[str, Any] | None = None
        self.pass_start: tuple[int, datetime] | None = None
        self.final_accuracy: dict[str, float] = {}

    def fail(self, line: _LogLine, problem: str) -> ValueError:
        """A ValueError pointing at the offending log line."""
        return ValueError(f"{self.path}:{line.lineno}: {problem}")

    def feed(self, line: _LogLine) -> None:
        """Apply one recognised message to the run state."""
        getattr(self, f"on_{line.kind}")(line)

    def on_sorted(self, line: _LogLine) -> None:
        """Record the ingredient names in decreasing-ValAcc order."""
        self.names = [str(n) for n in _literal_list(line.fields[0], f"{self.path}:{line.lineno}")]
        self.sorted_at = line.at

    def on_sorted_valacc(self, line: _LogLine) -> None:
        """Record the ValAcc the ingredients were sorted by."""
        values = _literal_list(line.fields[0], f"{self.path}:{line.lineno}")
        try:
            self.sorted_valacc = [float(v) for v in values]
        except ValueError as exc:
            raise self.fail(line, "non-numeric ingredient ValAcc") from exc

    def on_initial(self, line: _LogLine) -> None:
        """Record the re-checked ValAcc of the best ingredient, the initial soup."""
        self.initial = (float(line.fields[0]), line.at)
        self.soup_valacc = self.initial[0]

    def on_soup(self, line: _LogLine) -> None:
        """Close the previous candidate and record the current soup ValAcc(A)."""
        self.close_step(line)
        self.soup_valacc = float(line.fields[0])

    def on_candidate(self, line: _LogLine) -> None:
        """Open a new candidate step."""
        self.close_step(line)
        index = int(line.fields[0])
        if self.soup_valacc is None or not 0 < index < len(self.names):
            raise self.fail(line, f"candidate index {index} outside the sorted ingredients or before ValAcc(A)")
        self.open = {"index": index, "name": self.names[index], "valacc": float(line.fields[1]),
                     "soup_valacc_before": self.soup_valacc, "start": line.at, "passes": [], "end": line.at}

    def step_field(self, line: _LogLine, **fields: Any) -> None:
        """Set fields of the open candidate step, which must exist."""
        if self.open is None:
            raise self.fail(line, f"'{line.kind}' message outside a candidate step")
        self.open.update(fields)
        self.open["end"] = line.at

    def on_approx(self, line: _LogLine) -> None:
        """Record the ValAcc of the approximate average of soup and candidate."""
        self.step_field(line, approx_valacc=float(line.fields[0]), approx_at=line.at)

    def on_skipped(self, line: _LogLine) -> None:
        """Mark the candidate as short-circuited by the skip test."""
        self.step_field(line, decision="skipped")

    def on_rejected(self, line: _LogLine) -> None:
        """Mark the candidate as optimized without improvement."""
        self.step_field(line, decision="rejected")

    def on_accepted(self, line: _LogLine) -> None:
        """Mark the candidate as mixed into the soup."""
        if self.open is not None and int(line.fields[0]) != self.open["index"]:
            raise self.fail(line, f"accepted index {line.fields[0]} is not the candidate {self.open['index']}")
        self.step_field(line, decision="accepted")

    def on_pass_start(self, line: _LogLine) -> None:
        """Remember the start and budget of an optimizer pass."""
        self.step_field(line)
        self.pass_start = (int(line.fields[0]), line.at)

    def on_pass_end(self, line: _LogLine) -> None:
        """Record a finished optimizer pass and its ValAcc."""
        if self.pass_start is None:
            raise self.fail(line, "optimizer result without 'Starting Cobyla optimizer'")
        fn_evals, start = self.pass_start
        self.step_field(line)
        self.open["passes"].append(OptimizerPass(fn_evals, float(line.fields[0]), start, line.at))
        self.pass_start = None

    def on_final_start(self, line: _LogLine) -> None:
        """Close the last candidate before the final test-set evaluation."""
        self.close_step(line)

    def on_final(self, line: _LogLine) -> None:
        """Record one final test accuracy of the fused model."""
        self.final_accuracy[line.fields[0]] = float(line.fields[1])

    def close_step(self, line: _LogLine) -> None:
        """Freeze the open candidate step (if any); it must have its approximate ValAcc and a decision."""
        if self.open is None:
            return
        if self.pass_start is not None:
            raise self.fail(line, f"candidate {self.open['index']} ended inside an unfinished optimizer pass")
        missing = {"approx_valacc", "decision"} - self.open.keys()
        if missing:
            raise self.fail(line, f"candidate {self.open['index']} ended without {sorted(missing)}")
        self.open["passes"] = tuple(self.open["passes"])
        self.steps.append(CandidateStep(**self.open))
        self.open = None


def _check_complete(builder: _RunBuilder, path: Path) -> None:
    """Raise ValueError if the log lacks a part a ReferenceRun needs."""
    problems = []
    if not builder.names or len(builder.sorted_valacc) != len(builder.names):
        problems.append("a 'Sorted ingredients' list with a matching 'Ingredients valacc' list")
    if builder.initial is None:
        problems.append("the 'Adding ingredient with index 0' line")
    if not builder.steps:
        problems.append("any 'Investigating whether candidate' step")
    if problems:
        raise ValueError(f"{path}: incomplete ManifoldMixMS log, missing {'; '.join(problems)}")


def _evals_per_pass(steps: list[CandidateStep], path: Path) -> int:
    """The single optimizer budget ("fn_evals") used by every pass of the run."""
    budgets = {p.fn_evals for s in steps for p in s.passes}
    if len(budgets) != 1:
        raise ValueError(f"{path}: expected one fn_evals budget for all optimizer passes, found {sorted(budgets)}")
    return budgets.pop()


def _seconds_per_eval(steps: list[CandidateStep]) -> float:
    """Mean time of one ValAcc evaluation: the gap between "Investigating ..." and the approximate-average ValAcc."""
    return fmean((s.approx_at - s.start).total_seconds() for s in steps)


def parse_run_log(path: Path, n_components: int | None = None) -> ReferenceRun:
    """Parse an author-style ManifoldMixMS main.log; n_components defaults to the phase1_results.json beside it."""
    path = require(Path(path), "the ManifoldMixMS run log (main.log)")
    lines, first_at, last_at = _read_log_lines(path)
    builder = _RunBuilder(path)
    for line in lines:
        builder.feed(line)
    if lines:
        builder.close_step(lines[-1])
    _check_complete(builder, path)
    if n_components is None:
        beside = require(path.parent / "phase1_results.json", "the run's numberComponents (main.log does not print it)")
        n_components = parse_phase1(beside).n_components
    steps = builder.steps
    return ReferenceRun(
        sorted_names=tuple(builder.names), sorted_valacc=tuple(builder.sorted_valacc), initial_valacc=builder.initial[0],
        initial_at=builder.initial[1], sorted_at=builder.sorted_at, steps=tuple(steps),
        accepted_names=(builder.names[0], *(s.name for s in steps if s.decision == "accepted")), n_components=n_components,
        start=first_at, end=last_at, seconds_per_eval=_seconds_per_eval(steps), evals_per_pass=_evals_per_pass(steps, path),
        final_accuracy=builder.final_accuracy)


def load_reference_run(root: Path | None = None) -> ReferenceRun:
    """The author's shipped 59-hour ManifoldMixMS-C8 run."""
    return parse_run_log((root or ROOT) / RUN_LOG_FILE)


def fused_model_accuracy(run: ReferenceRun, where: str = "main.log") -> dict[str, float]:
    """The run's fused model on every dataset: its final ValAcc and the test accuracies the log ends with."""
    return accuracies({VAL_DATASET: run.final_valacc, **run.final_accuracy}, f"{where} (final fused-model accuracies)")
