"""torchrun scale-out: two CPU ranks (gloo) give exactly the run one process gives, also when resuming."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from helpers import REPO, assert_same_run, simulate_kill

from manifoldmix_core import runs
from manifoldmix_core.distributed import Group


def torchrun_args(*args: str, ranks: int = 2) -> list[str]:
    """`torchrun --standalone --nproc-per-node RANKS -m manifoldmix_core ARGS` (a free port, CPU, gloo)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}", "-m", "manifoldmix_core",
            *map(str, args)]


def torchrun(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(torchrun_args(*args), cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("n", [0, 1, 5, 400])
@pytest.mark.parametrize("size", [1, 2, 3])
def test_the_ranks_shards_cover_every_image_once(n, size):
    covered = [i for rank in range(size) for i in Group(rank, size).shard(n)]
    assert covered == list(range(n))


@pytest.mark.slow
def test_two_ranks_write_the_run_one_process_writes(toy_world, finished_run, tmp_path):
    run_dir = tmp_path / "run"
    done = torchrun("run", toy_world, "--run-dir", run_dir, "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_run(run_dir, finished_run)
    assert done.stdout.count("greedy_soup") == 1  # rank 0 alone prints the summary (and writes the directory)


@pytest.mark.slow
def test_two_ranks_resume_a_killed_run_to_the_same_end(finished_run, tmp_path):
    events = runs.read_events(finished_run)
    middle = next(i for i, e in enumerate(events) if e.get("method") == "manifoldmixms" and e.get("type") == "eval") + 3
    run_dir = simulate_kill(finished_run, tmp_path / "run", middle)
    done = torchrun("resume", run_dir, "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_run(run_dir, finished_run)


@pytest.mark.slow
def test_a_cancel_stops_every_rank_and_a_two_rank_resume_finishes(toy_world, finished_run, tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(torchrun_args("run", toy_world, "--run-dir", run_dir, "--quiet"), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while proc.poll() is None and not any(e.get("method") == "manifoldmixms" for e in runs.read_events(run_dir)):
            time.sleep(0.01)
        runs.request_cancel(run_dir)
        _, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode != 0 and "cancelled" in stderr  # every rank stopped (none waits for the others forever)
    assert runs.read_status(run_dir).state == "cancelled" and not (run_dir / runs.RESULTS).exists()
    done = torchrun("resume", run_dir, "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_run(run_dir, finished_run)
