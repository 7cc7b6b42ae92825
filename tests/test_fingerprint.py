"""Content fingerprints: every byte counts, and a settled file is hashed once."""

from __future__ import annotations

import hashlib
import os
import time

import numpy as np
from PIL import Image

from manifoldmix_core.config import DatasetConfig
from manifoldmix_core.data import load_dataset
from manifoldmix_core.fingerprint import CACHE_SUBDIR, arrays_digest, file_digest, files_digest


def settle(path, age_s: float = 60.0) -> None:
    """Date a file back, as if written a while ago (only settled files are cached)."""
    old = time.time() - age_s
    os.utime(path, (old, old))


def flip_middle_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_file_digest_hashes_every_byte(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(os.urandom(3 << 20))
    before = file_digest(path)
    assert before == hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    flip_middle_byte(path)  # far from both ends, size unchanged
    assert file_digest(path) != before


def test_a_settled_file_is_hashed_once_and_rehashed_when_it_changes(tmp_path):
    cache, path = tmp_path / "cache", tmp_path / "model.bin"
    path.write_bytes(os.urandom(1 << 16))
    fresh = file_digest(path, cache)
    assert not (cache / CACHE_SUBDIR).exists()  # just written: within the timestamp granularity, so not cached
    settle(path)
    assert file_digest(path, cache) == fresh
    entries = list((cache / CACHE_SUBDIR).iterdir())
    assert len(entries) == 1 and entries[0].read_text() == fresh
    stat = path.stat()
    flip_middle_byte(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_digest(path, cache) == fresh  # same path, size and mtime: the cached hash is what is returned
    settle(path, 30)
    assert file_digest(path, cache) == file_digest(path) != fresh


def test_files_digest_sees_names_and_contents(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"first")
    b.write_bytes(b"second")
    digest = files_digest([("cat/a.png", a), ("dog/b.png", b)])
    assert files_digest([("dog/a.png", a), ("dog/b.png", b)]) != digest
    a.write_bytes(b"First")
    assert files_digest([("cat/a.png", a), ("dog/b.png", b)]) != digest


def test_arrays_digest_sees_dtype_shape_and_values():
    x = np.arange(12, dtype=np.uint8)
    assert arrays_digest(x) == arrays_digest(x.copy())
    assert arrays_digest(x) != arrays_digest(x.reshape(3, 4))
    assert arrays_digest(x) != arrays_digest(x.astype(np.int16))
    assert arrays_digest(x, x[:1]) != arrays_digest(x, x[:1] + 1)


def test_datasets_carry_the_fingerprint_of_their_content(toy_world, tmp_path):
    tensors = load_dataset(DatasetConfig(name="val", source="tensors", path=str(toy_world.parent / "val.safetensors")), 16, tmp_path)
    assert tensors.fingerprint == file_digest(toy_world.parent / "val.safetensors")
    root = tmp_path / "folder"
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        Image.new("RGB", (8, 8), (10, 20, 30) if label == "cat" else (200, 0, 0)).save(root / label / "1.png")
    cfg = DatasetConfig(name="pics", source="imagefolder", path=str(root))
    first = load_dataset(cfg, 8, tmp_path).fingerprint
    Image.new("RGB", (8, 8), (11, 20, 30)).save(root / "cat" / "1.png")
    assert load_dataset(cfg, 8, tmp_path).fingerprint != first
