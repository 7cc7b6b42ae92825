"""The run queue (manifoldmix_core/run_queue.py, issue 18 item 5): at most K runs execute at once across processes, the
rest wait in line and say how many are ahead, identical launches join one run, and a dead worker's slot is freed."""

# ruff: noqa: F811  (pytest fixtures imported from app_support are redefined as arguments)
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

from app_support import app_env, fake_run  # noqa: F401
from helpers import REPO
from test_app_pages import open_page, texts

from app_lib import run_store
from manifoldmix_core import run_queue, runs
from manifoldmix_core.config import load_config


def tiny(toy_world, seed: int = 0) -> dict:
    """The toy config running only the uniform soup: a run takes a few seconds, most of it the worker's start."""
    config = load_config(toy_world).to_dict() | {"methods": ["uniform_soup"]}
    config["manifoldmix"]["seed"] = seed
    return json.loads(json.dumps(config))


def settle(run_dirs, seen=None, timeout=600):
    """Wait until every run has left queued/running; meanwhile record (slots held, every queued run's message)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = [run_store.read_status(d) for d in run_dirs]
        if seen is not None:
            seen.append((run_queue.executing(), [s.message for s in statuses if s.state == "queued"]))
        if all(s.state not in run_store.ACTIVE for s in statuses):
            return statuses
        time.sleep(0.05)
    raise AssertionError("runs did not settle")


def test_ten_concurrent_identical_launches_are_one_run(toy_world, tmp_path, monkeypatch):
    """A class pressing "Run the demo" at once: every session gets the same run directory, one worker runs it."""
    monkeypatch.setenv(run_queue.MAX_RUNS_ENV, "2")
    config, got = tiny(toy_world), []
    threads = [threading.Thread(target=lambda: got.append(run_store.launch(config, name="demo", root=tmp_path))) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 10 and len(set(got)) == 1
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [got[0].name]
    assert settle([got[0]])[0].state == "finished"
    assert run_store.launch(config, name="demo", root=tmp_path) == got[0]  # a finished run is joined too
    assert run_store.worker_log(got[0]).count("run directory:") == 1  # one worker ran it


def test_five_different_launches_with_k_2_never_run_more_than_2_at_once(toy_world, tmp_path, monkeypatch):
    monkeypatch.setenv(run_queue.MAX_RUNS_ENV, "2")
    seen = []
    with run_queue.slot(tmp_path / "busy-1"), run_queue.slot(tmp_path / "busy-2"):  # two runs already execute: all five wait
        run_dirs = [run_store.launch(tiny(toy_world, seed), name=f"seed-{seed}", root=tmp_path) for seed in range(5)]
        assert len(set(run_dirs)) == 5
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            statuses = [run_store.read_status(d) for d in run_dirs]
            seen.append((run_queue.executing(), [s.message for s in statuses if s.state == "queued"]))
            if sorted(s.queue_ahead for s in statuses if s.queue_ahead is not None) == [0, 1, 2, 3, 4]:
                break
            time.sleep(0.05)
        assert all(s.state == "queued" for s in statuses)
    statuses = settle(run_dirs, seen)
    assert [s.state for s in statuses] == ["finished"] * 5
    assert max(held for held, _ in seen) == 2  # the queue was full, and never over K
    messages = {m for _, queued in seen for m in queued}
    assert {"queued, 4 ahead of you", "queued, 1 ahead of you"} <= messages, messages


def test_a_dead_workers_slot_and_place_in_line_are_freed(tmp_path, monkeypatch):
    monkeypatch.setenv(run_queue.MAX_RUNS_ENV, "1")
    (tmp_path / "dead").mkdir()
    (tmp_path / "mine").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
                               "from manifoldmix_core import run_queue\n"
                               f"with run_queue.slot(Path({str(tmp_path / 'dead')!r})):\n"
                               "    print('held', flush=True); time.sleep(600)"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert run_queue.executing() == 1
    holder.kill()
    holder.wait()
    with run_queue.slot(tmp_path / "mine"):  # the kernel dropped the killed worker's lock: the slot is free
        assert run_queue.executing() == 1
    assert run_queue.waiting() == []


def test_a_queued_run_cancelled_while_waiting_ends_cancelled(tmp_path, monkeypatch):
    monkeypatch.setenv(run_queue.MAX_RUNS_ENV, "1")
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    with run_queue.slot(tmp_path / "first"):
        runs.request_cancel(tmp_path / "second")
        try:
            with run_queue.wait_for_slot(tmp_path / "second"):
                raise AssertionError("a cancelled run must not get a slot")
        except run_queue.Cancelled:
            pass
    assert runs.read_status(tmp_path / "second").state == "cancelled"


def test_a_bad_max_runs_setting_is_named(monkeypatch):
    monkeypatch.setenv(run_queue.MAX_RUNS_ENV, "many")
    try:
        run_queue.capacity()
    except run_queue.ConfigError as exc:
        assert "MANIFOLDMIX_MAX_RUNS='many'" in str(exc) and "1 or more" in str(exc)
    else:
        raise AssertionError("a bad MANIFOLDMIX_MAX_RUNS must be refused")


def test_the_run_page_says_a_queued_runs_place_in_line(app_env, monkeypatch):
    monkeypatch.setenv(run_queue.MAX_RUNS_ENV, "2")
    fake_run(app_env, "20990101-000000-waiting", {"state": "queued", "message": "queued, 2 ahead of you", "queue_ahead": 2,
                                                  "pid": os.getpid()})
    at = open_page("views/run.py", query={"run": "20990101-000000-waiting"})
    assert "Queued, 2 ahead of you. At most 2 runs execute at once on this server" in texts(at.info)
