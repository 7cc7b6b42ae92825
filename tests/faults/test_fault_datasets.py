"""Datasets built to exhaust memory: labels far beyond the model's classes, image headers claiming billions of pixels
(issue 17, items 5 and 6). Each is a clear error naming the set or the file, before anything large is allocated."""

from __future__ import annotations

import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
import torch
from helpers import derived_config, run_config
from PIL import Image
from safetensors.torch import save_file

from app_lib.datasets import preview
from manifoldmix_core.data import EvalSet
from manifoldmix_core.dataset_files import MAX_PIXELS
from manifoldmix_core.errors import DatasetError
from manifoldmix_core.images import load_image_folder


def labelled(labels: list[int]) -> EvalSet:
    return EvalSet("val", torch.zeros(len(labels), 3, 2, 2, dtype=torch.uint8), torch.tensor(labels), class_map={0: 0, 1: 1})


@pytest.mark.parametrize("top", [2_000_000, 400_000_000])
def test_a_huge_label_with_a_class_map_is_refused_fast_and_small(top):
    """The audit's case (400 000 000): `set(range(max label + 1))` took about 20 GB; 2 000 000 shows it safely (~100 MB)."""
    evalset = labelled([top] + [0] * 199)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(DatasetError, match=rf"val: dataset classes \[2, 3, 4, 5, 6\] have no model class mapped to them \(labels go up to {top}"):
            evalset.check_classes(4)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20 and time.perf_counter() - started < 1.0


def test_a_class_map_onto_more_dataset_classes_than_the_head_has_is_refused():
    """A map value sizes the projected logits (EvalSet.project): one of 400 000 000 would allocate batch x 400M floats."""
    evalset = EvalSet("val", torch.zeros(2, 3, 2, 2, dtype=torch.uint8), torch.tensor([0, 1]), class_map={0: 0, 1: 1, 2: 400_000_000})
    with pytest.raises(DatasetError, match=r"class map names dataset classes \[400000000\], but mapping a head of 4 classes"):
        evalset.check_classes(4)


def test_a_run_on_the_audits_dataset_fails_naming_it(fault_config, tmp_path):
    """Through the engine: 200 images, labels [400 000 000] + [0] * 199 and a class map, as a tensor file."""
    data = tmp_path / "labels.safetensors"
    save_file({"images": torch.zeros(200, 3, 8, 8, dtype=torch.uint8), "labels": torch.tensor([400_000_000] + [0] * 199)}, data)
    changed = derived_config(fault_config, "huge-labels", val={"source": "tensors", "path": str(data), "class_map": {"0": 0, "1": 1}})
    with pytest.raises(DatasetError, match="val: dataset classes .* have no model class mapped to them"):
        run_config(changed, tmp_path / "run")


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height pixels over one empty data chunk (a few dozen bytes on disk)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("side", [30_000, 10_000])  # PIL refuses the first itself (DecompressionBombError), only warns about the second
def test_an_image_beyond_the_pixel_limit_is_refused_naming_it(side, tmp_path):
    assert side * side > MAX_PIXELS
    root = tmp_path / "set"
    (root / "cat").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(root / "cat" / "fine.png")
    bomb = png_header(root / "dog" / "bomb.png", side, side)
    with pytest.raises(DatasetError, match=rf"{bomb}: .*more than {MAX_PIXELS:,} pixels; resize the image or leave it out"):
        load_image_folder(root, 8)
    with pytest.raises(DatasetError, match=str(bomb)):  # the Datasets page's preview opens the same way
        preview({"source": "imagefolder", "path": str(root)}, count=2)
