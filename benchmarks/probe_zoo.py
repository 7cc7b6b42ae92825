"""Probe finetune protocols on zoos before building one: issue 16's targets T1-T5 per (protocol, search seed).

Each probe finetunes every recipe of a search from the shipped pretrained model and LP init (no pretraining),
runs the demo config on that zoo (all methods, the medium partition, Cobyla) and the logit ensemble of its
top-5 finetunes, and prints the targets as `benchmarks/table1_demo.py` measures them, plus the share of held-out
images every finetune gets wrong (the blind spot they share). Results append to <runs>/probes.jsonl.

    python benchmarks/probe_zoo.py diverse anchored --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from table1_demo import avg_ood, by_valacc, measure_targets, run  # noqa: E402

from manifoldmix_core.demo import run_config, splits, zoo  # noqa: E402
from manifoldmix_core.demo.train import FINETUNE_FAMILIES, FinetuneSearch, to_tensors  # noqa: E402

DIVERSE = FinetuneSearch(lr=(7e-4, 1.4e-3), epochs=(5, 5), families=tuple(FINETUNE_FAMILIES), bag=0.8, head_refit=True,
                         batch_size=32)
PROTOCOLS: dict[str, FinetuneSearch] = {
    "plateau": FinetuneSearch(lr=(7e-4, 1.4e-3), epochs=(5, 5), batch_size=32),
    "diverse": DIVERSE,
    "diverse_wide": replace(DIVERSE, lr=(3e-4, 1.2e-3)),
    "anchored": replace(DIVERSE, anchor=(1.0, 10.0)),
    "anchored_light": replace(DIVERSE, anchor=(0.3, 3.0)),
    "anchored_hot": zoo.SEARCH,  # shipped as zoo v3
    "pool": replace(DIVERSE, bag=0.5),  # with a pool of 4,000 ID training images (POOLS)
    "pool_light": replace(DIVERSE, bag=0.5, anchor=(0.3, 3.0)),
    "short": replace(DIVERSE, epochs=(3, 3)),
    "smooth": replace(DIVERSE, smoothing=0.3, mixup=(0.4, 0.9)),
}
POOLS = {"pool": 4000, "pool_light": 4000}  # ID training images per protocol, where not splits.TRAIN's

TARGET_LABELS = ("T1", "T2", "T3", "T5id", "T5ood", "T4")  # measure_targets' order


def shared_errors(root: Path, val: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Share of held-out images that every finetune of the zoo gets wrong."""
    wrong = torch.ones(len(val[1]), dtype=torch.bool)
    for path in sorted((root / zoo.ZOO).glob("*.safetensors")):
        model = zoo.load_model(path)
        with torch.inference_mode():
            predictions = torch.cat([model(val[0][i:i + 1000]).argmax(1) for i in range(0, len(val[0]), 1000)])
        wrong &= predictions != val[1]
    return float(wrong.float().mean())


def probe(name: str, seed: int, n: int, runs: Path, val_n: int = splits.EVAL_SPLITS["val"].n) -> dict:
    """Finetune the zoo of one (protocol, seed), run the demo methods on it, and measure the targets."""
    started = time.time()
    root = runs / f"{name}-s{seed}"
    if not (root / zoo.MANIFEST).is_file():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        x_id, y_id = to_tensors(*splits.generate_cached(replace(splits.TRAIN, n=POOLS.get(name, splits.TRAIN.n))))
        val = to_tensors(*splits.load_split("val"))
        plan = replace(zoo.FULL, n_finetunes=n, seed=seed)
        valacc, _ = zoo.finetune_zoo(zoo.load_model(zoo.DEMO_DIR / zoo.PROBE), x_id, y_id, val, plan, root, PROTOCOLS[name])
        (root / zoo.MANIFEST).write_text(json.dumps({"protocol": name, "seed": seed, "valacc": valacc}, indent=1))
    trained = time.time() - started
    suffix = "" if val_n == splits.EVAL_SPLITS["val"].n else f"-val{val_n}"
    splits.EVAL_SPLITS["val"] = replace(splits.EVAL_SPLITS["val"], n=val_n)  # image i of a split depends only on i: a prefix
    ref_config = run_config.demo_config(partition="whole", methods=["ensemble"])
    ref_config["ingredients"] = [{"name": "linear probe", "path": str(zoo.DEMO_DIR / zoo.PROBE)}]
    ref = run(ref_config, runs / f"reference{suffix}")
    main_run = run(run_config.demo_config(root, partition="medium"), root / f"run-medium{suffix}")
    top5 = run_config.demo_config(root, partition="whole", methods=["ensemble"])
    top5["ingredients"] = [i for i in top5["ingredients"] if i["name"] in by_valacc(main_run)[:5]]
    top5_run = run(top5, root / f"run-top5{suffix}")
    best = main_run["ingredients"][by_valacc(main_run)[0]]["accuracy"]
    methods = main_run["methods"]
    summary = {
        "protocol": name, "seed": seed, "n": n, "val_n": val_n,
        "best": {"val": best["val"], "test": best["test"], "ood": avg_ood(best)[0]},
        **{m: {"val": methods[m]["valacc"], "test": methods[m]["accuracy"]["test"], "ood": avg_ood(methods[m]["accuracy"])[0],
               "kept": len(methods[m]["ingredients"])} for m in ("uniform_soup", "greedy_soup", "manifoldmixms")},
        "top5_val": top5_run["methods"]["ensemble"]["valacc"],
        "shared_errors": shared_errors(root, to_tensors(*splits.load_split("val"))),
        "targets": [{"measured": t["measured"], "met": t["met"]} for t in measure_targets({}, main_run, top5_run, ref)],
        "seconds": {"finetuning": round(trained), "total": round(time.time() - started)},
    }
    with (runs / "probes.jsonl").open("a") as f:
        f.write(json.dumps(summary) + "\n")
    return summary


