"""The events of events.jsonl as data: constructors for what the engine writes, a reader for what the app draws.

Each constructor returns the JSON object the journal (runs.Journal) appends, before the fields it
measures (ValAcc, accuracies) and the time `t`; a resumed run compares its new events with the tape
field by field, so these shapes stay as they are on disk. Readers match on the classes below, never
on strings: `read` turns a run directory's lines into them, skipping types they do not know; an event whose fields
do not fit its class (jsontypes.checker) is refused, so a reader may use every field as its type says.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from . import runs
from .errors import EventError
from .jsontypes import checker

INGREDIENTS = "ingredients"  # the "method" an ingredient's own ValAcc is filed under on disk
_SEARCH = "optimize_"  # phase prefix of an optimizer pass: optimize_1, optimize_2


def _lam(lam: Sequence[float] | None) -> list[float] | None:
    return None if lam is None else [float(x) for x in lam]


# -- constructors (what the engine writes) ------------------------------------------------------------------------

def setup(settings: str, datasets: Mapping[str, str], components: Sequence[str]) -> dict:
    """The run's settings digest, each dataset's content hash and the component names (λ lists them in this order)."""
    return {"type": "setup", "settings": settings, "datasets": dict(datasets), "components": list(components)}


def ingredient_accuracy(name: str, fingerprint: str) -> dict:
    """An ingredient's accuracy when first read (the journal adds "accuracy": the held-out set, and the test sets when every
    ingredient is tested); its file's content hash rides along."""
    return {"type": "accuracy", "model": name, "kind": "ingredient", "fingerprint": fingerprint}


def ingredient_tests(name: str) -> dict:
    """An ingredient's accuracy on the test/OOD sets (the journal adds "accuracy"), for those `ingredient_tests` picks."""
    return {"type": "accuracy", "model": name, "kind": "ingredient_tests"}


def method_accuracy(method: str) -> dict:
    """A method's final model (or ensemble) on every dataset (the journal adds "accuracy")."""
    return {"type": "accuracy", "model": method, "kind": "method"}


def evaluation(method: str, phase: str, candidate: str, lam: Sequence[float] | None) -> dict:
    """One ValAcc evaluation of a method (the journal adds "valacc"); λ has one entry per component."""
    return {"type": "eval", "method": method, "phase": phase, "candidate": candidate, "lambda": _lam(lam)}


def search_phase(pass_no: int) -> str:
    """The phase of an evaluation made by the optimizer's pass `pass_no` (1, or 2 for the code release's second pass)."""
    return f"{_SEARCH}{pass_no}"


def ingredient_valacc(name: str, valacc: float) -> dict:
    """An ingredient's ValAcc, as an evaluation (so every ValAcc a run measured is one "eval" line)."""
    return {**evaluation(INGREDIENTS, "ingredient", name, None), "valacc": valacc}


def skip_test(method: str, candidate: str, valacc: float, threshold: float, passed: bool) -> dict:
    """Algorithm 1's skip test: the approximate average's ValAcc against τ·ValAcc(Ψ)."""
    return {"type": "skip_test", "method": method, "candidate": candidate, "valacc": valacc, "threshold": threshold, "passed": passed}


def decision(method: str, candidate: str, accepted: bool, valacc: float, lam: Sequence[float] | None = None) -> dict:
    """A candidate accepted into (or rejected from) a method's model, with the ValAcc and λ that decided it."""
    return {"type": "decision", "method": method, "candidate": candidate, "accepted": bool(accepted), "valacc": valacc,
            "lambda": _lam(lam)}


def search_end(method: str, candidate: str, pass_no: int, budget: int, evaluations: int) -> dict:
    """Why a λ search stopped: its budget spent, or the optimizer converged (it asked again for points already
    measured, which cost nothing) after `evaluations` distinct ValAcc evaluations of `budget`."""
    return {"type": "search_end", "method": method, "candidate": candidate, "pass": pass_no, "budget": budget,
            "evaluations": evaluations}


def input_file(method: str, role: str, fingerprint: str) -> dict:
    """The content hash of a file a method reads besides the ingredients (WiSE-FT's zero-shot model): resume refuses a change."""
    return {"type": "input", "method": method, "role": role, "fingerprint": fingerprint}


# -- reader (what the app and the progress display see) -----------------------------------------------------------

@dataclass(frozen=True)
class Setup:
    """What a resumed run must find unchanged, and the component names λ is listed by."""

    settings: str
    datasets: dict[str, str]
    components: list[str]
    t: float = 0.0


@dataclass(frozen=True)
class Accuracy:
    """Accuracy of an ingredient (on the held-out set, or on the test/OOD sets) or of a method's model (on every dataset)."""

    model: str
    kind: str  # "ingredient" (when first read, with the file's hash), "ingredient_tests" (test/OOD sets later) or "method"
    accuracy: dict[str, float]
    fingerprint: str | None = None
    t: float = 0.0


