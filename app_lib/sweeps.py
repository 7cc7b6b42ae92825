"""Sweeps seen from the app: place one (manifoldmix_core.sweep) and start its worker, list them, cancel, continue,
and the comparison view's numbers: mean ± sd per setting over seeds, with 95 % confidence intervals.

Like runs, the engine does the work in its own process (`python -m manifoldmix_core sweep <dir>`); the app reads.
"""

from __future__ import annotations

from pathlib import Path
from statistics import fmean, stdev

import pandas as pd

from manifoldmix_core import runs, sweep
from manifoldmix_core.errors import DamagedFile, ManifoldMixError

from . import run_store
from .paths import runs_root
from .scoreboard import board_from_results, per_component
from .vocabulary import counted, to_percent

COLUMNS = ["setting", "seeds", "ID mean", "ID sd", "ID ±95%", "OOD mean", "OOD sd", "OOD ±95%", "held-out mean"]


def launch_sweep(config: dict, partitions: list[str], optimizers: list[str], seeds: list[int], name: str = "sweep",
                 root: Path | None = None) -> Path:
    """Place the sweep (its members as queued runs) and start its worker; returns the sweep directory."""
    root = root or runs_root()
    sweep_dir = root / run_store.new_run_id(name, root)
    sweep.plan_sweep(sweep_dir, config, partitions, optimizers, seeds)
    run_store.spawn(["sweep", str(sweep_dir), "--quiet"], sweep_dir)
    return sweep_dir


def sweep_name(partitions: list[str], optimizers: list[str], n_seeds: int) -> str:
    """A sweep named after what it sweeps ("whole-vs-coarse", "Cobyla-vs-CMA", both joined by "-by-"; "medium-CMA-3-seeds"
    when only the seed varies, "medium-Cobyla" when nothing does: that optimizer ignores the seed), so the sweep list tells
    sweeps apart without opening them."""
    from manifoldmix_core.optim import seed_matters
    varied = ["-vs-".join(values) for values in (partitions, optimizers) if len(values) > 1]
    if varied:
        return "-by-".join(varied)
    return f"{partitions[0]}-{optimizers[0]}" + (f"-{n_seeds}-seeds" if seed_matters(optimizers[0]) else "")


def plan_text(partitions: list[str], optimizers: list[str], seeds: list[int]) -> tuple[str, str | None]:
    """How many runs the sweep will start, counted from the engine's plan (sweep.plan_runs: a deterministic optimizer's
    setting runs once), as "4 settings × 3 seeds + 4 settings × 1 run = 16 runs"; and, when some settings run once
    although several seeds were asked for, the sentence that says why."""
    from manifoldmix_core.optim import seed_matters
    runs_planned = len(sweep.plan_runs(partitions, optimizers, seeds))
    fixed = [o for o in optimizers if not seed_matters(o)]
    seeded = len(optimizers) - len(fixed)
    if len(seeds) == 1 or not fixed:
        parts = [f"{counted(len(partitions) * len(optimizers), 'setting')} × {counted(len(seeds), 'seed')}"]
    else:
        parts = [f"{counted(len(partitions) * seeded, 'setting')} × {counted(len(seeds), 'seed')}"] if seeded else []
        parts.append(f"{counted(len(partitions) * len(fixed), 'setting')} × 1 run")
    caption = f"{' + '.join(parts)} = {counted(runs_planned, 'run')} of ManifoldMixMS on the current workspace's setup."
    if len(seeds) == 1 or not fixed:
        return caption, None
    why = (f"{' and '.join(fixed)} never {'draws' if len(fixed) == 1 else 'draw'} a random number: every seed gives the same "
           f"run, so {'its' if len(fixed) == 1 else 'their'} settings run once (seed {seeds[0]}), and their ±95 % is that "
           "run's own interval from the test sets' sizes, not a spread over seeds.")
    if not seeded:
        why += " For a spread over seeds pick a stochastic optimizer (OnePlusOne, CMA, DE, ...)."
    return caption, why


def default_seeds(optimizers: list[str], stochastic: int = 3) -> int:
    """Seeds per setting a new sweep starts with: 1 when no optimizer draws a random number (more would be identical
    runs), else `stochastic`, enough for a first spread."""
    from manifoldmix_core.optim import seed_matters
    return stochastic if any(seed_matters(o) for o in optimizers) else 1


def continue_sweep(sweep_dir: Path) -> None:
    """Start the worker again: finished members are skipped, the cancelled one resumes."""
    run_store.spawn(["sweep", str(sweep_dir), "--quiet"], sweep_dir)


def list_sweeps(root: Path | None = None) -> list[Path]:
    """Sweep directories under the runs root, newest first (a folder symlinked from outside it is none)."""
    root = root or runs_root()
    folders = (run_store.find_run(d.name, root) for d in root.iterdir()) if root.is_dir() else ()
    found = [d for d in folders if d is not None and (d / sweep.SWEEP).is_file()]
    return sorted(found, key=lambda d: d.stat().st_mtime, reverse=True)


def sweep_members(root: Path | None = None) -> dict[str, str]:
    """run id -> the sweep it belongs to, for every readable sweep under the runs root (a damaged one claims no runs)."""
    members = {}
    for sweep_dir in list_sweeps(root):
        try:
            members.update({m.run_id: sweep_dir.name for m in sweep.Sweep.read(sweep_dir).members})
        except ManifoldMixError:
            continue
    return members


