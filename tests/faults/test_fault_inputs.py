"""Inputs that change under an interrupted run, and names that try to be paths."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import assert_left_clean, killed_at, outside_state, report, status_of
from helpers import assert_same_run, derived_config, run_config
from safetensors.torch import load_file, save_file

from manifoldmix_core import runs


@pytest.fixture(scope="module")
def world_copy(fault_config, tmp_path_factory) -> Path:
    """A private copy of the fault world (these tests change its files and put them back) and its undisturbed run."""
    root = tmp_path_factory.mktemp("mutable-world")
    for path in fault_config.parent.glob("*.safetensors"):
        shutil.copy(path, root / path.name)
    shutil.copy(fault_config, root / "config.json")
    run_config(root / "config.json", root / "reference")
    return root


def change_middle_byte(path: Path) -> None:
    with path.open("r+b") as f:
        f.seek(path.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))


def same_size_other_set(path: Path) -> None:
    """The same images with other labels: the same size, a different validation set."""
    data = load_file(path)
    save_file({"images": data["images"], "labels": (data["labels"] + 1) % 4}, path)


@pytest.mark.parametrize("change", ["ingredient middle byte", "dataset swapped (same size)"])
def test_resume_refuses_changed_inputs_naming_them(change, world_copy, start_worker, tmp_path):
    config = world_copy / "config.json"
    run_dir = killed_at("lambda-search", start_worker, config, tmp_path)
    target = world_copy / ("b.safetensors" if change.startswith("ingredient") else "val.safetensors")
    original = target.read_bytes()
    (change_middle_byte if change.startswith("ingredient") else same_size_other_set)(target)
    assert target.stat().st_size == len(original) and target.read_bytes() != original
    events = (run_dir / runs.EVENTS).read_text()
    try:
        refused = start_worker("resume", run_dir, "--quiet")
        assert refused.wait() == 2, refused.output
    finally:
        target.write_bytes(original)
    what = f"ingredient b ({target})" if change.startswith("ingredient") else f"dataset val ({target})"
    assert f"error: cannot resume: {what} changed since the run started: content hash" in refused.output
    status = status_of(run_dir)
    assert status.state == "failed" and what in status.message
    assert (run_dir / runs.EVENTS).read_text() == events and not (run_dir / runs.RESULTS).exists()
    assert_left_clean(run_dir)
    resumed = start_worker("resume", run_dir, "--quiet")  # the file is back: the run goes on
    assert resumed.wait() == 0, resumed.output
    assert_same_run(run_dir, world_copy / "reference")
    report(fault=f"{change} after SIGKILL", phase="resume", ended_in_s=None, status="failed, file and hashes named",
           resume="refused; after restoring: bit-identical")


@pytest.mark.parametrize("name", ["../x", "../../escaped", "/ABSOLUTE/x", "sub/x", "..", ""])
def test_hostile_ingredient_names_are_refused_before_anything_is_written(name, fault_config, start_worker, tmp_path):
    name = name.replace("/ABSOLUTE", str(tmp_path / "outside"))
    config = derived_config(fault_config, "hostile", ingredients=[{"name": name, "path": "a.safetensors"},
                                                                  {"name": "b", "path": "b.safetensors"}])
    run_dir = tmp_path / "runs" / "run"
    run_dir.parent.mkdir()
    before = outside_state(run_dir, fault_config.parent, skip=(config,))
    worker = start_worker("run", config, "--run-dir", run_dir, "--quiet")
    assert worker.wait() == 2, worker.output
    assert f"error: ingredients[0].name {name!r}" in worker.output
    assert not run_dir.exists() and not (tmp_path / "outside").exists()
    assert outside_state(run_dir, fault_config.parent, skip=(config,)) == before
    report(fault=f"ingredient name {name!r}", phase="config", ended_in_s=None, status="refused (exit 2), nothing written", resume="n/a")


def test_a_checkpoint_file_whose_name_is_dotdot_is_refused(fault_config, start_worker, tmp_path):
    pool = tmp_path / "pool"
    pool.mkdir()
    shutil.copy(fault_config.parent / "a.safetensors", pool / "a.safetensors")
    shutil.copy(fault_config.parent / "b.safetensors", pool / "...safetensors")  # its stem, the ingredient name, is '..'
    config = derived_config(fault_config, "dotdot", ingredients={"folder": str(pool)})
    worker = start_worker("run", config, "--run-dir", tmp_path / "run", "--quiet")
    assert worker.wait() == 2, worker.output
    assert "error: ingredients[0].name '..' contains '..'" in worker.output
    assert not (tmp_path / "run").exists()
    report(fault="checkpoint file named '...safetensors' (name '..')", phase="config", ended_in_s=None,
           status="refused (exit 2), nothing written", resume="n/a")

