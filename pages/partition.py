"""Partition: the ViT as its stack of blocks, coloured by component; assign units by clicking or in a table."""

import json
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app_lib.partition_editor import (
    MIXED,
    assign_unit,
    assignment_of,
    component_order,
    network_order,
    problems,
    to_spec,
    unit_component,
    units,
)
from app_lib.ui import draft
from app_lib.vocabulary import UNASSIGNED, component_colours
from manifoldmix_core.anatomy import detect_key_layout, float_names
from manifoldmix_core.errors import PartitionError
from manifoldmix_core.partition import NAMED_PRESETS, Partition, named_presets, resolve

st.title("Partition")
st.caption("Each component gets its own λ when a candidate is mixed in: Ψ'(λ)ʲ = λʲ·Ψʲ + (1−λʲ)·θʲ. "
           "Too coarse gives little flexibility, too fine makes the λ search hard (the paper prefers 8 components).")
config = draft()
if not config.get("ingredients"):
    st.info("Add ingredients first: the partition is built from their parameter names.")
    st.stop()


@st.cache_resource(max_entries=8)
def model_names(path: str, mtime: float):
    """Float parameter names (the ones mixing touches) in network order, the layout, and the classifier's own parameters."""
    from manifoldmix_core.ingredients import read_signature  # torch: only once a model is there to read

    signature = read_signature(path)
    layout = detect_key_layout(signature)
    names = network_order(float_names(signature), layout)
    return names, layout, {n for n in names if layout.classifier_name(n)}


first = Path(config["ingredients"][0]["path"])
try:
    names, layout, live = model_names(str(first), first.stat().st_mtime)
except Exception as exc:  # unreadable reference ingredient
    st.error(f"Cannot read {first}: {exc}")
    st.stop()
stack = units(names, layout)
if st.session_state.get("partition_model") != str(first):
    try:
        start = resolve(config.get("partition") or {"preset": "structural"}, names, layout)
    except PartitionError:
        start = resolve({"preset": "structural"}, names, layout)
    st.session_state["partition_assignment"] = assignment_of(start)
    st.session_state["partition_model"] = str(first)
assignment = st.session_state["partition_assignment"]

available = named_presets(names, layout)
labels = {p.key: p.label for p in NAMED_PRESETS}
c1, c2 = st.columns([3, 1])
preset = c1.selectbox("Preset", list(available), index=list(available).index("medium"), format_func=labels.get,
                      key="partition_preset", help="The paper's C8/C15/C26 need checkpoints in model-soups layout (model.visual.*)")
if c2.button("Apply preset", key="apply_preset"):
    st.session_state["partition_assignment"] = assignment = assignment_of(available[preset])

components = component_order(assignment, names)
left, right = st.columns([2, 3])
with right:
    pending = [c for c in st.session_state.setdefault("partition_pending", []) if c not in components]
    components = components + pending  # new components exist once a unit is clicked into them


    def add_component() -> None:
        """Runs before the widgets: a new, still empty component becomes the click target."""
        name = st.session_state["new_component"].strip()
        if name:
            st.session_state["partition_pending"].append(name)
            st.session_state["active_component"] = name
            st.session_state["new_component"] = ""


    a1, a2, a3 = st.columns([2, 2, 1])
    if st.session_state.get("active_component") not in components:
        st.session_state["active_component"] = components[0]
    active = a1.selectbox("Clicking assigns to", components, key="active_component")
    a2.text_input("New component", placeholder="name", key="new_component")
    a3.button("Add", key="add_component", on_click=add_component)
    click_tab, table_tab = st.tabs(["Click", "Table"])
    with click_tab:
        rows: dict[str, list] = {}
        for unit in stack:
            rows.setdefault(unit.row, []).append(unit)
        for members in reversed(list(rows.values())):
            for col, unit in zip(st.columns(len(members)), members, strict=True):
                current = unit_component(unit, assignment)
                if col.button(f"{unit.name} · {current}", key=f"unit_{unit.name}", width="stretch"):
                    st.session_state["partition_assignment"] = assignment = assign_unit(assignment, unit, active)
                    st.rerun()
    with table_tab:
        table = pd.DataFrame({"unit": [u.name for u in stack], "component": [unit_component(u, assignment) for u in stack],
                              "parameters": [len(u.params) for u in stack]})
        edited = st.data_editor(table, disabled=["unit", "parameters"], hide_index=True, key="partition_table",
                                column_config={"component": st.column_config.SelectboxColumn(options=components + [MIXED])})
        pairs = zip(stack, edited["component"], table["component"], strict=True)
        changed = [(u, c) for u, c, old in pairs if c not in (old, MIXED)]
        if changed:
            for unit, component in changed:
                assignment = assign_unit(assignment, unit, component)
            st.session_state["partition_assignment"] = assignment
            st.rerun()

components = component_order(assignment, names)
palette = component_colours(components) | {MIXED: UNASSIGNED}
with left:
    fig = go.Figure()
    for unit in stack:
        component = unit_component(unit, assignment)
        x0 = 0.5 if unit.name.endswith("MLP") else 0.0
        width = 0.5 if unit.row.startswith("block") else 1.0
        fig.add_trace(go.Bar(x=[width], base=[x0], y=[unit.row], orientation="h", marker_color=palette.get(component, "#ccc"),
                             text=f"{unit.name.split(' ')[-1] if unit.row.startswith('block') else unit.name}<br>{component}",
                             textposition="inside", insidetextanchor="middle", showlegend=False,
                             hovertemplate=f"{unit.name}: {component} ({len(unit.params)} tensors)<extra></extra>"))
    fig.update_layout(barmode="overlay", height=max(300, 30 * len({u.row for u in stack}) + 40), margin={"t": 10, "b": 10},
                      xaxis={"visible": False}, yaxis={"categoryorder": "array", "categoryarray": [u.row for u in stack]})
    st.plotly_chart(fig, key="vit_stack")

spec = to_spec(assignment, names)
try:
    Partition.from_dict(spec).validate(names)
except PartitionError as exc:
    st.error(f"Invalid partition: {exc}")
else:
    n_live = sum(1 for c in components if any(p in live for p in spec["components"][components.index(c)]["params"]))
    st.success(f"Valid: {len(components)} components, {n_live} of them affect the classifier. The next run uses it.")
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
