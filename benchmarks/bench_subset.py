"""ManifoldMixMS's λ search on a held-out subset (`manifoldmix.search_subset`) against the paper's search on every image.

On the demo world (16 ingredients, 2,500 held-out images, ID test + five OOD sets), for each partition granularity:
one run in full mode (Cobyla never draws a random number, so one run is the whole story) and one run per subset seed,
interleaved in this one process (full, seed 0, seed 1, ..., then the next granularity), so every ratio is measured
side by side on the same machine load. Only ManifoldMixMS runs (`methods: ["manifoldmixms"]`, `ingredient_tests:
"none"`); the ingredients' logits come from the logits cache after the first run, so each run's time is the soup's.

For each run: ValAcc evaluations (on the subset / on the whole set, from the eval events' `images`), the search's wall
time (from the first ManifoldMixMS event to its test accuracy), its ratio to full mode's, whether the accepted
ingredients equal full mode's, and the differences in final ValAcc, ID test and mean OOD accuracy (in points). The
subset size is chosen before looking at any number (default 500 of 2,500, a fifth); test/OOD numbers are reported,
never used to choose anything.

Run:  OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/bench_subset.py [--subset 500] [--seeds 0 1 2]
      [--partitions whole coarse] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

METHOD = "manifoldmixms"


def one_run(work: Path, partition: str, subset: int | None, seed: int | None) -> dict:
    """A demo run of ManifoldMixMS alone on `partition`, in full mode (subset None) or on a subset of `subset` images."""
    from manifoldmix_core import events
    from manifoldmix_core.demo.run_config import demo_config
    from manifoldmix_core.runner import execute, start_run

    config = demo_config(partition=partition, methods=[METHOD])
    config.update(device="cpu", ingredient_tests="none", name=f"{partition}-{'full' if subset is None else f'subset-{seed}'}")
    if subset is not None:
        config["manifoldmix"] = {**config["manifoldmix"], "search_subset": subset, "search_subset_seed": seed}
    (work / f"{config['name']}.json").write_text(json.dumps(config))
    run_dir = work / config["name"]
    started = time.perf_counter()
    results = execute(start_run(work / f"{config['name']}.json", run_dir))
    wall = time.perf_counter() - started
    typed = events.read(run_dir)
    mine = [e for e in typed if getattr(e, "method", None) == METHOD]  # Algorithm 1's events, first decision to last
    evals = [e for e in mine if isinstance(e, events.Eval)]
    entry = results["methods"][METHOD]
    accuracy, ood = entry["accuracy"], results["ood_datasets"]
    return {"partition": partition, "mode": "full" if subset is None else f"subset seed {seed}", "subset": subset, "seed": seed,
            "evaluations": len(evals), "subset_evaluations": sum(1 for e in evals if e.images is not None and e.images == subset),
            "search_s": round(mine[-1].t - mine[0].t, 2), "run_s": round(wall, 2), "accepted": entry["ingredients"],
            "valacc": entry["valacc"], "test": accuracy["test"], "ood": sum(accuracy[d] for d in ood) / len(ood)}


def evaluation_costs(subset: int, rounds: int) -> dict:
    """Seconds of one ValAcc evaluation on every held-out image and on the subset, interleaved (whole, subset, whole, ...)
    after a warm-up, medians: the run's wall time drifts with a shared machine's load, these two do so together."""
    import statistics

    from manifoldmix_core import runs
    from manifoldmix_core.config import parse_config
    from manifoldmix_core.demo.run_config import demo_config
    from manifoldmix_core.runner import prepare

    config = demo_config(partition="whole", methods=[METHOD])
    config.update(device="cpu", ingredient_tests="none", manifoldmix={**config["manifoldmix"], "search_subset": subset})
    with tempfile.TemporaryDirectory() as scratch:
        kitchen = prepare(parse_config(config), runs.Journal(Path(scratch))).kitchen
    build = kitchen.copy_stored(name=next(iter(kitchen.ingredients)))
    times: dict[str, list[float]] = {"whole": [], "subset": []}
    for round_no in range(rounds + 1):
        for mode, evalset in (("whole", kitchen.val), ("subset", kitchen.search_set)):
            started = time.perf_counter()
            kitchen.unrecorded_valacc(build, evalset)
            if round_no:  # the first round warms up
                times[mode].append(time.perf_counter() - started)
    return {mode: statistics.median(t) for mode, t in times.items()}


def images_read(row: dict, heldout: int) -> int:
    """Held-out images the run's ManifoldMixMS evaluations went through: the cost of its search whatever the machine's load."""
    subset = row["subset"] or heldout
    return row["subset_evaluations"] * subset + (row["evaluations"] - row["subset_evaluations"]) * heldout


def modelled_ratio(row: dict, full: dict, costs: dict) -> float:
    """The search's time in this mode over full mode's, from its evaluation counts and the interleaved costs per evaluation."""
    whole = row["evaluations"] - row["subset_evaluations"]
    return (row["subset_evaluations"] * costs["subset"] + whole * costs["whole"]) / (full["evaluations"] * costs["whole"])


def _same(row: dict, full: dict) -> str:
    """Whether a run accepted full mode's ingredients, each list written out where they differ (and for full mode)."""
    if row is full:
        return "(full: " + ", ".join(full["accepted"]) + ")"
    return "yes" if row["accepted"] == full["accepted"] else "no: " + ", ".join(row["accepted"])


