"""Run directories seen from the app: list them, start the engine on a new one, cancel, resume.

The app never runs a soup and never writes status.json (the engine owns it, lifecycle.py): it places
config.json in a new folder and starts `python -m manifoldmix_core run <run_dir>` in its own session,
logging to worker.log in the run dir, then only reads.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from manifoldmix_core import claim, run_queue, runs, safepaths
from manifoldmix_core.errors import DamagedFile, ManifoldMixError, PathError

from .paths import REPO, runs_root
from .vocabulary import unique_name

ENGINE = (sys.executable, "-m", "manifoldmix_core")
LOG = "worker.log"
ACTIVE = ("queued", "running")
START_WAIT_S = 15.0  # how long a launch waits for the worker to take its run directory before the page moves on
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
    status = read_status(run_dir)
    config = runs.read_json(run_dir / runs.CONFIG, default={}) or {}
    created = status.created_at or run_dir.stat().st_mtime
    return RunInfo(run_dir.name, run_dir, config.get("name") or run_dir.name, status.state, status.progress, status.message,
                   float(created))


def read_status(run_dir: Path) -> runs.Status:
    """The status a page shows, as the engine wrote it (runs.read_status): state, progress, ETA, message."""
    _reap()
    return runs.read_status(run_dir)


def read_results(run_ids: list[str], root: Path | None = None) -> tuple[dict[str, runs.Results], dict[str, str]]:
    """Each run's results.json through its schema (runs.read_results), and for each run whose file is damaged, forged or
    gone the reason, so a page names it and shows the others."""
    results, damaged = {}, {}
    for run_id in run_ids:
        run_dir = find_run(run_id, root)
        try:
            if run_dir is None:
                raise FileNotFoundError(run_id)
            results[run_id] = runs.read_results(run_dir)
        except FileNotFoundError:
            damaged[run_id] = f"{run_id} has no {runs.RESULTS} (the run was deleted or has not finished)"
        except DamagedFile as exc:
            damaged[run_id] = str(exc)
    return results, damaged


def list_runs(root: Path | None = None) -> list[RunInfo]:
    """Every run directory under the runs root, newest first."""
    root = root or runs_root()
    if not root.is_dir():
        return []
    dirs = [d for d in (find_run(p.name, root) for p in root.iterdir()) if d is not None and (d / runs.CONFIG).is_file()]
    return sorted((run_info(d) for d in dirs), key=lambda r: r.created_at, reverse=True)


def find_run(run_id: str | None, root: Path | None = None) -> Path | None:
    """The run directory for an id from the URL or a folder name, or None: an id that is not a plain name, or a folder
    that is a symlink leading out of the runs root, names no run (safepaths.entry)."""
    try:
        path = safepaths.entry(root or runs_root(), run_id, "run id")
    except PathError:
        return None
    return path if path.is_dir() else None


def new_run_id(name: str, root: Path | None = None) -> str:
    """A readable, unique, URL-safe id: <yyyymmdd-hhmmss>-<name>[-n]."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:40] or "run"
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
    root = root or runs_root()
    return unique_name(base, {p.name for p in root.iterdir()} if root.is_dir() else set())


def _reap() -> None:
    """Collect the exit status of workers this app started (a zombie would pass pid_alive)."""
    _workers[:] = [w for w in _workers if w.poll() is None]


def spawn(args: list[str], run_dir: Path) -> None:
    """Start the engine detached from the app (own session), output to worker.log; return once the worker has taken
    the run directory (its claim, and the status it writes then), or has exited."""
    with (run_dir / LOG).open("ab") as log:
        process = subprocess.Popen([*ENGINE, *args], cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    _workers.append(process)
    deadline = time.monotonic() + START_WAIT_S
    while process.poll() is None and time.monotonic() < deadline:
        holder = claim.holder(run_dir)
        if holder is not None and holder.pid == process.pid and runs.read_status(run_dir).state in ACTIVE:
            return
        time.sleep(0.05)


def launch(config: dict, name: str | None = None, root: Path | None = None) -> Path:
    """Place the config in a new run directory and start the engine on it, or join the run with the same config and
    inputs that is already queued, running or finished (run_queue.place); returns the run directory.

    The engine validates config.json, rewrites it in canonical form (RunConfig.to_dict()), waits for a run slot
    (run_queue) and writes every status.
    """
    root = root or runs_root()
    run_dir, joined = run_queue.place(root, config, lambda: root / new_run_id(name or config.get("name") or "run", root))
    if not joined:
        spawn(["run", str(run_dir), "--quiet"], run_dir)
    return run_dir


def queue_note(status: runs.Status) -> str | None:
    """What watchers of a run waiting in the run queue are told: its place in line and the server's limit; else None."""
    if status.state != "queued" or status.queue_ahead is None:
        return None
    try:
        capacity = run_queue.capacity()
        limit = f"At most {capacity} run{'s' if capacity != 1 else ''} execute{'s' if capacity == 1 else ''} at once on this server"
    except ManifoldMixError as exc:
        limit = str(exc)
    return (f"{(status.message or 'queued').capitalize()}. {limit} (`{run_queue.MAX_RUNS_ENV}`); this run starts "
            "when one finishes, and whoever launches the same setup joins it.")


def resume(run_dir: Path) -> None:
    """Continue an interrupted or cancelled run where its events.jsonl left off."""
    spawn(["resume", str(run_dir), "--quiet"], run_dir)


def cancel(run_dir: Path) -> None:
    """Ask the worker to stop between two evaluations (the run stays resumable)."""
    runs.request_cancel(run_dir)


def worker_log(run_dir: Path, tail: int = 40) -> str:
    """The last lines the worker printed (errors before the run could write status.json end up here)."""
    path = run_dir / LOG
    return "\n".join(path.read_text(errors="replace").splitlines()[-tail:]) if path.is_file() else ""
