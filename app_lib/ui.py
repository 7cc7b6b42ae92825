"""Small Streamlit helpers shared by the pages: the workspace and its draft run, the run picked in the URL, state badges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from manifoldmix_core.errors import ManifoldMixError, PathError
from manifoldmix_core.safepaths import shown

from . import workspace
from .draft import initial_draft
from .method_settings import Control
from .paths import data_roots, inside_roots
from .run_store import RunInfo, find_run, list_runs

STATE_ICONS = {"queued": ":material/schedule:", "running": ":material/directions_run:", "finished": ":material/check_circle:",
               "failed": ":material/error:", "cancelled": ":material/cancel:", "interrupted": ":material/warning:"}


WS = "ws"
_EDITOR_STATE = ("partition_model", "partition_assignment", "partition_pending")  # the Partition page's working copy


def open_workspace() -> str:
    """The workspace of this session, named in the URL (?ws=): the URL's when it names one (a reload, a new tab, a
    shared link), else the session's, else a new one starting from the demo's config. Called by app.py and draft().

    It first saves what the previous run changed: app.py saves after every page too, but a page run on its own
    (AppTest's switch_page runs the page file without app.py) would otherwise keep its changes in the session only.
    """
    persist_workspace()
    wanted = st.query_params.get(WS)
    if wanted and wanted != st.session_state.get(WS):
        try:
            saved = workspace.load(wanted)
        except ManifoldMixError as exc:
            st.sidebar.error(f"Workspace {shown(wanted)} cannot be opened: {exc}. Started a new one.")
        else:
            if saved is not None:
                _enter(wanted, saved)
            else:
                st.sidebar.error(f"No workspace {shown(wanted)} here: started a new one (links work on the machine that made them).")
    if WS not in st.session_state:
        _enter(workspace.new_id(), st.session_state.get("draft") or initial_draft())
    st.query_params[WS] = st.session_state[WS]  # page links drop query parameters: put it back
    return st.session_state[WS]


def _enter(ws_id: str, saved: dict) -> None:
    st.session_state[WS], st.session_state["draft"] = ws_id, saved
    for key in _EDITOR_STATE:
        st.session_state.pop(key, None)


def persist_workspace() -> None:
    """Write the draft to the workspace file when a page changed it (app.py calls this after every page run)."""
    if WS in st.session_state and "draft" in st.session_state:
        workspace.save(st.session_state[WS], st.session_state["draft"])


def reset_workspace() -> None:
    """Start a new workspace from the defaults; the old one stays on disk, so links to it keep working."""
    _enter(workspace.new_id(), initial_draft())
    st.query_params[WS] = st.session_state[WS]


def switch_workspace(ws_id: str) -> None:
    """Open another saved workspace in this session (the Start page's list of earlier ones)."""
    try:
        saved = workspace.load(ws_id)
    except ManifoldMixError as exc:  # damaged since Start listed it
        st.toast(f"Workspace {ws_id} cannot be opened: {exc}")
        return
    if saved is not None:
        persist_workspace()
        _enter(ws_id, saved)
        st.query_params[WS] = ws_id


def draft() -> dict:
    """The run being assembled in this workspace (pages change it in place; app.py saves it after the page ran)."""
    open_workspace()
    return st.session_state["draft"]


def run_label(info: RunInfo) -> str:
    """Selectbox options render plain text, so the state is spelled out."""
    return f"{info.run_id} ({info.state})"


def pick_run(label: str = "Run", only_finished: bool = False, key: str = "run") -> Path | None:
    """A run chosen in a selectbox that mirrors the URL's ?run= (see url_choice); None when there is no run."""
    runs = [r for r in list_runs() if r.state == "finished" or not only_finished]
    if not runs:
        return None
    ids = [r.run_id for r in runs]
    chosen = url_choice(label, ids, key, lambda i: run_label(runs[ids.index(i)]),
                        lambda wanted: f"No run {wanted} under {runs[0].path.parent}: showing another one. Pick a run below.")
    return find_run(chosen)


def url_choice(label: str, ids: list[str], key: str, format_func=str, unknown=None) -> str:
    """One of `ids` in a selectbox that mirrors the URL's ?<key>=, so reloads, second tabs and links come back to it.

    The URL wins (a launch, a reload, a link), then the choice watched before, which is kept outside the widget
    (Streamlit forgets a widget's state on pages that do not draw it), so leaving the page and coming back shows the
    same item, not the newest one. An id in the URL that names none is said (unknown(id)), not silently replaced.
    """
    widget, watched = f"pick_{key}", f"watched_{key}"
    wanted = st.query_params.get(key)
    if wanted and wanted not in ids and unknown is not None:
        st.error(unknown(wanted))
    for choice in (wanted, st.session_state.get(watched), st.session_state.get(widget), ids[0]):
        if choice in ids:
            st.session_state[widget] = choice
            break

    def remember() -> None:
        st.session_state[watched] = st.query_params[key] = st.session_state[widget]

    chosen = st.selectbox(label, ids, format_func=format_func, key=widget, on_change=remember)
    st.session_state[watched] = st.query_params[key] = chosen
    return chosen


def setting_widget(where, control: Control) -> tuple[Any, str | None]:
    """The widget of one method setting (a field of its settings model) in `where`, and its value with a problem to
    report, if any. Number inputs have no min/max: a browser keeps the last valid value of a bounded input while showing
    the typed one, so the run would silently use another number; the engine's validation says what is wrong instead."""
    key, label, help = control.key, control.label, control.help or None
    if control.kind == "bool":
        return where.checkbox(label, value=bool(control.value), help=help, key=key), None
    if control.kind == "int":
        return int(where.number_input(label, value=int(control.value), step=1, help=help, key=key)), None
    if control.kind == "float":
        return float(where.number_input(label, value=float(control.value), step=0.001, format="%.3f", help=help, key=key)), None
    if control.kind == "pick":
        return where.segmented_control(label, control.options, default=control.value, required=True, help=help, key=key), None
    if control.kind == "open":
        options = list(control.options)
        return where.selectbox(label, options, index=options.index(control.value) if control.value in options else 0, help=help,
                               accept_new_options=True, key=key), None
    text = where.text_input(label, "" if control.value is None else str(control.value), help=help, key=key).strip()
    if not text:
        return None, f"Give {label}." if control.value is None or control.kind == "file" else None
    if control.kind != "file":
        return text, None
    try:
        return str(inside_roots(text, data_roots())), None
    except PathError as exc:
        return None, str(exc)
