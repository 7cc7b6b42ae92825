"""Ingredients' logits kept across runs, keyed by content, so that measuring the same checkpoint on the same set again
(a sweep's next member, a classmate's demo run, the app's held-out column, a resumed run's ensembles) is a file read.

A key hashes the ingredient's content fingerprint, the set's, the rows this rank evaluates and the run's `context`: what
else decides the logits bit for bit (model spec, device type, compute dtype, batch size, library versions). A cached
entry is used only when it holds one float32 row of the expected width per image; anything else is recomputed and
overwritten. Entries over ENTRY_MAX_BYTES (ImageNet-size sets) are not kept, and the folder is pruned to TOTAL_MAX_BYTES,
least recently used first (`MANIFOLDMIX_LOGITS_CACHE_MB`, default 2048; 0 turns the cache off).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save_file

from .files import write_atomic

SUBDIR = "logits"
ENTRY_MAX_BYTES = 64 << 20
TOTAL_MAX_BYTES = int(os.environ.get("MANIFOLDMIX_LOGITS_CACHE_MB", "2048")) << 20  # 0 turns the cache off


class LogitsCache:
    """Logits of ingredients on evaluation sets under `root`, valid within one `context` (see the module docstring)."""

    def __init__(self, root: Path, context: str, num_classes: int):
        self.folder, self.context, self.num_classes = root / SUBDIR, context, num_classes

    def holds(self, rows: range) -> bool:
        """Whether logits for these rows are small enough to keep (and the cache is on at all)."""
        return 0 < len(rows) * self.num_classes * 4 <= min(ENTRY_MAX_BYTES, TOTAL_MAX_BYTES)

    def get(self, ingredient: str, set_fingerprint: str, rows: range) -> torch.Tensor | None:
        """The cached logits [len(rows), num_classes] on the CPU, or None when absent, damaged or of another shape."""
        path = self._path(ingredient, set_fingerprint, rows)
        if path is None or not path.is_file():
            return None
        try:
            logits = load(path.read_bytes()).get("logits")  # read, not memory-mapped: a file cut short cannot fault later
        except (SafetensorError, OSError, ValueError):
            return None
        if logits is None or logits.dtype != torch.float32 or tuple(logits.shape) != (len(rows), self.num_classes):
            return None
        os.utime(path)  # recently used: pruned last
        return logits

    def put(self, ingredient: str, set_fingerprint: str, rows: range, logits: torch.Tensor) -> None:
        """Keep these logits (best effort: a full disk or a read-only cache folder only costs the next run a recompute)."""
        path = self._path(ingredient, set_fingerprint, rows)
        if path is None or not self.holds(rows):
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, lambda tmp: save_file({"logits": logits.detach().float().cpu().contiguous()}, str(tmp)))
            self._prune()
        except OSError:
            pass

    def _path(self, ingredient: str, set_fingerprint: str, rows: range) -> Path | None:
        if not ingredient or not set_fingerprint or not self.holds(rows):
            return None
        key = hashlib.blake2b("\0".join([self.context, ingredient, set_fingerprint, f"{rows.start}:{rows.stop}"]).encode(),
                              digest_size=20).hexdigest()
        return self.folder / key[:2] / f"{key}.safetensors"

    def _prune(self) -> None:
        """Delete the least recently used entries until the folder is within TOTAL_MAX_BYTES."""
        entries = [(info.st_mtime, info.st_size, p) for p in self.folder.glob("*/*.safetensors") for info in [p.stat()]]
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= TOTAL_MAX_BYTES:
                break
            path.unlink(missing_ok=True)
            total -= size
