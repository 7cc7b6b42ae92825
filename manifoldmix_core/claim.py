"""One writer per run directory: a claim file, created atomically, that names the process holding it.

`run`, `resume` and `demo run` claim the run directory before they write anything and release it on
every way out. The file is created with O_EXCL, so of two processes exactly one gets it; it records
pid, host, boot and process start time, so a claim left by a killed process is recognised as stale
(same host and boot, pid gone or reused by another process) and taken over. The file is padded with
whitespace: on a full disk the holder truncates it to make room for its last status.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import ClaimError

LOCK = "writer.lock"
RESERVE = 64 * 1024  # bytes kept for the final status.json of a run that fails on a full disk
UNREADABLE_GRACE_S = 10.0  # a claim file still unreadable after this long was left by a process that died creating it


def pid_alive(pid: int | None) -> bool:
    """Whether a process still runs (an exited child not yet reaped, a zombie, counts as gone)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = _proc_stat(pid)
    return stat is None or stat[0] != "Z"


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None where there is no /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_ticks(pid: int) -> int | None:
    """When a process started (clock ticks since boot): with the pid, it names one process for good."""
    stat = _proc_stat(pid)
    return int(stat[19]) if stat and len(stat) > 19 else None


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


@dataclass(frozen=True)
class Holder:
    """The process that holds a claim."""

    pid: int
    host: str
    boot_id: str | None
    start_ticks: int | None
    command: str
    since: float

    @classmethod
    def me(cls) -> Holder:
        return cls(os.getpid(), socket.gethostname(), _boot_id(), _start_ticks(os.getpid()),
                   " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300], time.time())

    def alive(self) -> bool:
        """False only when this process is known to be gone; a holder on another host counts as alive."""
        if self.host != socket.gethostname():
            return True
        if self.boot_id and _boot_id() and self.boot_id != _boot_id():
            return False
        if not pid_alive(self.pid):
            return False
        return self.start_ticks is None or _start_ticks(self.pid) in (None, self.start_ticks)

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"pid {self.pid} on host {self.host} ({self.command!r}, since {started})"


def holder(run_dir: str | Path) -> Holder | None:
    """Who holds the run directory's claim, or None when nobody does (or the claim file is unreadable)."""
    return _parse(_read(Path(run_dir) / LOCK))


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _parse(raw: bytes | None) -> Holder | None:
    try:
        return Holder(**json.loads(raw)) if raw else None
    except (ValueError, TypeError):
        return None


@dataclass
class Claim:
    """A claim this process holds."""

    path: Path
    record: bytes

    def make_room(self) -> bool:
        """Give the reserved padding back to the file system; True if there was any left to give."""
        if self.path.stat().st_size <= len(self.record):
            return False
        os.truncate(self.path, len(self.record))
        return True

    def release(self) -> None:
        """Remove the claim file if it is still ours."""
        raw = _read(self.path)
        if raw is not None and raw.startswith(self.record):
            self.path.unlink(missing_ok=True)


_HELD: dict[Path, Claim] = {}


def held(run_dir: str | Path) -> Claim | None:
    """The claim this process holds on run_dir, if any."""
    return _HELD.get(Path(run_dir).resolve())


@contextlib.contextmanager
def claimed(run_dir: str | Path) -> Iterator[Claim]:
    """Hold run_dir's claim for the duration (creating the folder); nested use in one process shares one claim."""
    key = Path(run_dir).resolve()
    if key in _HELD:
        yield _HELD[key]
        return
    claim = _acquire(Path(run_dir))
    _HELD[key] = claim
    try:
        yield claim
    finally:
        del _HELD[key]
        claim.release()


def _acquire(run_dir: Path) -> Claim:
    path = run_dir / LOCK
    for _ in range(50):
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raw = _read(path)
            other = _parse(raw)
            if other is not None and other.alive():
                raise ClaimError(f"{run_dir} is being written by {other.describe()}; wait for it to end or stop it "
                                 f"(if that process is gone for good, delete {path})") from None
            if raw is not None and other is None and not _abandoned(path):
                time.sleep(0.05)  # its holder is still writing it
            elif raw is not None:
                _remove_if_unchanged(path, raw)
            continue
        except OSError as exc:
            raise ClaimError(f"{run_dir}: cannot create {LOCK} there ({exc.strerror}); is the folder writable?") from exc
        record = json.dumps(asdict(Holder.me())).encode()
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(record + b"\n" + b" " * (RESERVE - len(record) - 1))
        except BaseException as exc:
            path.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise ClaimError(f"{run_dir}: cannot write {LOCK} there ({exc.strerror}); is there free space?") from exc
            raise
        return Claim(path, record)
    raise ClaimError(f"{run_dir}: could not claim the run directory: {path} stays unreadable or keeps changing hands")


def _abandoned(path: Path) -> bool:
    """An unreadable claim file nobody has touched for a while: its creator died before writing it."""
    try:
        return time.time() - path.stat().st_mtime > UNREADABLE_GRACE_S
    except FileNotFoundError:
        return True


def _remove_if_unchanged(path: Path, seen: bytes) -> None:
    """Delete a stale claim, but not a fresh one another process put there since we read it.

    The check and the unlink happen under an flock of the directory, so two processes taking over
    the same stale claim cannot delete each other's new one.
    """
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError, ImportError):  # no flock (Windows, some network file systems): the race is merely unlikely
            import fcntl
            fcntl.flock(fd, fcntl.LOCK_EX)
        if _read(path) == seen:
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)
