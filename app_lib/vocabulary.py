"""The words, numbers and colours every page uses the same way: counts with their noun, accuracies as percentages,
method labels from the registry, one colour per component (Partition and every λ chart), the best/second marks, byte
sizes, and the -2, -3 suffix that makes a name unique."""

from __future__ import annotations

from manifoldmix_core.intervals import percent, to_percent  # noqa: F401  (the pages read both from here)
from manifoldmix_core.methods import METHODS


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """'1 ingredient', '13 ingredients': a count with its noun in the right number."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def size_text(n_bytes: int) -> str:
    """A byte count as every page writes it: '3.0 GB', '616.0 MB', '12.0 KB', '512.0 B' (binary multiples)."""
    return next(f"{n_bytes / 2**p:.1f} {unit}" for p, unit in ((30, "GB"), (20, "MB"), (10, "KB"), (0, "B")) if n_bytes >= 2**p or p == 0)


def unique_name(name: str, taken: set[str]) -> str:
    """name, or name-2, name-3, ... when taken: an ingredient name not yet in the pool (file stems can repeat across
    folders), an upload's file name not yet in the uploads folder, a run id not yet in the runs folder."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def method_label(name: str) -> str:
    """A method's label from the registry ('Uniform soup', never 'uniform_soup'); an unknown name as it is."""
    return METHODS[name].label if name in METHODS else name


# Okabe-Ito first (safe for colour-blind readers), then Tol's muted and light schemes: 26 distinct colours for C26.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
           "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499",
           "#77AADD", "#EE8866", "#EEDD88", "#FFAABB", "#99DDFF", "#44BB99", "#BBCC33", "#AAAA00", "#DDDDDD")
UNASSIGNED = "#cccccc"


def component_colours(components: list[str]) -> dict[str, str]:
    """Component name -> colour by its place in the partition (network order), so the Partition picture and the λ
    charts of a run on that partition colour each component alike."""
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(components)}


# Table 1's marks: shape carries the meaning, the colours are a colour-blind-safe blue and orange. st.dataframe draws
# colour and weight but not italics, so the second best also carries a text mark (RANK_TEXT), which any renderer shows.
RANK_STYLES = {"best": "color: #0072B2; font-weight: bold", "second": "color: #D55E00; font-style: italic", "": ""}
RANK_TEXT = {"best": "", "second": " (2nd)", "": ""}
RANK_CAPTION = "Best in **bold blue**, second-best in *orange italics* marked (2nd)"
