"""The run directory: config.json, status.json, events.jsonl, results.json, fused.safetensors, CANCEL, writer.lock.

events.jsonl is both the live feed the app draws and the tape a resumed run replays: a resumed
run executes from the start, and each event it would write that is already on the tape is read
back instead of recomputed (including its ValAcc). Since every decision depends only on those
values, the resumed run retraces the interrupted one exactly and then carries on.

Only the process holding the directory's claim (writer.lock, see claim.py) writes here; every file
is replaced atomically or appended to, so a writer killed at any moment leaves readable files and,
at worst, a temporary `.*.tmp` file that the next writer removes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from . import chain, claim, jsonfile
from .claim import pid_alive
from .errors import Cancelled, DamagedFile, ResumeError
from .files import write_atomic
from .run_records import Results, Status

CONFIG, STATUS, EVENTS, RESULTS, FUSED, CANCEL = (
    "config.json", "status.json", "events.jsonl", "results.json", "fused.safetensors", "CANCEL")
FUSED_MODEL = "fused_model"  # the fused model in its family's own format, for families that have one (a Hugging Face folder)
CANCELLED, MEASURED = "cancel", "compute"  # what a journal tells torchrun's other ranks before an event it does not replay


def write_json_atomic(path: Path, data) -> None:
    """Write JSON so that readers see the old or the new file, never a half-written one."""
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1)))


def remove_leftovers(run_dir: Path) -> None:
    """Delete temporary files of writers that were killed mid-write (call only while holding the claim)."""
    for tmp in run_dir.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def read_json(path: Path, default=None):
    """A JSON file's data, or default when it is missing or damaged (jsonfile.load tells the two apart)."""
    try:
        return jsonfile.load(path)
    except (FileNotFoundError, DamagedFile):
        return default


def read_status(run_dir: str | Path) -> Status:
    """status.json through its schema; its state is queued, running, finished, failed or cancelled, a 'running' run (or
    one waiting in the run queue) whose process has died (its claim is stale, or without a claim its pid is gone) is
    reported as 'interrupted', and a damaged or schema-violating file as 'damaged' with a message naming the file and
    the key, for the pages to show."""
    try:
        status = jsonfile.load(Path(run_dir) / STATUS, Status)
    except FileNotFoundError:
        return Status(state="queued", message="waiting to start")
    except DamagedFile as exc:
        return Status(state="damaged", message=f"{exc}; the engine rewrites it when the run is resumed")
    if status.state == "running" or status.state == "queued" and status.queue_ahead is not None:  # waited in line
        holder = claim.holder(run_dir)
        if not (holder.alive() if holder else pid_alive(status.pid)):
            status = status.model_copy(update={"state": "interrupted", "message": "the worker stopped unexpectedly; resume to continue"})
    return status


def read_results(run_dir: str | Path) -> Results:
    """results.json through its schema: FileNotFoundError when the run has none, DamagedFile naming the file and the key
    when it is damaged or forged."""
    return jsonfile.load(Path(run_dir) / RESULTS, Results)


def write_results(run_dir: Path, results: dict) -> None:
    """results.json, checked against its schema before it is written (the readers refuse anything else)."""
    write_json_atomic(run_dir / RESULTS, Results.model_validate(results).model_dump(mode="json", exclude_unset=True))


def read_events(run_dir: str | Path) -> list[dict]:
    """The event objects of events.jsonl's complete lines up to the first line that is not one (damage); the hash chain is
    not checked here: this is what a log shows, and Journal checks it before a resume replays anything."""
    events = []
    for event, _ in event_lines(Path(run_dir) / EVENTS):
        if not isinstance(event, dict):
            break
        events.append(event)
    return events


def event_lines(path: Path, offset: int = 0) -> Iterator[tuple[object, int]]:
    """THE reader of events.jsonl for display: the JSON value of each complete line from byte `offset` on (None for a line
    that is not JSON), with the offset just past its line; a last line still being written (no newline yet) waits for the
    next read. Readers stop at the first value that is not an event; the live view reads on from where it stopped."""
    if not path.is_file():
        return
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read()
    for line in data[: data.rfind(b"\n") + 1].splitlines(keepends=True):
        offset += len(line)
        yield _loads(line), offset


def request_cancel(run_dir: str | Path) -> None:
    """Ask the worker to stop between two evaluations."""
    (Path(run_dir) / CANCEL).write_text("cancel requested\n")


