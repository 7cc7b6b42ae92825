"""Property-based fuzzing (hypothesis): run configs, event logs and partition uploads, generated or mutated from valid ones,
never raise anything but the project's own errors (issue 17). A bounded profile runs by default; `pytest -m fuzz` or
MANIFOLDMIX_FUZZ=1 runs thousands of examples per target (profiles in tests/faults/conftest.py)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app_lib.live import LiveLog
from manifoldmix_core import events, runs
from manifoldmix_core.config import load_config, parse_config
from manifoldmix_core.errors import EventError, ManifoldMixError, PartitionError
from manifoldmix_core.partition import Partition

pytestmark = pytest.mark.fuzz

DEEP = "[" * 100_000 + "]" * 100_000  # what a recursive parser dies on (RecursionError)
# Strings of any character but the path separators and dots, so a generated path never leaves the fuzz's own folder.
TEXT = st.text(st.characters(blacklist_characters="/\\.", blacklist_categories=("Cs",)), max_size=12)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | TEXT
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=20)

VALID_CONFIG = {
    "name": "fuzz", "model": {"architecture": "ViT-B-32"},
    "ingredients": [{"name": "a", "path": "a.safetensors"}, {"name": "b", "path": "b.safetensors", "hparams": {"lr": 0.1}}],
    "val": {"name": "val", "source": "tensors", "path": "val.safetensors", "class_map": {"0": 0, "3": 1}},
    "test": [{"name": "test", "source": "imagefolder", "path": "test", "class_subset": [0, 1]}], "ood": ["test"],
    "partition": {"preset": "structural"}, "methods": ["uniform_soup", "greedy_soup", "manifoldmixms", "wise_ft"],
    "manifoldmix": {"budget_per_component": 3, "tau": 0.99, "seed": 1}, "wise_ft": {"zero_shot": "zs.safetensors"},
    "device": "cpu", "batch_size": 16, "ingredient_tests": {"top": 1},
}
VALID_EVENTS = [
    events.setup("digest", {"val": "f00d"}, ["embed", "block 0", "head"]),
    events.ingredient_valacc("a", 0.5),
    {**events.ingredient_accuracy("a", "beef"), "accuracy": {"val": 0.5, "test": 0.25}},
    {**events.evaluation("manifoldmixms", events.search_phase(1), "b", [0.1, 0.2, 0.3]), "valacc": 0.75},
    events.skip_test("manifoldmixms", "b", 0.7, 0.69, True),
    events.search_end("manifoldmixms", "b", 1, 3, 3),
    events.decision("manifoldmixms", "b", True, 0.75, [0.1, 0.2, 0.3]),
    events.input_file("wise_ft", "zero_shot", "cafe"),
    {**events.method_accuracy("greedy_soup"), "accuracy": {"val": 0.8}},
]
PARAMS = ["embed.weight", "blocks.0.weight", "head.weight"]
VALID_PARTITION = {"components": [{"name": "embed", "params": PARAMS[:1]}, {"name": "rest", "params": PARAMS[1:]}]}


@st.composite
def mutated(draw, valid):
    """A valid JSON structure with one value somewhere in it replaced by generated JSON, or one key removed or added."""
    data = json.loads(json.dumps(valid))
    holder, key = data, None
    while True:
        keys = list(holder) if isinstance(holder, dict) else list(range(len(holder))) if isinstance(holder, list) else []
        if not keys or (key is not None and draw(st.booleans())):
            break
        key = draw(st.sampled_from(keys))
        if not isinstance(holder[key], (dict, list)) or draw(st.booleans()):
            break
        holder = holder[key]
    how = draw(st.sampled_from(["replace", "remove", "add"]))
    if isinstance(holder, dict) and how == "add":
        holder[draw(TEXT)] = draw(JSON)
    elif isinstance(holder, (dict, list)) and holder and how == "remove":
        del holder[draw(st.sampled_from(list(holder) if isinstance(holder, dict) else list(range(len(holder)))))]
    elif key is not None and isinstance(holder, (dict, list)) and holder:
        holder[draw(st.sampled_from(list(holder) if isinstance(holder, dict) else list(range(len(holder)))))] = draw(JSON)
    return data


def in_folder(files: dict[str, bytes]) -> Path:
    """A fresh temporary folder holding these files (hypothesis calls a test many times, a pytest tmp_path once)."""
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


# -- run configs -----------------------------------------------------------------------------------------------------

def test_the_valid_config_parses():
    """The seed of the mutations is itself accepted, so a mutation's error is the mutation's."""
    assert parse_config(VALID_CONFIG, Path(tempfile.gettempdir())).name == "fuzz"


@given(JSON | mutated(VALID_CONFIG))
@example({**VALID_CONFIG, "methods": [[], "greedy_soup"]})  # found: TypeError (unhashable list) in the method check
@example({**VALID_CONFIG, "test": None})  # found: TypeError, None is not iterable
def test_parse_config_raises_only_config_errors(data):
    try:
        parse_config(data, Path(tempfile.gettempdir()))
    except ManifoldMixError:
        pass


@given(st.binary(max_size=200) | mutated(VALID_CONFIG).map(lambda d: json.dumps(d).encode()))
@example(DEEP.encode())  # found: RecursionError
@example(b"\xff\xfe{}")  # found: UnicodeDecodeError
def test_load_config_of_any_file_raises_only_config_errors(content):
    path = in_folder({"config.json": content}) / "config.json"
    try:
        load_config(path)
    except ManifoldMixError:
        pass


# -- event logs ------------------------------------------------------------------------------------------------------

def written_log() -> bytes:
    """VALID_EVENTS as the engine's journal writes them (hash chain included)."""
    folder = in_folder({})
    journal = runs.Journal(folder)
    for event in VALID_EVENTS:
        journal.record(event)
    return (folder / runs.EVENTS).read_bytes()


