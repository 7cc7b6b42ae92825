"""ManifoldMix Studio: the Streamlit entry point; navigation over the pages in views/, a shared sidebar, and the
workspace (?ws=) that keeps the setup being assembled on disk across reloads, tabs and shared links."""

import os

import streamlit as st

from app_lib.ui import open_workspace, persist_workspace

# The server shares the CPU with run workers: idle OpenMP threads must sleep, not spin (see __main__.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

st.set_page_config(page_title="ManifoldMix Studio", page_icon=":material/blender:", layout="wide")

PAGES = {
    "Studio": [
        st.Page("views/start.py", title="Start", icon=":material/home:", default=True),
        st.Page("views/ingredients.py", title="Ingredients", icon=":material/science:"),
        st.Page("views/datasets.py", title="Datasets", icon=":material/image:"),
        st.Page("views/partition.py", title="Partition", icon=":material/extension:"),
        st.Page("views/run.py", title="Run", icon=":material/play_circle:"),
        st.Page("views/results.py", title="Results", icon=":material/scatter_plot:"),
        st.Page("views/experiments.py", title="Experiments", icon=":material/stacked_line_chart:"),
    ],
    "Reference": [st.Page("views/paper.py", title="Paper", icon=":material/description:")],
}

page = st.navigation(PAGES)
st.sidebar.caption("Manifold mixing model soups (Fassold 2023): fuse finetuned ViTs component by component.")
ws_id = open_workspace()
st.sidebar.caption(f"Workspace `{ws_id}`: your setup is saved as you go; reload or share this page's link to come back "
                   "to it. Start a new one on the Start page.")
try:
    page.run()
finally:  # also after st.stop() / st.rerun() inside a page
    changed_elsewhere = persist_workspace(ended=True)
if changed_elsewhere:  # the save was refused: draw the current setup (and say why) now
    st.rerun()
