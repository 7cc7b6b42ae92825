"""The partition editor's model: the ViT as a stack of units (embeddings, each block's attention and MLP, final
norm + projection, head, inert leftovers), and an assignment of every parameter to a component.

The ViT's anatomy and the presets come from the engine (manifoldmix_core.anatomy, .partition), so the editor
shows exactly what a run will use; clicking a unit moves all its parameters to one component.
"""

from __future__ import annotations

from dataclasses import dataclass

from manifoldmix_core.anatomy import KeyLayout, part_of
from manifoldmix_core.partition import Partition

MIXED = "(mixed)"
_ROWS = {"embeddings": ("embeddings", 0), "final": ("final norm + projection", 2), "head": ("head", 3),
         "inert": ("inert (not used by the classifier)", 4)}


@dataclass(frozen=True)
class Unit:
    """A clickable piece of the ViT: its label, its row in the stack, and its parameters."""

    name: str
    row: str
    params: tuple[str, ...]


def units(param_names: list[str], layout: KeyLayout) -> list[Unit]:
    """The ViT's units from the input side up: embeddings, block i attention / MLP, final norm + projection, head, inert."""
    groups: dict[tuple, list[str]] = {}
    for name in param_names:
        part = part_of(name, layout)
        if part.kind == "block":
            key = (1, part.block, not part.attention, f"block {part.block} {'attention' if part.attention else 'MLP'}",
                   f"block {part.block}")
        else:
            label, rank = _ROWS[part.kind]
            key = (rank, -1, False, label, part.kind)
        groups.setdefault(key, []).append(name)
    return [Unit(key[3], key[4], tuple(groups[key])) for key in sorted(groups)]


def assignment_of(partition: Partition) -> dict[str, str]:
    """Parameter name -> component name, from an engine Partition, listed component by component (so its order is kept)."""
    return {p: c.name for c in partition.components for p in c.params}


def unit_component(unit: Unit, assignment: dict[str, str]) -> str:
    """The component a unit belongs to, or MIXED when its parameters are split (e.g. by the author's C8)."""
    found = {assignment.get(p) for p in unit.params}
    return found.pop() if len(found) == 1 else MIXED


def assign_unit(assignment: dict[str, str], unit: Unit, component: str) -> dict[str, str]:
    """A new assignment with every parameter of the unit in the component."""
    return {**assignment, **{p: component for p in unit.params}}


def network_order(param_names: list[str], layout: KeyLayout) -> list[str]:
    """Parameter names from the input side up (embeddings, blocks 0..L-1, final, head, inert), not the file's key order
    (safetensors sorts keys, which put 'head' first)."""
    return [p for unit in units(param_names, layout) for p in unit.params]


def component_order(assignment: dict[str, str], param_names: list[str]) -> list[str]:
    """Components in the order λ lists them: by their first parameter in `param_names` (give network_order's)."""
    return list(dict.fromkeys(assignment[p] for p in param_names if p in assignment))


def to_spec(assignment: dict[str, str], param_names: list[str]) -> dict:
    """The run config's partition spec (preset 'components'), which also is the saved JSON format."""
    order = component_order(assignment, param_names)
    return {"preset": "components",
            "components": [{"name": c, "params": [p for p in param_names if assignment.get(p) == c]} for c in order]}


CUSTOM = "custom"


def matching_preset(assignment: dict[str, str], presets: dict[str, Partition], prefer: str | None = None) -> str:
    """The key of the preset this assignment is (so the preset box never names a preset the user has edited away), or
    CUSTOM; `prefer` (the user's last choice) wins where two presets coincide (coarse = medium on a 2-block ViT)."""
    matches = [key for key, partition in presets.items() if assignment_of(partition) == assignment]
    return prefer if prefer in matches else next(iter(matches), CUSTOM)


def selected_units(selection: dict | None, stack: list[Unit]) -> list[Unit]:
    """The units a click or box selection in the Partition picture hit (each bar carries its unit's name as customdata)."""
    by_name = {u.name: u for u in stack}
    points = (selection or {}).get("points") or []
    names = [p["customdata"][0] if isinstance(p.get("customdata"), list) else p.get("customdata") for p in points]
    return [by_name[n] for n in dict.fromkeys(names) if n in by_name]


def problems(assignment: dict[str, str], param_names: list[str], live_params: set[str]) -> list[str]:
    """Warnings beyond validity: components that cannot change ValAcc, and how many λ the optimizer will search."""
    notes = []
    for component in component_order(assignment, param_names):
        owned = [p for p in param_names if assignment.get(p) == component]
        if not any(p in live_params for p in owned):
            notes.append(f"'{component}' holds no parameter of the classifier: its λ cannot change ValAcc "
                         "(it stays at k/(k+1) unless optimize_inert is set)")
    return notes
