"""Helpers shared by the test modules: config variants, runs, CLI processes, run-directory comparison."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from safetensors import safe_open

from manifoldmix_core import chain, runs, sweep
from manifoldmix_core.runner import execute, start_run

REPO = Path(__file__).resolve().parent.parent


def derived_config(base: Path, name: str, **changes) -> Path:
    """A variant of a toy config written next to it (relative paths keep working); dicts are merged one level."""
    config = json.loads(base.read_text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    path = base.parent / f"{name}.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def small_toy_config(toy_world: Path, name: str) -> Path:
    """The toy config with three ingredients (no a_copy) and 2 evaluations per component: every phase, in about a second."""
    ingredients = [{"name": n, "path": f"{n}.safetensors"} for n in ("a", "b", "noise")]
    return derived_config(toy_world, name, ingredients=ingredients, manifoldmix={"budget_per_component": 2})


def run_config(config: Path, run_dir: Path) -> dict:
    """start_run + execute in this process: the run directory's results."""
    return execute(start_run(config, run_dir))


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m manifoldmix_core ARGS` in a fresh process, as the app launches it."""
    return subprocess.run([sys.executable, "-m", "manifoldmix_core", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def cli_popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "manifoldmix_core", *map(str, args)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def events_of(run_dir: Path, **match) -> list[dict]:
    """Events of a run directory whose fields equal `match`."""
    return [e for e in runs.read_events(run_dir) if all(e.get(k) == v for k, v in match.items())]


def without_time(events: list[dict]) -> list[dict]:
    """Events without their times, nor the hash chain that covers those times."""
    return [{k: v for k, v in e.items() if k not in ("t", chain.FIELD)} for e in events]


def fused_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and metadata of a fused.safetensors file."""
    with safe_open(path, framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


def log_record(run_dir: Path, lines: int | None = None) -> dict:
    """The log record (chain.record) of a run's events.jsonl, or of its first `lines` lines."""
    kept = (run_dir / runs.EVENTS).read_text().splitlines()[:lines]
    return chain.record(len(kept), json.loads(kept[-1])[chain.FIELD] if kept else chain.START)


def without_log(results: dict) -> dict:
    """Results without the record of their log's head, which covers the events' times (chain.py) and so differs per run."""
    return {k: v for k, v in results.items() if k != "log"}


def assert_same_run(run_dir: Path, reference: Path) -> None:
    """Results, events (timings aside) and the fused model bit for bit equal those of the reference run; results.json and
    status.json record the head of the run's own log."""
    results, reference_results = (json.loads((d / runs.RESULTS).read_text()) for d in (run_dir, reference))
    assert results["log"] == runs.read_status(run_dir).log.model_dump() == log_record(run_dir)
    assert without_log(results) == without_log(reference_results)
    assert without_time(runs.read_events(run_dir)) == without_time(runs.read_events(reference))
    tensors, metadata = fused_tensors(run_dir / runs.FUSED)
    ref_tensors, ref_metadata = fused_tensors(reference / runs.FUSED)
    assert tensors.keys() == ref_tensors.keys()
    for name, tensor in ref_tensors.items():
        assert tensors[name].dtype == tensor.dtype and torch.equal(tensors[name], tensor), name
    assert json.loads(metadata["manifoldmix_recipe"]) == json.loads(ref_metadata["manifoldmix_recipe"])
    assert runs.read_status(run_dir).state == "finished"


def simulate_kill(reference: Path, target: Path, keep_lines: int, partial_line: bool = False) -> Path:
    """A copy of a finished run as a kill after `keep_lines` events would leave it."""
    shutil.copytree(reference, target)
    lines = (reference / runs.EVENTS).read_text().splitlines(keepends=True)
    text = "".join(lines[:keep_lines])
    if partial_line:
        text += lines[keep_lines][: len(lines[keep_lines]) // 2]
    (target / runs.EVENTS).write_text(text)
    (target / runs.RESULTS).unlink()
    (target / runs.FUSED).unlink()
    status = json.loads((target / runs.STATUS).read_text())
    status.update(state="running", pid=dead_pid(), progress=0.5, message="ValAcc ...", log=log_record(target, keep_lines))
    (target / runs.STATUS).write_text(json.dumps(status))
    assert runs.read_status(target).state == "interrupted"
    return target


# -- damaged files (issue 17): the fault tests and the browser walk over a damaged workspaces folder share them ------

DAMAGED_SWEEPS = {  # sweep.json contents that are no sweep
    "no members": {"name": "t"},
    "a member with an extra key": {"name": "t", "members": [{"run_id": "t-01", "setting": "w", "seed": 0, "extra": 1}]},
    "members as a string": {"name": "t", "members": "t-01"},
    "a seed that is a string": {"name": "t", "members": [{"run_id": "t-01", "setting": "w", "seed": "0"}]},
    "not UTF-8": b'{"name": "t\xff\xfe", "members": []}',
    "nested 200,000 deep": b"[" * 200_000,
    "truncated": b'{"name": "t", "members": [{"run_id": "t-0',
}

DAMAGED_WORKSPACES = {  # workspace file contents that are no workspace; None: a symlink to a file outside the folder
    "not UTF-8": b'{"name": "caf\xe9"}',
    "wrong types": b'{"partition": "abc", "ingredients": 5}',
    "a list": b"[1, 2]",
    "nested 200,000 deep": b"[" * 200_000,
    "truncated": b'{"name": "my-run", "ingredients": [{"name": "a", "pa',
    "a symlink leaving the folder": None,
}


def write_sweep(sweep_dir: Path, content: bytes | dict) -> Path:
    """A sweep directory holding the given sweep.json (bytes as they are, a dict as JSON)."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / sweep.SWEEP).write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return sweep_dir
