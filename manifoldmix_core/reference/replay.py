"""The author's C8 run as our engine's events (events.py), so the app charts it like a user's run.

Times are seconds since the log's first line; each Cobyla pass of 240 evaluations becomes one
evaluation carrying the pass's final ValAcc, and λ is not in the log (None).
"""

from __future__ import annotations

from datetime import datetime

from .. import events
from ..methods import MANIFOLDMIXMS
from .published import TAU
from .runlog import CandidateStep, ReferenceRun

METHOD = MANIFOLDMIXMS.name  # the engine's name for the method, so the app draws both runs alike


def _at(t: datetime, since: datetime) -> dict:
    return events.at((t - since).total_seconds())


def _step_events(step: CandidateStep, since: datetime) -> list[dict]:
    """One candidate: the skip-test evaluation and verdict, one evaluation per optimizer pass, the decision."""
    approx = _at(step.approx_at, since)
    threshold = TAU * step.soup_valacc_before
    out = [{**events.evaluation(METHOD, "skip_test", step.name, None), **events.measured_valacc(step.approx_valacc), **approx},
           {**events.skip_test(METHOD, step.name, step.approx_valacc, threshold, step.approx_valacc > threshold), **approx}]
    out += [{**events.evaluation(METHOD, events.search_phase(n), step.name, None), **events.measured_valacc(p.valacc), **_at(p.end, since)}
            for n, p in enumerate(step.passes, start=1)]
    out.append({**events.decision(METHOD, step.name, step.decision == "accepted", step.decision_valacc), **_at(step.decided_at, since)})
    return out


def replay_events(run: ReferenceRun) -> list[dict]:
    """The author's run as events.jsonl records: the ingredients' ValAcc, the first ingredient kept, then every candidate."""
    out = [{**events.ingredient_valacc(name, valacc), **_at(run.sorted_at, run.start)}
           for name, valacc in zip(run.sorted_names, run.sorted_valacc)]
    out.append({**events.decision(METHOD, run.sorted_names[0], True, run.initial_valacc), **_at(run.initial_at, run.start)})
    for step in run.steps:
        out += _step_events(step, run.start)
    return out
