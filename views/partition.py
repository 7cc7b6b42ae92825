"""Partition: the ViT as its stack of blocks, coloured by component; the picture is the editor (click units, or
box-select them from its toolbar, to assign them), with the engine's presets and a table."""

import json
import math
from pathlib import Path

import pandas as pd
import streamlit as st

from app_lib.figures import partition_figure
from app_lib.partition_editor import (
    CUSTOM,
    MIXED,
    assign_unit,
    assignment_of,
    component_order,
    matching_preset,
    network_order,
    problems,
    selected_units,
    to_spec,
    unit_component,
    units,
)
from app_lib.ui import draft
from app_lib.vocabulary import UNASSIGNED, component_colours, counted
from manifoldmix_core.anatomy import float_names
from manifoldmix_core.errors import PartitionError
from manifoldmix_core.partition import NAMED_PRESETS, Partition, default_spec, named_presets, resolve

st.title("Partition")
st.caption("Each component gets its own λ when a candidate is mixed in: Ψ'(λ)ʲ = λʲ·Ψʲ + (1−λʲ)·θʲ. "
           "Too coarse gives little flexibility, too fine makes the λ search hard (the paper prefers 8 components).")
config = draft()
if not config.get("ingredients"):
    st.info("Add ingredients first: the partition is built from their parameter names.")
    st.stop()


@st.cache_resource(max_entries=8)
def model_names(path: str, mtime: float, family: str | None, head: str | None):
    """Float parameter names (the ones mixing touches) in network order, the layout, the classifier's own parameters,
    and each parameter's number of values; a headless finetune's head is the shared head file's (`head`)."""
    from manifoldmix_core.families import detect
    from manifoldmix_core.ingredients import Ingredient, ingredient_signature, read_folder_config  # torch: only once a model is there

    signature = ingredient_signature(Ingredient(Path(path).name, Path(path), head=Path(head) if head else None))
    layout = detect(signature, path, read_folder_config(path), family)
    names = network_order(float_names(signature), layout)
    return names, layout, {n for n in names if layout.classifier_name(n)}, {n: math.prod(signature[n].shape) for n in names}


first = Path(config["ingredients"][0]["path"])
try:
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    names, layout, live, sizes = model_names(str(first), first.stat().st_mtime, model.get("family"), model.get("head"))
except Exception as exc:  # unreadable reference ingredient
    st.error(f"Cannot read {first}: {exc}")
    st.stop()
stack = units(names, layout)
if st.session_state.get("partition_model") != str(first):
    try:
        start = resolve(config.get("partition") or default_spec(), names, layout)
    except PartitionError:
        start = resolve(default_spec(), names, layout)
    st.session_state["partition_assignment"] = assignment_of(start)
    st.session_state["partition_model"] = str(first)
assignment = st.session_state["partition_assignment"]
available = named_presets(names, layout)  # the engine's presets, resolved exactly as a run resolves them


def apply_preset() -> None:
    """Choosing a preset applies it; the box then follows the partition (it says 'custom' once a unit is moved)."""
    key = st.session_state["partition_preset"]
    if key in available:
        st.session_state["partition_assignment"] = assignment_of(available[key])


labels = {p.key: p.label for p in NAMED_PRESETS} | {CUSTOM: "custom (your own assignment)"}
st.session_state["partition_preset"] = matching_preset(assignment, available, st.session_state.get("partition_preset"))
st.selectbox("Preset", [*available, CUSTOM], format_func=labels.get, key="partition_preset", on_change=apply_preset,
             help="The paper's C8/C15/C26 need checkpoints in model-soups layout (model.visual.*)")
st.caption(" · ".join(f"**{labels[key]}**: {counted(len(partition), 'component')}" for key, partition in available.items()))
if st.session_state["partition_preset"] == CUSTOM:
    st.caption("Choosing a preset replaces this custom assignment: save it as JSON below first to keep it.")

