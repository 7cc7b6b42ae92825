"""Accuracies of ingredients, soups and ensembles from runs or the paper, as the data behind Figure 2 and Table 1."""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import fmean

import pandas as pd

from manifoldmix_core.intervals import half_width, mean_half_width
from manifoldmix_core.methods import METHODS
from manifoldmix_core.run_records import Results

from .vocabulary import RANK_STYLES, RANK_TEXT, method_label, to_percent

INGREDIENT, INGREDIENT_LABEL = "ingredient", "Finetuned ingredient"
AVG_OOD = "Avg OOD"


def kind_label(kind: str) -> str:
    """How a kind of model is named in legends: an ingredient, a method's label, or (a method no longer known) its name."""
    return INGREDIENT_LABEL if kind == INGREDIENT else method_label(kind)


def per_component(kind: str) -> bool:
    return kind in METHODS and METHODS[kind].per_component


def is_ensemble(kind: str) -> bool:
    return kind in METHODS and not METHODS[kind].fused


@dataclass(frozen=True)
class Entry:
    """One model on the board: ingredient, soup or ensemble, with its accuracy per dataset (fractions)."""

    name: str
    kind: str  # "ingredient" or a method's name
    accuracy: dict
    run: str = ""
    valacc: float | None = None
    partition_n: int | None = None

    @property
    def label(self) -> str:
        """The row label Table 1 uses: a method with λ per component carries the count (ManifoldMixMS-C8, -C15, ...)."""
        if self.kind == INGREDIENT:
            return self.name
        base = kind_label(self.kind)
        return f"{base}-C{self.partition_n}" if per_component(self.kind) and self.partition_n else base


@dataclass
class Board:
    """Everything Figure 2 and Table 1 need: the datasets' roles, their sizes where known and the models' accuracies."""

    val: str
    ood: list[str]
    datasets: list[str]
    entries: list[Entry] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)  # images per dataset; empty for runs older than results.json's sizes

    @property
    def id_tests(self) -> list[str]:
        """Test sets from the finetuning distribution (neither held-out nor OOD), e.g. ImageNet."""
        return [d for d in self.datasets if d != self.val and d not in self.ood]

    def avg_ood(self, entry: Entry) -> float | None:
        values = [entry.accuracy[d] for d in self.ood if d in entry.accuracy]
        return fmean(values) if values and len(values) == len(self.ood) else None

    def half_width(self, entry: Entry, dataset: str) -> float | None:
        """95 % half-width of entry's accuracy on dataset (a fraction), or None when the accuracy or the set's size is unknown."""
        if dataset not in entry.accuracy or dataset not in self.sizes:
            return None
        return half_width(entry.accuracy[dataset], self.sizes[dataset])

    def avg_ood_half_width(self, entry: Entry) -> float | None:
        """95 % half-width of the average OOD accuracy (the OOD sets are independent samples), or None when unknown."""
        if self.avg_ood(entry) is None or not all(d in self.sizes for d in self.ood):
            return None
        return mean_half_width([(entry.accuracy[d], self.sizes[d]) for d in self.ood])

    def ingredients(self) -> list[Entry]:
        """Ingredients, best ValAcc first."""
        found = [e for e in self.entries if e.kind == INGREDIENT]
        return sorted(found, key=lambda e: -(e.valacc if e.valacc is not None else e.accuracy.get(self.val, 0.0)))


def held_out_only(board: Board) -> list[Entry]:
    """Ingredients measured on the held-out set alone (their run's `ingredient_tests` left them out), so not in Figure 2."""
    return [e for e in board.ingredients() if set(e.accuracy) <= {board.val}]


def board_from_results(results: Results, run: str = "") -> Board:
    """A Board from one run's results.json (read through its schema, runs.read_results)."""
    board = Board(results.val_dataset, list(results.ood_datasets), list(results.datasets), sizes=dict(results.dataset_sizes))
    n = results.partition.n if results.partition else None
    for name, info in results.ingredients.items():
        board.entries.append(Entry(name, INGREDIENT, info.accuracy, run, info.valacc))
    for method, info in results.methods.items():
        board.entries.append(Entry(method, method, info.accuracy, run, info.valacc, n if per_component(method) else None))
    return board


def merge_boards(boards: dict[str, Board]) -> Board:
    """Several runs on one board (e.g. C8 vs C26 on the same ingredients); datasets are those all runs share.

    An ingredient or baseline that several runs measured identically appears once; so does an ingredient one run tested
    and another only held out (a sweep's members skip ingredient tests), as the entry with more test sets. A dataset's
    size is kept only when every run knows it and they agree, so an interval never borrows one run's size for another's.
    """
    first = next(iter(boards.values()))
    shared = [d for d in first.datasets if all(d in b.datasets for b in boards.values())]
    sizes = {d: first.sizes[d] for d in shared if d in first.sizes and all(b.sizes.get(d) == first.sizes[d] for b in boards.values())}
    merged = Board(first.val, [d for d in first.ood if d in shared], shared, sizes=sizes)
    seen: dict[tuple, Entry] = {}
    tested = set(shared)
    for board in boards.values():
        for entry in board.entries:
            if entry.kind == INGREDIENT:  # the same checkpoint on the same held-out set, tested on more or fewer sets
                key = (entry.kind, entry.name, round(entry.accuracy.get(first.val, -1), 6))
            else:
                key = (entry.kind, entry.name, entry.partition_n, tuple(round(entry.accuracy.get(d, -1), 6) for d in shared))
            if key not in seen:
                seen[key] = entry
                merged.entries.append(entry)
            elif len(entry.accuracy.keys() & tested) > len(seen[key].accuracy.keys() & tested):
                merged.entries[merged.entries.index(seen[key])] = seen[key] = entry
    return merged


