"""Peak host memory of a run against the size of its evaluation sets, in one process and per torchrun rank.

For each total size (default 4 GB and 1 GB of decoded images), a held-out set and three test sets of equal size
(random uint8 images of 224 px, tensors sources) and two random ingredients of a small vision config at 224 px
(patch 32, width 64, 2 blocks, 10 classes). The run measures both ingredients on the held-out set and the uniform
soup on every set (the held-out set is read four times, each test set once), with the default `host_memory_mb`. Each
run is its own process, which reports its peak RSS and the bytes it read (/proc/self/io rchar: the set files' images
dominate); with `--ranks R` the largest size runs again under torchrun with R CPU ranks, each reporting its own, and
its results are compared with the one process's. The sets' content hashes are cached before the runs (as for any set
older than a run), so the bytes read are those evaluations read.

Run:  OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_memory.py [--gb 4 1] [--ranks 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

VISION = {"image_size": 224, "patch_size": 32, "width": 64, "layers": 2, "head_width": 32, "mlp_ratio": 2}
EMBED, CLASSES = 32, 10
SETS = ("val", "test_a", "test_b", "test_c")
MARK = "bench_memory:"


def make_world(work: Path, gb: float) -> Path:
    """Two ingredients and four sets of `gb` GB in all (written a chunk at a time), their hashes cached; returns the config."""
    import torch
    from safetensors.torch import save_file

    from manifoldmix_core.fingerprint import file_digest
    from manifoldmix_core.models import Classifier, ModelSpec
    from manifoldmix_core.stored_sets import write_stored_set

    for i in range(2):
        torch.manual_seed(i)
        save_file(dict(Classifier(ModelSpec(VISION, EMBED, CLASSES)).state_dict()), work / f"ft_{i}.safetensors")
    n = int(gb * 2**30 / len(SETS) / (3 * 224 * 224))
    generator = torch.Generator().manual_seed(0)
    for name in SETS:
        chunks = (torch.randint(0, 256, (min(512, n - s), 3, 224, 224), dtype=torch.uint8, generator=generator) for s in range(0, n, 512))
        path = write_stored_set(work / f"{name}.safetensors", (3, 224, 224), chunks, torch.randint(0, CLASSES, (n,), generator=generator))
        os.utime(path, (time.time() - 60,) * 2)  # settled, so its hash is cached (fingerprint.SETTLED_S)
        file_digest(path, work / "cache")
    config = {"name": f"memory-{gb}", "model": {"architecture": VISION},
              "ingredients": [{"name": f"ft_{i}", "path": str(work / f"ft_{i}.safetensors")} for i in range(2)],
              "val": {"name": "val", "source": "tensors", "path": str(work / "val.safetensors")},
              "test": [{"name": name, "source": "tensors", "path": str(work / f"{name}.safetensors")} for name in SETS[1:]],
              "partition": {"preset": "whole"}, "device": "cpu", "methods": ["uniform_soup"], "ingredient_tests": "none"}
    (work / "config.json").write_text(json.dumps(config))
    return work / "config.json"


def child(config: Path, run_dir: Path) -> None:
    """One run (or one torchrun rank of it); prints its peak RSS and bytes read."""
    from manifoldmix_core.cli import main

    start = time.perf_counter()
    code = main(["run", str(config), "--run-dir", str(run_dir), "--quiet"])
    rchar = int(next(line.split()[1] for line in open("/proc/self/io") if line.startswith("rchar")))
    print(MARK + json.dumps({"rank": int(os.environ.get("RANK", "0")), "code": code, "seconds": round(time.perf_counter() - start, 1),
                             "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "read_mb": rchar / 2**20}), flush=True)


def measure(config: Path, run_dir: Path, ranks: int) -> list[dict]:
    """Each process's report, rank 0 first."""
    launcher = [sys.executable] if ranks == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"]
    env = {**os.environ, "MANIFOLDMIX_CACHE": str(config.parent / "cache")}
    out = subprocess.run([*launcher, __file__, "--child", str(config), str(run_dir)], capture_output=True, text=True, env=env, timeout=3600)
    found = sorted((json.loads(line.split(MARK, 1)[1]) for line in out.stdout.splitlines() if MARK in line), key=lambda r: r["rank"])
    if out.returncode or len(found) != ranks or any(r["code"] for r in found):
        raise SystemExit(f"run failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, nargs="+", default=[4.0, 1.0], help="total decoded size of the four sets, per run")
    parser.add_argument("--ranks", type=int, default=2, help="torchrun CPU ranks for the largest size (1: none)")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    from manifoldmix_core.config import HOST_MEMORY_MB

    print(f"default host_memory_mb = {HOST_MEMORY_MB}")
    print("| sets (GB) | images per set | processes | rank | peak RSS (MB) | read (MB) | seconds |")
    print("|---|---|---|---|---|---|---|")
    for gb in args.gb:
        with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
            config = make_world(Path(tmp), gb)
            n = int(gb * 2**30 / len(SETS) / (3 * 224 * 224))
            plans = [1] + ([args.ranks] if args.ranks > 1 and gb == max(args.gb) else [])
            results = {}
            for ranks in plans:
                run_dir = Path(tmp) / f"run-{ranks}"
                for r in measure(config, run_dir, ranks):
                    print(f"| {gb:g} | {n} | {ranks} | {r['rank']} | {r['peak_rss_mb']:.0f} | {r['read_mb']:.0f} | {r['seconds']} |", flush=True)
                results[ranks] = json.loads((run_dir / "results.json").read_text())
            if len(results) > 1:
                same = all(results[r]["methods"] == results[1]["methods"] and results[r]["ingredients"] == results[1]["ingredients"] for r in results)
                print(f"results of {args.ranks} ranks identical to one process's: {same}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