def table(path: Path) -> str:
    """probes.jsonl as the Markdown table of docs/demo_protocols.md: one row per (protocol, seed, held-out size)."""
    pct = lambda x: f"{100 * x:.2f}"  # noqa: E731
    lines = ["| protocol | seed | held-out | best val / test / OOD | T1 ens5 − best (val) | T2 greedy kept / ID gap | T3 uniform OOD gap "
             "| T4 best − LP: ID / OOD | T5 MMS kept / ID gap / OOD vs greedy | shared errors | met |", "|" + "---|" * 11]
    for line in path.read_text().splitlines():
        s = json.loads(line)
        b, u, g, m = s["best"], s["uniform_soup"], s["greedy_soup"], s["manifoldmixms"]
        t4 = s["targets"][5]["measured"].replace("ID test ", "").replace(" pp, avg OOD ", " / ").replace(" pp", "")
        met = " ".join(label for label, t in zip(TARGET_LABELS, s["targets"]) if t["met"]) or "none"
        lines.append(f"| {s['protocol']} | {s['seed']} | {s.get('val_n', 2500)} | {pct(b['val'])} / {pct(b['test'])} / {pct(b['ood'])} "
                     f"| {100 * (s['top5_val'] - b['val']):+.2f} | {g['kept']} / {100 * (g['test'] - b['test']):+.2f} "
                     f"| {100 * (u['ood'] - b['ood']):+.2f} | {t4} | {m['kept']} / {100 * (m['test'] - b['test']):+.2f} / "
                     f"{100 * (m['ood'] - g['ood']):+.2f} | {pct(s['shared_errors'])} % | {met} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("protocols", nargs="*", help=f"any of {', '.join(PROTOCOLS)}")
    parser.add_argument("--table", action="store_true", help="print the probes so far as a Markdown table and exit")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--n", type=int, default=16, help="finetunes per zoo")
    parser.add_argument("--runs", type=Path, default=Path("runs/probe"))
    parser.add_argument("--val-n", type=int, default=splits.EVAL_SPLITS["val"].n, help="held-out images ValAcc is measured on")
    args = parser.parse_args()
    if args.table:
        print(table(args.runs / "probes.jsonl"))
        return
    if not args.protocols or set(args.protocols) - set(PROTOCOLS):
        parser.error(f"name protocols among {', '.join(PROTOCOLS)}")
    args.runs.mkdir(parents=True, exist_ok=True)
    for name in args.protocols:
        for seed in args.seeds:
            s = probe(name, seed, args.n, args.runs, args.val_n)
            t = " ".join(f"{label}{'+' if x['met'] else '-'}" for label, x in zip(TARGET_LABELS, s["targets"]))
            print(f"{name} s{seed} val {args.val_n}: best {100 * s['best']['val']:.2f}/{100 * s['best']['test']:.2f}/{100 * s['best']['ood']:.2f} "
                  f"top5 {100 * s['top5_val']:.2f} | uniform {100 * s['uniform_soup']['test']:.2f}/{100 * s['uniform_soup']['ood']:.2f} "
                  f"| greedy {s['greedy_soup']['kept']} {100 * s['greedy_soup']['test']:.2f}/{100 * s['greedy_soup']['ood']:.2f} "
                  f"| mms {s['manifoldmixms']['kept']} {100 * s['manifoldmixms']['test']:.2f}/{100 * s['manifoldmixms']['ood']:.2f} "
                  f"| shared {100 * s['shared_errors']:.1f} % | {t} | {s['seconds']}", flush=True)
            for target in s["targets"]:
                print("   ", target["measured"])


if __name__ == "__main__":
    main()