def figure2_frame(board: Board, y: str) -> pd.DataFrame:
    """Figure 2's points: x = average OOD accuracy, y = accuracy on dataset y (held-out or ID test), in %."""
    rows = []
    for entry in board.entries:
        x = board.avg_ood(entry)
        if x is None or y not in entry.accuracy:
            continue
        rows.append({"model": entry.label, "kind": kind_label(entry.kind), "run": entry.run,
                     "avg_ood": to_percent(x), "y": to_percent(entry.accuracy[y]), "ingredient": entry.kind == INGREDIENT})
    return pd.DataFrame(rows, columns=["model", "kind", "run", "avg_ood", "y", "ingredient"])


def table1_columns(board: Board) -> list[str]:
    """Held-out set, ID test sets, each OOD set, then their average."""
    return list(dict.fromkeys([board.val, *board.id_tests, *board.ood, AVG_OOD]))


def table1_rows(board: Board) -> list[tuple[str, Entry]]:
    """Table 1's rows: best and second-best ingredient (by ValAcc), then the methods in the registry's order."""
    ranked = board.ingredients()
    rows = [(f"{title} ({e.name})", e) for title, e in zip(("Best finetuned", "Second-best finetuned"), ranked[:2], strict=False)]
    order = list(METHODS)
    others = sorted((e for e in board.entries if e.kind != INGREDIENT),
                    key=lambda e: (order.index(e.kind) if e.kind in order else len(order), e.partition_n or 0, e.run))
    counts: dict[str, int] = {}
    for e in others:
        counts[e.label] = counts.get(e.label, 0) + 1
    rows += [(f"{e.label} ({e.run})" if counts[e.label] > 1 and e.run else e.label, e) for e in others]
    return rows


def table1(board: Board) -> pd.DataFrame:
    """Table 1 in %, one row per model; `attrs['ensembles']` names the rows left out of the ranking."""
    columns = table1_columns(board)
    rows = table1_rows(board)
    data = {label: {**{d: to_percent(entry.accuracy[d]) for d in columns if d in entry.accuracy}, AVG_OOD: to_percent(board.avg_ood(entry))}
            for label, entry in rows}
    frame = pd.DataFrame.from_dict(data, orient="index", columns=columns).astype(float)
    frame.attrs["ensembles"] = [label for label, entry in rows if is_ensemble(entry.kind)]
    return frame


def table1_half_widths(board: Board) -> pd.DataFrame:
    """The 95 % half-width in % of each of Table 1's cells, same rows and columns; NaN where a dataset's size is unknown."""
    columns = table1_columns(board)
    halves = {label: {**{d: to_percent(board.half_width(entry, d)) for d in columns}, AVG_OOD: to_percent(board.avg_ood_half_width(entry))}
              for label, entry in table1_rows(board)}
    return pd.DataFrame.from_dict(halves, orient="index", columns=columns).astype(float)


CSV_DIGITS = 4  # a percentage measured on at most a few million images needs no more


def table1_download(table: pd.DataFrame, halves: pd.DataFrame) -> pd.DataFrame:
    """Table 1 for the CSV download: plain numbers rounded to CSV_DIGITS, each column followed by its 95 % half-width
    ("<column> ±95%") when any is known, so a spreadsheet can compute with both."""
    if halves.isna().all().all():
        return table.round(CSV_DIGITS)
    return pd.concat([part for column in table.columns for part in (table[[column]], halves[[column]].add_suffix(" ±95%"))],
                     axis=1).round(CSV_DIGITS)


def rank_marks(table: pd.DataFrame) -> pd.DataFrame:
    """'best' / 'second' per column, ignoring ensembles as the paper does (they cost K forward passes)."""
    marks = pd.DataFrame("", index=table.index, columns=table.columns)
    ranked_rows = [r for r in table.index if r not in table.attrs.get("ensembles", [])]
    for column in table.columns:
        values = table.loc[ranked_rows, column].dropna().round(2)
        distinct = sorted(values.unique(), reverse=True)
        for mark, value in zip(("best", "second"), distinct[:2], strict=False):
            marks.loc[values.index[values == value], column] = mark
    return marks


def styled_table1(table: pd.DataFrame, halves: pd.DataFrame | None = None):
    """Table 1 as a pandas Styler: best and second-best marked as vocabulary.RANK_STYLES and RANK_TEXT say (the paper's
    red and blue told apart by colour alone); given table1_half_widths, a cell whose half-width is known reads
    "accuracy ± half-width". The data stay numbers, only their display changes."""
    marks = rank_marks(table)
    styler = table.style.format("{:.2f}", na_rep="–").apply(lambda _: marks.map(RANK_STYLES.get), axis=None)
    for column in table.columns:
        for row in table.index[table[column].notna()]:
            known = halves is not None and pd.notna(halves.loc[row, column])
            interval = f" ± {halves.loc[row, column]:.2f}" if known else ""
            if interval or RANK_TEXT[marks.loc[row, column]]:
                styler.format(f"{{:.2f}}{interval}{RANK_TEXT[marks.loc[row, column]]}", subset=pd.IndexSlice[[row], [column]])
    return styler
