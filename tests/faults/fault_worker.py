"""The worker side of the fault tests: `python -m manifoldmix_core ...` in a process forked from a server
that has already imported torch, with one fault armed at a chosen point of the run.

A fault fires after the nth journal event that matches `event`, or when `call` (module:function) is
first entered. Actions: `pause` (announce it in a file, then wait for a go file, so the test can send a
real signal to a worker known to be in that phase), `fill` (fill the file system holding the run
directory, so the engine's next write meets a real ENOSPC), `enospc` (raise that OSError here, where
no small file system can be mounted). Nothing of the engine is replaced: the hook only adds the fault.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm


@dataclass(frozen=True)
class Fault:
    action: str  # pause | fill | enospc
    event: dict = field(default_factory=dict)
    nth: int = 1
    call: str | None = None
    ready: str | None = None  # written (pid, time) when the fault fires
    go: str | None = None  # pause: the worker carries on once this file exists
    fill: str | None = None  # fill: the filler file to write until the file system is full


def main(argv: list[str], fault: Fault | None, log: str) -> None:
    """Entry point of the forked worker: output to `log`, arm the fault, run the CLI, exit with its code.

    An error the CLI lets through ends the worker as the interpreter's top level would end `python -m`:
    it is kept in sys.last_traceback (which keeps its frames alive, as a leftover optimizer thread did),
    printed by sys.excepthook, and the exit code is 1, after threading's shutdown has joined all threads.
    """
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    # tqdm's default lock is a multiprocessing semaphore shared with the test's resource tracker, which
    # then warns about every worker the tests SIGKILL; a thread lock serves a one-process worker as well.
    tqdm.set_lock(threading.RLock())
    if fault is not None:
        _arm(fault)
    from manifoldmix_core import cli
    try:
        code = cli.main(argv)
    except Exception:  # what Python's PyErr_Print does with an uncaught exception
        sys.last_type, sys.last_value, sys.last_traceback = sys.exc_info()
        sys.excepthook(sys.last_type, sys.last_value, sys.last_traceback)
        code = 1
    sys.exit(code)


def _arm(fault: Fault) -> None:
    if fault.call:
        module_name, name = fault.call.split(":")
        module = importlib.import_module(module_name)
        original = getattr(module, name)
        fired = []

        def wrapper(*args, **kwargs):
            if not fired:
                fired.append(True)
                _fire(fault)
            return original(*args, **kwargs)

        setattr(module, name, wrapper)
        return
    from manifoldmix_core import runs
    original_record = runs.Journal.record
    seen = []

    def record(self, event, compute=None):
        result = original_record(self, event, compute)
        if all(event.get(k) == v for k, v in fault.event.items()):
            seen.append(event)
            if len(seen) == fault.nth:
                _fire(fault)
        return result

    runs.Journal.record = record


def _fire(fault: Fault) -> None:
    if fault.ready:
        Path(fault.ready).write_text(json.dumps({"pid": os.getpid(), "at": time.time()}))
    if fault.action == "pause":
        deadline = time.monotonic() + 120
        while not Path(fault.go).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    elif fault.action == "fill":
        with open(fault.fill, "wb", buffering=0) as f:
            try:
                while f.write(b"\0" * 4096):
                    pass
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    elif fault.action == "enospc":
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (injected)")
    else:
        raise ValueError(f"unknown fault action {fault.action!r}")
