"""The events of events.jsonl as one schema: a pydantic model per event type, a discriminated union on `type`, the
constructors the engine writes with and the reader every consumer (runner, live view, Paper, reference replay) reads with.

Each field is named once, in its model; the keys on disk are the models' aliases (`lambda`, `pass`, `candidate` of an
ingredient's ValAcc), unchanged since before the schema, so the hash chain (chain.py) and old logs keep working. A
constructor returns the JSON object the journal (runs.Journal) appends, before the fields it measures (ValAcc,
accuracies) and the time `t`; a resumed run compares its new events with the tape field by field. Readers match on
the classes, never on strings: `parse` turns one object into its class (None for a type this version does not know),
and an event whose fields do not fit (strict JSON types: a float may be written as an integer, a bool is never a
number) is an EventError, so a reader may use every field as its type says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError

from . import runs
from .errors import EventError

INGREDIENTS = "ingredients"  # the "method" an ingredient's own ValAcc is filed under on disk
_SEARCH = "optimize_"  # phase prefix of an optimizer pass: optimize_1, optimize_2
ACCEPT_TEST = "accept_test"  # phase of the whole-set ValAcc of a λ found on the search subset (the accept test's value)


class _Event(BaseModel):
    """What every event shares: strict JSON types, read by alias, unknown keys (the hash chain's) ignored, immutable."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore", populate_by_name=True)

    t: float = 0.0


class Setup(_Event):
    """What a resumed run must find unchanged, and the component names λ is listed by."""

    type: Literal["setup"] = "setup"
    settings: str
    datasets: dict[str, str] = {}
    components: list[str] = []


class Accuracy(_Event):
    """Accuracy of an ingredient (on the held-out set, or on the test/OOD sets) or of a method's model (on every dataset)."""

    type: Literal["accuracy"] = "accuracy"
    model: str
    kind: str  # "ingredient" (when first read, with the file's hash), "ingredient_tests" (test/OOD sets later) or "method"
    fingerprint: str | None = None
    accuracy: dict[str, float] = {}


class Eval(_Event):
    """A method's ValAcc evaluation of one candidate (λ per component, or None when there is no λ)."""

    type: Literal["eval"] = "eval"
    method: str
    phase: str
    candidate: str
    lam: list[float] | None = Field(None, alias="lambda")
    valacc: float
    images: int | None = None  # held-out images it was measured on; written by runs with a search subset, else None: all

    @property
    def search_pass(self) -> int | None:
        """The optimizer pass that made this evaluation, or None for skip tests, candidates and soups."""
        rest = self.phase.removeprefix(_SEARCH)
        return int(rest) if rest != self.phase and rest.isdigit() else None


class IngredientEval(_Event):
    """An ingredient's own ValAcc, measured before any method runs: on disk an "eval" filed under the method INGREDIENTS."""

    type: Literal["eval"] = "eval"
    method: Literal["ingredients"] = INGREDIENTS
    phase: str = "ingredient"
    name: str = Field(alias="candidate")
    lam: None = Field(None, alias="lambda")
    valacc: float


class SkipTest(_Event):
    """Algorithm 1's skip test: whether a candidate's approximate average (ValAcc against τ·ValAcc(Ψ)) earns a λ search."""

    type: Literal["skip_test"] = "skip_test"
    method: str
    candidate: str
    valacc: float
    threshold: float
    passed: bool


class Decision(_Event):
    """A candidate accepted into (or rejected from) a method's model, with the ValAcc (and λ) that decided it."""

    type: Literal["decision"] = "decision"
    method: str
    candidate: str
    accepted: bool
    valacc: float
    lam: list[float] | None = Field(None, alias="lambda")


class SearchEnd(_Event):
    """Why a λ search stopped: its budget spent, or the optimizer converged (it asked again for points already measured,
    which cost nothing) after `evaluations` distinct ValAcc evaluations of `budget`."""

    type: Literal["search_end"] = "search_end"
    method: str
    candidate: str
    search_pass: int = Field(alias="pass")
    budget: int
    evaluations: int

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


class Input(_Event):
    """The content hash of a file a method reads besides the ingredients (WiSE-FT's zero-shot model): resume refuses a change."""

    type: Literal["input"] = "input"
    method: str
    role: str
    fingerprint: str


_CLASSES = {"setup": Setup, "accuracy": Accuracy, "eval": Eval, "ingredient_eval": IngredientEval, "skip_test": SkipTest,
            "decision": Decision, "search_end": SearchEnd, "input": Input}


def _tag(raw) -> str | None:
    """The union member of an event object: its `type`, and an "eval" filed under INGREDIENTS is an ingredient's ValAcc."""
    kind, method = (raw.get("type"), raw.get("method")) if isinstance(raw, Mapping) else (getattr(raw, "type", None), None)
    if isinstance(raw, IngredientEval) or (kind == "eval" and method == INGREDIENTS):
        return "ingredient_eval"
    return kind if isinstance(kind, str) else None


Event = Annotated[Union[tuple(Annotated[cls, Tag(tag)] for tag, cls in _CLASSES.items())], Discriminator(_tag)]  # noqa: UP007
_EVENT = TypeAdapter(Event)
EVALUATIONS = (Eval, IngredientEval)  # every ValAcc measured: what "evaluations" counts


# -- constructors (what the engine writes) ------------------------------------------------------------------------

def _fields(cls: type[_Event], **values) -> dict:
    """Fields of an event of class `cls` as JSON keys (the model's aliases), in the order given."""
    return {cls.model_fields[name].alias or name: value for name, value in values.items()}


def _written(cls: type[_Event], **values) -> dict:
    """An event of class `cls` as its JSON object, before the fields the journal adds once measured, and `t`."""
    return {"type": cls.model_fields["type"].default, **_fields(cls, **values)}


def at(t: float) -> dict:
    """An event's time, seconds since its run started: the journal adds it; the reference replay gives the log's own."""
    return _fields(_Event, t=t)


def measured_valacc(valacc: float) -> dict:
    """What the journal adds to an evaluation once it is measured (see `evaluation`)."""
    return _fields(Eval, valacc=valacc)


def measured_accuracy(accuracy: Mapping[str, float]) -> dict:
    """What the journal adds to an accuracy event once it is measured: accuracy per dataset."""
    return _fields(Accuracy, accuracy=dict(accuracy))


def _lam(lam: Sequence[float] | None) -> list[float] | None:
    return None if lam is None else [float(x) for x in lam]


def setup(settings: str, datasets: Mapping[str, str], components: Sequence[str]) -> dict:
    """The run's settings digest, each dataset's content hash and the component names (λ lists them in this order)."""
    return _written(Setup, settings=settings, datasets=dict(datasets), components=list(components))


def ingredient_accuracy(name: str, fingerprint: str) -> dict:
    """An ingredient's accuracy when first read (the journal adds "accuracy": the held-out set, and the test sets when every
    ingredient is tested); its file's content hash rides along."""
    return _written(Accuracy, model=name, kind="ingredient", fingerprint=fingerprint)


def ingredient_tests(name: str) -> dict:
    """An ingredient's accuracy on the test/OOD sets (the journal adds "accuracy"), for those `ingredient_tests` picks."""
    return _written(Accuracy, model=name, kind="ingredient_tests")


def method_accuracy(method: str) -> dict:
    """A method's final model (or ensemble) on every dataset (the journal adds "accuracy")."""
    return _written(Accuracy, model=method, kind="method")


def evaluation(method: str, phase: str, candidate: str, lam: Sequence[float] | None, images: int | None = None) -> dict:
    """One ValAcc evaluation of a method (the journal adds "valacc"); λ has one entry per component; `images` (how many
    held-out images it used) is written only when given, so logs of runs without a search subset keep their lines."""
    extra = {} if images is None else _fields(Eval, images=images)
    return {**_written(Eval, method=method, phase=phase, candidate=candidate, lam=_lam(lam)), **extra}


def search_phase(pass_no: int) -> str:
    """The phase of an evaluation made by the optimizer's pass `pass_no` (1, or 2 for the code release's second pass)."""
    return f"{_SEARCH}{pass_no}"


def ingredient_valacc(name: str, valacc: float) -> dict:
    """An ingredient's ValAcc, as an evaluation (so every ValAcc a run measured is one "eval" line)."""
    return _written(IngredientEval, method=INGREDIENTS, phase="ingredient", name=name, lam=None, valacc=valacc)


def skip_test(method: str, candidate: str, valacc: float, threshold: float, passed: bool) -> dict:
    """Algorithm 1's skip test: the approximate average's ValAcc against τ·ValAcc(Ψ)."""
    return _written(SkipTest, method=method, candidate=candidate, valacc=valacc, threshold=threshold, passed=passed)


def decision(method: str, candidate: str, accepted: bool, valacc: float, lam: Sequence[float] | None = None) -> dict:
    """A candidate accepted into (or rejected from) a method's model, with the ValAcc and λ that decided it."""
    return _written(Decision, method=method, candidate=candidate, accepted=bool(accepted), valacc=valacc, lam=_lam(lam))


def search_end(method: str, candidate: str, pass_no: int, budget: int, evaluations: int) -> dict:
    """Why a λ search stopped (SearchEnd): after `evaluations` distinct ValAcc evaluations of `budget`."""
    return _written(SearchEnd, method=method, candidate=candidate, search_pass=pass_no, budget=budget, evaluations=evaluations)


def input_file(method: str, role: str, fingerprint: str) -> dict:
    """The content hash of a file a method reads besides the ingredients: resume refuses a change."""
    return _written(Input, method=method, role=role, fingerprint=fingerprint)


# -- reader (what the app and the progress display see) -----------------------------------------------------------

def parse(raw: Mapping) -> Event | None:
    """The typed event of one events.jsonl object, or None for a type this version does not know; EventError when a known
    type lacks a field or has one of the wrong type."""
    if not isinstance(raw, Mapping):
        raise EventError(f"an event is a JSON object, got {runs.short_json(raw)}")
    if _tag(raw) not in _CLASSES:
        return None
    try:
        return _EVENT.validate_python(raw)
    except ValidationError as exc:
        errors = exc.errors()
        missing = [repr(e["loc"][-1]) for e in errors if e["type"] == "missing"]
        if missing:
            raise EventError(f"a {runs.short_json(raw['type'])} event needs {', '.join(missing)}, got {runs.short_json(raw)}") from None
        wrong = ", ".join(dict.fromkeys(str(e["loc"][1]) if len(e["loc"]) > 1 else "type" for e in errors))
        raise EventError(f"a {raw['type']} event's {wrong} has the wrong type: {runs.short_json(raw)}") from None


def parse_all(raws: Iterable[Mapping]) -> list[Event]:
    """Typed events in order, unknown types left out."""
    return [event for event in map(parse, raws) if event is not None]


def read(run_dir: str | Path) -> list[Event]:
    """A run directory's events, typed, up to the first line that is not an event (damage, see runs.event_lines): what a
    reader can show of a log, whatever the file holds."""
    return read_from(Path(run_dir) / runs.EVENTS)[0]


def read_from(path: Path, offset: int = 0) -> tuple[list[Event], int, bool]:
    """The typed events of events.jsonl's complete lines from byte `offset` (runs.event_lines), the offset reached, and
    whether reading stopped at a line that is no event (damage: the rest of the log cannot be shown)."""
    typed = []
    for raw, end in runs.event_lines(path, offset):
        try:
            event = parse(raw)
        except EventError:
            return typed, offset, True
        offset = end
        if event is not None:
            typed.append(event)
    return typed, offset, False