LOG = written_log()


def mutated_log(draw_bytes: bytes, at: int, how: str) -> bytes:
    at %= len(LOG)
    return {"insert": LOG[:at] + draw_bytes + LOG[at:], "overwrite": LOG[:at] + draw_bytes + LOG[at + len(draw_bytes):],
            "cut": LOG[:at]}[how]


LOGS = (st.binary(max_size=300)
        | st.lists(JSON | mutated(VALID_EVENTS[3]) | mutated(VALID_EVENTS[2]), max_size=5).map(
            lambda lines: "".join(json.dumps(line) + "\n" for line in lines).encode())
        | st.builds(mutated_log, st.binary(min_size=1, max_size=8), st.integers(0, len(LOG)), st.sampled_from(["insert", "overwrite", "cut"])))


@given(JSON | mutated(VALID_EVENTS[3]) | mutated(VALID_EVENTS[0]) | mutated(VALID_EVENTS[2]))
def test_parse_event_raises_only_event_errors(raw):
    try:
        events.parse(raw)
    except EventError:
        pass


@given(LOGS)
@example(DEEP.encode() + b"\n")  # each example here crashed a reader on main: RecursionError,
@example(b"\xff\n")  # UnicodeDecodeError,
@example(b"[1]\n")  # AttributeError,
@example(b'{"type": "eval"}\n')  # KeyError
@example(LOG[:LOG.index(b"\n", LOG.index(b"\n") + 1)])  # a complete last line without its newline: neither reader shows it before its newline
def test_reading_any_log_for_display_never_raises(content):
    folder = in_folder({runs.EVENTS: content})
    raws, typed = runs.read_events(folder), events.read(folder)
    live = LiveLog(folder).poll()
    assert len(typed) <= len(raws) and len(typed) - 1 <= live.count <= len(typed)  # LiveLog waits for a last line's newline
    drawn = live.evaluations(), live.candidate_timeline(), live.lambda_trajectory(), live.run_summary()  # what the Run page draws
    assert len(drawn[0]) == drawn[3]["evaluations"]


@given(LOGS)
@example(LOG)
def test_a_resumed_journal_accepts_only_its_own_log(content):
    """Any other content is refused with ResumeError; the log as written replays."""
    folder = in_folder({runs.EVENTS: content})
    try:
        journal = runs.Journal(folder)
    except ManifoldMixError:
        return
    assert LOG.startswith((folder / runs.EVENTS).read_bytes()) and journal.log["events"] == len(journal.tape)


# -- partition uploads -----------------------------------------------------------------------------------------------

def test_the_valid_partition_loads():
    assert Partition.from_json(json.dumps(VALID_PARTITION)).validate(PARAMS).names == ["embed", "rest"]


@given(st.text(max_size=200) | JSON.map(json.dumps) | mutated(VALID_PARTITION).map(json.dumps))
@example(DEEP)  # found: RecursionError
@example('{"components": [{"name": "x", "params": ' + DEEP + "}]}")
def test_a_partition_upload_raises_only_partition_errors(text):
    """As the Partition page loads an uploaded file: Partition.from_json, then validate against the model's parameters."""
    try:
        Partition.from_json(text).validate(PARAMS)
    except PartitionError:
        pass
