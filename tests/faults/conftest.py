"""Fault injection: workers are real processes running the real CLI, stopped by real signals and full disks.

Each worker is forked from a multiprocessing fork server that imported torch, open_clip and nevergrad
once, so a worker starts in a fraction of a second instead of several; it then runs exactly what
`python -m manifoldmix_core ARGS` runs, and ends the way that would (threading shutdown included, which
is where a leftover optimizer thread used to hang). One test also starts `python -m` itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import multiprocessing.forkserver
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from fault_worker import Fault, main
from helpers import REPO, run_config, small_toy_config
from hypothesis import HealthCheck, settings

from manifoldmix_core import claim, runs

FUZZ_EXAMPLES = {"bounded": 200, "fuzz": 5000}  # per fuzz target (test_fuzz.py): CI's default, and `pytest -m fuzz` / MANIFOLDMIX_FUZZ=1
ENDS_WITHIN_S = 20.0  # generous for a loaded 2-core CI machine; the failures this guards against never ended at all
PHASES = {
    "setup": {"call": "manifoldmix_core.runner:load_dataset"},
    "ingredients": {"event": {"type": "accuracy", "kind": "ingredient"}, "nth": 2},
    "greedy": {"event": {"type": "eval", "method": "greedy_soup"}},
    "lambda-search": {"event": {"type": "eval", "method": "manifoldmixms", "phase": "optimize_1"}, "nth": 2},
    "ensembles": {"event": {"type": "eval", "method": "greedy_ensemble"}},
    "results": {"call": "manifoldmix_core.runner:_save_fused"},
}


def pytest_configure(config):
    """Hypothesis profiles for test_fuzz.py: a bounded one by default, thousands of examples when asked for (no example
    database: nothing is written into the repository)."""
    for name, examples in FUZZ_EXAMPLES.items():
        settings.register_profile(name, max_examples=examples, deadline=None, database=None,
                                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    marks = config.getoption("markexpr", "") or ""
    asked = os.environ.get("MANIFOLDMIX_FUZZ") == "1" or ("fuzz" in marks and "not fuzz" not in marks)
    settings.load_profile("fuzz" if asked else "bounded")


@pytest.fixture(scope="session")
def fork_context():
    """A fork server with the engine preloaded (started from the repository, so its imports resolve)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["manifoldmix_core.cli", "manifoldmix_core.runner", "fault_worker"])
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    here = Path.cwd()
    os.chdir(REPO)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        os.chdir(here)
    return context


@dataclass
class Worker:
    """A running CLI worker and where its output goes."""

    process: multiprocessing.Process
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait(self, timeout: float = 120) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
            pytest.fail(f"worker {self.pid} did not end within {timeout} s:\n{self.output}")
        return self.process.exitcode

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""


@pytest.fixture
def start_worker(fork_context, tmp_path):
    """start_worker(*args, fault=None) -> Worker running `python -m manifoldmix_core ARGS` (killed at teardown if still alive)."""
    workers: list[Worker] = []

    def start(*args, fault: Fault | None = None) -> Worker:
        log = control_dir(tmp_path) / f"worker-{len(workers)}.log"
        process = fork_context.Process(target=main, args=([str(a) for a in args], fault, str(log)))
        process.start()
        workers.append(Worker(process, log))
        return workers[-1]

    yield start
    for worker in workers:
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()


def control_dir(tmp_path: Path) -> Path:
    """Where a test keeps worker logs and pause files, apart from the run directory and its inputs."""
    path = tmp_path / "control"
    path.mkdir(exist_ok=True)
    return path


def phase_fault(phase: str, action: str, tmp_path: Path, fill: Path | None = None) -> Fault:
    """The fault for a phase of the run; a pause announces itself in control/ready and waits for control/go."""
    control = control_dir(tmp_path)
    return Fault(action, ready=str(control / "ready"), go=str(control / "go"), fill=str(fill) if fill else None, **PHASES[phase])


def wait_until_paused(worker: Worker, fault: Fault, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not Path(fault.ready).exists():
        if not worker.process.is_alive() or time.monotonic() > deadline:
            pytest.fail(f"worker never reached the fault (exit code {worker.process.exitcode}):\n{worker.output}")
        time.sleep(0.01)


def killed_at(phase: str, start_worker, config: Path, tmp_path: Path) -> Path:
    """The run directory of a `run` worker killed (SIGKILL) while paused in `phase`."""
    run_dir = tmp_path / "run"
    fault = phase_fault(phase, "pause", tmp_path)
    worker = start_worker("run", config, "--run-dir", run_dir, "--quiet", fault=fault)
    wait_until_paused(worker, fault)
    worker.process.kill()
    worker.wait()
    return run_dir


@pytest.fixture(scope="session")
def fault_config(toy_world) -> Path:
    """The toy world with three ingredients and a small search budget: every phase happens, all in about a second."""
    return small_toy_config(toy_world, "faults")


@pytest.fixture(scope="session")
def reference(fault_config, tmp_path_factory) -> Path:
    """The fault config run to the end without interruption: what every resumed run must equal bit for bit."""
    run_dir = tmp_path_factory.mktemp("faults-reference") / "run"
    run_config(fault_config, run_dir)
    return run_dir


def outside_state(run_dir: Path, *inputs: Path, skip: tuple[Path, ...] = ()) -> dict[str, tuple]:
    """Every file and folder next to the run directory and among its inputs, with size, mtime and content hash:
    taken before and after a fault, it proves the worker wrote nowhere but its run directory (and the cache)."""
    state = {}
    for root in (run_dir.parent, *inputs):
        for path in sorted([root, *root.rglob("*")]):
            if path == run_dir or run_dir in path.parents or any(path == s or s in path.parents for s in skip):
                continue
            stat = path.lstat()
            digest = hashlib.blake2b(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else None
            state[str(path)] = (stat.st_mode, stat.st_size, stat.st_mtime_ns, digest) if digest else (stat.st_mode,)
    return state


def assert_left_clean(run_dir: Path) -> None:
    """No temporary file of an interrupted write, and no claim once the worker has ended."""
    assert not [p for p in run_dir.rglob(".*.tmp")], sorted(run_dir.rglob(".*.tmp"))
    assert not (run_dir / claim.LOCK).exists()


def status_of(run_dir: Path) -> runs.Status:
    return runs.read_status(run_dir)


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs mounted in tmp_path (root in a container that allows mounts), else None."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        yield None
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        with contextlib.suppress(Exception):
            subprocess.run(["umount", "-l", str(mount)], check=False)


def report(**row) -> None:
    """One row of the fault table, printed as JSON (`pytest -s tests/faults` shows them all)."""
    print("FAULT " + json.dumps(row))
