"""The headless entry point: `python -m manifoldmix_core run|resume`, exit codes and messages."""

from __future__ import annotations

import json
import random
import shutil

import pytest
import torch
from helpers import cli, derived_config, without_log
from safetensors.torch import load_file, save_file
from toy import VISION

from manifoldmix_core import cli as cli_module
from manifoldmix_core import runs
from manifoldmix_core.config import load_config
from manifoldmix_core.errors import ConfigError
from manifoldmix_core.methods import defaults
from manifoldmix_core.runner import start_run


@pytest.fixture(scope="module")
def cli_run(toy_world, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    return run_dir, cli("run", toy_world, "--run-dir", run_dir, "--quiet")


@pytest.mark.slow
def test_run_writes_the_run_directory_and_prints_a_table(cli_run):
    run_dir, done = cli_run
    assert done.returncode == 0, done.stderr
    for name in (runs.CONFIG, runs.STATUS, runs.EVENTS, runs.RESULTS, runs.FUSED):
        assert (run_dir / name).is_file(), name
    status = json.loads((run_dir / runs.STATUS).read_text())
    assert status["state"] == "finished" and status["progress"] == 1.0
    results = json.loads((run_dir / runs.RESULTS).read_text())
    lines = done.stdout.strip().splitlines()
    assert lines[0].split() == ["model", "val", "test"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    for method in defaults():
        accuracy = results["methods"][method]["accuracy"]
        assert rows[method] == [f"{100 * accuracy['val']:.2f}", f"{100 * accuracy['test']:.2f}"]
    assert lines[-1].startswith("best ingredient (a)")
    assert f"run directory: {run_dir}" in done.stderr


@pytest.mark.slow
def test_cli_run_equals_in_process_run(cli_run, finished_run):
    """The same config gives the same results from the CLI's own process as from execute() here."""
    run_dir, done = cli_run
    assert done.returncode == 0, done.stderr
    assert without_log(json.loads((run_dir / runs.RESULTS).read_text())) == without_log(json.loads((finished_run / runs.RESULTS).read_text()))
    assert json.loads((run_dir / runs.CONFIG).read_text()) == json.loads((finished_run / runs.CONFIG).read_text())


@pytest.mark.slow
def test_resume_of_a_finished_run_has_nothing_to_do(cli_run, capsys):
    run_dir, _ = cli_run
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in run_dir.rglob("*") if p.is_file()}
    assert cli_module.main(["resume", str(run_dir)]) == 0
    captured = capsys.readouterr()
    assert "nothing to resume" in captured.err and captured.out == ""
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in run_dir.rglob("*") if p.is_file()} == before


