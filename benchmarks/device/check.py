"""The device check's Python steps, run by benchmarks/device/run.sh one at a time (each fails the script if it fails):

  check.py packages SITE --json F    torch, open_clip and nevergrad: versions, and where they load from; fails unless
                                     open_clip and nevergrad come from SITE, the folder the carried wheels went into
  check.py demo RUN_DIR --device D --json F [--tiny]
                                     the app's demo run (demo_config) on the device, timed; --tiny shrinks it
                                     for the CPU test, the default is the real demo run
  check.py summary WORK --json F     the figures of every step, read from WORK, in one file; fails if one is missing
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

CARRIED = ("open_clip", "nevergrad")  # what the GPU machine lacks: these must come from the carried wheels
# The figures of each step, as WORK/<section>.json; nvidia_smi only on a GPU.
SECTIONS = ("packages", "bench_vitb32", "bench_demo", "demo")


def packages(site: Path) -> dict:
    """Versions of the packages the check runs with, the device's name; open_clip and nevergrad must come from site."""
    import nevergrad
    import open_clip
    import torch

    found = {module.__name__: {"version": module.__version__, "path": str(Path(module.__file__).resolve().parent)}
             for module in (torch, open_clip, nevergrad)}
    not_carried = [name for name in CARRIED if not Path(found[name]["path"]).is_relative_to(site.resolve())]
    if not_carried:
        raise SystemExit(f"{', '.join(not_carried)} did not load from the carried wheels in {site}: "
                         + "; ".join(f"{name} from {found[name]['path']}" for name in not_carried))
    cuda = torch.cuda.is_available()
    return {**found, "python": platform.python_version(), "cuda": cuda,
            "device_name": torch.cuda.get_device_name() if cuda else "CPU"}


def demo(run_dir: Path, device: str, tiny: bool) -> dict:
    """The demo run on the device (shrunk by tiny_demo if tiny): seconds, evaluations, each method's accuracies."""
    from manifoldmix_core.config import parse_config
    from manifoldmix_core.demo.run_config import demo_config
    from manifoldmix_core.lifecycle import run

    config = {**demo_config(), "device": device}
    if tiny:
        config = tiny_demo(config)
    start = time.perf_counter()
    results = run(parse_config(config), run_dir, show_progress=False)
    figures = {"seconds": round(time.perf_counter() - start, 2), "device": results["device"],
               "evaluations": results["evaluations"],
               "methods": {name: {"valacc": entry["valacc"], "accuracy": entry["accuracy"]}
                           for name, entry in results["methods"].items()}}
    print(f"demo run: {figures['seconds']:.1f} s on {figures['device']}, {figures['evaluations']} ValAcc evaluations")
    for name, entry in figures["methods"].items():
        print(f"  {name:<16} ValAcc {entry['valacc']:.4f}  " + "  ".join(f"{k} {v:.4f}" for k, v in entry["accuracy"].items()))
    return figures


def tiny_demo(config: dict) -> dict:
    """The demo run shrunk for the CPU test: the same path (the zoo, the demo's sets, its partition, every method the
    demo runs, nevergrad's Cobyla) with two ingredients, ManifoldMixMS at a budget of 2, and the ID test set alone."""
    return {**config, "ingredients": config["ingredients"][:2], "manifoldmix": {**config["manifoldmix"], "budget": 2},
            "ingredient_tests": "none", "test": [t for t in config["test"] if t["name"] == "test"], "ood": []}


def summary(work: Path) -> dict:
    """Every step's figures in one dict (nvidia-smi's line when there is one); the lines for the README's Speed section."""
    figures = {section: json.loads((work / f"{section}.json").read_text()) for section in SECTIONS}
    smi = work / "nvidia_smi.csv"
    if smi.is_file():
        header, row = smi.read_text().splitlines()[:2]
        figures["nvidia_smi"] = dict(zip((h.strip() for h in header.split(",")), (v.strip() for v in row.split(",")), strict=True))
    pkgs, demo_run = figures["packages"], figures["demo"]
    print(f"torch {pkgs['torch']['version']}  open_clip {pkgs['open_clip']['version']}  "
          f"nevergrad {pkgs['nevergrad']['version']}  on {pkgs['device_name']}")
    for section in ("bench_vitb32", "bench_demo"):
        bench = figures[section]
        print(f"{section}: n {bench['n']}  " + "  ".join(f"({k}) {v:.4f} s" for k, v in bench["median_s"].items())
              + f"  ((a) per 26,000 images: {bench['median_s']['a'] * 26000 / bench['n']:.3f} s)")
    print(f"demo run: {demo_run['seconds']:.1f} s, {demo_run['evaluations']} ValAcc evaluations, "
          + ", ".join(f"{name} {entry['valacc']:.4f}" for name, entry in demo_run["methods"].items()))
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    step = sub.add_parser("packages")
    step.add_argument("site", type=Path)
    step = sub.add_parser("demo")
    step.add_argument("run_dir", type=Path)
    step.add_argument("--device", required=True)
    step.add_argument("--tiny", action="store_true", help="the shrunk demo run of tiny_demo (default: the real one)")
    step = sub.add_parser("summary")
    step.add_argument("work", type=Path)
    for step in sub.choices.values():
        step.add_argument("--json", type=Path, required=True, help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.step == "packages":
        figures = packages(args.site)
    elif args.step == "demo":
        figures = demo(args.run_dir, args.device, args.tiny)
    else:
        figures = summary(args.work)
    args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
