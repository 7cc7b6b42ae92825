# ruff: noqa: F811  (pytest fixtures imported from app_support are redefined as arguments)
"""Sweeps (manifoldmix_core.sweep, app_lib.sweeps): a queue of ordinary runs, cancellable and resumable, and the
comparison of its settings over seeds."""

from __future__ import annotations

import json
import time

import pytest
from app_support import app_env, toy_draft  # noqa: F401
from helpers import cli_popen

from app_lib.sweeps import comparison, members_frame
from manifoldmix_core import runs, sweep

pytestmark = pytest.mark.slow


@pytest.fixture
def planned(toy_world, tmp_path):
    """A 2-setting × 2-seed sweep of the toy world, placed and not run (OnePlusOne: its seeds differ)."""
    base = toy_draft(toy_world)
    sweep_dir = tmp_path / "runs" / "20250101-000000-sweep"
    plan = sweep.plan_sweep(sweep_dir, base, ["whole", "medium"], ["OnePlusOne"], [0, 1])
    return sweep_dir, plan


def test_a_sweep_is_a_queue_of_ordinary_runs(planned):
    sweep_dir, plan = planned
    assert [(m.setting, m.seed) for m in plan.members] == [("whole", 0), ("medium", 0), ("whole", 1), ("medium", 1)]
    assert plan == sweep.Sweep.read(sweep_dir)
    config = json.loads((sweep.member_dir(sweep_dir, plan.members[1]) / runs.CONFIG).read_text())
    assert config["partition"] == {"preset": "medium"} and config["manifoldmix"]["seed"] == 0
    assert config["methods"] == ["manifoldmixms"]  # the baselines do not depend on the sweep's settings
    assert config["ingredient_tests"] == "none"  # nor do the ingredients' test accuracies
    assert set(members_frame(sweep_dir)["state"]) == {"queued"}
    assert sweep.sweep_state(sweep_dir)[0] == "stopped"


def test_a_cancelled_sweep_resumes_and_keeps_what_finished(planned):
    """Cancel while the worker runs, then run the queue again: finished members are not rerun, the rest finish."""
    sweep_dir, plan = planned
    worker = cli_popen("sweep", sweep_dir, "--quiet")
    first = sweep.member_dir(sweep_dir, plan.members[0])
    deadline = time.monotonic() + 300
    while runs.read_status(first).state != "finished" and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert runs.read_status(first).state == "finished", worker.communicate()
    sweep.cancel_sweep(sweep_dir)
    assert worker.wait(timeout=300) in (0, 130)  # 0 when the queue happened to end before the cancel was seen
    finished_at = (first / runs.RESULTS).stat().st_mtime_ns
    if worker.returncode == 130:
        assert sweep.sweep_state(sweep_dir)[0] == "cancelled"
    sweep.run_sweep(sweep_dir)
    assert sweep.sweep_state(sweep_dir) == ("finished", {"finished": 4})
    assert (first / runs.RESULTS).stat().st_mtime_ns == finished_at
    frame = comparison(sweep_dir).set_index("setting")
    assert list(frame.index) == ["whole", "medium"] and list(frame["seeds"]) == [2, 2]
    assert frame["OOD ±95%"].notna().all() and (frame["OOD ±95%"] >= 0).all()


def test_experiments_page_launches_a_sweep_and_compares_its_settings(app_env, toy_world, monkeypatch):
    from test_app_pages import open_page, texts
    started = []
    monkeypatch.setattr("app_lib.run_store.spawn", lambda args, run_dir: started.append(args))
    at = open_page("views/experiments.py", draft=toy_draft(toy_world))
    at.pills(key="sweep_partitions").set_value(["whole", "coarse", "fine"]).run()
    at.number_input(key="sweep_seeds").set_value(2).run()
    assert "3 settings × 1 run = 3 runs" in texts(at.caption)  # Cobyla: every seed would be the same run
    assert at.pills(key="sweep_optimizers").value == ["Cobyla"] and "pick a stochastic optimizer" in texts(at.info)
    at.pills(key="sweep_optimizers").set_value(["OnePlusOne"]).run()  # its seeds do differ
    assert "random number" not in texts(at.info) and "3 settings × 2 seeds = 6 runs" in texts(at.caption)
    at.button(key="launch_sweep").click().run()
    assert not at.exception
    sweep_dir = app_env / at.query_params["sweep"]
    assert started == [["sweep", str(sweep_dir), "--quiet"]] and len(sweep.Sweep.read(sweep_dir).members) == 6
    sweep.run_sweep(sweep_dir)  # what the started worker does
    at.run()
    table = at.dataframe[-1].value
    assert list(table["setting"]) == ["whole", "coarse", "fine"] and list(table["seeds"]) == [2, 2, 2]
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(figure["data"]) == 3 and all(t["error_x"]["visible"] and t["error_y"]["visible"] for t in figure["data"])
    # the toy world's only test set is OOD: the vertical axis is the held-out set and says so, not "ID test"
    assert figure["layout"]["yaxis"]["title"]["text"].startswith("val (held-out; no ID test set) accuracy")

    # a second sweep from the same session is the one shown (the sweep box used to keep the first and rewrite the URL)
    at.pills(key="sweep_partitions").set_value(["whole"]).run()
    at.button(key="launch_sweep").click().run()
    second = at.query_params["sweep"]
    assert second != sweep_dir.name and at.selectbox(key="pick_sweep").value == second
    at.run()
    assert at.query_params["sweep"] == second and at.selectbox(key="pick_sweep").value == second
    at.selectbox(key="pick_sweep").set_value(sweep_dir.name).run()  # and picking another one in the box follows the box
    assert at.query_params["sweep"] == sweep_dir.name and at.selectbox(key="pick_sweep").value == sweep_dir.name


def test_experiments_page_refuses_a_sweep_without_a_setup(app_env):
    from test_app_pages import open_page, texts

    from app_lib.draft import EMPTY
    at = open_page("views/experiments.py", draft=json.loads(json.dumps(EMPTY)))
    assert at.button(key="launch_sweep").disabled and "ingredients" in texts(at.error)
