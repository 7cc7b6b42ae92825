"""Evaluation sets: ImageFolder decoding and caching, tensor files, class subsets and class maps."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import REPO, derived_config
from PIL import Image
from safetensors.torch import load_file, save_file

from manifoldmix_core.config import DatasetConfig
from manifoldmix_core.data import EvalSet, SetMemory, load_dataset, place, placement
from manifoldmix_core.errors import ConfigError, DatasetError
from manifoldmix_core.images import load_image_folder, load_tensor_file, read_tensor_file, resize_images
from manifoldmix_core.staging import IN_FLIGHT, Staging
from manifoldmix_core.stored_sets import stored_images, write_stored_set

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def solid(path, color, size=(20, 20)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


@pytest.fixture
def folder(tmp_path):
    """Three classes; folder names sort differently from creation order; one grey PNG and one JPEG."""
    root = tmp_path / "images"
    solid(root / "zebra" / "1.png", BLUE)
    solid(root / "zebra" / "0.png", BLUE, (30, 12))
    solid(root / "apple" / "x.png", RED)
    solid(root / "mango" / "sub" / "deep.jpg", GREEN, (12, 40))
    Image.new("L", (16, 16), 128).save(root / "mango" / "grey.png")
    (root / "mango" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    return root


def test_image_folder_shapes_and_labels(folder, tmp_path):
    images, labels, classes = load_image_folder(folder, 8, tmp_path / "cache")
    assert classes == ["apple", "mango", "zebra"]
    assert images.dtype == torch.uint8 and tuple(images.shape) == (5, 3, 8, 8)
    assert labels.tolist() == [0, 1, 1, 2, 2]  # sorted classes, sorted files within each class
    mean_colour = images.float().mean(dim=(2, 3))
    assert mean_colour[0].argmax() == 0 and mean_colour[4].argmax() == 2  # apple red, zebra blue
    assert torch.all(images[1] == 128)  # mango/grey.png comes before mango/sub/deep.jpg; greyscale -> RGB


def test_image_folder_centre_crop(tmp_path):
    """A wide image keeps its middle third after the shorter side is resized to the target size."""
    image = Image.new("RGB", (48, 16))
    for x0, colour in ((0, RED), (16, GREEN), (32, BLUE)):
        image.paste(colour, (x0, 0, x0 + 16, 16))
    (tmp_path / "wide" / "c").mkdir(parents=True)
    image.save(tmp_path / "wide" / "c" / "a.png")
    images, _, _ = load_image_folder(tmp_path / "wide", 8)
    assert tuple(images.shape) == (1, 3, 8, 8)
    centre = images[0, :, 2:6, 2:6].float()
    assert torch.all(centre[1] > 200) and torch.all(centre[0] < 40) and torch.all(centre[2] < 40)
    tall = Image.new("RGB", (10, 30))
    tall.paste(RED, (0, 0, 10, 10))
    tall.paste(GREEN, (0, 10, 10, 20))
    tall.paste(BLUE, (0, 20, 10, 30))
    tall.save(tmp_path / "wide" / "c" / "a.png")
    images, _, _ = load_image_folder(tmp_path / "wide", 6)
    assert torch.all(images[0, 1, 2:4, :] > 200)


def test_image_folder_cache_is_used_and_invalidated(folder, tmp_path):
    cache_dir = tmp_path / "cache"
    images, labels, _ = load_image_folder(folder, 8, cache_dir)
    cached = list(cache_dir.glob("imagefolder-*.safetensors"))
    assert len(cached) == 1
    again_images, again_labels, _ = load_image_folder(folder, 8, cache_dir)
    assert torch.equal(again_images, images) and torch.equal(again_labels, labels)
    # Prove the second load reads the cache: tamper with it and see the tampered tensors come back.
    tampered = {"images": torch.zeros_like(images), "labels": labels}
    save_file(tampered, cached[0])
    assert torch.equal(load_image_folder(folder, 8, cache_dir)[0], tampered["images"])
    # Another size is another cache entry; changing a file invalidates the entry.
    assert load_image_folder(folder, 4, cache_dir)[0].shape[-1] == 4
    assert len(list(cache_dir.glob("imagefolder-*.safetensors"))) == 2
    solid(folder / "apple" / "x.png", GREEN, (21, 21))
    fresh = load_image_folder(folder, 8, cache_dir)[0]
    assert fresh.float()[0].mean(dim=(1, 2)).argmax() == 1
    assert len(list(cache_dir.glob("imagefolder-*.safetensors"))) == 3
    assert not list(cache_dir.glob("*.tmp*"))


def test_image_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="not found") as exc:
        load_image_folder(tmp_path / "missing", 8)
    assert str(tmp_path / "missing") in str(exc.value)
    (tmp_path / "flat").mkdir()
    solid(tmp_path / "flat" / "loose.png", RED)
    with pytest.raises(DatasetError, match="no class sub-folders"):
        load_image_folder(tmp_path / "flat", 8)
    solid(tmp_path / "classes" / "cat" / "a.png", RED)
    (tmp_path / "classes" / "dog").mkdir()
    (tmp_path / "classes" / "dog" / "readme.txt").write_text("nothing")
    with pytest.raises(DatasetError, match="holds no images") as exc:
        load_image_folder(tmp_path / "classes", 8)
    assert str(tmp_path / "classes" / "dog") in str(exc.value)


def test_corrupt_image_names_the_file(folder, tmp_path):
    bad = folder / "apple" / "y.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    with pytest.raises(DatasetError, match="not a readable image") as exc:
        load_image_folder(folder, 8, tmp_path / "cache")
    assert str(bad) in str(exc.value)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())  # nothing half-cached


def test_load_dataset_imagefolder_uses_the_cache_dir(folder, tmp_path):
    cfg = DatasetConfig(name="fruits", source="imagefolder", path=str(folder), class_subset=[2, 0, 1])
    evalset = load_dataset(cfg, 8, tmp_path / "cache")
    assert evalset.name == "fruits" and evalset.class_subset == (2, 0, 1) and len(evalset) == 5
    assert len(list((tmp_path / "cache").glob("imagefolder-*.safetensors"))) == 1


# -- tensor files ------------------------------------------------------------------------------------


def test_tensor_file_nchw_nhwc_and_resize(tmp_path):
    images = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 1], dtype=torch.int32)
    save_file({"images": images, "labels": labels}, tmp_path / "nchw.safetensors")
    save_file({"images": images.permute(0, 2, 3, 1).contiguous(), "labels": labels}, tmp_path / "nhwc.safetensors")
    for name in ("nchw", "nhwc"):
        got, got_labels = load_tensor_file(tmp_path / f"{name}.safetensors", 8)
        assert torch.equal(got, images) and got_labels.dtype == torch.int64 and got_labels.tolist() == [0, 1, 2, 1]
    resized, _ = load_tensor_file(tmp_path / "nchw.safetensors", 4)
    assert tuple(resized.shape) == (4, 3, 4, 4) and resized.dtype == torch.uint8
    flat = torch.full((1, 3, 8, 8), 77, dtype=torch.uint8)
    assert torch.all(resize_images(flat, 3) == 77)


def test_chunked_resize_equals_resizing_the_whole_set_at_once(tmp_path):
    images = torch.randint(0, 256, (7, 3, 12, 10), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    whole = torch.nn.functional.interpolate(images.float(), size=(5, 5), mode="bilinear", antialias=True, align_corners=False)
    expected = whole.round().clamp(0, 255).to(torch.uint8)
    for chunk_bytes in (1, 2 * 4 * 3 * 12 * 10, 1 << 30):  # one image per chunk, two (the last one short), all at once
        assert torch.equal(resize_images(images, 5, chunk_bytes), expected)


RESIZE_PEAK = """
import resource, sys, torch
from manifoldmix_core.images import RESIZE_CHUNK_BYTES, resize_images
images = torch.randint(0, 256, (int(sys.argv[1]), 3, 256, 256), dtype=torch.uint8)
resize_images(images[:1], 128)  # warm up torch's allocator and kernels
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
out = resize_images(images, 128)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
print(grown, out.numel(), RESIZE_CHUNK_BYTES)
"""


def test_resizing_a_large_set_adds_a_bounded_float32_peak():
    """A set of 315 MB as float32: the resize adds its uint8 result and a few chunks' floats (~4x), not the set in float32."""
    n = 400
    out = subprocess.run([sys.executable, "-c", RESIZE_PEAK, str(n)], capture_output=True, text=True, check=True, cwd=REPO)
    grown, result_bytes, chunk_bytes = map(int, out.stdout.split())
    whole_set_float32 = n * 3 * 256 * 256 * 4
    assert grown < result_bytes + 5 * chunk_bytes < whole_set_float32, (grown, whole_set_float32)  # resizing it whole: +525 MiB


