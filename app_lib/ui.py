"""Small Streamlit helpers shared by the pages: the workspace and its draft run, the run picked in the URL, state badges."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import StopException, get_script_run_ctx

from manifoldmix_core.errors import ManifoldMixError, PathError
from manifoldmix_core.safepaths import shown

from . import workspace
from .draft import initial_draft
from .method_settings import Control, shown_text, typed
from .paths import data_roots, inside_roots
from .run_store import RunInfo, find_run, list_runs

STATE_ICONS = {"queued": ":material/schedule:", "running": ":material/directions_run:", "finished": ":material/check_circle:",
               "failed": ":material/error:", "cancelled": ":material/cancel:", "interrupted": ":material/warning:"}


WS = "ws"
_EDITOR_STATE = ("partition_model", "partition_assignment", "partition_pending")  # the Partition page's working copy
_VERSION, _BASE, _BROWSER, _NOTICE = "ws_version", "ws_base", "ws_browser", "ws_notice"
_PAGE, _VIEWED = "ws_page", "ws_viewed"  # the page that ran last; the pages shown since the workspace was entered
_KEPT_ON_CONFLICT = {WS, "draft", _VERSION, _BASE, _BROWSER, _NOTICE, _PAGE}  # other keys (widgets, editors) restart from the draft
BROWSER_COOKIE = "manifoldmix_browser"
CHANGED = "changed"  # ?changed=elsewhere: this page reloaded itself because its setup was changed in another tab
COOKIE_DAYS = 400  # the longest lifetime browsers grant a cookie
CHANGED_ELSEWHERE = ("This setup was changed in another tab or browser since this page showed it, so a change made here "
                     "just now was not saved. This is the current setup.")


def browser() -> str:
    """This browser's token: the cookie it sends (st.context.cookies, set by the app on its first visit), else a new
    one for this session, which a small script stores as that cookie, so reloads and other tabs send it."""
    token = st.context.cookies.get(BROWSER_COOKIE)
    if workspace.is_browser(token):
        st.session_state[_BROWSER] = token
        return token
    if not workspace.is_browser(st.session_state.get(_BROWSER)):
        st.session_state[_BROWSER] = workspace.new_browser()
    token = st.session_state[_BROWSER]
    with st.sidebar:  # the token is ours (is_browser): nothing from the request reaches the script
        st.html(f"<script>document.cookie = '{BROWSER_COOKIE}={token}; path=/; max-age={COOKIE_DAYS * 86400}; "
                "SameSite=Strict';</script>", unsafe_allow_javascript=True)
    return token


def open_workspace() -> str:
    """The workspace of this session, named in the URL (?ws=): the URL's when it names one on disk (a reload, a new
    tab, a shared link), else the session's, else a new one starting from the demo's config. Called by app.py and
    draft(). A new workspace gets its file (and its id in the URL) with the first change: viewing creates nothing.

    It first saves what the previous run changed: app.py saves after every page too, but a page run on its own
    (AppTest's switch_page runs the page file without app.py) would otherwise keep its changes in the session only.
    Then it checks the file's version: when another tab or browser saved since, this session shows that setup instead.
    """
    persist_workspace()
    context = get_script_run_ctx()
    st.session_state[_PAGE] = context.page_script_hash if context else None
    token = browser()
    wanted = st.query_params.get(WS)
    if wanted and wanted != st.session_state.get(WS):
        try:
            saved = workspace.load_versioned(wanted)
        except ManifoldMixError as exc:
            st.sidebar.error(f"Workspace {shown(wanted)} cannot be opened: {exc}. Started a new one.")
        else:
            if saved is not None:
                _enter(wanted, *saved)
                workspace.remember(token, wanted)
            else:
                st.sidebar.error(f"No workspace {shown(wanted)} here: started a new one (links work on the machine that made them).")
    if WS not in st.session_state:
        _enter(workspace.new_id(), st.session_state.get("draft") or initial_draft(), None)
    else:
        _follow_disk()
    if st.session_state[_VERSION] is None:
        st.query_params.pop(WS, None)  # no file yet: a reload must not name a workspace that does not exist
    else:
        st.query_params[WS] = st.session_state[WS]  # page links drop query parameters: put it back
    if st.query_params.get(CHANGED) == "elsewhere":
        st.session_state[_NOTICE] = CHANGED_ELSEWHERE
    st.query_params.pop(CHANGED, None)
    notice = st.session_state.pop(_NOTICE, None)
    if notice:
        st.warning(notice, icon=":material/sync_problem:")
    return st.session_state[WS]


def _enter(ws_id: str, saved: dict, version: int | None) -> None:
    st.session_state[WS], st.session_state["draft"] = ws_id, saved
    st.session_state[_VERSION], st.session_state[_BASE], st.session_state[_VIEWED] = version, _plain(saved), set()
    for key in _EDITOR_STATE:
        st.session_state.pop(key, None)


def _plain(draft: dict) -> dict:
    """A deep copy in JSON form: what the draft was when last loaded or saved (pages change the draft in place)."""
    return json.loads(json.dumps(draft))


def _changed_elsewhere(saved: dict, version: int) -> None:
    """Show what another tab or browser saved: the draft and its version, widgets restarting from it, and a notice.

    The browser keeps what was typed into a widget whatever the server's state says, so the page also reloads itself
    (a new session reads the current file) with ?changed=elsewhere, which makes that session say why."""
    for key in [k for k in st.session_state if k not in _KEPT_ON_CONFLICT and not str(k).startswith("watched_")]:
        del st.session_state[key]
    _enter(st.session_state[WS], saved, version)
    st.session_state[_NOTICE] = CHANGED_ELSEWHERE
    st.html(f"<script>const url = new URL(window.location.href); url.searchParams.set('{WS}', '{st.session_state[WS]}');"
            f"url.searchParams.set('{CHANGED}', 'elsewhere'); window.location.replace(url.toString());</script>",
            unsafe_allow_javascript=True)  # the id passed the workspace id check: nothing from the request reaches it


def _follow_disk() -> None:
    """When the workspace file's version is not the one this session holds, another tab or browser saved: follow it."""
    if st.session_state.get(_VERSION) is None:
        return
    try:
        saved = workspace.load_versioned(st.session_state[WS])
    except ManifoldMixError:
        return  # damaged since: the next save replaces it
    if saved is not None and saved[1] != st.session_state[_VERSION]:
        _changed_elsewhere(*saved)


def persist_workspace(ended: bool = False) -> bool:
    """Save the draft when the user changed it (app.py calls this after every page run with ended=True, open_workspace
    before one), as a compare-and-swap on the version this session holds; True when it was refused because the setup
    changed elsewhere (the next run then shows the current one and says so).

    A page's first run on a workspace is a view: what it changes then (defaults it fills in, a preset it spells out)
    becomes the base without a save, so viewing never creates or changes a workspace; changes on later runs of a page
    come from the user's widgets and callbacks, and are saved.
    """
    state = _state(ended)
    if any(key not in state for key in (WS, "draft", _VERSION, _BASE)):
        return False
    page = state[_PAGE] if _PAGE in state else None
    viewed = state[_VIEWED] if _VIEWED in state else set()
    state[_VIEWED] = viewed
    changed = _plain(state["draft"]) != state[_BASE]
    if changed and page not in viewed:  # the page's first run on this workspace: a view, whatever it filled in
        state[_BASE], changed = _plain(state["draft"]), False
    if ended:
        viewed.add(page)  # marked after its first run: changes from its later runs are the user's
    if not changed:
        return False
    try:
        version = workspace.save(state[WS], state["draft"], state[_VERSION])
    except workspace.Stale as exc:
        if not ended:
            _changed_elsewhere(exc.draft, exc.version)
        return True  # after a page's run: the next run's save is refused again, and shows the current setup
    state[_VERSION], state[_BASE] = version, _plain(state["draft"])
    if workspace.is_browser(state[_BROWSER] if _BROWSER in state else None):
        workspace.remember(state[_BROWSER], state[WS])
    with contextlib.suppress(StopException):  # a page that called st.stop() gets its URL with the next run
        st.query_params[WS] = state[WS]
    return False


def _state(ended: bool):
    """st.session_state; after a page's run, the session's state itself: once a page called st.stop(), every access
    through st.session_state raises StopException, and that run's changes must still be saved."""
    if ended:
        raw = getattr(getattr(get_script_run_ctx(), "session_state", None), "_state", None)
        if raw is not None:
            return raw
    return st.session_state


def reset_workspace() -> None:
    """Start a new workspace from the defaults (its file comes with its first change); the old one stays on disk, so
    links to it keep working."""
    persist_workspace()
    _enter(workspace.new_id(), initial_draft(), None)
    st.query_params.pop(WS, None)


def switch_workspace(ws_id: str) -> None:
    """Open another saved workspace in this session (the Start page's list of earlier ones)."""
    try:
        saved = workspace.load_versioned(ws_id)
    except ManifoldMixError as exc:  # damaged since Start listed it
        st.toast(f"Workspace {ws_id} cannot be opened: {exc}")
        return
    if saved is not None:
        persist_workspace()
        _enter(ws_id, *saved)
        workspace.remember(browser(), ws_id)
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
    if control.kind == "count":
        value = where.number_input(label, value=None if control.value is None else int(control.value), step=1, help=help,
                                   placeholder="empty: the default", key=key)
        return None if value is None else int(value), None
    if control.kind == "float":
        return float(where.number_input(label, value=float(control.value), step=0.001, format="%.3f", help=help, key=key)), None
    if control.kind == "pick":
        return where.segmented_control(label, control.options, default=control.value, required=True, help=help, key=key), None
    if control.kind == "open":
        options = list(control.options)
        return where.selectbox(label, options, index=options.index(control.value) if control.value in options else 0, help=help,
                               accept_new_options=True, key=key), None
    if control.kind == "choice":
        index = control.options.index(control.value) if control.value in control.options else 0
        chosen = where.selectbox(label, control.labels, index=index, help=help, key=key)
        return control.options[control.labels.index(chosen)], None
    if control.kind in ("json", "name", "numbers"):
        return typed(control, where.text_input(label, shown_text(control), help=help, key=key))
    text = where.text_input(label, "" if control.value is None else str(control.value), help=help, key=key).strip()
    if not text and control.optional and control.kind != "file":
        return None, None
    if not text:
        return None, f"Give {label}." if control.value is None or control.kind == "file" else None
    if control.kind != "file":
        return text, None
    try:
        return str(inside_roots(text, data_roots())), None
    except PathError as exc:
        return None, str(exc)