class Journal:
    """Append-only events.jsonl that replays its own past on resume (see the module docstring)."""

    def __init__(self, run_dir: Path, share: Callable | None = None):
        """`share` hands each event to torchrun's other ranks (distributed.Group.share); a single process shares nothing.

        The tape is read only if its hash chain verifies (chain.py) up to at least the head status.json recorded; a log
        without a chain, written before the chain existed, is refused: nothing in it can be trusted to replay.
        """
        self.share = share or (lambda value: value)
        self.path = run_dir / EVENTS
        self.cancel_path = run_dir / CANCEL
        lines, cut = self._complete_lines()
        self.tape = [_tape_event(line, number, self.path) for number, line in enumerate(lines, start=1)]
        if self.tape and not chain.is_chained(self.tape):
            raise ResumeError(f"cannot resume: {self.path} has no hash chain (it was written before runs were tamper-evident, "
                              "or the chain was stripped); its events cannot be verified, so start the run again in a new directory")
        status = read_json(run_dir / STATUS, default={})
        self.head = chain.verify(lines, self.path, status.get("log") if isinstance(status, dict) else None, run_dir / STATUS)
        if cut:  # only a log that verified is repaired
            self.path.write_text("".join(line + "\n" for line in lines))
        self.lines = len(lines)
        self.position = 0
        self.start = time.time() - (self.tape[-1].get("t", 0.0) if self.tape else 0.0)
        self.listeners: list[Callable[[dict], None]] = []

    def _complete_lines(self) -> tuple[list[str], bool]:
        """The log's complete lines, and whether the file needs repair: a last line cut short by a crash, or a complete one
        whose newline was not written yet."""
        if not self.path.is_file():
            return [], False
        try:
            text = self.path.read_bytes().decode()
        except UnicodeDecodeError as exc:
            raise ResumeError(f"cannot resume: {self.path} is not text (byte {exc.start}); the log is damaged") from None
        lines = text.split("\n")
        last = lines.pop()  # "" after a final newline, else a line the writer did not finish
        if last and _loads(last) is not None:
            lines.append(last)
        return lines, last != ""

    @property
    def log(self) -> dict:
        """What status.json and results.json record of the log: its number of lines and its head."""
        return chain.record(self.lines, self.head)

    @property
    def replaying(self) -> bool:
        return self.position < len(self.tape)

    def upcoming(self) -> dict | None:
        """The tape's next event while replaying (what `record` will compare with), else None."""
        return self.tape[self.position] if self.replaying else None

    def record(self, event: dict, compute: Callable[[], dict] | None = None) -> dict:
        """Write event (+ the fields compute() returns), or read it back from the tape when replaying."""
        if self.replaying:
            old = self.tape[self.position]
            changed = {k: (old.get(k), v) for k, v in event.items() if old.get(k) != v}
            if changed:
                detail = "; ".join(f"{k} was {short_json(a)}, now {short_json(b)}" for k, (a, b) in changed.items())
                raise ResumeError(f"cannot resume: event {self.position + 1} of {self.path} ({_brief(old)}) differs: {detail}; "
                                  "the ingredients, datasets or settings changed since the run started")
            self.position += 1
            return self.share(old)
        if self.share(CANCELLED if self.cancel_path.exists() else MEASURED) == CANCELLED:
            raise Cancelled("cancelled by the user")
        full = {**event, **(compute() if compute else {}), "t": round(time.time() - self.start, 3)}
        line, head = chain.link(self.head, json.dumps(full))
        with self.path.open("a") as f:
            f.write(line + "\n")
        self.head, self.lines = head, self.lines + 1
        for listener in self.listeners:
            listener(full)
        return self.share(full)


def _loads(line: str | bytes):
    """A line's JSON value, or None when it is not JSON (not UTF-8, cut short, nested too deeply)."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def _tape_event(line: str, number: int, path: Path) -> dict:
    """One complete line of the tape as its event; anything else is damage (only a last line may be cut by a crash)."""
    event = _loads(line)
    if not isinstance(event, dict):
        raise ResumeError(f"cannot resume: line {number} of {path} is not an event; the log is damaged")
    return event


def _brief(event: dict) -> str:
    return json.dumps({k: event.get(k) for k in ("type", "method", "phase", "candidate", "model") if k in event})


def short_json(value, limit: int = 120) -> str:
    """A value as JSON for an error message, cut to `limit` characters."""
    try:
        text = json.dumps(value, default=str)
    except (RecursionError, ValueError):
        return "(nested too deeply to show)"
    return text if len(text) <= limit else text[:limit] + "..."


class StatusWriter:
    """Keeps status.json current (its schema: run_records.Status): state, progress in [0, 1], ETA, message, pid."""

    def __init__(self, run_dir: Path):
        self.run_dir, self.path = run_dir, run_dir / STATUS
        try:
            self.data = jsonfile.load(self.path, Status)
        except (FileNotFoundError, DamagedFile):  # a damaged status is replaced by the next write
            self.data = Status()

    def note(self, **fields) -> None:
        """Take fields into the status without writing it: the next `update` writes them."""
        self.data = Status.model_validate({**self.data.model_dump(exclude_unset=True), **fields})

    def update(self, **fields) -> None:
        """Write the new status; on a full disk, once, with the room our claim reserved for it."""
        self.note(**fields, pid=os.getpid(), updated_at=time.time())
        data = self.data.model_dump(mode="json", exclude_unset=True)
        try:
            write_json_atomic(self.path, data)
        except OSError:
            held = claim.held(self.run_dir)
            if held is None or not held.make_room():
                raise
            write_json_atomic(self.path, data)