def test_tensor_file_errors(tmp_path):
    with pytest.raises(DatasetError) as exc:
        load_tensor_file(tmp_path / "missing.safetensors", 8)
    assert str(tmp_path / "missing.safetensors") in str(exc.value)
    (tmp_path / "garbage.safetensors").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DatasetError, match="not a readable safetensors") as exc:
        load_tensor_file(tmp_path / "garbage.safetensors", 8)
    assert str(tmp_path / "garbage.safetensors") in str(exc.value)
    save_file({"pixels": torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "labels": torch.zeros(1)}, tmp_path / "keys.safetensors")
    with pytest.raises(DatasetError, match="'images' and 'labels'.*pixels"):
        load_tensor_file(tmp_path / "keys.safetensors", 8)
    save_file({"images": torch.zeros(1, 3, 8, 8), "labels": torch.zeros(1)}, tmp_path / "float.safetensors")
    with pytest.raises(DatasetError, match="uint8"):
        load_tensor_file(tmp_path / "float.safetensors", 8)


GB = 1 << 30


@pytest.mark.parametrize("device, resident, size, free, expected", [
    ("cpu", True, 10 * GB, None, "host"),
    ("cpu", False, GB, None, "host"),
    ("cuda", True, 3 * GB, 70 * GB, "device"),  # the held-out set (ImageNet2p, 26k images at 224 px) on an H100
    ("cuda", True, 3 * GB, 5 * GB, "streamed"),  # ... on a card where it would take more than half the free memory
    ("cuda", False, 1, 70 * GB, "streamed"),  # test sets always stream, however small
    ("mps", False, GB, None, "device"),
])
def test_only_the_held_out_set_stays_on_a_gpu_and_only_when_it_fits(device, resident, size, free, expected):
    assert placement(device, resident, size, free) == expected


