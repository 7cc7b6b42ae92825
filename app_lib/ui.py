"""Small Streamlit helpers shared by the pages: the draft run, the run picked in the URL, state badges."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from .draft import initial_draft
from .run_store import RunInfo, find_run, list_runs

STATE_ICONS = {"queued": ":material/schedule:", "running": ":material/directions_run:", "finished": ":material/check_circle:",
               "failed": ":material/error:", "cancelled": ":material/cancel:", "interrupted": ":material/warning:"}


def draft() -> dict:
    """The run being assembled in this browser session (starts as the demo's config when available)."""
    if "draft" not in st.session_state:
        st.session_state["draft"] = initial_draft()
    return st.session_state["draft"]


def run_label(info: RunInfo) -> str:
    """Selectbox options render plain text, so the state is spelled out."""
    return f"{info.run_id} ({info.state})"


def pick_run(label: str = "Run", only_finished: bool = False, key: str = "run") -> Path | None:
    """A run chosen in a selectbox that mirrors the URL's ?run=, so reloads and second tabs come back to it.

    The choice is also kept outside the widget (Streamlit forgets a widget's state on pages that do not draw it),
    so leaving the page and coming back shows the run being watched, not the newest one. An id in the URL that
    names no run is said, not silently replaced.
    """
    runs = [r for r in list_runs() if r.state == "finished" or not only_finished]
    if not runs:
        return None
    ids = [r.run_id for r in runs]
    widget, watched = f"pick_{key}", f"watched_{key}"
    wanted = st.query_params.get(key)
    if wanted and wanted not in ids:
        st.error(f"No run {wanted} under {runs[0].path.parent}: showing another one. Pick a run below.")
    for choice in (wanted, st.session_state.get(watched), st.session_state.get(widget), ids[0]):
        if choice in ids:
            st.session_state[widget] = choice  # the URL wins (a launch, a reload, a link), then the run watched before
            break

    def remember() -> None:
        st.session_state[watched] = st.query_params[key] = st.session_state[widget]

    chosen = st.selectbox(label, ids, format_func=lambda i: run_label(runs[ids.index(i)]), key=widget, on_change=remember)
    st.session_state[watched] = st.query_params[key] = chosen
    return find_run(chosen)
