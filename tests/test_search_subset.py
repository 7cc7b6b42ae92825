# ruff: noqa: F811  (pytest fixtures imported from app_support are redefined as arguments)
"""The λ search on a held-out subset (issue 21, item 4): `manifoldmix.search_subset` changes only the optimizer's inner
evaluations; skip tests, accept tests and the reported ValAcc use every held-out image; the mode is in config.json, the
events and results.json, the live view says which images an evaluation used, and a killed run resumes bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from app_support import app_env, open_page, toy_draft  # noqa: F401
from helpers import assert_same_run, derived_config, run_config, simulate_kill, small_toy_config
from streamlit.testing.v1 import AppTest

from app_lib.live import LiveLog
from app_lib.method_settings import controls, saved
from manifoldmix_core import events, runs
from manifoldmix_core.config import load_config
from manifoldmix_core.data import stratified_rows
from manifoldmix_core.errors import ConfigError

MM = "manifoldmixms"
SUBSET = 100  # of the toy world's held-out images


@pytest.fixture(scope="module")
def small_config(toy_world) -> Path:
    return small_toy_config(toy_world, "subset-small")


@pytest.fixture(scope="module")
def subset_config(small_config) -> Path:
    return derived_config(small_config, "subset", manifoldmix={"budget_per_component": 2, "search_subset": SUBSET})


@pytest.fixture(scope="module")
def subset_run(subset_config, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("subset") / "run"
    run_config(subset_config, run_dir)
    return run_dir


@pytest.fixture(scope="module")
def full_run(small_config, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("full") / "run"
    run_config(small_config, run_dir)
    return run_dir


def evals(run_dir: Path, method: str = MM) -> list[events.Eval]:
    return [e for e in events.read(run_dir) if isinstance(e, events.Eval) and e.method == method]


def test_only_the_searchs_inner_evaluations_use_the_subset(subset_run, full_run):
    results = json.loads((subset_run / runs.RESULTS).read_text())
    heldout = results["dataset_sizes"]["val"]
    assert SUBSET < heldout
    every = [e for e in events.read(subset_run) if isinstance(e, events.Eval)]
    searched = [e for e in every if e.search_pass is not None]
    assert searched and all(e.images == SUBSET for e in searched)
    assert all(e.images == heldout for e in every if e.search_pass is None)  # skip and accept tests, other methods
    skips = [e for e in evals(subset_run) if e.phase == "skip_test"]
    accept_tests = [e for e in evals(subset_run) if e.phase == events.ACCEPT_TEST]
    ends = [e for e in events.read(subset_run) if isinstance(e, events.SearchEnd)]
    assert skips and len(accept_tests) == len(ends) >= 1  # one whole-set ValAcc per search, of the λ it found
    assert all(e.images is None for e in events.read(full_run) if isinstance(e, events.Eval))  # off: the logs of before
    assert not [e for e in evals(full_run) if e.phase == events.ACCEPT_TEST]


def test_decisions_and_the_reported_valacc_use_the_whole_held_out_set(subset_run):
    typed = [e for e in events.read(subset_run) if getattr(e, "method", None) == MM]
    for before, decision in zip(typed, typed[1:]):
        if isinstance(decision, events.Decision) and decision.lam is not None:
            assert isinstance(before, events.Eval) and before.phase == events.ACCEPT_TEST and before.lam == decision.lam
            assert decision.valacc == before.valacc
    entry = json.loads((subset_run / runs.RESULTS).read_text())["methods"][MM]
    assert entry["valacc"] == entry["accuracy"]["val"]  # the soup's ValAcc is the fused model's on every held-out image
    assert (entry["search_subset"], entry["search_subset_seed"]) == (SUBSET, 0)


def test_the_subset_is_seeded_and_keeps_the_class_mix():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)[torch.randperm(100, generator=torch.Generator().manual_seed(1))]
    rows = stratified_rows(labels, 10, seed=3)
    assert rows.tolist() == sorted(set(rows.tolist())) and len(rows) == 10
    assert torch.bincount(labels[rows]).tolist() == [5, 3, 2]
    assert torch.equal(rows, stratified_rows(labels, 10, seed=3))
    assert not torch.equal(rows, stratified_rows(labels, 10, seed=4))
    assert stratified_rows(labels, 100, seed=0).tolist() == list(range(100))


def test_a_killed_subset_run_resumes_to_the_same_end(subset_run, tmp_path):
    lines = runs.read_events(subset_run)
    middle = [i for i, e in enumerate(lines) if e.get("images") == SUBSET][2]
    run_dir = simulate_kill(subset_run, tmp_path / "run", middle)
    from manifoldmix_core.runner import execute
    execute(run_dir)
    assert_same_run(run_dir, subset_run)


def test_the_mode_is_in_config_json_and_absent_when_off(subset_run, full_run, small_config, subset_config):
    assert json.loads((subset_run / runs.CONFIG).read_text())["manifoldmix"]["search_subset"] == SUBSET
    written = json.loads((full_run / runs.CONFIG).read_text())["manifoldmix"]
    assert "search_subset" not in written and "search_subset_seed" not in written  # old runs keep their settings digest
    assert load_config(small_config).settings_digest() != load_config(subset_config).settings_digest()


@pytest.mark.parametrize("value, said", [(0, "between 1 and"), (-5, "between 1 and"), (10**9, "between 1 and"),
                                         ("100", "must be int or null"), (True, "must be int or null"),
                                         (2.5, "must be int or null")])
def test_absurd_subset_sizes_name_the_key(small_config, value, said):
    with pytest.raises(ConfigError, match=rf"manifoldmix\.search_subset .*{said}"):
        load_config(derived_config(small_config, "bad-subset", manifoldmix={"search_subset": value}))


def test_a_subset_larger_than_the_held_out_set_names_the_key(small_config, tmp_path):
    config = derived_config(small_config, "too-large", manifoldmix={"search_subset": 100_000})
    with pytest.raises(ConfigError, match=r"manifoldmix\.search_subset must be at most the 365 images of the held-out set val"):
        run_config(config, tmp_path / "run")


def test_a_bad_subset_seed_names_the_key(small_config):
    with pytest.raises(ConfigError, match=r"manifoldmix\.search_subset_seed must be between 0 and"):
        load_config(derived_config(small_config, "bad-seed", manifoldmix={"search_subset": 10, "search_subset_seed": -1}))


def test_the_live_view_says_which_images_an_evaluation_used(subset_run, full_run):
    typed = events.read(subset_run)
    first_search = next(i for i, e in enumerate(typed) if isinstance(e, events.Eval) and e.search_pass is not None)
    live = LiveLog().feed(typed[:first_search + 1])
    assert "on 100 of 365 held-out images" in live.activity()
    whole_best = max(e.valacc for e in typed[:first_search] if isinstance(e, events.Eval) and e.method == MM)
    assert live.evaluations().query("method == @MM")["best"].iloc[-1] == whole_best  # a subset's ValAcc is no best ValAcc
    accept = next(i for i, e in enumerate(typed) if isinstance(e, events.Eval) and e.phase == events.ACCEPT_TEST)
    assert "accept test on every held-out image" in LiveLog().feed(typed[:accept + 1]).activity()
    plain = LiveLog().feed(events.read(full_run))
    assert "held-out images" not in plain.activity()


def test_the_run_page_offers_the_subset_and_launches_it(app_env, toy_world, monkeypatch):
    shown = {c.name: c for c in controls([MM], {})}
    assert shown["search_subset"].kind == shown["search_subset_seed"].kind == "count"
    assert shown["search_subset"].value is None
    assert "search_subset" not in saved({}, [MM], {("manifoldmix", "search_subset"): None})["manifoldmix"]
    launched = []
    monkeypatch.setattr("app_lib.run_store.spawn", lambda args, run_dir: launched.append(run_dir))
    at: AppTest = open_page("views/run.py", toy_draft(toy_world))
    at.number_input(key="run_manifoldmix.search_subset").set_value(50).run()
    at.button(key="launch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert json.loads((launched[-1] / runs.CONFIG).read_text())["manifoldmix"]["search_subset"] == 50


@pytest.mark.slow
def test_two_ranks_search_the_subset_as_one_process_does(subset_config, subset_run, tmp_path):
    """Under torchrun each rank evaluates its shard of the subset (counts summed): the run one process writes."""
    from test_distributed import torchrun
    done = torchrun("run", subset_config, "--run-dir", tmp_path / "run", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_run(tmp_path / "run", subset_run)
