"""SIGINT, SIGTERM and SIGKILL in every phase of a run: the worker ends promptly, status.json tells the truth,
and `resume` finishes the run exactly as if nothing had happened."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ENDS_WITHIN_S, PHASES, assert_left_clean, outside_state, phase_fault, report, status_of, wait_until_paused
from helpers import REPO, assert_same_run

from manifoldmix_core import claim, runs

EXPECTED = {signal.SIGINT: ("cancelled", 130), signal.SIGTERM: ("cancelled", 143), signal.SIGKILL: ("interrupted", -signal.SIGKILL)}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
@pytest.mark.parametrize("phase", list(PHASES))
def test_signal_in_each_phase_then_resume(phase, sig, start_worker, fault_config, reference, tmp_path):
    run_dir = tmp_path / "runs" / "run"
    run_dir.parent.mkdir()
    fault = phase_fault(phase, "pause", tmp_path)
    before = outside_state(run_dir, fault_config.parent)
    worker = start_worker("run", fault_config, "--run-dir", run_dir, "--quiet", fault=fault)
    wait_until_paused(worker, fault)
    assert status_of(run_dir).state == "running"

    sent = time.monotonic()
    os.kill(worker.pid, sig)
    code = worker.wait(timeout=ENDS_WITHIN_S)
    ended_in = time.monotonic() - sent
    state, expected_code = EXPECTED[sig]
    status = status_of(run_dir)
    assert code == expected_code, worker.output
    assert status.state == state, status
    assert "resume" in status.message
    if sig != signal.SIGKILL:
        assert status.message.startswith(f"stopped by {sig.name}")
        assert f"cancelled: stopped by {sig.name}" in worker.output
        assert_left_clean(run_dir)
    else:
        assert not claim.holder(run_dir).alive()  # a stale claim, taken over by the resume below
    assert not (run_dir / runs.RESULTS).exists()
    assert outside_state(run_dir, fault_config.parent) == before

    resumed = start_worker("resume", run_dir, "--quiet")
    assert resumed.wait() == 0, resumed.output
    assert_same_run(run_dir, reference)
    assert_left_clean(run_dir)
    report(fault=sig.name, phase=phase, ended_in_s=round(ended_in, 2), status=state, resume="bit-identical")


def test_ctrl_c_during_the_lambda_search_of_a_real_python_m_worker(fault_config, reference, tmp_path, start_worker):
    """The issue's first defect as a user meets it: `python -m manifoldmix_core run`, Ctrl-C while Cobyla searches."""
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "manifoldmix_core", "run", str(fault_config), "--run-dir", str(run_dir), "--quiet"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not any(e.get("phase") == "optimize_1" for e in runs.read_events(run_dir)):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.005)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=ENDS_WITHIN_S)
        ended_in = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    status = status_of(run_dir)
    assert proc.returncode == 130 and "cancelled: stopped by SIGINT" in err, err
    assert status.state == "cancelled" and status.message.startswith("stopped by SIGINT"), status
    events = runs.read_events(run_dir)
    assert len(events) < len(runs.read_events(reference))
    assert_left_clean(run_dir)
    resumed = start_worker("resume", run_dir, "--quiet")
    assert resumed.wait() == 0, resumed.output
    assert_same_run(run_dir, reference)
    report(fault="SIGINT (python -m, no hook)", phase=f"after {len(events)} events ({events[-1].get('method')})",
           ended_in_s=round(ended_in, 2), status="cancelled", resume="bit-identical")
    assert json.loads((run_dir / runs.RESULTS).read_text())["methods"]
