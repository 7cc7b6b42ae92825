# ruff: noqa: F811  (pytest fixtures imported from app_support are redefined as arguments)
"""Damaged or forged status.json and results.json (issue 19): both are read through their schemas (run_records), so the
Run page, Results and the Experiments comparison name the file and what is wrong with it, and never show an exception."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from app_support import TOY_RUN, app_env  # noqa: F401
from conftest import report
from helpers import write_sweep
from test_app_pages import open_page, texts

from manifoldmix_core import runs
from manifoldmix_core.errors import DamagedFile

DAMAGED = {  # contents that are no status.json and no results.json
    "not UTF-8": b'{"state": "fin\xff"}',
    "truncated": b'{"state": "finished", "progr',
    "a list": b"[1, 2]",
    "nested 200,000 deep": b"[" * 200_000,
}
DAMAGED_STATUS = {**DAMAGED, "an unknown state": {"state": "exploded"}, "progress as text": {"state": "running", "progress": "half"},
                  "progress above 1": {"state": "running", "progress": 7.0}, "a set placed nowhere": {
                      "state": "finished", "datasets": {"val": {"where": "moon", "device_bytes": 0, "host_bytes": 0}}}}
DAMAGED_RESULTS = {**DAMAGED, "methods as a list": {"methods": []}, "an accuracy as text": {"accuracy": "high"},
                   "no held-out set": {"val_dataset": None}}


def write(path: Path, content: bytes | dict, base: dict | None = None) -> None:
    """Bytes as they are; a dict as JSON, merged into `base` (for results: one method's entry or the top level)."""
    if isinstance(content, bytes):
        path.write_bytes(content)
        return
    data = dict(base or {})
    if "accuracy" in content:  # an entry of a method, not the top level
        data["methods"] = {**data["methods"], "greedy_soup": {**data["methods"]["greedy_soup"], **content}}
    else:
        data.update(content)
    path.write_text(json.dumps(data))


def copy_of_toy_run(root: Path, run_id: str) -> Path:
    return Path(shutil.copytree(root / TOY_RUN, root / run_id))


@pytest.mark.parametrize("case", DAMAGED_STATUS)
def test_the_run_page_names_a_damaged_status_json(case, app_env):
    run_dir = copy_of_toy_run(app_env, "20990101-000000-damaged")
    write(run_dir / runs.STATUS, DAMAGED_STATUS[case])
    status = runs.read_status(run_dir)
    assert status.state == "damaged" and f"{run_dir / runs.STATUS} is damaged" in status.message
    at = open_page("views/run.py", query={"run": run_dir.name})  # open_page asserts no exception
    assert f"{runs.STATUS} is damaged" in texts(at.error) and at.button(key="resume")
    report(fault=f"status.json: {case}", phase="Run page", ended_in_s=None, status="named on the page", resume="offered")


def test_the_next_status_write_replaces_a_damaged_status_json(tmp_path):
    (tmp_path / runs.STATUS).write_bytes(DAMAGED["truncated"])
    runs.StatusWriter(tmp_path).update(state="queued", message="resuming")
    assert runs.read_status(tmp_path).state == "queued" and runs.read_status(tmp_path).message == "resuming"


@pytest.mark.parametrize("case", DAMAGED_RESULTS)
def test_results_names_a_damaged_results_json_and_shows_the_other_run(case, app_env):
    run_dir = copy_of_toy_run(app_env, "20990101-000000-damaged")
    write(run_dir / runs.RESULTS, DAMAGED_RESULTS[case], json.loads((app_env / TOY_RUN / runs.RESULTS).read_text()))
    with pytest.raises(DamagedFile, match="results.json is damaged"):
        runs.read_results(run_dir)
    at = open_page("views/results.py", query={"runs": f"{TOY_RUN},{run_dir.name}"})
    assert f"Run {run_dir.name} cannot be shown: {run_dir / runs.RESULTS} is damaged" in texts(at.error)
    assert "Greedy soup" in at.dataframe[0].value.index  # the sound run is still drawn
    at = open_page("views/results.py", query={"runs": run_dir.name})
    assert f"{run_dir / runs.RESULTS} is damaged" in texts(at.error) and not at.dataframe
    report(fault=f"results.json: {case}", phase="Results page", ended_in_s=None, status="named on the page", resume="n/a")


@pytest.mark.parametrize("case", ["truncated", "methods as a list", "an accuracy as text"])
def test_the_experiments_comparison_leaves_out_a_member_with_damaged_results(case, app_env):
    bad = copy_of_toy_run(app_env, "20990101-000001-bad")
    write(bad / runs.RESULTS, DAMAGED_RESULTS[case], json.loads((app_env / TOY_RUN / runs.RESULTS).read_text()))
    write_sweep(app_env / "20990101-000002-t", {"name": "t", "members": [{"run_id": TOY_RUN, "setting": "w", "seed": 0},
                                                                         {"run_id": bad.name, "setting": "w", "seed": 1}]})
    at = open_page("views/experiments.py")
    assert f"Run {bad.name} is left out of the comparison: {bad / runs.RESULTS} is damaged" in texts(at.warning)
    table = at.dataframe[-1].value  # the comparison, below the members
    assert list(table["setting"]) == ["w"] and list(table["seeds"]) == [1]
    report(fault=f"sweep member results.json: {case}", phase="Experiments page", ended_in_s=None, status="named, left out",
           resume="n/a")


def test_the_engine_writes_only_results_of_the_schema(tmp_path):
    with pytest.raises(ValueError, match="val_dataset"):
        runs.write_results(tmp_path, {"datasets": ["val"]})
    assert not (tmp_path / runs.RESULTS).exists()