@dataclass(frozen=True)
class Eval:
    """A method's ValAcc evaluation of one candidate (λ per component, or None when there is no λ)."""

    method: str
    phase: str
    candidate: str
    lam: list[float] | None
    valacc: float
    t: float = 0.0

    @property
    def search_pass(self) -> int | None:
        """The optimizer pass that made this evaluation, or None for skip tests, candidates and soups."""
        rest = self.phase.removeprefix(_SEARCH)
        return int(rest) if rest != self.phase and rest.isdigit() else None


@dataclass(frozen=True)
class IngredientEval:
    """An ingredient's own ValAcc, measured before any method runs."""

    name: str
    valacc: float
    t: float = 0.0


@dataclass(frozen=True)
class SkipTest:
    """Whether a candidate's approximate average was promising enough to search its λ."""

    method: str
    candidate: str
    valacc: float
    threshold: float
    passed: bool
    t: float = 0.0


@dataclass(frozen=True)
class Decision:
    """A candidate accepted or rejected, with the ValAcc (and λ) that decided it."""

    method: str
    candidate: str
    accepted: bool
    valacc: float
    lam: list[float] | None = None
    t: float = 0.0


@dataclass(frozen=True)
class SearchEnd:
    """A λ search's end: how many distinct evaluations of its budget it used."""

    method: str
    candidate: str
    search_pass: int
    budget: int
    evaluations: int
    t: float = 0.0

    @property
    def converged(self) -> bool:
        """The optimizer stopped proposing new λ before its budget was spent."""
        return self.evaluations < self.budget

    @property
    def reason(self) -> str:
        """In words, for the run view: '... converged after 77 of 210 evaluations' or '... spent its budget of 210'."""
        if self.converged:
            return f"optimizer converged after {self.evaluations} of {self.budget} evaluations"
        return f"budget of {self.budget} evaluations spent"


@dataclass(frozen=True)
class Input:
    """The content hash of a file a method read besides the ingredients."""

    method: str
    role: str
    fingerprint: str
    t: float = 0.0


Event = Setup | Accuracy | Eval | IngredientEval | SkipTest | Decision | SearchEnd | Input
EVALUATIONS = (Eval, IngredientEval)  # every ValAcc measured: what "evaluations" counts


def parse(raw: Mapping) -> Event | None:
    """The typed event of one events.jsonl object, or None for a type this version does not know; EventError when a known
    type lacks a field or has one of the wrong type."""
    if not isinstance(raw, Mapping):
        raise EventError(f"an event is a JSON object, got {runs.short_json(raw)}")
    try:
        event = _typed(raw)
    except KeyError as exc:
        raise EventError(f"a {runs.short_json(raw.get('type'))} event needs {exc}, got {runs.short_json(raw)}") from None
    if event is not None:
        wrong = [name for name, fits in _checks(type(event)) if not fits(getattr(event, name))]
        if wrong:
            raise EventError(f"a {raw['type']} event's {', '.join(wrong)} has the wrong type: {runs.short_json(raw)}")
    return event


def _typed(raw: Mapping) -> Event | None:
    t = raw.get("t", 0.0)
    kind = raw.get("type")
    if kind == "eval":
        if raw.get("method") == INGREDIENTS:
            return IngredientEval(raw["candidate"], raw["valacc"], t)
        return Eval(raw["method"], raw["phase"], raw["candidate"], raw.get("lambda"), raw["valacc"], t)
    if kind == "decision":
        return Decision(raw["method"], raw["candidate"], raw["accepted"], raw["valacc"], raw.get("lambda"), t)
    if kind == "skip_test":
        return SkipTest(raw["method"], raw["candidate"], raw["valacc"], raw["threshold"], raw["passed"], t)
    if kind == "accuracy":
        return Accuracy(raw["model"], raw["kind"], raw.get("accuracy", {}), raw.get("fingerprint"), t)
    if kind == "setup":
        return Setup(raw["settings"], raw.get("datasets", {}), raw.get("components", []), t)
    if kind == "search_end":
        return SearchEnd(raw["method"], raw["candidate"], raw["pass"], raw["budget"], raw["evaluations"], t)
    if kind == "input":
        return Input(raw["method"], raw["role"], raw["fingerprint"], t)
    return None


@functools.cache
def _checks(cls: type) -> list[tuple[str, Callable]]:
    """Each field of an event class with the test its value must pass (built once per class)."""
    hints = typing.get_type_hints(cls)
    return [(f.name, checker(hints[f.name])) for f in fields(cls)]


def parse_all(raws: Iterable[Mapping]) -> list[Event]:
    """Typed events in order, unknown types left out."""
    return [event for event in map(parse, raws) if event is not None]


def read(run_dir: str | Path) -> list[Event]:
    """A run directory's events, typed, up to the first line that is not an event (a line cut short by a crash, see
    runs.read_events, or a damaged one): what a reader can show of a log, whatever the file holds."""
    typed = []
    for raw in runs.read_events(run_dir):
        try:
            event = parse(raw)
        except EventError:
            break
        if event is not None:
            typed.append(event)
    return typed
