"""Run directories: a killed, cancelled or crashed run resumes to exactly the uninterrupted run's results."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import REPO, assert_same_run, cli, dead_pid, derived_config, events_of, run_config, simulate_kill, small_toy_config

from manifoldmix_core import cli as cli_module
from manifoldmix_core import runs
from manifoldmix_core.errors import ConfigError, ResumeError
from manifoldmix_core.runner import execute, start_run

MM = "manifoldmixms"


@pytest.fixture(scope="module")
def small_config(toy_world) -> Path:
    """The toy config without a_copy and with a smaller search budget, so the many reruns here stay cheap."""
    return small_toy_config(toy_world, "resumable")


@pytest.fixture(scope="module")
def reference_run(small_config, tmp_path_factory) -> Path:
    """The small config run to the end without interruption."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    run_config(small_config, run_dir)
    return run_dir


def kill_points(reference: Path) -> dict[str, tuple[int, bool]]:
    events = runs.read_events(reference)
    optimizing = [i for i, e in enumerate(events) if e.get("method") == MM and e.get("phase") == "optimize_1"]
    return {
        "nothing": (0, False),
        "after-3": (3, False),
        "mid-optimisation": (optimizing[len(optimizing) // 2], False),
        "half-written-line": (optimizing[len(optimizing) // 3], True),
        "last-but-one": (len(events) - 1, False),
    }


@pytest.mark.slow
@pytest.mark.parametrize("point", ["nothing", "after-3", "mid-optimisation", "half-written-line", "last-but-one"])
def test_resume_after_simulated_kill_equals_uninterrupted_run(reference_run, tmp_path, point):
    keep, partial = kill_points(reference_run)[point]
    run_dir = simulate_kill(reference_run, tmp_path / "run", keep, partial)
    execute(run_dir)
    assert_same_run(run_dir, reference_run)


# -- a real kill of the CLI worker ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def killed_run(small_config, tmp_path_factory):
    """`python -m manifoldmix_core run` killed with SIGKILL during the ManifoldMixMS search; status.json polled meanwhile."""
    run_dir = tmp_path_factory.mktemp("killed") / "run"
    stderr = (run_dir.parent / "stderr.txt").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "manifoldmix_core", "run", str(small_config), "--run-dir", str(run_dir),
                             "--quiet"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr)
    snapshots, deadline = [], time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if (run_dir / runs.STATUS).exists():
                snapshots.append(json.loads((run_dir / runs.STATUS).read_text()))  # must parse at every moment
            if any(e.get("method") == MM and e.get("type") == "eval" for e in runs.read_events(run_dir)):
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"the worker ended before it could be killed: {(run_dir.parent / 'stderr.txt').read_text()}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None and time.time() >= deadline:
            proc.kill()
        proc.wait()
        stderr.close()
    return run_dir, proc, snapshots


@pytest.mark.slow
def test_status_json_is_valid_while_the_worker_runs(killed_run):
    run_dir, proc, snapshots = killed_run
    assert snapshots, "status.json was never seen"
    assert {s["state"] for s in snapshots} <= {"queued", "running"}
    running = [s for s in snapshots if s["state"] == "running"]
    assert running and all(s["pid"] == proc.pid for s in running)
    progress = [s["progress"] for s in running]
    assert progress == sorted(progress) and all(0.0 <= p < 1.0 for p in progress)


@pytest.mark.slow
def test_real_kill_then_cli_resume_equals_uninterrupted_run(killed_run, reference_run):
    run_dir, proc, _ = killed_run
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / runs.RESULTS).exists()
    status = runs.read_status(run_dir)
    assert status.state == "interrupted" and "resume" in status.message
    assert events_of(run_dir, type="eval", method=MM)
    done = cli("resume", run_dir, "--quiet")
    assert done.returncode == 0, done.stderr
    assert "manifoldmixms" in done.stdout
    assert_same_run(run_dir, reference_run)


# -- cancelling -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cancel_stops_with_code_130_and_resume_finishes(small_config, reference_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    stop = threading.Event()

    def cancel_during_search():
        while not stop.is_set():
            if any(e.get("method") == MM and e.get("phase") == "optimize_1" for e in runs.read_events(run_dir)):
                runs.request_cancel(run_dir)
                return
            time.sleep(0.01)

    canceller = threading.Thread(target=cancel_during_search, daemon=True)
    canceller.start()
    try:
        code = cli_module.main(["run", str(small_config), "--run-dir", str(run_dir), "--quiet"])
    finally:
        stop.set()
        canceller.join()
    assert code == 130
    assert "cancelled" in capsys.readouterr().err
    status = runs.read_status(run_dir)
    assert status.state == "cancelled" and "resume" in status.message
    assert not (run_dir / runs.RESULTS).exists()
    events = runs.read_events(run_dir)
    assert events[-1].get("method") == MM and len(events) < len(runs.read_events(reference_run))
    assert cli_module.main(["resume", str(run_dir), "--quiet"]) == 0
    assert not (run_dir / runs.CANCEL).exists()
    assert_same_run(run_dir, reference_run)


def test_journal_refuses_to_write_after_cancel(tmp_path):
    journal = runs.Journal(tmp_path)
    journal.record({"type": "setup"})
    runs.request_cancel(tmp_path)
    with pytest.raises(runs.Cancelled):
        journal.record({"type": "eval", "valacc": 1.0})
    assert [e["type"] for e in runs.read_events(tmp_path)] == ["setup"]


def test_cancel_requested_before_the_worker_starts_is_honoured(toy_world, tmp_path):
    config = derived_config(toy_world, "tiny", ingredients=[{"name": "a", "path": "a.safetensors"}], methods=["uniform_soup"])
    run_dir = start_run(config, tmp_path / "run")
    runs.request_cancel(run_dir)
    with pytest.raises(runs.Cancelled):
        execute(run_dir)
    assert runs.read_status(run_dir).state == "cancelled"


# -- refusing to resume or overwrite ------------------------------------------------------------------------


def test_resume_after_a_measured_ingredient_changed_raises_naming_it(finished_run, toy_world, tmp_path):
    pool = tmp_path / "pool"
    pool.mkdir()
    for name in ("a", "a_copy", "b", "noise"):
        shutil.copy(toy_world.parent / f"{name}.safetensors", pool / f"{name}.safetensors")
    run_dir = simulate_kill(finished_run, tmp_path / "run", 5)  # setup, then a and a_copy measured
    config = json.loads((run_dir / runs.CONFIG).read_text())
    for ingredient in config["ingredients"]:
        ingredient["path"] = str(pool / Path(ingredient["path"]).name)
    (run_dir / runs.CONFIG).write_text(json.dumps(config))  # files may move: their content is what counts
    # same names, shapes, dtypes and size: only the content hash can tell
    shutil.copy(toy_world.parent / "noise.safetensors", pool / "a_copy.safetensors")
    before = (run_dir / runs.EVENTS).read_text()
    with pytest.raises(ResumeError) as exc:
        execute(run_dir)
    message = str(exc.value)
    assert f"ingredient a_copy ({pool / 'a_copy.safetensors'}) changed since the run started: content hash" in message
    assert (run_dir / runs.EVENTS).read_text() == before
    status = runs.read_status(run_dir)
    assert status.state == "failed" and "a_copy" in status.message
    assert not (run_dir / runs.RESULTS).exists()
    shutil.copy(toy_world.parent / "a_copy.safetensors", pool / "a_copy.safetensors")
    execute(run_dir)
    results, reference = (json.loads((d / runs.RESULTS).read_text()) for d in (run_dir, finished_run))
    assert {n: {k: v for k, v in e.items() if k != "path"} for n, e in results["ingredients"].items()} == \
        {n: {k: v for k, v in e.items() if k != "path"} for n, e in reference["ingredients"].items()}
    assert results["methods"] == reference["methods"]


def test_resume_with_changed_settings_raises(finished_run, tmp_path):
    run_dir = simulate_kill(finished_run, tmp_path / "run", 30)
    config = json.loads((run_dir / runs.CONFIG).read_text())
    config["partition"] = {"preset": "whole"}
    (run_dir / runs.CONFIG).write_text(json.dumps(config))
    with pytest.raises(ResumeError):
        execute(run_dir)


def test_resume_refuses_a_run_another_process_writes_naming_it(finished_run, tmp_path, capsys):
    run_dir = simulate_kill(finished_run, tmp_path / "run", len(runs.read_events(finished_run)) - 1)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from manifoldmix_core.claim import claimed\n"
                               "with claimed(sys.argv[1]):\n    print('claimed', flush=True); time.sleep(120)", str(run_dir)],
                              cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "claimed"
        before = (run_dir / runs.EVENTS).read_text(), (run_dir / runs.STATUS).read_text()
        code = cli_module.main(["resume", str(run_dir), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error:") and f"pid {holder.pid}" in err and "being written" in err
        assert ((run_dir / runs.EVENTS).read_text(), (run_dir / runs.STATUS).read_text()) == before
        assert not (run_dir / runs.RESULTS).exists()
    finally:
        holder.kill()
        holder.wait()
    assert cli_module.main(["resume", str(run_dir), "--quiet"]) == 0  # the killed holder's claim is stale now
    assert_same_run(run_dir, finished_run)


def test_start_run_refuses_an_existing_run(finished_run, toy_world):
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in finished_run.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError, match="already holds a run"):
        start_run(toy_world, finished_run)
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in finished_run.rglob("*") if p.is_file()}
    assert after == before


def test_resume_check_refuses_a_non_run_directory(tmp_path):
    result = cli_module.main(["resume", str(tmp_path)])
    assert result == 2


# -- small pieces of the run directory contract -----------------------------------------------------------------


def test_read_status_reports_dead_workers(tmp_path):
    assert runs.read_status(tmp_path).state == "queued"
    runs.write_json_atomic(tmp_path / runs.STATUS, {"state": "running", "pid": os.getpid(), "progress": 0.2})
    assert runs.read_status(tmp_path).state == "running"
    runs.write_json_atomic(tmp_path / runs.STATUS, {"state": "running", "pid": dead_pid(), "progress": 0.2})
    assert runs.read_status(tmp_path).state == "interrupted"
    runs.write_json_atomic(tmp_path / runs.STATUS, {"state": "finished", "pid": dead_pid(), "progress": 1.0})
    assert runs.read_status(tmp_path).state == "finished"
    assert sorted(p.name for p in tmp_path.iterdir()) == [runs.STATUS]  # no temporary files left behind


def test_read_events_ignores_a_cut_line_and_the_journal_repairs_it(tmp_path):
    writer = runs.Journal(tmp_path)
    for v in range(3):
        writer.record({"type": "eval", "valacc": v / 10})
    complete = (tmp_path / runs.EVENTS).read_text()
    (tmp_path / runs.EVENTS).write_text(complete + complete[:9])
    assert [e["valacc"] for e in runs.read_events(tmp_path)] == [0.0, 0.1, 0.2]
    journal = runs.Journal(tmp_path)
    assert (tmp_path / runs.EVENTS).read_text() == complete
    for v in range(3):
        assert journal.replaying
        assert journal.record({"type": "eval"})["valacc"] == v / 10
    assert not journal.replaying
    journal.record({"type": "eval", "valacc": 0.9})
    assert [e["valacc"] for e in runs.read_events(tmp_path)] == [0.0, 0.1, 0.2, 0.9]
    assert runs.Journal(tmp_path).log == journal.log  # the appended line continues the chain


def test_a_run_keeps_no_logits_only_what_methods_need(finished_run):
    """Test accuracies are counted and ensembles summed as they stream: nothing per ingredient is cached in the run."""
    assert sorted(p.name for p in finished_run.iterdir()) == sorted([runs.CONFIG, runs.STATUS, runs.EVENTS, runs.RESULTS, runs.FUSED])


def test_results_record_each_datasets_size_for_confidence_intervals(finished_run, toy_world):
    from safetensors.torch import load_file
    results = json.loads((finished_run / runs.RESULTS).read_text())
    assert results["dataset_sizes"] == {name: len(load_file(toy_world.parent / f"{name}.safetensors")["labels"]) for name in ("val", "test")}


def test_eta_counts_down_between_steps(tmp_path, monkeypatch):
    """Issue 9, defect 6: the ETA grew while the optimizer searched one candidate's λ (no step finished meanwhile)."""
    from manifoldmix_core.runner import Progress
    clock = [1000.0]
    monkeypatch.setattr("manifoldmix_core.runner.time.time", lambda: clock[0])
    progress = Progress(runs.StatusWriter(tmp_path), total=4, show=False)
    clock[0] += 10
    progress.step("first candidate")
    assert runs.read_json(tmp_path / runs.STATUS)["eta_s"] == pytest.approx(30)
    for _ in range(3):  # a long search: evaluations, no finished step
        clock[0] += 5
        progress.event({"type": "eval", "method": "m", "phase": "optimize_1", "candidate": "b", "lambda": [0.5], "valacc": 0.5})
    assert runs.read_json(tmp_path / runs.STATUS)["eta_s"] == pytest.approx(15)
