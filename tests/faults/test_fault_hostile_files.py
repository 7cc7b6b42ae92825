# ruff: noqa: F811  (pytest fixtures imported from app_support are redefined as arguments)
"""Hostile files and names (issue 17, items 1-5 and 8): every path derived from data goes through one checker
(safepaths), every workspace and sweep.json is read through its schema (jsonfile); each case ends in a clear error or
is handled, never in a traceback, a silently accepted input or a file written outside the runs root."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from app_support import APP, app_env, toy_draft  # noqa: F401
from conftest import report
from helpers import DAMAGED_SWEEPS, DAMAGED_WORKSPACES, cli, small_toy_config, write_sweep
from streamlit.testing.v1 import AppTest
from test_app_pages import open_page, texts

from app_lib import workspace
from manifoldmix_core import runs, sweep
from manifoldmix_core.config import load_config
from manifoldmix_core.errors import ConfigError
from manifoldmix_core.methods import WISE_FT

LONGEST_MESSAGE = 2000  # a refused 100,000-character id is named in a few dozen characters, not echoed whole


def listing(folder: Path) -> dict[str, bytes]:
    """Every file below a folder with its content: what a refused command must leave unchanged."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(done, *fragments: str) -> None:
    """A CLI command that refused: exit code 2, one readable error line naming the fragments, no traceback."""
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr and len(done.stderr) < LONGEST_MESSAGE, done.stderr[-3000:]
    assert all(f in done.stderr for f in fragments), done.stderr


# -- 1. sweep members cannot name folders outside the runs root ---------------------------------------------------------

@pytest.mark.parametrize("run_id", ["/OUTSIDE", "../outside", "sub/x", "x" * 100_000])
def test_a_sweep_member_run_id_that_is_no_plain_name_is_refused_and_nothing_is_written(run_id, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / runs.CONFIG).write_text(json.dumps({"name": "not yours"}))
    before = listing(outside)
    run_id = run_id.replace("/OUTSIDE", str(outside))
    sweep_dir = write_sweep(tmp_path / "runs" / "t", {"name": "t", "members": [{"run_id": run_id, "setting": "w", "seed": 0}]})
    done = cli("sweep", sweep_dir, "--quiet")
    refused(done, "sweep.json is damaged", "run_id")
    assert listing(outside) == before and sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["t"]
    report(fault=f"sweep member run_id {run_id[:30]!r}", phase="sweep", ended_in_s=None, status="refused (exit 2), nothing written",
           resume="n/a")


def test_a_sweep_member_folder_symlinked_outside_the_runs_root_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / runs.CONFIG).write_text(json.dumps({"name": "not yours"}))
    sweep_dir = write_sweep(tmp_path / "runs" / "t", {"name": "t", "members": [{"run_id": "t-01", "setting": "w", "seed": 0}]})
    (tmp_path / "runs" / "t-01").symlink_to(outside, target_is_directory=True)
    done = cli("sweep", sweep_dir, "--quiet")
    refused(done, "t-01", "leads outside")
    assert listing(outside) == {runs.CONFIG: json.dumps({"name": "not yours"}).encode()}