def _main(capsys, *args) -> tuple[int, str]:
    code = cli_module.main([str(a) for a in args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("changes, expected", [
    ({"manifoldmix": {"budget_per_comp": 3}}, "budget_per_comp"),
    ({"colour": "blue"}, "colour"),
    ({"manifoldmix": {"tau": 0}}, "manifoldmix.tau"),
    ({"manifoldmix": {"budget_per_component": 0}}, "budget"),
    ({"manifoldmix": {"budget": 0}}, "budget"),
    ({"batch_size": 0}, "batch_size"),
    ({"host_memory_mb": 0}, "host_memory_mb"),
    ({"manifoldmix": {"semantics": "paperish"}}, "semantics"),
    ({"methods": ["greedy_soup", "best_soup"]}, "best_soup"),
    ({"ood": ["imagenet-a"]}, "imagenet-a"),
    ({"manifoldmix": {"tau": "high"}}, "manifoldmix.tau"),
    ({"partition": {"preset": "author", "granularity": "x"}}, "partition.granularity must be 0, 1, 2 or 3, got 'x'"),
    ({"partition": {"preset": "structural", "blocks_per_component": "two"}}, "blocks_per_component"),
    ({"partition": {"preset": "structural", "split_attn_mlp": "yes"}}, "split_attn_mlp"),
    ({"partition": {"preset": "medium", "granularity": 2}}, "unknown: ['granularity']"),
    ({"partition": {"preset": "assign", "assign": ["visual"]}}, "partition.assign"),
    ({"partition": {"preset": "components", "components": [{"name": "tower", "params": "visual"}]}}, "params of component 'tower' must be a list"),
    ({"val": {"class_map": {"x": 0}}}, 'val.class_map'),
    ({"val": {"class_map": {"1": -1}}}, 'val.class_map'),
    ({"val": {"class_subset": ["a", 1]}}, "val.class_subset"),
    ({"val": {"class_subset": [0, 1], "class_map": {"0": 0}}}, "not both"),
    ({"model": {"architecture": VISION, "image_mean": [0.5, 0.5]}}, "model.image_mean must be three numbers"),
    ({"model": {"architecture": VISION, "image_std": [0.5, "x", 0.5]}}, "model.image_std"),
    ({"model": {"architecture": VISION, "image_std": [0.5, 0.0, 0.5]}}, "model.image_std"),
    ({"model": {"architecture": 7}}, "model.architecture"),
    ({"ingredients": {"folder": None}}, 'ingredients as a folder is {"folder": "path/to/checkpoints"}'),
    ({"ingredients": [{"name": "../x", "path": "a.safetensors"}]}, "ingredients[0].name '../x' contains a path separator"),
    ({"ingredients": [{"name": "/tmp/x", "path": "a.safetensors"}]}, "path separator"),
    ({"ingredients": [{"name": "", "path": "a.safetensors"}]}, "is empty"),
    ({"ingredients": [{"name": "x" * 200, "path": "a.safetensors"}]}, "longer than"),
    ({"ingredients": [{"name": "a", "path": "a.safetensors"}, {"name": "a", "path": "b.safetensors"}]}, "repeated: a"),
    ({"test": [{"name": "..", "source": "tensors", "path": "test.safetensors"}]}, "test[0].name '..' contains '..'"),
    ({"device": "gpu"}, "device"),
    ({"methods": ["greedy_soup", "greedy_soup"]}, "twice"),
    ({"manifoldmix": {"seed": -1}}, "manifoldmix.seed"),
    ({"ingredient_tests": "some"}, 'ingredient_tests must be "all", "none" or {"top": k}'),
    ({"ingredient_tests": {"top": 0}}, "ingredient_tests"),
    ({"ingredient_tests": {"top": "3"}}, "ingredient_tests"),
    ({"ingredient_tests": {"best": 3}}, "ingredient_tests"),
    ({"ingredient_tests": 5}, "config.ingredient_tests must be"),
])
def test_bad_config_exits_2_naming_the_key(toy_world, tmp_path, capsys, changes, expected):
    config = derived_config(toy_world, "bad", **changes)
    code, err = _main(capsys, "run", config, "--run-dir", tmp_path / "run", "--quiet")
    assert code == 2
    assert err.startswith("error:") and expected in err
    assert not (tmp_path / "run").exists()  # refused before a run directory was made


@pytest.mark.parametrize("changes, key", [
    ({"batch_size": "64"}, "batch_size"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"host_memory_mb": "1024"}, "host_memory_mb"),
    ({"manifoldmix": {"budget": "10"}}, "budget"),
    ({"manifoldmix": {"budget": 2.5}}, "budget"),
    ({"model": {"quick_gelu": "yes"}}, "quick_gelu"),
])
def test_optional_settings_of_the_wrong_type_are_config_errors(toy_world, changes, key):
    with pytest.raises(ConfigError, match=key):
        load_config(derived_config(toy_world, "wrong-type", **changes))


def test_the_host_memory_budget_is_no_setting_a_resume_checks(toy_world):
    """Where sets are staged changes no result, so a run may resume with another host_memory_mb."""
    default, smaller = load_config(toy_world), load_config(derived_config(toy_world, "budget", host_memory_mb=64))
    assert (default.host_memory_mb, smaller.host_memory_mb) == (1024, 64)
    assert smaller.settings_digest() == default.settings_digest()


def test_corrupt_checkpoint_exits_2_naming_the_file(toy_world, tmp_path, capsys):
    corrupt = tmp_path / "broken.safetensors"
    corrupt.write_bytes(random.Random(0).randbytes(2048))
    config = derived_config(toy_world, "corrupt", ingredients=[{"name": "a", "path": "a.safetensors"},
                                                              {"name": "broken", "path": str(corrupt)}])
    code, err = _main(capsys, "run", config, "--run-dir", tmp_path / "run", "--quiet")
    assert code == 2
    assert err.count("error:") == 1 and str(corrupt) in err
    status = runs.read_status(tmp_path / "run")
    assert status.state == "failed" and str(corrupt) in status.message


def test_missing_config_file_exits_2(tmp_path, capsys):
    code, err = _main(capsys, "run", tmp_path / "nope.json", "--run-dir", tmp_path / "run")
    assert code == 2 and str(tmp_path / "nope.json") in err and "not found" in err
    (tmp_path / "broken.json").write_text("{")
    code, err = _main(capsys, "run", tmp_path / "broken.json", "--run-dir", tmp_path / "run")
    assert code == 2 and "not valid JSON" in err


def test_missing_dataset_file_exits_2(toy_world, tmp_path, capsys):
    missing = {"name": "val", "source": "tensors", "path": str(tmp_path / "v.safetensors")}
    config = derived_config(toy_world, "no-val", val=missing)
    code, err = _main(capsys, "run", config, "--run-dir", tmp_path / "run", "--quiet")
    assert code == 2 and str(tmp_path / "v.safetensors") in err


def test_resume_needs_a_run_directory(tmp_path, capsys):
    code, err = _main(capsys, "resume", tmp_path)
    assert code == 2 and "not a run directory" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli_module.main(["run"])
    assert exc.value.code == 2
    assert "--run-dir" in capsys.readouterr().err


def test_a_bad_config_aimed_at_a_queued_run_leaves_that_run_alone(toy_world, tmp_path, capsys):
    run_dir = start_run(toy_world, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    code, err = _main(capsys, "run", derived_config(toy_world, "bad", manifoldmix={"tau": 0}), "--run-dir", run_dir, "--quiet")
    assert code == 2 and "manifoldmix.tau" in err
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before
    assert runs.read_status(run_dir).state == "queued"
    code, err = _main(capsys, "run", derived_config(toy_world, "other", methods=["uniform_soup"]), "--run-dir", run_dir, "--quiet")
    assert code == 2 and "queued run with another config" in err
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


@pytest.mark.parametrize("form", ["run RUN_DIR", "run RUN_DIR/config.json --run-dir RUN_DIR"])
def test_a_queued_run_whose_own_config_is_bad_is_marked_failed(toy_world, tmp_path, capsys, form):
    """How the app launches: it places config.json in a new folder and runs the CLI on that folder; the engine writes status."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = json.loads(toy_world.read_text())
    config["manifoldmix"]["tau"] = 0
    (run_dir / runs.CONFIG).write_text(json.dumps(config))
    args = ["run", run_dir] if form == "run RUN_DIR" else ["run", run_dir / runs.CONFIG, "--run-dir", run_dir]
    code, err = _main(capsys, *args, "--quiet")
    assert code == 2 and "manifoldmix.tau" in err
    status = runs.read_status(run_dir)
    assert status.state == "failed" and "manifoldmix.tau" in status.message


def test_run_of_a_folder_without_config_says_how_to_start(tmp_path, capsys):
    code, err = _main(capsys, "run", tmp_path)
    assert code == 2 and "is not a run directory" in err and "--run-dir" in err
    assert list(tmp_path.iterdir()) == []


def test_heldout_prints_each_ingredients_valacc_as_the_run_measured_it(toy_world, finished_run):
    done = cli("heldout", toy_world)
    assert done.returncode == 0, done.stderr
    recorded = json.loads((finished_run / runs.RESULTS).read_text())["ingredients"]
    assert json.loads(done.stdout) == {name: info["valacc"] for name, info in recorded.items()}


def test_the_ingredient_folder_is_refused_as_run_directory(toy_world, tmp_path, capsys):
    pool = tmp_path / "pool"
    pool.mkdir()
    for name in ("a", "b"):
        shutil.copy(toy_world.parent / f"{name}.safetensors", pool)
    config = derived_config(toy_world, "pool", ingredients={"folder": str(pool)})
    code, err = _main(capsys, "run", config, "--run-dir", pool, "--quiet")
    assert code == 2 and "is the ingredient folder" in err and runs.FUSED in err
    assert sorted(p.name for p in pool.iterdir()) == ["a.safetensors", "b.safetensors"]


def test_negative_labels_are_refused_and_a_single_class_validation_set_warns(toy_world, tmp_path, capsys):
    data = load_file(toy_world.parent / "val.safetensors")
    save_file({"images": data["images"], "labels": torch.where(data["labels"] == 0, -1, data["labels"])}, tmp_path / "negative.safetensors")
    config = derived_config(toy_world, "negative", val={"path": str(tmp_path / "negative.safetensors")})
    code, err = _main(capsys, "run", config, "--run-dir", tmp_path / "negative", "--quiet")
    assert code == 2 and "\nerror: val: labels must be class indices (0 or more), found -1" in err
    assert runs.read_status(tmp_path / "negative").state == "failed"

    one = data["labels"] == data["labels"][0]
    save_file({"images": data["images"][one].contiguous(), "labels": data["labels"][one].contiguous()}, tmp_path / "one.safetensors")
    config = derived_config(toy_world, "one-class", val={"path": str(tmp_path / "one.safetensors")}, methods=["uniform_soup"],
                            ingredients=[{"name": "a", "path": "a.safetensors"}])
    code, err = _main(capsys, "run", config, "--run-dir", tmp_path / "one", "--quiet")
    assert code == 0
    assert f"warning: the validation set val holds only class {int(data['labels'][0])}" in err
