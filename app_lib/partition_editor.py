"""The partition editor's model: the ViT as a stack of units (embeddings, each block's attention and MLP, final
norm + projection, head, inert leftovers), and an assignment of every parameter to a component.

Presets come from the engine (manifoldmix_core.partition), so the editor shows exactly what a run will use;
clicking a unit moves all its parameters to one component.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
           "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363",
           "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8", "#969696", "#c6dbef")
_BLOCK = re.compile(r"transformer\.resblocks\.(\d+)\.(.*)$")
MIXED = "(mixed)"


@dataclass(frozen=True)
class Unit:
    """A clickable piece of the ViT: its label, its row in the stack, and its parameters."""

    name: str
    row: str
    params: tuple[str, ...]


def units(param_names: list[str], visual_prefix: str, head_prefix: str) -> list[Unit]:
    """The ViT's units from the input side up: embeddings, block i attention / MLP, final norm + projection, head, inert."""
    groups: dict[str, list[str]] = {}
    rows: dict[str, str] = {}

    def put(unit: str, row: str, name: str) -> None:
        groups.setdefault(unit, []).append(name)
        rows[unit] = row

    for name in param_names:
        if name.startswith(head_prefix):
            put("head", "head", name)
        elif not name.startswith(visual_prefix):
            put("inert (not used by the classifier)", "inert", name)
        elif match := _BLOCK.search(name[len(visual_prefix):]):
            half = "attention" if match[2].startswith(("ln_1", "attn", "ls_1")) else "MLP"
            put(f"block {int(match[1])} {half}", f"block {int(match[1])}", name)
        elif name[len(visual_prefix):].startswith(("ln_post", "proj")):
            put("final norm + projection", "final", name)
        else:
            put("embeddings", "embeddings", name)

    def order(unit: str) -> tuple:
        row = rows[unit]
        rank = {"embeddings": 0, "final": 2, "head": 3, "inert": 4}
        block = int(row.split()[1]) if row.startswith("block") else -1
        return rank.get(row, 1), block, unit.endswith("MLP")

    return [Unit(u, rows[u], tuple(groups[u])) for u in sorted(groups, key=order)]


def assignment_of(partition) -> dict[str, str]:
    """Parameter name -> component name, from an engine Partition."""
    return {p: c.name for c in partition.components for p in c.params}


def unit_component(unit: Unit, assignment: dict[str, str]) -> str:
    """The component a unit belongs to, or MIXED when its parameters are split (e.g. by the author's C8)."""
    found = {assignment.get(p) for p in unit.params}
    return found.pop() if len(found) == 1 else MIXED


def assign_unit(assignment: dict[str, str], unit: Unit, component: str) -> dict[str, str]:
    """A new assignment with every parameter of the unit in the component."""
    return {**assignment, **{p: component for p in unit.params}}


def component_order(assignment: dict[str, str], param_names: list[str]) -> list[str]:
    """Components in order of their first parameter (the order λ lists them in)."""
    return list(dict.fromkeys(assignment[p] for p in param_names if p in assignment))


def to_spec(assignment: dict[str, str], param_names: list[str]) -> dict:
    """The run config's partition spec (preset 'components'), which also is the saved JSON format."""
    order = component_order(assignment, param_names)
    return {"preset": "components",
            "components": [{"name": c, "params": [p for p in param_names if assignment.get(p) == c]} for c in order]}


def colours(components: list[str]) -> dict[str, str]:
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(components)} | {MIXED: "#cccccc"}


def presets(param_names: list[str], layout) -> dict[str, object]:
    """Named partitions (engine Partitions) that fit this model; the author's C8/C15/C26 need the model-soups layout."""
    from manifoldmix_core.partition import author_preset, structural, vit_depth, whole_model

    depth = max(vit_depth(param_names, layout), 1)
    found = {
        "whole model": whole_model(param_names),
        "coarse (halves of the tower)": structural(param_names, layout, max(1, -(-depth // 2))),
        "medium (groups of blocks)": structural(param_names, layout, max(1, depth // 4)),
        "per block": structural(param_names, layout, 1),
        "fine (attention / MLP per block)": structural(param_names, layout, 1, split_attn_mlp=True),
    }
    if layout.visual_prefix == "model.visual.":
        for label, granularity in (("C8 (paper)", 1), ("C15 (paper)", 2), ("C26 (paper)", 3)):
            found[label] = author_preset(param_names, granularity)
    return found


def problems(assignment: dict[str, str], param_names: list[str], live_params: set[str]) -> list[str]:
    """Warnings beyond validity: components that cannot change ValAcc, and how many λ the optimizer will search."""
    notes = []
    for component in component_order(assignment, param_names):
        owned = [p for p in param_names if assignment.get(p) == component]
        if not any(p in live_params for p in owned):
            notes.append(f"'{component}' holds no parameter of the classifier: its λ cannot change ValAcc "
                         "(it stays at k/(k+1) unless optimize_inert is set)")
    return notes
