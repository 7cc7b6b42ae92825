"""What the live view draws, from a run's typed events (manifoldmix_core.events): ValAcc over evaluations, λ trajectories,
candidate timeline.

Works on the engine's events and on the replay of the author's C8 log (manifoldmix_core.reference.replay: the same
event types, one evaluation per optimizer pass).
"""

from __future__ import annotations

import pandas as pd

from manifoldmix_core import methods
from manifoldmix_core.events import EVALUATIONS, INGREDIENTS, Decision, Eval, Event, IngredientEval, Setup, SkipTest

STATUSES = ("skipped", "optimised", "accepted", "rejected")
STATUS_COLOURS = {"skipped": "#b0b0b0", "optimised": "#ff9f1c", "accepted": "#2ca02c", "rejected": "#d62728"}


def components(events: list[Event]) -> list[str]:
    """Component names from the setup event (λ has one entry per component)."""
    return next((list(e.components) for e in events if isinstance(e, Setup)), [])


def evaluations(events: list[Event]) -> pd.DataFrame:
    """One row per ValAcc evaluation: n, t, method, phase, candidate, valacc and best-so-far per method."""
    rows = []
    for e in events:
        if isinstance(e, IngredientEval):
            rows.append({"t": e.t, "method": INGREDIENTS, "phase": "ingredient", "candidate": e.name, "valacc": e.valacc})
        elif isinstance(e, Eval):
            rows.append({"t": e.t, "method": e.method, "phase": e.phase, "candidate": e.candidate, "valacc": e.valacc})
    frame = pd.DataFrame(rows, columns=["t", "method", "phase", "candidate", "valacc"])
    frame.insert(0, "n", range(1, len(frame) + 1))
    frame["best"] = frame.groupby("method")["valacc"].cummax() if len(frame) else pd.Series(dtype=float)
    return frame


def mixing_method(events: list[Event]) -> str | None:
    """The method whose candidates the live view follows: one that searches λ per component, else the latest method seen."""
    seen = [e.method for e in events if isinstance(e, (Eval, Decision))]
    per_component = [m for m in seen if m in methods.METHODS and methods.METHODS[m].per_component]
    return per_component[0] if per_component else (seen[-1] if seen else None)


def candidate_timeline(events: list[Event], method: str | None = None) -> pd.DataFrame:
    """Per candidate of a method: status (skipped / optimised / accepted / rejected), ValAcc, start, end, evaluations.

    'optimised' means the optimizer is still searching its λ (no decision yet).
    """
    method = method or mixing_method(events)
    rows: dict[str, dict] = {}
    for e in events:
        if not isinstance(e, (Eval, SkipTest, Decision)) or e.method != method:
            continue
        row = rows.setdefault(e.candidate, {"candidate": e.candidate, "status": "optimised", "valacc": None, "start": e.t,
                                            "end": e.t, "evaluations": 0})
        row["end"] = e.t
        if isinstance(e, Eval):
            row["evaluations"] += 1
            row["valacc"] = e.valacc if row["valacc"] is None else max(row["valacc"], e.valacc)
        elif isinstance(e, SkipTest) and not e.passed:
            row.update(status="skipped", valacc=e.valacc)
        elif isinstance(e, Decision) and row["status"] != "skipped":  # the replayed log also decides skipped ones
            row.update(status="accepted" if e.accepted else "rejected", valacc=e.valacc)
    frame = pd.DataFrame(list(rows.values()), columns=["candidate", "status", "valacc", "start", "end", "evaluations"])
    frame.insert(0, "position", range(len(frame)))
    return frame


def _searches(events: list[Event], method: str | None) -> list[Eval]:
    """The evaluations a method's optimizer made (its λ search), in order."""
    return [e for e in events if isinstance(e, Eval) and e.method == method and e.search_pass is not None]


def current_candidate(events: list[Event], method: str | None = None) -> str | None:
    """The candidate the mixing method is working on (the last one with an optimizer evaluation)."""
    searched = _searches(events, method or mixing_method(events))
    return searched[-1].candidate if searched else None


def lambda_trajectory(events: list[Event], candidate: str | None = None, method: str | None = None) -> pd.DataFrame:
    """Long frame (evaluation, component, λ, valacc) of the λ the optimizer tried for one candidate."""
    method = method or mixing_method(events)
    candidate = candidate or current_candidate(events, method)
    names = components(events)
    rows = []
    for i, e in enumerate((e for e in _searches(events, method) if e.candidate == candidate and e.lam), start=1):
        for j, lam in enumerate(e.lam):
            rows.append({"evaluation": i, "component": names[j] if j < len(names) else f"component {j}",
                         "lambda": lam, "valacc": e.valacc, "phase": e.phase})
    return pd.DataFrame(rows, columns=["evaluation", "component", "lambda", "valacc", "phase"])


def final_lambdas(results: dict) -> pd.DataFrame:
    """The final λ of the method that searches them per component: one row per accepted candidate (mixed in order)."""
    entry = next((info for name, info in results.get("methods", {}).items()
                  if name in methods.METHODS and methods.METHODS[name].per_component), None)
    if not entry or not entry.get("lambdas"):
        return pd.DataFrame()
    names = results.get("partition", {}).get("components") or [f"component {j}" for j in range(len(entry["lambdas"][0]))]
    accepted = entry["ingredients"][1:]
    return pd.DataFrame(entry["lambdas"], index=accepted[: len(entry["lambdas"])], columns=names)


def eta_text(status: dict) -> str:
    """A short human ETA from status.json's eta_s."""
    eta = status.get("eta_s")
    if eta is None or status.get("state") != "running":
        return ""
    eta = int(eta)
    return f"about {eta // 60} min {eta % 60} s left" if eta >= 60 else f"about {eta} s left"


def run_summary(events: list[Event], method: str | None = None) -> dict:
    """Counts that make two runs comparable: candidates by status, evaluations, seconds per evaluation."""
    method = method or mixing_method(events)
    timeline = candidate_timeline(events, method)
    counts = timeline["status"].value_counts()
    evals = [e for e in events if isinstance(e, EVALUATIONS)]
    span = evals[-1].t - evals[0].t if len(evals) > 1 else 0.0
    return {"candidates": len(timeline), **{status: int(counts.get(status, 0)) for status in STATUSES},
            "evaluations": len(evals), "seconds per evaluation": span / (len(evals) - 1) if len(evals) > 1 else None}
