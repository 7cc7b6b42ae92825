"""What the shipped demo zoo shows, told from the measured table (docs/demo_table1/rows.json), never from memory.

`python benchmarks/table1_demo.py` writes that file from the shipped zoo; the Start page renders these
sentences, so the story changes exactly when the numbers do.
"""

from __future__ import annotations

import json
from pathlib import Path

from manifoldmix_core.methods import GREEDY_SOUP, MANIFOLDMIXMS, UNIFORM_SOUP

from .paths import REPO
from .vocabulary import counted, percent, to_percent

ROWS = REPO / "docs" / "demo_table1" / "rows.json"


def _pct(x: float) -> str:
    return percent(x, digits=1)


def _pp(x: float) -> str:
    return f"{to_percent(x):+.1f} points"


def demo_story(path: Path = ROWS) -> list[str]:
    """One sentence per finding of the demo's Table 1, or nothing when the table has not been measured."""
    try:
        h = json.loads(path.read_text())["headline"]
    except (OSError, ValueError, KeyError):
        return []
    lp, best = h["lp_init"], h["best_finetune"]
    sentences = [
        f"Finetuning the linear-probe init raises ID test accuracy from {_pct(lp['test'])} to {_pct(best['test'])} "
        f"(best of {h['finetunes']} finetunes by ValAcc) and moves average OOD accuracy {_pp(best['avg_ood'] - lp['avg_ood'])}.",
    ]
    uniform = h[UNIFORM_SOUP.name]
    sentences.append(f"The uniform soup of all {uniform['kept']} finetunes reaches {_pct(uniform['avg_ood'])} average OOD accuracy "
                     f"({_pp(uniform['avg_ood'] - best['avg_ood'])} over the best finetune) at {_pct(uniform['test'])} ID test "
                     f"({_pp(uniform['test'] - best['test'])}).")
    for key, label in ((GREEDY_SOUP.name, "The greedy soup"), (MANIFOLDMIXMS.name, "ManifoldMixMS (medium partition)")):
        m = h[key]
        sentences.append(f"{label} keeps {counted(m['kept'], 'finetune')}: ID test {_pct(m['test'])} "
                         f"({_pp(m['test'] - best['test'])}), average OOD {_pct(m['avg_ood'])} ({_pp(m['avg_ood'] - best['avg_ood'])}).")
    if "top5_ensemble" in h:
        ensemble = h["top5_ensemble"]
        sentences.append(f"A logit ensemble of the top 5 finetunes scores {_pct(ensemble['val'])} on the held-out set against "
                         f"{_pct(h['best_val'])} for the best one ({_pp(ensemble['val'] - h['best_val'])}): the finetunes "
                         f"{'make different mistakes' if ensemble['val'] - h['best_val'] >= 0.01 else 'share most of their mistakes'}.")
    if "granularity" in h:
        sentences.append(f"Does the partition's granularity matter here? {h['granularity'][0].upper()}{h['granularity'][1:]}.")
    return sentences
