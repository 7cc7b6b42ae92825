"""Reading, refusing and validating ingredient checkpoints."""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import time

import pytest
import torch
from helpers import derived_config, run_config, without_log, without_time
from safetensors.torch import load_file, save_file

from manifoldmix_core import runs
from manifoldmix_core.config import load_config
from manifoldmix_core.errors import IngredientError
from manifoldmix_core.fingerprint import file_digest
from manifoldmix_core.ingredients import (
    Ingredient,
    check_finite,
    find_ingredients,
    read_fingerprinted,
    read_signature,
    read_state_dict,
    validate_pool,
)
from manifoldmix_core.runner import execute


def small_state(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "visual.conv1.weight": torch.randn(4, 3, 2, 2, generator=generator),
        "visual.proj": torch.randn(4, 2, generator=generator),
        "head.weight": torch.randn(3, 2, generator=generator),
        "head.bias": torch.randn(3, generator=generator),
    }


def assert_same_tensors(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for name, tensor in expected.items():
        assert got[name].dtype == tensor.dtype and torch.equal(got[name], tensor), name


# -- reading ------------------------------------------------------------------------------------


def test_reads_safetensors(tmp_path):
    state = small_state()
    save_file(state, tmp_path / "m.safetensors")
    assert_same_tensors(read_state_dict(tmp_path / "m.safetensors"), state)


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin"])
def test_reads_torch_save_of_a_state_dict(tmp_path, suffix):
    state = small_state()
    torch.save(state, tmp_path / f"m{suffix}")
    assert_same_tensors(read_state_dict(tmp_path / f"m{suffix}"), state)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_the_fingerprinting_read_gives_the_file_hash_and_its_tensors_then_the_cached_hash_alone(tmp_path, suffix):
    state, path, cache = small_state(), tmp_path / f"m{suffix}", tmp_path / "cache"
    (save_file if suffix == ".safetensors" else torch.save)(state, path)
    old = time.time() - 60  # a settled file: its hash is cached
    os.utime(path, (old, old))
    digest, read = read_fingerprinted(path, cache)
    assert digest == file_digest(path) and read is not None
    assert_same_tensors(read, state)
    assert read_fingerprinted(path, cache) == (digest, None)


@pytest.mark.parametrize("key", ["state_dict", "model_state_dict"])
def test_reads_wrapped_checkpoint(tmp_path, key):
    state = small_state()
    torch.save({key: state, "epoch": 3, "best_acc": torch.tensor(0.5)}, tmp_path / "m.pt")
    assert_same_tensors(read_state_dict(tmp_path / "m.pt"), state)


def test_strips_dataparallel_module_prefix(tmp_path):
    state = small_state()
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "m.pt")
    assert_same_tensors(read_state_dict(tmp_path / "m.pt"), state)


def test_signature_of_pt_equals_signature_of_safetensors(tmp_path):
    state = small_state()
    state["head.bias"] = state["head.bias"].half()
    save_file(state, tmp_path / "m.safetensors")
    torch.save(state, tmp_path / "m.pt")
    signature = read_signature(tmp_path / "m.safetensors")
    assert signature == read_signature(tmp_path / "m.pt")
    assert signature["visual.conv1.weight"].shape == (4, 3, 2, 2)
    assert signature["head.bias"].dtype == "float16"


