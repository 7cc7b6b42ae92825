"""Datasets: the held-out set, ID test and OOD sets (demo world, ImageFolder folders or tensor files), with previews."""

import streamlit as st

from app_lib.datasets import ROLES, add_set, demo_datasets, make_dataset, offered_sources, preview, remove_set, sets_of
from app_lib.demo import demo_status
from app_lib.paths import data_roots
from app_lib.ui import draft
from manifoldmix_core.errors import DatasetError, PathError

st.title("Datasets")
st.caption("ValAcc is measured on the **held-out** set (never a test set). **ID test** sets come from the finetuning "
           "distribution (ImageNet in the paper); the **OOD** sets carry distribution shifts (ImageNet-V2, -R, -Sketch, ...).")
config = draft()

demo_tab, folder_tab = st.tabs(["Demo world", "Your folders"])
with demo_tab:
    ready, reason = demo_status()
    st.write("Held-out `val`, ID test `test`, and five shifted styles as OOD sets: v2, sketch, rendition, objectnet, a.")
    if st.button("Use the demo datasets", disabled=not ready, key="use_demo_sets"):
        config.update(demo_datasets())
    if not ready:
        st.info(reason)
with folder_tab:
    roots = data_roots()
    st.caption("Paths are relative to an allowed folder: " + ", ".join(map(str, roots)))
    with st.form("add_set", clear_on_submit=False):
        c1, c2, c3 = st.columns(3)
        name = c1.text_input("Name", key="set_name")
        role = c2.selectbox("Role", ROLES, index=2, key="set_role")
        offered = offered_sources()  # the engine's source registry
        source = c3.selectbox("Source", list(offered), key="set_source", help="; ".join(f"{k}: {v}" for k, v in offered.items()))
        root = st.selectbox("Allowed folder", roots, format_func=str, key="set_root")
        path = st.text_input("Folder or file (relative to the allowed folder)", key="set_path")
        c4, c5 = st.columns(2)
        subset = c4.text_input("Class subset (optional): model classes, e.g. 1, 5, 9", key="set_subset")
        class_map = c5.text_input('Class map (optional JSON): {"model class": set class}', key="set_map")
        if st.form_submit_button("Add set"):
            try:
                add_set(config, make_dataset(name, source, str(root / path), subset, class_map, roots), role)
            except (ValueError, PathError, DatasetError) as exc:
                st.error(f"Not added: {exc}")

rows = sets_of(config)
if not rows:
    st.info("No datasets yet.")
    st.stop()
if not config.get("val"):
    st.warning("Choose a held-out set: ValAcc, which drives every soup, is measured on it.")
for role, dataset in rows:
    with st.expander(f"{role}: {dataset['name']} ({dataset['source']}: {dataset['path']})", expanded=False):
        extras = [f"class subset {dataset['class_subset']}" if dataset.get("class_subset") else "",
                  f"class map {dataset['class_map']}" if dataset.get("class_map") else ""]
        if any(extras):
            st.caption(" · ".join(e for e in extras if e))
        if st.toggle("Preview images", key=f"preview_{dataset['name']}"):
            try:
                images, captions = preview(dataset)
                st.image(images, caption=captions, width=72)
            except Exception as exc:  # unreadable sets are reported in place
                st.error(f"Cannot preview {dataset['name']}: {exc}")
        if st.button("Remove", key=f"remove_{dataset['name']}"):
            remove_set(config, dataset["name"])
            st.rerun()
