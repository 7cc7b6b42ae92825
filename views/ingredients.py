"""Ingredients: upload checkpoints or pick them from server folders; validate; table with held-out accuracy."""

from pathlib import Path

import pandas as pd
import streamlit as st

from app_lib import model_settings
from app_lib.demo import demo_config, demo_status
from app_lib.draft import model_problem
from app_lib.heldout import heldout_accuracy
from app_lib.ingredient_pool import (
    NAME_CHARS,
    UploadTooLarge,
    check_file,
    check_head,
    hparams_beside,
    hparams_text,
    ingredient_name,
    remove_upload,
    rename,
    save_upload,
    uploads_dir,
)
from app_lib.paths import data_roots, inside_roots, list_files
from app_lib.ui import draft, setting_widget
from app_lib.vocabulary import counted, to_percent
from manifoldmix_core.anatomy import SUFFIXES, is_model_folder
from manifoldmix_core.config import parse_config
from manifoldmix_core.errors import ManifoldMixError, PathError
from manifoldmix_core.families import FAMILIES

MAX_UPLOAD_MB = int(st.get_option("server.maxUploadSize"))

st.title("Ingredients")
st.caption("The finetuned checkpoints to fuse: all must share one architecture (same parameter names, shapes and dtypes). "
           "Files are read as tensors only (safetensors, or torch weights_only); pickled code is refused. Model families, "
           f"detected from the parameter names: {', '.join(f.label for f in FAMILIES.values())}.")
config = draft()
pool = config.setdefault("ingredients", [])
problems = st.session_state.setdefault("ingredient_problems", {})


def add(paths) -> None:
    """Validate files against the first ingredient and add the good ones; remember the errors of the others (a refused
    upload is deleted again) and say which files the pool already holds."""
    reference = pool[0]["path"] if pool else None
    for path in paths:
        path = path.parent if is_model_folder(path.parent) else path  # a model folder's weights stand for the folder
        taken = {i["name"] for i in pool}
        held = next((i["name"] for i in pool if i["path"] == str(path)), None)
        if held:
            st.info(f"{path.name} is already an ingredient ({held}).")
            continue
        checked = check_file(path, ingredient_name(path.stem, taken), reference, model_settings.given(config).get("head"))
        if checked.error:
            problems[str(path)] = checked.error
            remove_upload(path)
            continue
        problems.pop(str(path), None)
        pool.append({"name": checked.name, "path": str(path), "hparams": hparams_beside(path)})
        reference = reference or str(path)


upload_tab, server_tab, demo_tab = st.tabs(["Upload", "Server folder", "Demo zoo"])
with upload_tab:
    files = st.file_uploader(f"Checkpoint files (at most {MAX_UPLOAD_MB} MB each; larger ones: use a server folder)",
                             type=[s.lstrip(".") for s in SUFFIXES], accept_multiple_files=True, key="upload")
    if files and st.button("Add uploaded files", key="add_uploads"):
        saved = []
        for file in files:
            try:
                saved.append(save_upload(file, file.name, MAX_UPLOAD_MB << 20))
            except UploadTooLarge as exc:
                problems[file.name] = str(exc)
        add(saved)
def server_folder(prefix: str) -> tuple[Path, list[Path], list[str]]:
    """An allowed folder and a sub-folder inside it, chosen by the user: the folder and the checkpoint files below it
    (paths, and their names relative to it) for a picker; a sub-folder leaving the allowed folders is refused."""
    roots = data_roots()
    root = st.selectbox("Allowed folder", roots, format_func=str, key=f"{prefix}root")
    sub = st.text_input("Sub-folder (relative)", "", key=f"{prefix}sub")
    try:
        folder = inside_roots(root / sub, roots)
        found = list_files(folder, SUFFIXES, roots)
    except PathError as exc:
        st.error(str(exc))
        return root, [], []
    return (folder if sub or found else root), found, [str(p.relative_to(folder)) for p in found]


with server_tab:
    folder, found, labels = server_folder("server_")
    picked = st.multiselect(f"Checkpoints in {folder}", labels, key="server_files")
    if st.button("Add selected files", disabled=not picked, key="add_server"):
        add([found[labels.index(p)] for p in picked])
with demo_tab:
    ready, reason = demo_status()
    if ready:
        if st.button("Use the demo zoo and its datasets", key="use_demo"):
            st.session_state["draft"] = config = demo_config()
            pool = config["ingredients"]
    else:
        st.info(reason)

for error in list(problems.values()):
    hint = " Choose the shared head file in the Model section below, then add them again." if "as model.head" in str(error) else ""
    st.error(f"Not added: {error}{hint}")
if problems and st.button("Dismiss errors", key="dismiss"):
    problems.clear()
    st.rerun()



def head_picker(control) -> tuple[str | None, bool]:
    """The shared head file of headless finetunes (the `file` control of the model settings), and whether the user just
    changed it: kept, cleared, or picked from an allowed server folder or uploaded, as checkpoints are, and used only
    once it reads as a linear head. A head the draft names outside those folders (a hand-edited workspace) is dropped
    with a message."""
    current, chosen = control.value, None
    if current:
        try:
            inside_roots(current, [*data_roots(), uploads_dir()])
        except PathError as exc:
            st.error(f"Shared head dropped: {exc}")
            current = None
    with st.expander(f"{control.label}: {Path(current).name if current else 'none'}", expanded=False):
        st.caption(control.help[:1].upper() + control.help[1:] + ".")
        server, upload = st.tabs(["Server folder", "Upload"])
        with server:
            folder, found, labels = server_folder("head_")
            picked = st.selectbox(f"Head files in {folder}", labels, index=None, key="head_file")
            if st.button("Use as shared head", disabled=picked is None, key="use_head"):
                chosen = found[labels.index(picked)]
        with upload:
            file = st.file_uploader(f"Head file (at most {MAX_UPLOAD_MB} MB)", type=[s.lstrip(".") for s in SUFFIXES],
                                    key="head_upload")
            if file and st.button("Use uploaded head", key="use_uploaded_head"):
                try:
                    chosen = save_upload(file, file.name, MAX_UPLOAD_MB << 20)
                except UploadTooLarge as exc:
                    st.error(str(exc))
        if current and st.button("No shared head", key="clear_head"):
            return None, True
    if chosen is None:
        return current, False
    error = check_head(chosen)
    if error:
        st.error(f"Not used as the shared head: {error}")
        remove_upload(chosen)
        return current, False
    return str(chosen), True