def test_experiments_page_shows_a_sweep_with_an_outside_member_as_damaged(app_env, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    write_sweep(app_env / "20990101-000000-t", {"name": "t", "members": [{"run_id": str(outside), "setting": "w", "seed": 0}]})
    at = open_page("views/experiments.py")
    assert "is damaged and cannot be shown" in texts(at.error) and "run_id" in texts(at.error)
    assert not [b for b in at.button if b.key in ("resume_sweep", "cancel_sweep")]


# -- 3. a damaged sweep.json is named, on the CLI and on Experiments ----------------------------------------------------

@pytest.mark.parametrize("case", DAMAGED_SWEEPS)
def test_a_damaged_sweep_json_is_a_clear_cli_error_naming_the_file(case, tmp_path):
    sweep_dir = write_sweep(tmp_path / "runs" / "t", DAMAGED_SWEEPS[case])
    refused(cli("sweep", sweep_dir, "--quiet"), f"{sweep_dir / sweep.SWEEP} is damaged")
    report(fault=f"sweep.json: {case}", phase="sweep", ended_in_s=None, status="clear error (exit 2)", resume="n/a")


@pytest.mark.parametrize("case", ["no members", "not UTF-8", "nested 200,000 deep"])
def test_experiments_page_shows_a_damaged_newest_sweep_as_damaged(case, app_env):
    write_sweep(app_env / "20990101-000000-t", DAMAGED_SWEEPS[case])
    at = open_page("views/experiments.py")
    assert "Sweep 20990101-000000-t is damaged and cannot be shown" in texts(at.error)


# -- 4. plan_sweep checks its inputs against the engine's registries, and plans all or nothing --------------------------

BAD_PLANS = {
    "unknown granularity": ((["tiny"], ["Cobyla"], [0]), "unknown partition preset 'tiny'"),
    "unknown optimizer": ((["whole"], ["Cobla"], [0]), "nevergrad has no optimizer 'Cobla'"),
    "seed 'a'": ((["whole"], ["Cobyla"], ["a"]), "seeds must be whole numbers"),
    "seed 1.5": ((["whole"], ["Cobyla"], [1.5]), "seeds must be whole numbers"),
    "seed -1": ((["whole"], ["Cobyla"], [-1]), "seeds must be whole numbers"),
    "seed true": ((["whole"], ["Cobyla"], [True]), "seeds must be whole numbers"),
    "partitions as a string": (("whole", ["Cobyla"], [0]), "partitions must be a non-empty list"),
    "3,000 seeds": ((["whole"], ["Cobyla"], list(range(3000))), "would be 3000 runs, more than 1000"),
    "duplicate seeds": ((["whole"], ["Cobyla"], [0, 0]), "seeds lists 0 twice"),
}


@pytest.mark.parametrize("case", BAD_PLANS)
def test_plan_sweep_refuses_bad_inputs_and_leaves_nothing(case, tmp_path):
    (partitions, optimizers, seeds), message = BAD_PLANS[case]
    root = tmp_path / "runs"
    with pytest.raises(ConfigError, match=message):
        sweep.plan_sweep(root / "s", {"name": "x"}, partitions, optimizers, seeds)
    assert not root.exists()
    report(fault=f"plan_sweep: {case}", phase="plan", ended_in_s=None, status="clear error, nothing written", resume="n/a")


def test_planning_onto_a_taken_member_name_leaves_nothing_behind(tmp_path):
    root = tmp_path / "runs"
    (root / "s-02").mkdir(parents=True)
    (root / "s-02" / "mine.txt").write_text("someone else's")
    with pytest.raises(ConfigError, match="s-02 already exists"):
        sweep.plan_sweep(root / "s", {"name": "x"}, ["whole", "medium"], ["Cobyla"], [0])
    assert listing(root) == {"s-02/mine.txt": b"someone else's"}


def test_a_deleted_member_folder_is_reported_missing_and_the_sweep_fails(tmp_path):
    root = tmp_path / "runs"
    plan = sweep.plan_sweep(root / "s", {"name": "x"}, ["whole"], ["Cobyla"], [0])
    shutil.rmtree(sweep.member_dir(root / "s", plan.members[0]))
    done = cli("sweep", root / "s", "--quiet")
    assert done.returncode == 1, done.stderr
    assert "member s-01 failed: its folder" in done.stderr and "is missing" in done.stderr
    assert "error: sweep s: 1 of 1 members failed" in done.stderr
    assert sweep.sweep_state(root / "s") == ("finished", {"missing": 1})


# -- 5. a member failing with any error fails alone ------------------------------------------------------------------------

def bomb_png(path: Path, side: int = 30_000) -> None:
    """A tiny PNG whose header claims side × side pixels (Pillow refuses it as a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.mark.slow
def test_a_member_failing_with_any_error_is_marked_failed_and_the_sweep_goes_on(toy_world, tmp_path):
    base = load_config(small_toy_config(toy_world, "sweep-bomb")).to_dict()
    root = tmp_path / "runs"
    plan = sweep.plan_sweep(root / "s", base, ["whole", "coarse"], ["Cobyla"], [0])
    first, second = (sweep.member_dir(root / "s", m) for m in plan.members)
    bomb_png(tmp_path / "bomb" / "circle" / "huge.png")
    config = json.loads((first / runs.CONFIG).read_text())
    config["val"] = {"name": "val", "source": "imagefolder", "path": str(tmp_path / "bomb")}
    (first / runs.CONFIG).write_text(json.dumps(config))
    done = cli("sweep", root / "s", "--quiet", timeout=900)  # two runs on a loaded 2-core machine
    assert done.returncode == 1, done.stderr[-3000:]
    assert "error: sweep s: 1 of 2 members failed" in done.stderr and "Traceback" not in done.stderr
    reason = runs.read_status(first).message  # Pillow's own error today; a DatasetError naming the file once images are capped
    assert runs.read_status(first).state == "failed" and ("DecompressionBombError" in reason or "huge.png" in reason)
    assert f"member s-01 failed: {reason}" in done.stderr
    assert runs.read_status(second).state == "finished" and (second / runs.RESULTS).is_file()
    report(fault="sweep member: 30000x30000 px image", phase="sweep", ended_in_s=None,
           status="member failed with its reason, next member finished, exit 1", resume="n/a")


# -- 2. a damaged workspace file is named; every page goes on ------------------------------------------------------------

DAMAGED = "ws-damaged1"


def damaged_workspace(app_env: Path, case: str) -> Path:
    """The workspaces folder of app_env holding one damaged workspace file (a symlink points at a valid draft outside)."""
    folder = app_env.parent / "workspaces"
    folder.mkdir(exist_ok=True)
    path = folder / f"{DAMAGED}.json"
    if DAMAGED_WORKSPACES[case] is None:
        secret = app_env.parent / "secret.json"
        secret.write_text(json.dumps({"name": "read through a symlink", "ingredients": []}))
        path.symlink_to(secret)
    else:
        path.write_bytes(DAMAGED_WORKSPACES[case])
    return path


@pytest.mark.parametrize("case", DAMAGED_WORKSPACES)
def test_start_lists_a_damaged_workspace_as_damaged_and_opening_its_link_starts_a_new_one(case, app_env):
    damaged_workspace(app_env, case)
    at = open_page("views/start.py")
    workspace.remember(at.session_state["ws_browser"], DAMAGED, app_env.parent / "workspaces")  # this browser knows it
    at.run()
    assert f"`{DAMAGED}` · damaged, cannot be opened" in texts(at.caption)
    assert "read through a symlink" not in texts(at.caption)
    linked = AppTest.from_file(str(APP), default_timeout=60)
    linked.query_params["ws"] = DAMAGED
    linked.run()
    assert not linked.exception, [e.value for e in linked.exception]
    assert f"Workspace '{DAMAGED}' cannot be opened" in texts(linked.sidebar.error)
    assert linked.query_params.get("ws") != DAMAGED and linked.session_state["draft"].get("name") != "read through a symlink"
    report(fault=f"workspace file: {case}", phase="app", ended_in_s=None, status="listed as damaged; link starts a new one",
           resume="n/a")


@pytest.mark.parametrize("view", ["views/ingredients.py", "views/datasets.py", "views/partition.py", "views/run.py",
                                  "views/experiments.py"])
def test_every_page_opened_on_a_damaged_workspace_goes_on(view, app_env):
    damaged_workspace(app_env, "wrong types")
    at = open_page(view, query={"ws": DAMAGED})  # it fails on any exception
    assert at.query_params.get("ws") != DAMAGED and isinstance(at.session_state["draft"]["ingredients"], list)


# -- 8. text that is no path, deeply nested JSON and empty checkpoints on the input pages -------------------------------

NO_PATHS = {"a NUL byte": ("sub\x00dir", "contains a NUL byte"), "an over-long path": ("x" * 5000, "is too long for a path")}


@pytest.mark.parametrize("case", NO_PATHS)
def test_ingredients_server_folder_that_is_no_path_is_an_error(case, app_env):
    text, message = NO_PATHS[case]
    at = open_page("views/ingredients.py")
    at.text_input(key="server_sub").set_value(text).run()
    assert not at.exception, [e.value for e in at.exception]
    assert message in texts(at.error) and len(texts(at.error)) < LONGEST_MESSAGE


@pytest.mark.parametrize("case", NO_PATHS)
def test_run_wise_ft_checkpoint_that_is_no_path_is_an_error(case, app_env, toy_world):
    text, message = NO_PATHS[case]
    draft = toy_draft(toy_world)
    at = open_page("views/run.py", draft={**draft, "methods": [*draft["methods"], WISE_FT.name]})
    at.text_input(key="run_wise_ft.zero_shot").set_value(text).run()
    assert not at.exception, [e.value for e in at.exception]
    assert message in texts(at.error)


@pytest.mark.parametrize("case", NO_PATHS)
def test_datasets_path_that_is_no_path_is_an_error(case, app_env, toy_world):
    text, message = NO_PATHS[case]
    at = open_page("views/datasets.py", draft=toy_draft(toy_world))
    at.text_input(key="set_name").set_value("odd")
    at.selectbox(key="set_source").set_value("tensors")
    at.text_input(key="set_path").set_value(text)
    at.form_submit_button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert message in texts(at.error)


def test_datasets_class_map_nested_deep_is_an_error(app_env, toy_world):
    at = open_page("views/datasets.py", draft=toy_draft(toy_world))
    at.text_input(key="set_name").set_value("deep")
    at.selectbox(key="set_source").set_value("tensors")
    at.text_input(key="set_path").set_value("test.safetensors")
    at.text_input(key="set_map").set_value("[" * 200_000)
    at.form_submit_button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "class map must be a JSON object" in texts(at.error)


def test_partition_upload_nested_deep_is_an_error(app_env, toy_world):
    at = open_page("views/partition.py", draft=toy_draft(toy_world))
    at.file_uploader(key="load_partition").set_value(("deep.json", b"[" * 200_000, "application/json"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Not loaded" in texts(at.error) and "nested more than 64 levels deep" in texts(at.error)


def test_an_empty_checkpoint_upload_says_it_is_empty(app_env):
    at = open_page("views/ingredients.py")
    at.file_uploader(key="upload").set_value([("empty.pt", b"", "application/octet-stream")])
    at.run()
    at.button(key="add_uploads").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "is an empty file (0 bytes)" in texts(at.error) and "readable PyTorch checkpoint ()" not in texts(at.error)
