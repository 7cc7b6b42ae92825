"""What the live view draws, computed from events.jsonl: ValAcc over evaluations, λ trajectories, candidate timeline.

Works on the engine's events and on `reference.replay_events` (the author's C8 log, replayed in the
same vocabulary with one eval per optimizer pass).
"""

from __future__ import annotations

import pandas as pd

MIXING = ("manifoldmixms",)
STATUSES = ("skipped", "optimised", "accepted", "rejected")
STATUS_COLOURS = {"skipped": "#b0b0b0", "optimised": "#ff9f1c", "accepted": "#2ca02c", "rejected": "#d62728"}


def components(events: list[dict]) -> list[str]:
    """Component names from the setup event (λ has one entry per component)."""
    setup = next((e for e in events if e.get("type") == "setup"), None)
    return list(setup.get("components", [])) if setup else []


def evaluations(events: list[dict]) -> pd.DataFrame:
    """One row per ValAcc evaluation: n, t, method, phase, candidate, valacc and best-so-far per method."""
    rows = [{"n": i, "t": e.get("t", 0.0), "method": e["method"], "phase": e["phase"], "candidate": e["candidate"],
             "valacc": e["valacc"]}
            for i, e in enumerate((e for e in events if e.get("type") == "eval"), start=1)]
    frame = pd.DataFrame(rows, columns=["n", "t", "method", "phase", "candidate", "valacc"])
    frame["best"] = frame.groupby("method")["valacc"].cummax() if len(frame) else pd.Series(dtype=float)
    return frame


def mixing_method(events: list[dict]) -> str | None:
    """The method whose candidates the live view follows: ManifoldMixMS, else the latest method seen."""
    methods = [e["method"] for e in events if e.get("type") in ("eval", "decision") and e.get("method") != "ingredients"]
    return next((m for m in methods if m in MIXING), methods[-1] if methods else None)


def candidate_timeline(events: list[dict], method: str | None = None) -> pd.DataFrame:
    """Per candidate of a method: status (skipped / optimised / accepted / rejected), ValAcc, start, end, evaluations.

    'optimised' means the optimizer is still searching its λ (no decision yet).
    """
    method = method or mixing_method(events)
    rows: dict[str, dict] = {}
    for e in events:
        if e.get("method") != method or e.get("type") not in ("eval", "skip_test", "decision") or e.get("phase") == "ingredient":
            continue
        name, t = e["candidate"], e.get("t", 0.0)
        row = rows.setdefault(name, {"candidate": name, "status": "optimised", "valacc": None, "start": t, "end": t,
                                     "evaluations": 0})
        row["end"] = t
        if e["type"] == "eval":
            row["evaluations"] += 1
            row["valacc"] = e["valacc"] if row["valacc"] is None else max(row["valacc"], e["valacc"])
        elif e["type"] == "skip_test" and not e.get("passed", True):
            row.update(status="skipped", valacc=e["valacc"])
        elif e["type"] == "decision" and row["status"] != "skipped":  # the replayed log also decides skipped ones
            row.update(status="accepted" if e["accepted"] else "rejected", valacc=e["valacc"])
    frame = pd.DataFrame(list(rows.values()), columns=["candidate", "status", "valacc", "start", "end", "evaluations"])
    frame.insert(0, "position", range(len(frame)))
    return frame


def current_candidate(events: list[dict], method: str | None = None) -> str | None:
    """The candidate the mixing method is working on (the last one with an optimiser evaluation)."""
    method = method or mixing_method(events)
    optimised = [e["candidate"] for e in events if e.get("type") == "eval" and e.get("method") == method
                 and str(e.get("phase", "")).startswith("optimize")]
    return optimised[-1] if optimised else None


def lambda_trajectory(events: list[dict], candidate: str | None = None, method: str | None = None) -> pd.DataFrame:
    """Long frame (evaluation, component, λ, valacc) of the λ the optimizer tried for one candidate."""
    method = method or mixing_method(events)
    candidate = candidate or current_candidate(events, method)
    names = components(events)
    rows = []
    evals = [e for e in events if e.get("type") == "eval" and e.get("method") == method and e.get("candidate") == candidate
             and str(e.get("phase", "")).startswith("optimize") and e.get("lambda")]
    for i, e in enumerate(evals, start=1):
        for j, lam in enumerate(e["lambda"]):
            rows.append({"evaluation": i, "component": names[j] if j < len(names) else f"component {j}",
                         "lambda": lam, "valacc": e["valacc"], "phase": e["phase"]})
    return pd.DataFrame(rows, columns=["evaluation", "component", "lambda", "valacc", "phase"])


def final_lambdas(results: dict) -> pd.DataFrame:
    """The final λ of ManifoldMixMS: one row per accepted candidate (mixed in order), one column per component."""
    method = results.get("methods", {}).get("manifoldmixms")
    if not method or not method.get("lambdas"):
        return pd.DataFrame()
    names = results.get("partition", {}).get("components") or [f"component {j}" for j in range(len(method["lambdas"][0]))]
    accepted = method["ingredients"][1:]
    return pd.DataFrame(method["lambdas"], index=accepted[: len(method["lambdas"])], columns=names)


def eta_text(status: dict) -> str:
    """A short human ETA from status.json's eta_s."""
    eta = status.get("eta_s")
    if eta is None or status.get("state") != "running":
        return ""
    eta = int(eta)
    return f"about {eta // 60} min {eta % 60} s left" if eta >= 60 else f"about {eta} s left"


def run_summary(events: list[dict], method: str | None = None) -> dict:
    """Counts that make two runs comparable: candidates by status, evaluations, seconds per evaluation."""
    method = method or mixing_method(events)
    timeline = candidate_timeline(events, method)
    counts = timeline["status"].value_counts()
    evals = [e for e in events if e.get("type") == "eval"]
    span = evals[-1].get("t", 0.0) - evals[0].get("t", 0.0) if len(evals) > 1 else 0.0
    return {"candidates": len(timeline), **{status: int(counts.get(status, 0)) for status in STATUSES},
            "evaluations": len(evals), "seconds per evaluation": span / (len(evals) - 1) if len(evals) > 1 else None}
