"""Count how often files are opened, by any code in any process: Linux inotify on their folder (IN_OPEN events).

A filesystem-level counter, so tests of "read once" (tests/test_reads.py) and benchmarks/bench_scale.py count
what really touched the disk, safetensors' own Rust reader and memory maps included, without replacing any
function of ours. Closes are watched too: the
kernel merges an event into an identical one still unread, so open-open would count once, open-close-open twice.
(A file opened again while it is still open may thus be counted once: counts are lower bounds.)
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from collections import Counter
from pathlib import Path

IN_CLOSE_NOWRITE, IN_OPEN, IN_Q_OVERFLOW = 0x10, 0x20, 0x4000
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len of struct inotify_event


class FileOpens:
    """`with FileOpens(folder) as opens:` ... then `opens.counts[file name]` is how often each file was opened."""

    def __init__(self, folder: Path):
        self.folder, self.counts = Path(folder), Counter()
        self._libc = ctypes.CDLL(None, use_errno=True)

    def __enter__(self) -> FileOpens:
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0 or self._libc.inotify_add_watch(self._fd, str(self.folder).encode(), IN_OPEN | IN_CLOSE_NOWRITE) < 0:
            raise OSError(ctypes.get_errno(), "inotify is not available")
        return self

    def __exit__(self, *_) -> None:
        try:
            self.drain()
        finally:
            os.close(self._fd)

    def drain(self) -> Counter:
        """Read the events queued so far into `counts`."""
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    return self.counts
                raise
            offset = 0
            while offset < len(data):
                _, mask, _, length = _HEADER.unpack_from(data, offset)
                if mask & IN_Q_OVERFLOW:
                    raise RuntimeError("inotify queue overflowed: the counts would be too low")
                if mask & IN_OPEN:
                    self.counts[data[offset + _HEADER.size: offset + _HEADER.size + length].rstrip(b"\0").decode()] += 1
                offset += _HEADER.size + length