def test_a_cpu_run_reports_a_set_in_memory_on_the_host_and_a_set_on_disk_by_its_staging(tmp_path):
    images, labels = torch.zeros((10, 3, 4, 4), dtype=torch.uint8), torch.zeros(10, dtype=torch.int64)
    staging = Staging(torch.device("cpu"), 4)
    assert place(EvalSet("val", images, labels), staging, True) == SetMemory("host", 0, 10 * 3 * 4 * 4 + 10 * 8)
    stored = stored_images(write_stored_set(tmp_path / "val.safetensors", (3, 4, 4), [images], labels))
    assert place(EvalSet("val", stored, labels), staging, True) == SetMemory("disk", 0, IN_FLIGHT * 4 * 3 * 4 * 4 + 10 * 8)



def test_a_budget_that_cannot_hold_the_staging_buffers_is_refused_saying_what_they_take(tmp_path):
    images = stored_images(write_stored_set(tmp_path / "big.safetensors", (3, 224, 224), [torch.zeros((300, 3, 224, 224), dtype=torch.uint8)],
                                            torch.zeros(300, dtype=torch.int64)))
    Staging(torch.device("cpu"), 256).check(images, 78 << 20, "test")  # 2 x 256 images of 224 px: 77 MB
    with pytest.raises(ConfigError, match=r"host_memory_mb=64 cannot hold the 2 staging buffers that set test is read through "
                                          r"\(2 x 256 images of 224 px: 74 MB\); raise host_memory_mb or lower batch_size"):
        Staging(torch.device("cpu"), 256).check(images, 64 << 20, "test")


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_a_tensor_file_is_read_where_it_is_at_the_models_size_and_else_from_a_converted_copy(tmp_path, layout):
    images = torch.randint(0, 256, (9, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(9, dtype=torch.int32) % 3
    saved = images if layout == "nchw" else images.permute(0, 2, 3, 1).contiguous()
    save_file({"images": saved, "labels": labels}, tmp_path / "set.safetensors")
    for size in (8, 5):
        got, got_labels, _ = read_tensor_file(str(tmp_path / "set.safetensors"), size, tmp_path / "cache")
        in_place = layout == "nchw" and size == 8
        assert (got.path == tmp_path / "set.safetensors") == in_place and got.shape == (9, 3, size, size)
        assert torch.equal(got.read(0, 9), resize_images(images, size)) and torch.equal(got_labels, labels.long())
    assert len(list((tmp_path / "cache").glob("tensors-*.safetensors"))) == (1 if layout == "nchw" else 2)


def accuracy(evalset: EvalSet, logits: torch.Tensor) -> float:
    """Top-1 accuracy of model logits for every image of the set (what Evaluator.accuracy_of counts in one process)."""
    return int(evalset.correct(logits, evalset.labels)) / len(evalset)


def test_a_checkpoint_is_refused_as_a_tensor_set_from_its_header(toy_world):
    """Issue 9, defect 4: a model checkpoint offered as a tensor set failed only in a run, listing every tensor name."""
    from manifoldmix_core import sources
    checkpoint = toy_world.parent / "a.safetensors"
    with pytest.raises(DatasetError, match="is it a model checkpoint") as exc:
        sources.check("tensors", str(checkpoint))
    assert len(str(exc.value)) < len(str(checkpoint)) + 200
    assert sources.check("tensors", str(toy_world.parent / "val.safetensors")) is None


def test_evalset_rejects_bad_tensors():
    with pytest.raises(DatasetError, match="uint8"):
        EvalSet("x", torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(DatasetError, match="2 images but 3 labels"):
        EvalSet("x", torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(DatasetError, match="not both"):
        EvalSet("x", torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64), (0, 1), {0: 0})
    with pytest.raises(DatasetError, match="0 or more"):
        EvalSet("x", torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([1, -1]))
    with pytest.raises(DatasetError, match="one integer per image"):
        EvalSet("x", torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([1.0, 0.5]))


# -- accuracy with class subsets and class maps -----------------------------------------------------------


def _evalset(labels, **kw) -> EvalSet:
    return EvalSet("s", torch.zeros(len(labels), 3, 2, 2, dtype=torch.uint8), torch.tensor(labels), **kw)


def test_accuracy_plain():
    logits = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert accuracy(_evalset([1, 0, 0]), logits) == pytest.approx(2 / 3)


def test_accuracy_with_class_subset():
    # the model has 5 classes; dataset class d is model class subset[d]
    logits = torch.tensor([
        [0.0, 5.0, 0.0, 1.0, 0.0],  # best overall is model 1 (= dataset 1); among subset also 1 -> dataset 1
        [9.0, 0.0, 0.0, 1.0, 2.0],  # model 0 is outside the subset; best inside is model 4 -> dataset 2
        [9.0, 0.0, 0.0, 3.0, 2.0],  # best inside is model 3 -> dataset 0
        [0.0, 1.0, 0.0, 0.0, 2.0],  # model 4 -> dataset 2
    ])
    evalset = _evalset([1, 2, 0, 0], class_subset=(3, 1, 4))
    assert evalset.project(logits).argmax(1).tolist() == [1, 2, 0, 2]
    assert accuracy(evalset, logits) == pytest.approx(3 / 4)
    # without the subset the argmax runs over all 5 model classes: [1, 0, 0, 4] vs labels [1, 2, 0, 0]
    assert accuracy(_evalset([1, 2, 0, 0]), logits) == pytest.approx(2 / 4)


def test_accuracy_with_many_to_one_class_map():
    # model classes 0, 1 -> dataset class 0; 2, 3 -> dataset 1; model class 4 is unused
    class_map = {0: 0, 1: 0, 2: 1, 3: 1}
    logits = torch.tensor([
        [0.0, 3.0, 2.0, 0.0, 9.0],  # max(0, 3) = 3 > max(2, 0) -> dataset 0 (model 4 ignored)
        [1.0, 0.0, 0.0, 2.0, 0.0],  # 1 < 2 -> dataset 1
        [-5.0, -4.0, -6.0, -4.5, 0.0],  # -4 > -4.5 -> dataset 0
    ])
    evalset = _evalset([0, 1, 1], class_map=class_map)
    assert evalset.project(logits).tolist() == [[3.0, 2.0], [1.0, 2.0], [-4.0, -4.5]]
    assert accuracy(evalset, logits) == pytest.approx(2 / 3)


def test_check_classes():
    _evalset([0, 3]).check_classes(4)
    with pytest.raises(DatasetError, match="labels go up to 4 but the model has 4 classes"):
        _evalset([0, 4]).check_classes(4)
    _evalset([0, 2], class_subset=(3, 0, 1)).check_classes(4)
    with pytest.raises(DatasetError, match=r"class subset names model classes \[7\]"):
        _evalset([0, 1], class_subset=(0, 7)).check_classes(4)
    with pytest.raises(DatasetError, match="class subset has only 2 classes"):
        _evalset([0, 2], class_subset=(0, 1)).check_classes(4)
    _evalset([0, 1], class_map={0: 0, 3: 1}).check_classes(4)
    with pytest.raises(DatasetError, match=r"class map names model classes \[5\]"):
        _evalset([0, 1], class_map={0: 0, 5: 1}).check_classes(4)
    with pytest.raises(DatasetError, match=r"dataset classes \[1\] have no model class"):
        _evalset([0, 2], class_map={0: 0, 1: 2}).check_classes(4)


def test_load_dataset_tensors_with_class_map(tmp_path):
    images = np.zeros((3, 6, 6, 3), dtype=np.uint8)
    save_file({"images": torch.from_numpy(images), "labels": torch.tensor([0, 1, 1])}, tmp_path / "t.safetensors")
    cfg = DatasetConfig(name="t", source="tensors", path=str(tmp_path / "t.safetensors"), class_map={"2": 1, "0": 0})
    evalset = load_dataset(cfg, 4)
    assert evalset.class_map == {2: 1, 0: 0} and tuple(evalset.images.shape) == (3, 3, 4, 4)
    assert load_file(tmp_path / "t.safetensors")["labels"].tolist() == [0, 1, 1]


# -- dataset sources -----------------------------------------------------------------------------------


def test_the_demo_source_is_registered_wherever_the_core_is_imported(toy_world):
    """A config naming the demo world validates in a fresh interpreter that imported only config.py (the demo registers itself)."""
    config = derived_config(toy_world, "demo-val", val={"name": "v", "source": "demo", "path": "id_val"})
    code = f"from manifoldmix_core.config import load_config; print(load_config({str(config)!r}).val.path)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "id_val", done.stderr
