"""How a run grows with the number of ingredients, and what the live view costs per poll.

For each N (default 2, 4): N random ViT-B/32 ingredients (seeded, float32 safetensors, 352 MB each), a small held-out
set and one test set of random 224 px images, all five methods (ManifoldMixMS with the `whole` partition and a budget of
2, Cobyla); each N runs in its own process, which reports its peak RSS, the disk used by its run directory and cache
folder, and how often an ingredient file was opened (tools/file_opens.py: inotify, so every read counts: the
header check, the first read that hashes, validates and measures it, and each read of its tensors by a method).
Then the live view: a synthetic C26 events.jsonl of 10k and 50k events, timed as the Run page polls it (LiveLog: a
first read of everything, then a poll after 100 new events) and as a full re-read and re-parse of the log each poll
plus a λ trajectory per candidate (what the page did before).

Run:  OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_scale.py [--n 2 4] [--images 16] [--events 10000 50000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]


def child(n: int, images: int, work: Path) -> dict:
    """One run with n ingredients, in this process; returns its measurements."""
    import torch
    from file_opens import FileOpens
    from safetensors.torch import save_file

    from manifoldmix_core.config import parse_config
    from manifoldmix_core.lifecycle import run
    from manifoldmix_core.models import Classifier, ModelSpec, _named_config

    cfg = _named_config("ViT-B-32")
    spec = ModelSpec("ViT-B-32", embed_dim=cfg["embed_dim"], num_classes=1000)
    folder = work / "ingredients"
    folder.mkdir(parents=True)
    for i in range(n):
        torch.manual_seed(i)
        save_file({k: v.contiguous() for k, v in Classifier(spec).state_dict().items()}, folder / f"ft_{i:02d}.safetensors")
    gen = torch.Generator().manual_seed(0)
    for name in ("val", "test"):
        save_file({"images": torch.randint(0, 256, (images, 3, 224, 224), dtype=torch.uint8, generator=gen),
                   "labels": torch.randint(0, 1000, (images,), generator=gen)}, work / f"{name}.safetensors")

    config = parse_config({
        "name": f"scale-{n}", "model": {"architecture": "ViT-B-32"}, "ingredients": {"folder": str(folder)},
        "val": {"name": "val", "source": "tensors", "path": str(work / "val.safetensors")},
        "test": [{"name": "test", "source": "tensors", "path": str(work / "test.safetensors")}],
        "partition": {"preset": "whole"}, "device": "cpu",
        "methods": ["uniform_soup", "greedy_soup", "manifoldmixms", "ensemble", "greedy_ensemble"],
        "manifoldmix": {"optimizer": "Cobyla", "budget": 2},
    })
    start = time.perf_counter()
    with FileOpens(folder) as opens:
        run(config, work / "run", show_progress=False)
    seconds = time.perf_counter() - start
    disk = lambda p: sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return {"n": n, "seconds": round(seconds, 1), "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "run_dir_mb": disk(work / "run") / 2**20, "cache_mb": disk(work / "cache") / 2**20,
            "ingredient_bytes_mb": disk(folder) / 2**20 / n, "opens": sum(opens.counts[p.name] for p in folder.glob("*.safetensors"))}


def synthetic_events(path: Path, count: int, components: int = 26) -> None:
    """A C26-like events.jsonl: setup, then per candidate a skip test, a λ search of ~780 evaluations and a decision."""
    rng = random.Random(0)
    names = [f"c{j}" for j in range(components)]
    lines = [{"type": "setup", "settings": "x", "datasets": {}, "components": names, "t": 0.0}]
    t, candidate = 0.0, 0
    while len(lines) < count:
        name = f"ft_{candidate:02d}"
        lines.append({"type": "eval", "method": "manifoldmixms", "phase": "skip_test", "candidate": name, "lambda": [0.5] * components,
                      "valacc": 0.7, "t": t})
        lines.append({"type": "skip_test", "method": "manifoldmixms", "candidate": name, "valacc": 0.7, "threshold": 0.69, "passed": True, "t": t})
        for _ in range(780):
            t += 26.0
            lines.append({"type": "eval", "method": "manifoldmixms", "phase": "optimize_1", "candidate": name,
                          "lambda": [rng.random() for _ in names], "valacc": rng.random(), "t": t})
        lines.append({"type": "decision", "method": "manifoldmixms", "candidate": name, "accepted": True, "valacc": 0.8,
                      "lambda": [0.5] * components, "t": t})
        candidate += 1
    path.write_text("".join(json.dumps(line) + "\n" for line in lines[:count]))


def poll_times(count: int) -> dict:
    """Seconds per live-view poll at `count` events: LiveLog first read, LiveLog after 100 new events, the old full re-read."""
    from app_lib.live import LiveLog, candidate_timeline, evaluations, lambda_trajectory
    from manifoldmix_core import events, runs

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        synthetic_events(run_dir / runs.EVENTS, count)
        lines = (run_dir / runs.EVENTS).read_text().splitlines(keepends=True)
        (run_dir / runs.EVENTS).write_text("".join(lines[:-100]))

        def draw(live: LiveLog) -> None:  # what the Run page asks of it per poll
            live.evaluations(), live.candidate_timeline(), live.lambda_trajectory(live.current_candidate(), None)
            live.searched_candidates()

        start = time.perf_counter()
        live = LiveLog(run_dir).poll()
        draw(live)
        first = time.perf_counter() - start
        with (run_dir / runs.EVENTS).open("a") as f:
            f.write("".join(lines[-100:]))
        start = time.perf_counter()
        draw(live.poll())
        incremental = time.perf_counter() - start
        start = time.perf_counter()
        seen = events.read(run_dir)
        evaluations(seen)
        timeline = candidate_timeline(seen)
        _ = [c for c in timeline["candidate"] if not lambda_trajectory(seen, c).empty]
        full = time.perf_counter() - start
    return {"events": count, "first_poll_s": first, "poll_s": incremental, "old_full_reread_s": full}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[2, 4], help="ingredient counts (each run in its own process)")
    parser.add_argument("--images", type=int, default=16, help="images per set (held-out and test)")
    parser.add_argument("--events", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child, args.images, args.work)))
        return 0

    print("| N | peak RSS (GB) | run dir (MB) | cache (MB) | file opens per ingredient | seconds |")
    print("|---|---|---|---|---|---|")
    for n in args.n:
        with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
            out = subprocess.run([sys.executable, __file__, "--child", str(n), "--images", str(args.images), "--work", tmp],
                                 capture_output=True, text=True, check=True, env={**__import__("os").environ, "MANIFOLDMIX_CACHE": f"{tmp}/cache"})
            r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {n} | {r['peak_rss_gb']:.2f} | {r['run_dir_mb']:.1f} | {r['cache_mb']:.2f} | {r['opens'] / n:.1f} | "
              f"{r['seconds']} |", flush=True)
    print()
    print("| events | LiveLog first read (s) | LiveLog poll, 100 new events (s) | full re-read each poll (s) |")
    print("|---|---|---|---|")
    for count in args.events:
        p = poll_times(count)
        print(f"| {count:,} | {p['first_poll_s']:.3f} | {p['poll_s']:.3f} | {p['old_full_reread_s']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