def model_section(found: set[str]) -> None:
    """The run's model settings, their controls made from the engine's ModelConfig (labels, help, choices), saved into the
    draft's `model` once the engine's schema accepts them; a value that does not parse is said and not saved."""
    st.subheader("Model")
    families = sorted(f for f in found if f)
    st.caption(f"Family detected from the checkpoints: {families[0]}." if len(families) == 1 else
               f"The checkpoints are of several families ({', '.join(families)}); a pool holds one." if families else
               "The family is detected from the checkpoints' parameter names. Headless finetunes need their shared "
               "head file first.")
    controls = model_settings.controls(config)
    values, problems, picked = {}, [], False
    columns = st.columns(3)
    for n, control in enumerate(c for c in controls if c.kind != "file"):
        value, trouble = setting_widget(columns[n % 3], control)
        if trouble:
            problems.append(trouble)
        else:
            values[control.name] = value
    for control in controls:
        if control.kind == "file":
            values[control.name], picked = head_picker(control)
    section = model_settings.saved(config, values)
    trouble = model_settings.problem(section)
    for problem in [*problems, trouble]:
        if problem:
            st.error(f"Not saved: {problem}")
    if trouble is None:
        config["model"] = section
        if picked:
            st.rerun()  # the head's expander, the table and the checks show the new head
    if pool and not problems and trouble is None:
        try:
            warning = model_problem(parse_config(config)) if config.get("val") else None
        except ManifoldMixError:
            warning = None  # the Run page names what else is missing
        if warning:
            st.warning(warning)


st.subheader(counted(len(pool), "ingredient"))
if not pool:
    st.info("No ingredients yet.")
    model_section(set())
    st.stop()


@st.cache_data(max_entries=1000)
def summary(path: str, mtime: float, head: str | None) -> tuple[int, int, str]:
    """Size, parameter count and model family of a checkpoint with the shared head, if any (cached per file version)."""
    checked = check_file(Path(path), head=head)
    return checked.size, checked.n_params, checked.family


def heldout_key(ing: dict) -> tuple:
    """Held-out accuracy depends on the file version and on the held-out set."""
    path = Path(ing["path"])
    return str(path), path.stat().st_mtime if path.exists() else 0, str(config.get("val"))


cache = st.session_state.setdefault("heldout_cache", {})
head = model_settings.given(config).get("head")
rows = []
for ing in pool:
    path = Path(ing["path"])
    size, n_params, family = summary(str(path), path.stat().st_mtime, head) if path.exists() else (0, 0, "")
    rows.append({"remove": False, "name": ing["name"], "file": ing["path"], "family": family, "size (MB)": round(size / 1e6, 2),
                 "parameters": n_params, "held-out accuracy (%)": to_percent(cache.get(heldout_key(ing))),
                 "hyperparameters": hparams_text(ing.get("hparams"))})
edited = st.data_editor(pd.DataFrame(rows), disabled=["file", "family", "size (MB)", "parameters", "held-out accuracy (%)",
                                                      "hyperparameters"], hide_index=True, key="ingredient_table", placeholder="–",
                        column_config={"held-out accuracy (%)": st.column_config.NumberColumn(
                            format="%.2f", help="– until 'Compute held-out accuracy' below measures it on this "
                            "workspace's held-out set; a run's own measurements are on its Run and Results pages"),
                                       "name": st.column_config.TextColumn(help=f"Click to rename: letters, digits, '.', '_' "
                                                                          f"and '-', at most {NAME_CHARS} characters")})
changed = False
for row, typed in zip(rows, edited["name"], strict=True):
    if not isinstance(typed, str) or typed == row["name"]:
        continue
    try:
        new = rename(pool, row["name"], typed)
    except ValueError as exc:
        st.error(f"Not renamed: {exc}")
        continue
    changed = changed or new != row["name"]
    if new != typed:
        st.toast(f"Renamed {row['name']} to {new} (names keep to plain characters)")
if changed:
    st.session_state.pop("ingredient_table", None)  # the table shows the names as kept, not as typed
    st.rerun()
if edited["remove"].any() and st.button("Remove ticked ingredients", key="remove"):
    keep = set(edited.loc[~edited["remove"], "name"])
    config["ingredients"] = [i for i in pool if i["name"] in keep]
    st.rerun()
if config.get("val") and st.button("Compute held-out accuracy", key="heldout"):
    todo = [i["name"] for i in pool if heldout_key(i) not in cache]
    with st.spinner(f"Evaluating {counted(len(todo), 'ingredient')} on {config['val']['name']}…"):
        try:
            accuracy = heldout_accuracy(config, todo) if todo else {}
        except Exception as exc:  # a dataset or model problem is shown, the table stays
            st.error(f"Could not compute held-out accuracy: {exc}")
        else:
            cache.update({heldout_key(i): accuracy[i["name"]] for i in pool if i["name"] in accuracy})
            st.rerun()
elif not config.get("val"):
    st.caption("Choose a held-out set on Datasets to compute held-out accuracy.")

model_section({row["family"] for row in rows})
