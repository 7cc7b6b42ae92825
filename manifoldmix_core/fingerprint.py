"""Content fingerprints of a run's inputs: what `resume` checks before it trusts a replayed measurement.

A fingerprint is a BLAKE2b hash of every byte. Hashing a large checkpoint takes a while, so the hash
of a file (or of an image folder) is cached under its identity (path, size, mtime_ns, inode); an
entry is only written for files last modified more than a few seconds before they were hashed,
since a same-size rewrite within the file system's timestamp granularity would otherwise go unseen.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .files import write_atomic

CHUNK = 1 << 20
SETTLED_S = 2.0  # files modified more recently than this are hashed again next time instead of cached
CACHE_SUBDIR = "fingerprints"


def _hasher(data: bytes = b""):
    return hashlib.blake2b(data, digest_size=16)


def file_digest(path: str | Path, cache_dir: Path | None = None, content: bytes | None = None) -> str:
    """The hash of a file's whole content, computed once per file version (from `content`, when the caller read it already)."""
    path = Path(path)
    compute = (lambda: _hash_file(path, _hasher()).hexdigest()) if content is None else lambda: _hasher(content).hexdigest()
    return _cached([path], cache_dir, compute)


def cached_file_digest(path: str | Path, cache_dir: Path | None) -> str | None:
    """The hash file_digest cached for this version of the file, or None (then reading it is the only way to know)."""
    return _cached([Path(path)], cache_dir, lambda: None)


def files_digest(entries: Iterable[tuple[str, Path]], cache_dir: Path | None = None) -> str:
    """One hash over (label, file content) pairs, e.g. an image folder's relative paths and images."""
    entries = list(entries)

    def compute() -> str:
        digest = _hasher()
        for label, path in entries:
            digest.update(f"{len(label)}:{label}".encode())
            _hash_file(path, digest)
        return digest.hexdigest()

    return _cached([path for _, path in entries], cache_dir, compute, key_extra=[label for label, _ in entries])


def arrays_digest(*arrays: np.ndarray) -> str:
    """The hash of arrays' dtypes, shapes and bytes (data generated in memory, like the demo sets)."""
    digest = _hasher()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _hash_file(path: Path, digest):
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest


def _cached(paths: list[Path], cache_dir: Path | None, compute, key_extra: list[str] | None = None) -> str | None:
    """compute(), or its earlier result for the same files in the same versions (a compute() of None only looks)."""
    if cache_dir is None:
        return compute()
    stats = [p.stat() for p in paths]
    identity = [[str(p.resolve()), s.st_size, s.st_mtime_ns, s.st_ino] for p, s in zip(paths, stats)]
    key = _hasher()
    key.update(json.dumps([identity, key_extra or []]).encode())
    entry = cache_dir / CACHE_SUBDIR / f"{key.hexdigest()}.txt"
    try:
        cached = entry.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        cached = ""
    if len(cached) == 2 * _hasher().digest_size:
        return cached
    value = compute()
    if value is None:
        return None
    newest = max((s.st_mtime for s in stats), default=0.0)
    if time.time() - newest > SETTLED_S:
        _write_entry(entry, value)
    return value


def _write_entry(entry: Path, value: str) -> None:
    """Best effort: a cache that cannot be written (read-only, full disk) only costs a rehash later."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(entry, lambda tmp: tmp.write_text(value))
    except OSError:
        pass
