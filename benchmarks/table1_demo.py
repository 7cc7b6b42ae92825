"""Table 1 and Figure 2 of the paper, reproduced on the demo world.

Runs every method at three partition granularities (coarse / medium / fine, mirroring C8 / C15 /
C26) plus the pretrained model and its linear probe as reference rows, then writes a Markdown
table with 95 % confidence intervals and the Figure 2 scatter (ID test vs average OOD) as PNG.

    python benchmarks/table1_demo.py --out docs/demo_table1
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from manifoldmix_core.config import parse_config  # noqa: E402
from manifoldmix_core.demo import zoo  # noqa: E402
from manifoldmix_core.runner import execute, start_run  # noqa: E402

OOD = ("v2", "sketch", "rendition", "objectnet", "a")
COLUMNS = ("val", "test", *OOD)


def ci95(p: float, n: int) -> float:
    """Half-width of the normal-approximation 95 % interval of an accuracy measured on n images."""
    return 1.96 * math.sqrt(max(p * (1 - p), 1e-12) / n)


def avg_ood_ci(acc: dict[str, float], sizes: dict[str, int]) -> tuple[float, float]:
    """Average OOD accuracy and the 95 % half-width of that average (independent sets)."""
    mean = sum(acc[d] for d in OOD) / len(OOD)
    var = sum(acc[d] * (1 - acc[d]) / sizes[d] for d in OOD) / len(OOD) ** 2
    return mean, 1.96 * math.sqrt(var)


def run(config: dict, run_dir: Path) -> dict:
    if (run_dir / "results.json").is_file():
        return json.loads((run_dir / "results.json").read_text())
    return execute(start_run(parse_config(config), run_dir), show_progress=True)


def rows_from(results: dict, label: str, methods: tuple[str, ...]) -> dict[str, dict]:
    rows = {}
    best = max(results["ingredients"], key=lambda n: results["ingredients"][n]["valacc"])
    second = sorted(results["ingredients"], key=lambda n: -results["ingredients"][n]["valacc"])[1]
    rows["best single finetune"] = results["ingredients"][best]["accuracy"]
    rows["second-best finetune"] = results["ingredients"][second]["accuracy"]
    for method in methods:
        rows[f"{method} ({label})" if method == "manifoldmixms" else method] = results["methods"][method]["accuracy"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/demo_table1"))
    parser.add_argument("--runs", type=Path, default=Path("runs/table1"))
    args = parser.parse_args()
    started = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict] = {}
    finetunes: list[dict] = []
    reference = zoo.demo_config(partition="coarse", methods=["ensemble"])
    reference["ingredients"] = [{"name": "pretrained", "path": str(zoo.DEMO_DIR / zoo.PRETRAINED)},
                                {"name": "linear probe", "path": str(zoo.DEMO_DIR / zoo.PROBE)}]
    ref = run(reference, args.runs / "reference")
    rows["pretrained (reference)"] = ref["ingredients"]["pretrained"]["accuracy"]
    rows["linear probe (LP init)"] = ref["ingredients"]["linear probe"]["accuracy"]
    for level in ("coarse", "medium", "fine"):
        methods = ("uniform_soup", "greedy_soup", "manifoldmixms", "ensemble", "greedy_ensemble") if level == "coarse" \
            else ("manifoldmixms",)
        results = run(zoo.demo_config(partition=level, methods=list(methods)), args.runs / level)
        rows.update(rows_from(results, f"{level}, {results['partition']['n']} components", methods))
        finetunes = finetunes or [entry["accuracy"] for entry in results["ingredients"].values()]
    sizes = {d: 2000 for d in COLUMNS}
    write_table(rows, sizes, args.out / "table1.md")
    write_figure(rows, finetunes, sizes, args.out / "figure2.png")
    (args.out / "rows.json").write_text(json.dumps(rows, indent=1))
    print((args.out / "table1.md").read_text())
    print(f"done in {time.time() - started:.0f} s")


def write_table(rows: dict[str, dict], sizes: dict[str, int], path: Path) -> None:
    """Markdown table: accuracy ± 95 % CI per dataset, average OOD; best and second best in bold / italics."""
    header = "| model | " + " | ".join(["ID val", "ID test", *OOD, "avg OOD"]) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 2)]
    ranked = [name for name in rows if "ensemble" not in name and "reference" not in name and "probe" not in name]
    avg = {name: avg_ood_ci(acc, sizes) for name, acc in rows.items()}
    columns = {c: {n: rows[n][c] for n in ranked} for c in COLUMNS}
    columns["avg"] = {n: avg[n][0] for n in ranked}

    def mark(column: str, name: str, text: str) -> str:
        order = sorted(columns[column], key=lambda n: -columns[column][n])
        return f"**{text}**" if name == order[0] else f"*{text}*" if name == order[1] else text

    for name, acc in rows.items():
        cells = [mark(c, name, f"{100 * acc[c]:.1f} ± {100 * ci95(acc[c], sizes[c]):.1f}") if name in ranked
                 else f"{100 * acc[c]:.1f} ± {100 * ci95(acc[c], sizes[c]):.1f}" for c in COLUMNS]
        mean, half = avg[name]
        cells.append(mark("avg", name, f"{100 * mean:.1f} ± {100 * half:.1f}") if name in ranked else f"{100 * mean:.1f} ± {100 * half:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("\nBold: best, italics: second best among single models (ensembles and reference rows not ranked). "
                 "± is the 95 % confidence half-width (normal approximation, 2,000 images per set).")
    path.write_text("\n".join(lines) + "\n")


def write_figure(rows: dict[str, dict], finetunes: list[dict], sizes: dict[str, int], path: Path) -> None:
    """Figure 2: ID test accuracy vs average OOD accuracy of every finetune and each method, with 95 % error bars."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter([100 * avg_ood_ci(acc, sizes)[0] for acc in finetunes], [100 * acc["test"] for acc in finetunes],
               c="lightgrey", edgecolors="grey", s=30, label="finetuned ingredients", zorder=1)
    for name, acc in rows.items():
        mean, half = avg_ood_ci(acc, sizes)
        marker = "*" if "manifold" in name else "s" if "soup" in name else "^" if "ensemble" in name else "o"
        ax.errorbar(100 * mean, 100 * acc["test"], xerr=100 * half, yerr=100 * ci95(acc["test"], sizes["test"]),
                    fmt=marker, markersize=12 if marker == "*" else 7, capsize=2, label=name)
    ax.set_xlabel("average accuracy on the five OOD sets (%)")
    ax.set_ylabel("ID test accuracy (%)")
    ax.set_title("Demo world: ID vs OOD accuracy (Figure 2 of the paper)")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
