"""A full disk in the middle of a run: the worker ends, status.json says failed and why, no temporary file
is left behind, and once there is room again `resume` finishes the run exactly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import ENDS_WITHIN_S, assert_left_clean, outside_state, phase_fault, report, status_of
from helpers import assert_same_run

from manifoldmix_core import runs


@pytest.mark.parametrize("phase", ["ingredients", "lambda-search", "results"])
def test_disk_full_then_resume(phase, small_disk, start_worker, fault_config, reference, tmp_path):
    """On a 1 MiB tmpfs the fault fills the disk and the engine meets a real ENOSPC on its next write;
    where no tmpfs can be mounted the fault raises that OSError itself."""
    root = small_disk or tmp_path / "disk"
    run_dir, filler = root / "run", root / "filler"
    fault = phase_fault(phase, "fill" if small_disk else "enospc", tmp_path, fill=filler)
    before = outside_state(run_dir, fault_config.parent, skip=(filler,))
    worker = start_worker("run", fault_config, "--run-dir", run_dir, "--quiet", fault=fault)
    code = worker.wait(timeout=3 * ENDS_WITHIN_S)
    ended_in = time.time() - json.loads(Path(fault.ready).read_text())["at"]
    status = status_of(run_dir)
    assert code == 1 and ended_in < ENDS_WITHIN_S, worker.output
    assert "No space left on device" in worker.output
    assert status.state == "failed" and "No space left on device" in status.message, status
    assert "No space left on device" in status.traceback
    assert_left_clean(run_dir)
    assert not (run_dir / runs.RESULTS).exists()
    assert outside_state(run_dir, fault_config.parent, skip=(filler,)) == before

    filler.unlink(missing_ok=True)
    resumed = start_worker("resume", run_dir, "--quiet")
    assert resumed.wait(timeout=ENDS_WITHIN_S * 3) == 0, resumed.output
    assert_same_run(run_dir, reference)
    assert_left_clean(run_dir)
    report(fault="disk full (tmpfs)" if small_disk else "ENOSPC (injected)", phase=phase, ended_in_s=round(ended_in, 2),
           status="failed", resume="bit-identical")