class _Gadget:
    """Unpickling this runs open(marker, 'w'): the side effect a malicious checkpoint would have."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_object_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"weight": torch.zeros(2), "payload": _Gadget(marker)}, tmp_path / "evil.pt")
    with pytest.raises(IngredientError, match="pickled") as exc:
        read_state_dict(tmp_path / "evil.pt")
    assert exc.value.path == str(tmp_path / "evil.pt")
    assert not marker.exists()
    with pytest.raises(IngredientError, match="pickled"):
        read_signature(tmp_path / "evil.pt")
    with pytest.raises(IngredientError, match="pickled"):  # the run's first read: hash and tensors from the same bytes
        read_fingerprinted(tmp_path / "evil.pt", tmp_path / "cache")
    assert not marker.exists()
    assert not marker.exists()
    # The gadget is real: an unrestricted load would have run it.
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_a_bare_pickle_payload_is_refused_as_pickled_objects(tmp_path, protocol):
    marker = tmp_path / "pwned"
    with (tmp_path / "payload.pt").open("wb") as f:
        pickle.dump({"weight": _Gadget(marker)}, f, protocol=protocol)
    with pytest.raises(IngredientError, match="holds pickled Python objects") as exc:
        read_state_dict(tmp_path / "payload.pt")
    assert exc.value.path == str(tmp_path / "payload.pt") and not marker.exists()


def _random_bytes(seed: int = 0, n: int = 4096) -> bytes:
    return random.Random(seed).randbytes(n)


@pytest.mark.parametrize("name", ["garbage.safetensors", "garbage.pt", "empty.safetensors", "empty.pt"])
def test_corrupt_file_gives_ingredient_error_naming_it(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"" if name.startswith("empty") else _random_bytes())
    with pytest.raises(IngredientError) as exc:
        read_state_dict(path)
    assert exc.value.path == str(path)
    assert str(path) in str(exc.value)
    with pytest.raises(IngredientError) as exc:
        read_signature(path)
    assert exc.value.path == str(path)


def test_truncated_safetensors_is_refused(tmp_path):
    save_file(small_state(), tmp_path / "m.safetensors")
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "m.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(IngredientError) as exc:
        read_state_dict(tmp_path / "m.safetensors")
    assert exc.value.path == str(tmp_path / "m.safetensors")


def test_random_bytes_pt_is_not_called_pickled_objects(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(_random_bytes())
    with pytest.raises(IngredientError) as exc:
        read_state_dict(path)
    assert "pickled" not in str(exc.value)


def test_missing_file_and_non_tensor_values(tmp_path):
    with pytest.raises(IngredientError, match="not found") as exc:
        read_state_dict(tmp_path / "nope.safetensors")
    assert exc.value.path == str(tmp_path / "nope.safetensors")
    torch.save({"weight": torch.zeros(2), "step": 7}, tmp_path / "mixed.pt")
    with pytest.raises(IngredientError) as exc:
        read_state_dict(tmp_path / "mixed.pt")
    assert exc.value.param == "step"
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    with pytest.raises(IngredientError, match="list"):
        read_state_dict(tmp_path / "list.pt")


# -- validating a pool ----------------------------------------------------------------------------


def _pool(tmp_path, variants: dict[str, dict]) -> list[Ingredient]:
    pool = []
    for name, state in variants.items():
        save_file(state, tmp_path / f"{name}.safetensors")
        pool.append(Ingredient(name, tmp_path / f"{name}.safetensors"))
    return pool


def test_validate_pool_returns_the_common_signature(tmp_path):
    pool = _pool(tmp_path, {"x": small_state(0), "y": small_state(1)})
    torch.save(small_state(2), tmp_path / "z.pt")
    pool.append(Ingredient("z", tmp_path / "z.pt"))
    signature = validate_pool(pool)
    assert signature == read_signature(pool[0].path)
    assert set(signature) == set(small_state())


def test_validate_pool_missing_parameter(tmp_path):
    bad = small_state(1)
    del bad["visual.proj"]
    pool = _pool(tmp_path, {"x": small_state(0), "y": bad})
    with pytest.raises(IngredientError, match="missing") as exc:
        validate_pool(pool)
    assert exc.value.path == str(tmp_path / "y.safetensors") and exc.value.param == "visual.proj"


def test_validate_pool_extra_parameter(tmp_path):
    bad = {**small_state(1), "text_projection": torch.zeros(2, 2)}
    pool = _pool(tmp_path, {"x": small_state(0), "y": bad})
    with pytest.raises(IngredientError) as exc:
        validate_pool(pool)
    assert exc.value.path == str(tmp_path / "y.safetensors") and exc.value.param == "text_projection"


def test_validate_pool_shape_mismatch(tmp_path):
    bad = {**small_state(1), "head.weight": torch.zeros(5, 2)}
    pool = _pool(tmp_path, {"x": small_state(0), "y": small_state(2), "z": bad})
    with pytest.raises(IngredientError, match=r"shape \[5, 2\]") as exc:
        validate_pool(pool)
    assert exc.value.path == str(tmp_path / "z.safetensors") and exc.value.param == "head.weight"


def test_validate_pool_dtype_mismatch(tmp_path):
    bad = small_state(1)
    bad["head.bias"] = bad["head.bias"].to(torch.bfloat16)
    pool = _pool(tmp_path, {"x": small_state(0), "y": bad})
    with pytest.raises(IngredientError, match="bfloat16") as exc:
        validate_pool(pool)
    assert exc.value.path == str(tmp_path / "y.safetensors") and exc.value.param == "head.bias"


def test_validate_pool_duplicate_names_and_empty_list(tmp_path):
    save_file(small_state(), tmp_path / "x.safetensors")
    save_file(small_state(1), tmp_path / "y.safetensors")
    with pytest.raises(IngredientError, match="unique") as exc:
        validate_pool([Ingredient("x", tmp_path / "x.safetensors"), Ingredient("x", tmp_path / "y.safetensors")])
    assert exc.value.path == "x"
    with pytest.raises(IngredientError, match="no ingredients"):
        validate_pool([])


# -- finding ingredients ----------------------------------------------------------------------------


def test_find_ingredients_missing_and_empty_folder(tmp_path):
    with pytest.raises(IngredientError, match="not a folder") as exc:
        find_ingredients(tmp_path / "missing")
    assert exc.value.path == str(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no checkpoints here")
    with pytest.raises(IngredientError, match="no checkpoint files") as exc:
        find_ingredients(tmp_path / "empty")
    assert exc.value.path == str(tmp_path / "empty")


def test_find_ingredients_sorted_with_hparams_sidecar(tmp_path):
    for name in ("m2", "m10", "m1"):
        save_file(small_state(), tmp_path / f"{name}.safetensors")
    torch.save(small_state(), tmp_path / "legacy.pt")
    (tmp_path / "readme.md").write_text("ignored")
    (tmp_path / "notes").mkdir()
    hparams = {"m1": {"lr": 1e-5, "epochs": 10}, "legacy": {"lr": 3e-5}}
    (tmp_path / "hparams.json").write_text(json.dumps(hparams))
    found = find_ingredients(tmp_path)
    assert [i.name for i in found] == ["legacy", "m1", "m10", "m2"]
    assert [i.path for i in found] == [tmp_path / f"{n}" for n in ("legacy.pt", "m1.safetensors", "m10.safetensors",
                                                                   "m2.safetensors")]
    assert {i.name: i.hparams for i in found} == {"legacy": {"lr": 3e-5}, "m1": hparams["m1"], "m10": None, "m2": None}


@pytest.mark.parametrize("entry, expected", [
    ("folder", "is a folder, not a checkpoint file"),
    ("dangling", "is a symbolic link to"),
    ("loop", "symbolic link"),
])
def test_find_ingredients_reports_checkpoint_names_that_are_not_files(tmp_path, entry, expected):
    save_file(small_state(), tmp_path / "good.safetensors")
    odd = tmp_path / "odd.safetensors"
    if entry == "folder":
        odd.mkdir()
    elif entry == "dangling":
        odd.symlink_to(tmp_path / "gone.safetensors")
    else:
        odd.symlink_to(odd)
    with pytest.raises(IngredientError, match=expected) as exc:
        find_ingredients(tmp_path)
    assert exc.value.path == str(odd)


def test_bad_hparams_sidecar_names_the_file(tmp_path):
    save_file(small_state(), tmp_path / "m.safetensors")
    (tmp_path / "hparams.json").write_text("{not json")
    with pytest.raises(IngredientError) as exc:
        find_ingredients(tmp_path)
    assert exc.value.path == str(tmp_path / "hparams.json")
    (tmp_path / "hparams.json").write_text("[1, 2]")
    with pytest.raises(IngredientError, match="JSON object"):
        find_ingredients(tmp_path)


def test_config_ingredient_folder_carries_hparams(tmp_path, toy_world):
    folder = tmp_path / "pool"
    folder.mkdir()
    for name in ("a", "b"):
        (folder / f"{name}.safetensors").write_bytes((toy_world.parent / f"{name}.safetensors").read_bytes())
    (folder / "hparams.json").write_text(json.dumps({"b": {"lr": 0.1}}))
    config = load_config(derived_config(toy_world, "folder-pool", ingredients={"folder": str(folder)}))
    assert [(i.name, i.path, i.hparams) for i in config.ingredients] == [
        ("a", str(folder / "a.safetensors"), None), ("b", str(folder / "b.safetensors"), {"lr": 0.1})]


# -- finite weights ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_check_finite_names_the_parameter(bad):
    state = small_state()
    check_finite("m.safetensors", state)
    state["visual.proj"][1, 0] = bad
    with pytest.raises(IngredientError, match="NaN or infinite") as exc:
        check_finite("m.safetensors", state)
    assert exc.value.path == "m.safetensors" and exc.value.param == "visual.proj"


def test_check_finite_ignores_integer_tensors():
    check_finite("m.safetensors", {"step": torch.tensor([1, 2, 3]), "w": torch.ones(2)})


def test_run_with_nan_ingredient_fails_naming_file_and_parameter(toy_world, tmp_path):
    state = load_file(toy_world.parent / "b.safetensors")
    state["visual.ln_post.weight"][3] = float("nan")
    bad = tmp_path / "b_nan.safetensors"
    save_file(state, bad)
    config = derived_config(toy_world, "nan-run", ingredients=[{"name": "a", "path": "a.safetensors"},
                                                               {"name": "b_nan", "path": str(bad)}],
                            methods=["greedy_soup"])
    run_dir = tmp_path / "run"
    with pytest.raises(IngredientError) as exc:
        run_config(config, run_dir)
    assert exc.value.path == str(bad) and exc.value.param == "visual.ln_post.weight"
    status = json.loads((run_dir / runs.STATUS).read_text())
    assert status["state"] == "failed"
    assert str(bad) in status["message"] and "visual.ln_post.weight" in status["message"]
    assert runs.read_status(run_dir).state == "failed"
    assert not (run_dir / runs.RESULTS).exists()
    # Nothing measured came from the broken file, so once it is fixed the run resumes to what a fresh run gives.
    shutil.copy(toy_world.parent / "b.safetensors", bad)
    execute(run_dir)
    reference = run_config(config, tmp_path / "reference")
    assert without_log(json.loads((run_dir / runs.RESULTS).read_text())) == without_log(reference)
    assert without_time(runs.read_events(run_dir)) == without_time(runs.read_events(tmp_path / "reference"))
