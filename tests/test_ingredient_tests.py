"""`ingredient_tests`: which ingredients are measured on the test/OOD sets, and what the pre-soup phase costs."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import assert_same_run, derived_config, events_of, run_config, simulate_kill
from safetensors import safe_open

from app_lib.scoreboard import board_from_results, figure2_frame, held_out_only, table1
from manifoldmix_core import logits_cache, runs
from manifoldmix_core.config import parse_config
from manifoldmix_core.models import Classifier
from manifoldmix_core.run_records import Results
from manifoldmix_core.runner import execute

BASE = {"model": {"architecture": "ViT-B-32"}, "val": {"name": "val", "source": "tensors", "path": "val.safetensors"}}


def _ingredients(n: int) -> list[dict]:
    return [{"name": f"m{i}", "path": f"m{i}.safetensors"} for i in range(n)]


@pytest.mark.parametrize("n, expected", [(1, "all"), (16, "all"), (17, {"top": 5}), (72, {"top": 5})])
def test_default_is_every_ingredient_of_a_small_pool_and_the_top_five_of_a_large_one(tmp_path, n, expected):
    config = parse_config({**BASE, "ingredients": _ingredients(n)}, tmp_path)
    assert config.ingredient_tests == expected
    assert config.to_dict()["ingredient_tests"] == expected  # written into the canonical config.json


def test_an_explicit_choice_is_kept_and_picks_from_the_valacc_order(tmp_path):
    order = ["m3", "m1", "m0", "m2"]
    for choice, expected in [("all", order), ("none", []), ({"top": 2}, ["m3", "m1"]), ({"top": 9}, order)]:
        config = parse_config({**BASE, "ingredients": _ingredients(4), "ingredient_tests": choice}, tmp_path)
        assert config.ingredient_tests == choice and config.tested_ingredients(order) == expected


class ImagesSeen:
    """How many images went through a Classifier's forward pass: a global torch forward hook, nothing of ours replaced."""

    def __init__(self):
        self.count = 0

    def __enter__(self):
        def hook(module, args, _output):
            if isinstance(module, Classifier):
                self.count += len(args[0])
        self.handle = torch.nn.modules.module.register_module_forward_hook(hook)
        return self

    def __exit__(self, *_):
        self.handle.remove()


@pytest.fixture(scope="module")
def top1_run(toy_world, tmp_path_factory):
    """The toy world with only the uniform soup and ingredient_tests = top 1, and the images its forward passes saw."""
    config = derived_config(toy_world, "top1", methods=["uniform_soup"], ingredient_tests={"top": 1})
    run_dir = tmp_path_factory.mktemp("top1") / "run"
    with pytest.MonkeyPatch.context() as patch, ImagesSeen() as seen:
        patch.setattr(logits_cache, "TOTAL_MAX_BYTES", 0)  # every forward pass counted, none read from the logits cache
        results = run_config(config, run_dir)
    return run_dir, results, seen.count


def test_the_pre_soup_phase_is_one_valacc_per_ingredient_plus_the_tests_asked_for(top1_run, toy_world):
    _, results, images = top1_run
    sizes = {}
    for split in ("val", "test"):
        with safe_open(toy_world.parent / f"{split}.safetensors", framework="pt") as f:
            sizes[split] = f.get_slice("labels").get_shape()[0]
    pre_soup = len(results["ingredients"]) * sizes["val"] + 1 * sizes["test"]
    uniform = sizes["val"] + sizes["val"] + sizes["test"]  # its ValAcc, then its accuracy on every set
    assert images == pre_soup + uniform


def test_only_the_best_ingredient_has_test_accuracies_and_results_say_so(top1_run):
    run_dir, results, _ = top1_run
    best = results["order"][0]
    assert results["ingredient_tests"] == {"top": 1}
    for name, entry in results["ingredients"].items():
        assert entry["tested"] == (name == best)
        assert set(entry["accuracy"]) == ({"val", "test"} if name == best else {"val"})
        assert entry["accuracy"]["val"] == entry["valacc"]
    assert [e["model"] for e in events_of(run_dir, type="accuracy", kind="ingredient_tests")] == [best]
    assert all(set(e["accuracy"]) == {"val"} for e in events_of(run_dir, type="accuracy", kind="ingredient"))


def test_figure2_and_table1_show_only_what_was_measured(top1_run):
    _, results, _ = top1_run
    board = board_from_results(Results.model_validate(results), "top1")
    frame = figure2_frame(board, "test")
    assert list(frame.loc[frame["ingredient"], "model"]) == [results["order"][0]]
    assert len(frame) == 2  # the tested ingredient and the uniform soup
    table = table1(board)
    second = next(label for label in table.index if label.startswith("Second-best"))
    assert table.loc[second, "test"] != table.loc[second, "test"]  # NaN: not measured, not made up
    assert table.loc[second, "val"] == pytest.approx(100 * results["ingredients"][results["order"][1]]["valacc"], abs=1e-9)
    assert [e.name for e in held_out_only(board)] == results["order"][1:]


@pytest.mark.slow
@pytest.mark.parametrize("choice", ["none", {"top": 2}])
def test_resume_during_the_ingredient_tests_equals_the_uninterrupted_run(toy_world, tmp_path, choice):
    config = derived_config(toy_world, "tests-resume", methods=["uniform_soup", "greedy_soup"], ingredient_tests=choice)
    reference = tmp_path / "reference"
    run_config(config, reference)
    kinds = [(e["type"], e.get("kind")) for e in runs.read_events(reference)]
    tests = [i for i, k in enumerate(kinds) if k == ("accuracy", "ingredient_tests")]
    assert len(tests) == (0 if choice == "none" else 2)
    keep = tests[-1] if tests else kinds.index(("accuracy", "ingredient")) + 1
    run_dir = simulate_kill(reference, tmp_path / "run", keep)
    execute(run_dir)
    assert_same_run(run_dir, reference)
    assert json.loads((run_dir / runs.CONFIG).read_text())["ingredient_tests"] == choice
