"""The hash chain of events.jsonl: each line ends with the SHA-256 of the log up to and including it, so a resumed run
notices an edited, removed, inserted or spliced line before it replays a single event.

A line is the event's JSON with one last field, `"chain": <hex>`, the hash of the previous line's chain value and the
line's own text before that field (the exact bytes written, so nothing is re-serialised to check it). The chain value
of the last line is the log's head; status.json and results.json record it with the number of lines (`log`), which
also catches a log cut short at its end. A log with no chain field at all was written before the chain existed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from .errors import ResumeError

FIELD = "chain"
START = ""  # the head of an empty log
_LINK = re.compile(r'^(\{.*), "chain": "([0-9a-f]{64})"\}$')


def _digest(head: str, stem: str) -> str:
    return hashlib.sha256(f"{head}\n{stem}".encode()).hexdigest()


def link(head: str, body: str) -> tuple[str, str]:
    """The line (without its newline) for an event's JSON object `body` after a log whose head is `head`, and the new head."""
    stem = body[:-1]
    new_head = _digest(head, stem)
    return f'{stem}, "{FIELD}": "{new_head}"}}', new_head


def record(count: int, head: str) -> dict:
    """What status.json and results.json keep of the log: how many lines it had and the chain value of the last one."""
    return {"events": count, "head": head}


def is_chained(events: list[dict]) -> bool:
    """Whether any event carries a chain field (then every line must verify)."""
    return any(FIELD in event for event in events)


def verify(lines: list[str], path: Path, recorded: object = None, recorded_in: Path | None = None) -> str:
    """The head of a chained log's lines, or ResumeError naming the first line that breaks the chain; `recorded` (the `log`
    that status.json, `recorded_in`, keeps) must name a line of it, else the log lost lines at its end."""
    head = START
    for number, line in enumerate(lines, start=1):
        match = _LINK.fullmatch(line)
        if match is None:
            raise ResumeError(f"cannot resume: line {number} of {path} carries no valid hash chain; the log was edited, or lines "
                              "from another log were put in; start the run again in a new directory")
        stem, claimed = match.groups()
        if _digest(head, stem) != claimed:
            raise ResumeError(f"cannot resume: line {number} of {path} breaks the hash chain: it was edited, or a line before it was "
                              "removed, inserted or taken from another log; start the run again in a new directory")
        head = claimed
    _check_recorded(lines, path, recorded, recorded_in)
    return head


def _check_recorded(lines: list[str], path: Path, recorded: object, recorded_in: Path | None) -> None:
    """The recorded `log` names a line the chain reached: the log may have grown since (status.json is written now and
    then), never shrunk."""
    if not isinstance(recorded, dict):
        return
    count, head = recorded.get("events"), recorded.get("head")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0 or not isinstance(head, str):
        raise ResumeError(f"cannot resume: the log record in {recorded_in} is damaged ({str(recorded)[:120]})")
    if count > len(lines):
        raise ResumeError(f"cannot resume: {path} has {len(lines)} lines, but {recorded_in} recorded {count}: the log was cut short; "
                          "start the run again in a new directory")
    at = _LINK.fullmatch(lines[count - 1]).group(2) if count else START
    if at != head:
        raise ResumeError(f"cannot resume: line {count} of {path} is not the line {recorded_in} recorded as the log's head: the log "
                          "was replaced or rewritten; start the run again in a new directory")
