"""What one finished run shows, told from its results.json in two or three sentences (as demo_story does for the shipped
demo), so the Results page explains its own table: the best finetune, ManifoldMixMS and the best other soup against it.
"""

from __future__ import annotations

from manifoldmix_core.run_records import Results

from .scoreboard import Board, Entry, board_from_results, is_ensemble, per_component
from .vocabulary import counted, percent, to_percent


def _points(a: float, b: float) -> str:
    return f"{to_percent(a - b):+.2f} points"


def _gap(board: Board, entry: Entry, best: Entry, dataset: str | None) -> str:
    """Whether entry's difference from the best finetune on a dataset (None: average OOD) is beyond both 95 % intervals."""
    if dataset is None:
        values, halves = (board.avg_ood(entry), board.avg_ood(best)), (board.avg_ood_half_width(entry), board.avg_ood_half_width(best))
    else:
        values, halves = (entry.accuracy[dataset], best.accuracy[dataset]), (board.half_width(entry, dataset), board.half_width(best, dataset))
    if None in halves:
        return ""
    return ", beyond both 95 % intervals" if abs(values[0] - values[1]) > halves[0] + halves[1] else ", within the 95 % intervals"


def _compared(board: Board, entry: Entry, best: Entry, y: str, kept: int | None, n: int) -> str:
    """One method's sentence: what it kept, then each measured accuracy against the best finetune's."""
    name = entry.label
    keeps = f" keeps {counted(kept, 'ingredient')} of {n}" if kept is not None else ""
    parts = [f"{y} {percent(entry.accuracy[y])} ({_points(entry.accuracy[y], best.accuracy[y])}{_gap(board, entry, best, y)})"]
    if board.avg_ood(entry) is not None and board.avg_ood(best) is not None:
        parts.append(f"average OOD {percent(board.avg_ood(entry))} ({_points(board.avg_ood(entry), board.avg_ood(best))}"
                     f"{_gap(board, entry, best, None)})")
    return f"{name}{keeps}: " + ", ".join(parts) + "."


def run_story(results: Results) -> list[str]:
    """Two or three sentences from one run's numbers; nothing when no ingredient was measured."""
    board = board_from_results(results)
    ranked = board.ingredients()
    if not ranked:
        return []
    best, n = ranked[0], len(ranked)
    y = board.id_tests[0] if board.id_tests else board.val
    what = "ID test" if board.id_tests else "held-out"
    if y not in best.accuracy:
        return [f"The best of {n} finetunes by ValAcc, {best.name}, was measured on the held-out set only "
                f"({percent(best.accuracy.get(board.val))}), so this run compares no test accuracy with it."]
    ood = f" and {percent(board.avg_ood(best))} average OOD" if board.avg_ood(best) is not None else ""
    sentences = [f"The best of {n} finetunes by ValAcc, {best.name}, scores {percent(best.accuracy[y])} {what} ({y}){ood}; "
                 "the fused models below are measured against it."]
    fused = [e for e in board.entries if e.kind != "ingredient" and not is_ensemble(e.kind) and y in e.accuracy]
    mixing = [e for e in fused if per_component(e.kind)]
    others = sorted((e for e in fused if not per_component(e.kind)),
                    key=lambda e: -(board.avg_ood(e) if board.avg_ood(e) is not None else e.accuracy[y]))
    for entry in [*mixing[:1], *others[:1]]:
        kept = results.methods[entry.kind].ingredients if entry.kind in results.methods else None
        sentences.append(_compared(board, entry, best, y, len(kept) if isinstance(kept, list) else None, n))
    return sentences

