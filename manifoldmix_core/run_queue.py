"""The run queue of one machine: at most K runs execute at once, the others wait in launch order, and a launch equal to
a run already queued, running or finished joins that run instead of starting another (a class pressing "Run the demo"
is one run).

The slots and the line are files in one folder per machine and user ($MANIFOLDMIX_QUEUE, else `queue/` in the engine's
cache folder; a run writes nothing beside its run directory), so they hold across processes and runs roots: the app's
sessions, the workers it spawns, sweeps and the CLI. The launch index (which run a launch key names) is the app's, under
`<runs root>/.queue`. A run executes while it holds one of K slot files locked (flock);
a waiting run holds its ticket file locked. The kernel drops a dead process's locks, so a crashed worker frees its slot
and its place in line without anyone cleaning up. K is $MANIFOLDMIX_MAX_RUNS, else the machine's GPUs, else half its
CPU cores (at least 1).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from . import claim, fingerprint, runs, safepaths
from .config import parse_config
from .errors import Cancelled, ConfigError, ManifoldMixError
from .files import default_cache_dir

QUEUE = ".queue"  # the launch index under the runs root
QUEUE_ENV, MAX_RUNS_ENV = "MANIFOLDMIX_QUEUE", "MANIFOLDMIX_MAX_RUNS"
POLL_S = 0.2  # how often a waiting run looks at the line and the slots
JOINABLE = ("queued", "running", "finished")
START_GRACE_S = 60.0  # a placed run whose worker has not claimed it yet is still starting for this long


def capacity() -> int:
    """K, how many runs may execute at once: $MANIFOLDMIX_MAX_RUNS, else one per GPU, else half the CPU cores (≥ 1)."""
    value = os.environ.get(MAX_RUNS_ENV)
    if value is not None:
        if not value.strip().isdigit() or int(value) < 1:
            raise ConfigError(f"{MAX_RUNS_ENV}={value!r}: must be a whole number of runs, 1 or more")
        return int(value)
    return _gpus() or max(1, len(os.sched_getaffinity(0)) // 2)


def _gpus() -> int:
    """NVIDIA GPUs this process may use, found without torch (the worker waits for its slot before torch loads)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and not d.strip().startswith("-")])
    folder = Path("/proc/driver/nvidia/gpus")
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def folder() -> Path:
    """Where this machine's slots and line are: $MANIFOLDMIX_QUEUE, else queue/ in the engine's cache folder."""
    path = Path(os.environ.get(QUEUE_ENV) or default_cache_dir() / "queue")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _taken(path: Path) -> bool:
    """Whether a live process holds this ticket; a ticket left by a dead one is removed."""
    try:
        with path.open("rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            path.unlink(missing_ok=True)
            return False
    except FileNotFoundError:
        return False


def waiting() -> list[str]:
    """The tickets of the runs waiting for a slot, first in line first."""
    return sorted(p.name for p in folder().glob("wait-*") if _taken(p))


@contextlib.contextmanager
def slot(run_dir: Path, on_wait: Callable[[int], None] = lambda ahead: None,
         on_cancel: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Hold one of the K slots while the body runs; until one is free, wait in line (on_wait(runs ahead) when that
    number changes). CANCEL in the run directory while it waits ends the wait (on_cancel(), then Cancelled)."""
    line, limit = folder(), capacity()
    ticket = line / f"wait-{time.time_ns():020d}-{os.getpid()}"
    handle = _locked_file(line / f"new-{os.getpid()}-{time.time_ns()}")
    os.replace(handle.name, ticket)  # enters the line already locked: no one mistakes it for a dead run's ticket
    held, ahead_before = None, None
    try:
        while held is None:
            if (Path(run_dir) / runs.CANCEL).exists():
                on_cancel()
                raise Cancelled("cancelled while waiting in the run queue")
            ahead = sum(1 for name in waiting() if name < ticket.name)
            if ahead == 0:
                held = _free_slot(line, limit)
            if held is None:
                if ahead != ahead_before:
                    on_wait(ahead)
                    ahead_before = ahead
                time.sleep(POLL_S)
        ticket.unlink(missing_ok=True)
        handle.close()
        yield
    finally:
        ticket.unlink(missing_ok=True)
        handle.close()
        if held is not None:
            held.close()


def _locked_file(path: Path):
    handle = path.open("a")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def _free_slot(folder: Path, limit: int):
    """An open, locked slot file if one of the K is free, else None."""
    for number in range(limit):
        handle = (folder / f"slot-{number}").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return handle
    return None


def executing() -> int:
    """How many slots are held now (runs executing)."""
    count = 0
    for path in folder().glob("slot-*"):
        with path.open("rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                count += 1
    return count


def wait_for_slot(run_dir: Path):
    """slot() for a run directory whose status.json says where it stands in line ("queued, n ahead of you")."""
    writer = runs.StatusWriter(Path(run_dir))

    def said(ahead: int) -> None:
        writer.update(state="queued", message=f"queued, {ahead} ahead of you" if ahead else
                      f"queued, next in line ({capacity()} running)", queue_ahead=ahead)

    return slot(run_dir, said, lambda: writer.update(state="cancelled", message="cancelled while queued"))


def launch_key(config: dict) -> str:
    """What makes two launches the same run: the canonical config (its name aside) and the content of every input file
    it names, so an edited checkpoint behind the same path is another run."""
    canonical = parse_config(config).to_dict()
    canonical.pop("name", None)
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode())
    for path in sorted(_paths(canonical)):
        digest.update(f"\0{path}\0{_content(Path(path))}".encode())
    return digest.hexdigest()


def _paths(value) -> set[str]:
    """Every absolute path to an existing file or folder in a config."""
    if isinstance(value, dict):
        return set().union(*map(_paths, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(_paths, value)) if value else set()
    return {value} if isinstance(value, str) and value.startswith("/") and Path(value).exists() else set()


def _content(path: Path) -> str:
    """The content hash of a file, or of a folder's files (their relative paths too); cached per file version."""
    cache = default_cache_dir()
    if path.is_file():
        return fingerprint.file_digest(path, cache)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return fingerprint.files_digest(((str(p.relative_to(path)), p) for p in files), cache)


def place(root: Path, config: dict, new_dir: Callable[[], Path]) -> tuple[Path, bool]:
    """The run directory for a launch, and whether it joined a run already queued, running or finished with the same
    launch key; else a new directory (new_dir()) with config.json placed, recorded under the key, for the caller to start.
    An invalid config joins nothing: its worker marks it failed with the reason, as for any launch."""
    try:
        key = launch_key(config)
    except ManifoldMixError:
        key = None
    folder = Path(root) / QUEUE
    folder.mkdir(parents=True, exist_ok=True)
    index = folder / f"launch-{key}"
    with _locked_file(folder / "launch.lock"):
        twin = None if key is None else _joinable(Path(root), index)
        if twin is not None:
            return twin, True
        run_dir = new_dir()
        run_dir.mkdir(parents=True)
        runs.write_json_atomic(run_dir / runs.CONFIG, config)
        if key is not None:
            runs.write_json_atomic(index, {"run_id": run_dir.name})
        return run_dir, False


def _joinable(root: Path, index: Path) -> Path | None:
    """The run recorded under a launch key when it is still queued (with a live or starting worker), running or finished."""
    recorded = runs.read_json(index, default={}) or {}
    try:  # a hostile index file names no run outside the runs root
        run_dir = safepaths.entry(root, recorded.get("run_id") if isinstance(recorded, dict) else None, "run id")
    except ManifoldMixError:
        return None
    if not (run_dir / runs.CONFIG).is_file():
        return None
    status = runs.read_status(run_dir)
    state = status.state
    if state not in JOINABLE or state == "finished" and not (run_dir / runs.RESULTS).is_file():
        return None
    if state == "queued":
        holder = claim.holder(run_dir)
        starting = holder is None and time.time() - (run_dir / runs.CONFIG).stat().st_mtime < START_GRACE_S
        if not (starting or holder is not None and holder.alive()):
            return None
    return run_dir
