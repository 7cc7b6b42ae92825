"""Atomic file replacement, shared by everything that writes run directories and caches, and where caches live."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Have write() fill a temporary file, then move it over path: readers see the old or the new file,
    and a failed write (full disk, signal) removes its temporary file instead of leaving it behind."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def default_cache_dir() -> Path:
    """Where decoded datasets, generated demo sets and fingerprints are cached: $MANIFOLDMIX_CACHE, else ~/.cache/manifoldmix."""
    return Path(os.environ.get("MANIFOLDMIX_CACHE", Path.home() / ".cache" / "manifoldmix"))
