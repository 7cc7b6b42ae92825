"""Run directories seen from the app: list them, launch the engine's CLI on a new one, cancel, resume.

The app never runs a soup itself: it writes config.json and starts
`python -m manifoldmix_core run ...` in its own session, logging to worker.log in the run dir.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from manifoldmix_core import runs

from .paths import REPO, runs_root

LOG, PID = "worker.log", "worker.pid"
ACTIVE = ("queued", "running")
_workers: list[subprocess.Popen] = []  # polled so finished workers are reaped, not left as zombies that look alive


@dataclass(frozen=True)
class RunInfo:
    """What a run list shows: id, folder, state, progress, message and when it was created."""

    run_id: str
    path: Path
    name: str
    state: str
    progress: float
    message: str
    created_at: float

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def label(self) -> str:
        return f"{self.run_id} · {self.state}"


def run_info(run_dir: Path) -> RunInfo:
    """Status of one run directory (a dead worker reads as 'interrupted', see runs.read_status)."""
    status = _worker_status(run_dir)
    config = runs.read_json(run_dir / runs.CONFIG, default={}) or {}
    created = status.get("created_at") or run_dir.stat().st_mtime
    return RunInfo(run_dir.name, run_dir, config.get("name") or run_dir.name, status.get("state", "queued"),
                   float(status.get("progress") or 0.0), status.get("message", ""), float(created))


def _worker_status(run_dir: Path) -> dict:
    """runs.read_status, plus: a queued run whose worker died before starting has failed (see worker.log)."""
    _reap()
    status = runs.read_status(run_dir)
    if status.get("state") == "queued" and (run_dir / PID).is_file():
        pid = int((run_dir / PID).read_text().strip() or 0)
        if not runs.pid_alive(pid):
            last = worker_log(run_dir, tail=1) or "the worker exited before the run started"
            status = {**status, "state": "failed", "message": last.removeprefix("error: ")}
    return status


def read_status(run_dir: Path) -> dict:
    """The status a page shows: state, progress, ETA, message (with failed launches detected)."""
    return _worker_status(run_dir)


def list_runs(root: Path | None = None) -> list[RunInfo]:
    """Every run directory under the runs root, newest first."""
    root = root or runs_root()
    if not root.is_dir():
        return []
    dirs = [d for d in root.iterdir() if d.is_dir() and (d / runs.CONFIG).is_file()]
    return sorted((run_info(d) for d in dirs), key=lambda r: r.created_at, reverse=True)


def find_run(run_id: str | None, root: Path | None = None) -> Path | None:
    """The run directory for an id from the URL, or None; ids cannot climb out of the runs root."""
    if not run_id or not re.fullmatch(r"[A-Za-z0-9_.-]+", run_id) or run_id in (".", ".."):
        return None
    path = (root or runs_root()) / run_id
    return path if path.is_dir() else None


def new_run_id(name: str, root: Path | None = None) -> str:
    """A readable, unique, URL-safe id: <yyyymmdd-hhmmss>-<name>[-n]."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:40] or "run"
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
    root = root or runs_root()
    run_id, n = base, 1
    while (root / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def _reap() -> None:
    """Collect the exit status of workers this app started (a zombie would pass pid_alive)."""
    _workers[:] = [w for w in _workers if w.poll() is None]


def _spawn(args: list[str], run_dir: Path) -> None:
    """Start the engine CLI detached from the app (own session), output to worker.log, pid to worker.pid."""
    with (run_dir / LOG).open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "manifoldmix_core", *args], cwd=REPO, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    _workers.append(process)
    (run_dir / PID).write_text(str(process.pid))


def launch(config: dict, name: str | None = None, root: Path | None = None) -> Path:
    """Write the config into a new run directory and start the worker on it; returns the run directory.

    The CLI validates config.json and rewrites it in canonical form (RunConfig.to_dict()).
    """
    root = root or runs_root()
    run_dir = root / new_run_id(name or config.get("name") or "run", root)
    run_dir.mkdir(parents=True)
    (run_dir / runs.CONFIG).write_text(json.dumps(config, indent=1))
    runs.write_json_atomic(run_dir / runs.STATUS, {"state": "queued", "progress": 0.0, "message": "starting the worker",
                                                  "created_at": time.time()})
    _spawn(["run", str(run_dir / runs.CONFIG), "--run-dir", str(run_dir), "--quiet"], run_dir)
    return run_dir


def resume(run_dir: Path) -> None:
    """Continue an interrupted or cancelled run where its events.jsonl left off."""
    runs.StatusWriter(run_dir).update(state="queued", message="resuming")
    _spawn(["resume", str(run_dir), "--quiet"], run_dir)


def cancel(run_dir: Path) -> None:
    """Ask the worker to stop between two evaluations (the run stays resumable)."""
    runs.request_cancel(run_dir)


def worker_log(run_dir: Path, tail: int = 40) -> str:
    """The last lines the worker printed (errors before the run could write status.json end up here)."""
    path = run_dir / LOG
    return "\n".join(path.read_text(errors="replace").splitlines()[-tail:]) if path.is_file() else ""
