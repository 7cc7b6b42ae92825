"""Two writers at once: the run directory's claim lets exactly one through and names it to the others."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from conftest import assert_left_clean, killed_at, phase_fault, report, status_of, wait_until_paused
from helpers import assert_same_run

from manifoldmix_core import runs


def test_runs_started_together_leave_one_journal(start_worker, fault_config, reference, tmp_path):
    run_dir = tmp_path / "run"
    workers = [start_worker("run", fault_config, "--run-dir", run_dir, "--quiet") for _ in range(4)]
    codes = [w.wait() for w in workers]
    assert sorted(codes) == [0, 2, 2, 2], [w.output for w in workers]
    for worker, code in zip(workers, codes):
        if code == 2:
            assert "error:" in worker.output and ("is being written by pid" in worker.output or "already holds a run" in worker.output)
    assert_same_run(run_dir, reference)  # one journal: the events equal an undisturbed run's, one for one
    assert_left_clean(run_dir)
    report(fault="4 concurrent `run`", phase="start", ended_in_s=None, status="finished (1 ran, 3 refused)", resume="n/a")


def test_a_second_run_or_resume_is_refused_while_a_worker_writes(start_worker, fault_config, reference, tmp_path):
    run_dir = tmp_path / "run"
    fault = phase_fault("lambda-search", "pause", tmp_path)
    first = start_worker("run", fault_config, "--run-dir", run_dir, "--quiet", fault=fault)
    wait_until_paused(first, fault)
    frozen = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    for args in (("run", fault_config, "--run-dir", run_dir), ("resume", run_dir)):
        other = start_worker(*args, "--quiet")
        assert other.wait() == 2, other.output
        assert f"is being written by pid {first.pid} on host {socket.gethostname()}" in other.output
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == frozen
    assert status_of(run_dir).state == "running"
    Path(fault.go).touch()
    assert first.wait() == 0, first.output
    assert_same_run(run_dir, reference)
    assert_left_clean(run_dir)
    report(fault="second `run` and `resume` while a worker writes", phase="lambda-search", ended_in_s=None,
           status="refused, holder named; first run finished", resume="n/a")


def test_a_killed_worker_s_claim_is_taken_over_by_resume(start_worker, fault_config, reference, tmp_path):
    run_dir = killed_at("greedy", start_worker, fault_config, tmp_path)
    assert status_of(run_dir).state == "interrupted"
    started = time.monotonic()
    resumed = start_worker("resume", run_dir, "--quiet")
    assert resumed.wait() == 0, resumed.output
    assert_same_run(run_dir, reference)
    assert_left_clean(run_dir)
    assert runs.read_status(run_dir).pid == resumed.pid
    report(fault="stale claim of a SIGKILLed worker", phase="greedy", ended_in_s=round(time.monotonic() - started, 2),
           status="interrupted -> taken over", resume="bit-identical")
