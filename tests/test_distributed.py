"""torchrun scale-out: two CPU ranks (gloo) give exactly the run one process gives, also when resuming."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import REPO, assert_same_run, simulate_kill

from manifoldmix_core import runs
from manifoldmix_core.distributed import Group


def torchrun(*args: str, ranks: int = 2) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc-per-node RANKS -m manifoldmix_core ARGS` (a free port, CPU, gloo)."""
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}",
                           "-m", "manifoldmix_core", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=600)


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