def grouped_runs(run_ids: list[str], members: dict[str, str]) -> list[str]:
    """Runs in the order a run list shows them: runs of their own first (as given, newest first), then each sweep's
    members together, so the first entry is the most recent run that is not one setting of a sweep."""
    own = [r for r in run_ids if r not in members]
    sweeps = list(dict.fromkeys(members[r] for r in run_ids if r in members))
    return own + [r for name in sweeps for r in run_ids if members.get(r) == name]


def members_frame(sweep_dir: Path) -> pd.DataFrame:
    """One row per member: setting, seed, run id, state ('missing' for a deleted folder), progress (%)."""
    rows = []
    for member in sweep.Sweep.read(sweep_dir).members:
        status = sweep.member_status(sweep_dir, member)
        rows.append({"setting": member.setting, "seed": member.seed, "run": member.run_id, "state": status.state,
                     "progress (%)": round(to_percent(status.progress))})
    return pd.DataFrame(rows, columns=["setting", "seed", "run", "state", "progress (%)"])


def _half_width(values: list[float]) -> float | None:
    """Half-width of the 95 % confidence interval of the mean (Student's t; scipy comes with nevergrad)."""
    if len(values) < 2:
        return None
    from scipy.stats import t
    return float(t.ppf(0.975, len(values) - 1) * stdev(values) / len(values) ** 0.5)


def comparison(sweep_dir: Path) -> pd.DataFrame:
    """Per setting, over its finished seeds: ID test and average OOD accuracy of the fused model (%), mean, sd, ±95 %; a
    setting planned as one run (its optimizer ignores the seed) has that run's own 95 % interval, named in attrs["one_run"].

    Without an ID test set the "ID" columns hold the held-out set's accuracy; attrs["id_set"] says which set they are, and
    attrs["damaged"] names the members whose results.json is damaged (left out, with the reason).
    """
    measured: dict[str, list[tuple[float, float, float, float | None, float | None]]] = {}
    id_set, damaged = None, {}
    the_sweep = sweep.Sweep.read(sweep_dir)
    for member in the_sweep.members:
        try:
            board = board_from_results(runs.read_results(sweep.member_dir(sweep_dir, member)), member.run_id)
        except FileNotFoundError:
            continue
        except DamagedFile as exc:
            damaged[member.run_id] = str(exc)
            continue
        entry = next((e for e in board.entries if per_component(e.kind)), None)
        ood = board.avg_ood(entry) if entry else None
        if entry is None or ood is None:
            continue
        y = board.id_tests[0] if board.id_tests else board.val
        id_set = id_set or (f"ID test ({y})" if board.id_tests else f"{y} (held-out; no ID test set)")
        measured.setdefault(member.setting, []).append((
            to_percent(entry.accuracy[y]), to_percent(ood), to_percent(entry.accuracy[board.val]),
            to_percent(board.half_width(entry, y)), to_percent(board.avg_ood_half_width(entry))))
    rows, one_run = [], [s for s in the_sweep.one_run if s in measured]
    for setting in the_sweep.settings:
        values = measured.get(setting, [])
        if not values:
            continue
        ids, oods, vals, id_halves, ood_halves = ([v[i] for v in values] for i in range(5))
        single = setting in one_run  # the seed changes nothing: the interval is the one run's, from the sets' sizes
        rows.append({"setting": setting, "seeds": len(values),
                     "ID mean": fmean(ids), "ID sd": stdev(ids) if len(ids) > 1 else None,
                     "ID ±95%": id_halves[0] if single else _half_width(ids),
                     "OOD mean": fmean(oods), "OOD sd": stdev(oods) if len(oods) > 1 else None,
                     "OOD ±95%": ood_halves[0] if single else _half_width(oods),
                     "held-out mean": fmean(vals)})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.attrs["id_set"], frame.attrs["damaged"], frame.attrs["one_run"] = id_set, damaged, one_run
    return frame


def one_run_text(frame: pd.DataFrame) -> str | None:
    """Why some settings of a comparison have one seed: their optimizer ignores the seed (frame.attrs["one_run"])."""
    single = frame.attrs.get("one_run") or []
    if not single:
        return None
    its = "its" if len(single) == 1 else "their"
    return (f"{', '.join(single)} ran once: {its} optimizer never draws a random number, so every seed gives the same run; "
            f"{its} ±95 % is that run's own interval from the test sets' sizes (normal approximation), not a spread over seeds.")


def differences(frame: pd.DataFrame) -> list[str]:
    """In words, which settings of a comparison differ beyond their 95 % intervals (the intervals do not overlap), on the
    ID and on the average OOD accuracy; a setting without an interval (one seed of a seeded optimizer) is not compared."""
    sentences, compared = [], frame[frame["ID ±95%"].notna() & frame["OOD ±95%"].notna()]
    for what, column in (("ID", "ID"), ("average OOD", "OOD")):
        mean, half = compared[f"{column} mean"], compared[f"{column} ±95%"]
        for i, j in ((i, j) for i in compared.index for j in compared.index if mean[i] > mean[j]):
            if mean[i] - half[i] > mean[j] + half[j]:
                sentences.append(f"{compared.at[i, 'setting']} beats {compared.at[j, 'setting']} on {what} accuracy by "
                                 f"{mean[i] - mean[j]:.2f} points, beyond both 95 % intervals.")
    if len(compared) < 2:
        return ["Fewer than two settings have an interval yet (a seeded optimizer needs 2 seeds or more), so none is compared."]
    if not sentences:
        return ["No two settings differ beyond their 95 % intervals, on ID or on average OOD accuracy: the differences "
                "in the figure may be noise."]
    return sentences