components = component_order(assignment, names)
pending = [c for c in st.session_state.setdefault("partition_pending", []) if c not in components]
targets = components + pending  # a new component exists once a unit is assigned to it


def add_component() -> None:
    """Runs before the widgets: a new, still empty component becomes the assignment target."""
    name = st.session_state["new_component"].strip()
    if name:
        st.session_state["partition_pending"].append(name)
        st.session_state["active_component"] = name
        st.session_state["new_component"] = ""


a1, a2, a3 = st.columns([2, 2, 1])
if st.session_state.get("active_component") not in targets:
    st.session_state["active_component"] = targets[0]
active = a1.selectbox("Clicking assigns to", targets, key="active_component")
a2.text_input("New component", placeholder="name", key="new_component")
a3.button("Add", key="add_component", on_click=add_component)

palette = component_colours(components) | {MIXED: UNASSIGNED}
picture, table_col = st.columns([3, 2])
with picture:
    st.caption("Click a block part to assign it to the component chosen above. For several at once, pick "
               "**Box Select** in the picture's toolbar and drag a box over them.")
    version = st.session_state.setdefault("partition_picture", 0)
    event = st.plotly_chart(partition_figure(stack, {u.name: unit_component(u, assignment) for u in stack}, palette, sizes),
                            key=f"vit_stack_{version}", on_select="rerun", selection_mode=("points", "box"))
    hit = selected_units(event.selection if event else None, stack)
    if hit:
        for unit in hit:
            assignment = assign_unit(assignment, unit, active)
        st.session_state["partition_assignment"] = assignment
        st.session_state["partition_picture"] = version + 1  # a fresh picture: the applied selection is gone, clicks start anew
        st.rerun()
with table_col:
    table = pd.DataFrame({"unit": [u.name for u in stack], "component": [unit_component(u, assignment) for u in stack],
                          "tensors": [len(u.params) for u in stack], "parameters": [sum(sizes[p] for p in u.params) for u in stack]})
    edited = st.data_editor(table, disabled=["unit", "tensors", "parameters"], hide_index=True, key="partition_table",
                            column_config={"component": st.column_config.SelectboxColumn(options=targets + [MIXED]),
                                           "parameters": st.column_config.NumberColumn(format="localized")})
    changed = [(u, c) for u, c, old in zip(stack, edited["component"], table["component"], strict=True) if c not in (old, MIXED)]
    if changed:
        for unit, component in changed:
            assignment = assign_unit(assignment, unit, component)
        st.session_state["partition_assignment"] = assignment
        st.rerun()

components = component_order(assignment, names)
spec = to_spec(assignment, names)
try:
    Partition.from_dict(spec).validate(names)
except PartitionError as exc:
    st.error(f"Invalid partition: {exc}")
else:
    n_live = sum(1 for c in components if any(p in live for p in spec["components"][components.index(c)]["params"]))
    st.success(f"Valid: {counted(len(components), 'component')} ({n_live} {'affects' if n_live == 1 else 'affect'} the "
               "classifier). The next run uses it.")
    config["partition"] = spec
for note in problems(assignment, names, live):
    st.warning(note)

save, load = st.columns(2)
save.download_button("Save partition (JSON)", json.dumps({"components": spec["components"]}, indent=1), "partition.json",
                     "application/json", on_click="ignore", key="save_partition")
uploaded = load.file_uploader("Load partition (JSON)", type=["json"], key="load_partition")
if uploaded is not None and st.session_state.get("loaded_partition") != uploaded.file_id:
    st.session_state["loaded_partition"] = uploaded.file_id
    try:
        loaded = Partition.from_json(uploaded.getvalue().decode("utf-8", errors="replace")).validate(names)
    except PartitionError as exc:
        st.error(f"Not loaded: {exc}")
    else:
        st.session_state["partition_assignment"] = assignment_of(loaded)
        st.rerun()
