"""The event schema (events.py): what the writer's constructors produce is exactly what the readers' union parses, key
for key, with the on-disk aliases (`lambda`, `pass`, `candidate` of an ingredient's ValAcc)."""

from __future__ import annotations

import pytest

from manifoldmix_core import events
from manifoldmix_core.errors import EventError

WRITTEN = [  # each constructor with the fields the journal adds once measured
    (events.setup("digest", {"val": "hash"}, ["head"]), events.Setup),
    ({**events.ingredient_accuracy("a", "hash"), **events.measured_accuracy({"val": 0.5})}, events.Accuracy),
    ({**events.ingredient_tests("a"), **events.measured_accuracy({"test": 0.25})}, events.Accuracy),
    ({**events.method_accuracy("greedy_soup"), **events.measured_accuracy({"val": 1})}, events.Accuracy),
    ({**events.evaluation("manifoldmixms", events.search_phase(2), "b", [0.5, 1]), **events.measured_valacc(0.75)}, events.Eval),
    (events.ingredient_valacc("a", 0.5), events.IngredientEval),
    (events.skip_test("manifoldmixms", "b", 0.5, 0.4, True), events.SkipTest),
    (events.decision("greedy_soup", "b", False, 0.5), events.Decision),
    (events.search_end("manifoldmixms", "b", 1, 10, 7), events.SearchEnd),
    (events.input_file("wise_ft", "zero_shot", "hash"), events.Input),
]


@pytest.mark.parametrize(("written", "cls"), WRITTEN, ids=[cls.__name__ for _, cls in WRITTEN])
def test_what_the_writer_writes_the_reader_reads_back_key_for_key(written, cls):
    event = events.parse({**written, **events.at(1.5), "chain": "0" * 64})  # the journal's time and hash chain ride along
    assert type(event) is cls and event.t == 1.5
    assert event.model_dump(by_alias=True, exclude={"t"}) | written == event.model_dump(by_alias=True, exclude={"t"})


def test_the_on_disk_keys_are_the_aliases():
    evaluation = events.evaluation("m", events.search_phase(1), "b", [0.5])
    assert "lambda" in evaluation and "lam" not in evaluation
    assert events.parse({**evaluation, "valacc": 0.5}).lam == [0.5] and events.parse({**evaluation, "valacc": 0.5}).search_pass == 1
    end = events.search_end("m", "b", 2, 10, 10)
    assert end["pass"] == 2 and events.parse(end).search_pass == 2 and not events.parse(end).converged
    assert events.ingredient_valacc("a", 0.5)["candidate"] == "a" and events.parse(events.ingredient_valacc("a", 0.5)).name == "a"


@pytest.mark.parametrize(("raw", "message"), [
    ({"type": "eval", "method": "m", "phase": "p", "candidate": "c", "valacc": True}, "a eval event's valacc has the wrong type"),
    ({"type": "search_end", "method": "m", "candidate": "c", "pass": 1.0, "budget": 1, "evaluations": 1}, "pass has the wrong type"),
    ({"type": "decision", "method": "m", "candidate": "c", "valacc": 0.5}, "needs 'accepted'"),
    ([1], "an event is a JSON object"),
])
def test_an_event_that_does_not_fit_its_type_is_refused_naming_the_key(raw, message):
    with pytest.raises(EventError, match=message):
        events.parse(raw)


def test_a_type_this_version_does_not_know_is_left_out():
    assert events.parse({"type": "from_the_future", "x": 1}) is None and events.parse({"type": 3}) is None
    assert events.parse_all([{"type": "from_the_future"}, events.setup("d", {}, [])]) == [events.Setup(settings="d")]