def table(rows: list[dict], costs: dict, heldout: int = 2500) -> str:
    """The benchmarks/README.md table: each subset run against its granularity's full run."""
    full = {r["partition"]: r for r in rows if r["subset"] is None}
    lines = ["| partition | mode | evaluations (subset / whole set) | images evaluated, ratio to full | search time | "
             "time ratio to full (measured / from interleaved costs) | accepted set = full? | ΔValAcc (pts) | Δtest (pts) | "
             "ΔOOD mean (pts) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f = full[r["partition"]]
        whole = r["evaluations"] - r["subset_evaluations"]
        lines.append(f"| {r['partition']} | {r['mode']} | {r['evaluations']} ({r['subset_evaluations']} / {whole}) | "
                     f"{images_read(r, heldout):,} ({images_read(r, heldout) / images_read(f, heldout):.2f}) | "
                     f"{r['search_s']:.1f} s | {r['search_s'] / f['search_s']:.2f} / {modelled_ratio(r, f, costs):.2f} | "
                     f"{_same(r, f)} | "
                     f"{100 * (r['valacc'] - f['valacc']):+.2f} | {100 * (r['test'] - f['test']):+.2f} | "
                     f"{100 * (r['ood'] - f['ood']):+.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--partitions", nargs="+", default=["whole", "coarse"])
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds timing one evaluation per mode")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--table", type=Path, default=None, help="print the table of a JSON file this script wrote (timing costs it lacks)")
    args = parser.parse_args()
    if args.table:
        saved = json.loads(args.table.read_text())
        if "costs" not in saved:  # a file from before the costs were timed: time them now, and keep them
            saved["costs"] = evaluation_costs(args.subset, args.rounds)
            args.table.write_text(json.dumps(saved, indent=1))
        print(table(saved["rows"], saved["costs"]))
        return
    import torch
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    load_before, rows, started = os.getloadavg(), [], time.time()
    with tempfile.TemporaryDirectory() as scratch:
        for partition in args.partitions:
            for subset, seed in [(None, None), *((args.subset, s) for s in args.seeds)]:
                rows.append(one_run(Path(scratch), partition, subset, seed))
                print(json.dumps(rows[-1]), flush=True)
    costs = evaluation_costs(args.subset, args.rounds)
    machine = {"cpus": os.cpu_count(), "threads": torch.get_num_threads(), "load_before": load_before,
               "load_after": os.getloadavg(), "minutes": round((time.time() - started) / 60, 1)}
    print(table(rows, costs))
    print(f"seconds per evaluation (interleaved medians): {costs}; machine: {machine}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "costs": costs, "machine": machine}, indent=1))


if __name__ == "__main__":
    main()
