"""Soup decisions on the toy world, whose answers follow from its construction (see tests/toy.py)."""

from __future__ import annotations

import errno
import json
import threading
import time

import numpy as np
import pytest
import torch
import toy
from helpers import assert_same_run, derived_config, events_of, fused_tensors, run_config
from safetensors import safe_open
from safetensors.torch import load_file

from manifoldmix_core import logits_cache, runs
from manifoldmix_core.errors import ConfigError
from manifoldmix_core.evaluate import CPU_BATCH
from manifoldmix_core.ingredients import read_signature, read_state_dict
from manifoldmix_core.models import Classifier
from manifoldmix_core.optim import Search, check_optimizer, maximize, seed_matters
from manifoldmix_core.runner import start_run
from manifoldmix_core.soups import kitchen
from manifoldmix_core.staging import IN_FLIGHT

MM = "manifoldmixms"
N_COMPONENTS = 5  # structural preset on the toy's 2-block tower: embeddings, block 0, block 1, final, head


def results_of(run_dir) -> dict:
    return json.loads((run_dir / runs.RESULTS).read_text())


def decisions(run_dir, method: str) -> dict[str, bool]:
    return {e["candidate"]: e["accepted"] for e in events_of(run_dir, type="decision", method=method)}


def ingredients(*names: str) -> list[dict]:
    return [{"name": n, "path": f"{n}.safetensors"} for n in names]


def manifoldmix_run(toy_world, tmp_path_factory, name: str, names: tuple[str, ...], **settings):
    """A finished ManifoldMixMS-only toy run with the given ingredients and manifoldmix settings."""
    config = derived_config(toy_world, name, methods=[MM], ingredients=ingredients(*names), manifoldmix=settings)
    run_dir = tmp_path_factory.mktemp(name) / "run"
    run_config(config, run_dir)
    return run_dir


@pytest.fixture(scope="module")
def code_release_run(toy_world, tmp_path_factory):
    return manifoldmix_run(toy_world, tmp_path_factory, "code-release", ("a", "a_copy"),
                           semantics="code-release", budget_per_component=1)


@pytest.fixture(scope="module")
def ngopt_run(toy_world, tmp_path_factory):
    return manifoldmix_run(toy_world, tmp_path_factory, "ngopt", ("a", "b"), optimizer="NGOpt", budget_per_component=2)


# -- ManifoldMixMS, paper semantics ---------------------------------------------------------------------


def test_candidates_are_sorted_by_valacc(finished_run):
    results = results_of(finished_run)
    valacc = {n: e["valacc"] for n, e in results["ingredients"].items()}
    assert valacc["a"] == valacc["a_copy"] > valacc["b"] > valacc["noise"]
    assert results["order"] == ["a", "a_copy", "b", "noise"]  # stable sort keeps config order on ties
    skip_tests = events_of(finished_run, type="skip_test", method=MM)
    assert [e["candidate"] for e in skip_tests] == ["a_copy", "b", "noise"]
    evaluated = [e["candidate"] for e in events_of(finished_run, type="eval", method=MM)]
    assert evaluated == sorted(evaluated, key=results["order"].index)


def test_manifoldmixms_decisions_paper_semantics(finished_run):
    results = results_of(finished_run)
    psi_acc = results["ingredients"]["a"]["valacc"]
    tests = {e["candidate"]: e for e in events_of(finished_run, type="skip_test", method=MM)}
    # a_copy equals a: every mix is a itself, so the skip test passes (ValAcc > τ·ValAcc) ...
    assert tests["a_copy"]["passed"] and tests["a_copy"]["valacc"] == psi_acc
    assert tests["a_copy"]["threshold"] == pytest.approx(0.998 * psi_acc)
    # ... but it can never be strictly better, so it is rejected after its search.
    a_copy_evals = events_of(finished_run, type="eval", method=MM, phase="optimize_1", candidate="a_copy")
    assert a_copy_evals and all(e["valacc"] == psi_acc for e in a_copy_evals)
    # b averaged into a gives the teacher: all right; accepted.
    assert tests["b"]["passed"] and tests["b"]["valacc"] == 1.0
    # noise wrecks the tower: skipped without a search.
    assert not tests["noise"]["passed"] and tests["noise"]["valacc"] <= tests["noise"]["threshold"]
    assert not events_of(finished_run, type="eval", method=MM, phase="optimize_1", candidate="noise")
    assert decisions(finished_run, MM) == {"a": True, "a_copy": False, "b": True}
    entry = results["methods"][MM]
    assert entry["ingredients"] == ["a", "b"]
    assert entry["valacc"] == 1.0 and entry["accuracy"]["test"] == 1.0
    assert len(entry["lambdas"]) == 1 and len(entry["lambdas"][0]) == N_COMPONENTS == results["partition"]["n"]
    assert all(0.0 <= x <= 1.0 for x in entry["lambdas"][0])
    accepted = [e for e in events_of(finished_run, type="decision", method=MM) if e["candidate"] == "b"]
    assert accepted[0]["lambda"] == entry["lambdas"][0]


def test_search_budget_and_lambda_vectors(finished_run):
    for candidate in ("a_copy", "b"):
        evals = events_of(finished_run, type="eval", method=MM, phase="optimize_1", candidate=candidate)
        assert 1 <= len(evals) <= 3 * N_COMPONENTS  # budget_per_component 3; repeated λ are answered from a cache
        lambdas = [tuple(e["lambda"]) for e in evals]
        assert len(set(lambdas)) == len(lambdas)
        assert all(len(lam) == N_COMPONENTS and all(0.0 <= x <= 1.0 for x in lam) for lam in lambdas)
        skip = events_of(finished_run, type="eval", method=MM, phase="skip_test", candidate=candidate)
        assert skip[0]["lambda"] == [0.5] * N_COMPONENTS  # k/(k+1) with k = 1


def test_search_end_says_how_much_of_the_budget_the_optimizer_used(finished_run):
    """Issue 9, defect 6: Cobyla stopped at 77 evaluations at budgets 30 and 120; the run now records why a search ended."""
    from manifoldmix_core.events import SearchEnd, parse
    for candidate in ("a_copy", "b"):
        evals = events_of(finished_run, type="eval", method=MM, phase="optimize_1", candidate=candidate)
        (end,) = [parse(e) for e in events_of(finished_run, type="search_end", method=MM, candidate=candidate)]
        assert isinstance(end, SearchEnd) and end.search_pass == 1
        assert end.evaluations == len(evals) and end.budget >= end.evaluations
        assert end.converged == (len(evals) < end.budget)
        assert str(end.evaluations) in end.reason and str(end.budget) in end.reason


def test_code_release_semantics_accept_ties(code_release_run):
    decided = decisions(code_release_run, MM)
    assert decided["a"] and decided["a_copy"]  # ValAcc(Ψ'*) >= ValAcc(Ψ) holds for a copy
    entry = results_of(code_release_run)["methods"][MM]
    assert entry["ingredients"] == ["a", "a_copy"] and len(entry["lambdas"]) == 1
    # λ stays within init ± 0.5·(1 − init) = [0.25, 0.75] for init = k/(k+1) = 1/2
    evals = events_of(code_release_run, type="eval", method=MM)
    assert len(evals) > 1 and all(0.25 <= x <= 0.75 for e in evals for x in e["lambda"])


def test_ngopt_works_on_the_toy(ngopt_run):
    results = results_of(ngopt_run)
    entry = results["methods"][MM]
    assert runs.read_status(ngopt_run).state == "finished"
    assert entry["ingredients"][0] == "a"
    assert entry["valacc"] >= results["ingredients"]["a"]["valacc"]
    evals = events_of(ngopt_run, type="eval", method=MM, phase="optimize_1")
    assert 1 <= len(evals) <= 2 * N_COMPONENTS
    # the search starts at λ = 1/2, where b already gives the teacher, and keeps the best point it measured
    assert max(e["valacc"] for e in evals) == entry["valacc"] == 1.0 and entry["ingredients"] == ["a", "b"]


# -- greedy soup and guarantees -------------------------------------------------------------------------


def test_greedy_soup_keeps_a_and_b(finished_run):
    assert decisions(finished_run, "greedy_soup") == {"a": True, "a_copy": False, "b": True, "noise": False}
    entry = results_of(finished_run)["methods"]["greedy_soup"]
    assert entry["ingredients"] == ["a", "b"] and entry["valacc"] == 1.0
    lambdas = [e["lambda"] for e in events_of(finished_run, type="eval", method="greedy_soup")]
    assert lambdas == [[0.5] * N_COMPONENTS, [0.5] * N_COMPONENTS, [2 / 3] * N_COMPONENTS]  # Eq. (1)


def test_greedy_ensemble_and_uniform(finished_run):
    methods = results_of(finished_run)["methods"]
    assert methods["greedy_ensemble"]["ingredients"] == ["a", "b"]
    assert methods["uniform_soup"]["ingredients"] == methods["ensemble"]["ingredients"] == ["a", "a_copy", "b", "noise"]


def test_streamed_ensembles_equal_the_mean_of_every_members_full_logits(finished_run, toy_world):
    """The running sums (one member at a time) give the accuracies of the stacked, averaged logits."""
    results = results_of(finished_run)
    sets = {name: load_file(toy_world.parent / f"{name}.safetensors") for name in ("val", "test")}
    logits = {}
    for name, entry in results["ingredients"].items():
        model = Classifier(toy.spec())
        model.load_state_dict(read_state_dict(entry["path"]))
        with torch.no_grad():
            logits[name] = {ds: model.eval()(data["images"]) for ds, data in sets.items()}
    for method in ("ensemble", "greedy_ensemble"):
        members = results["methods"][method]["ingredients"]
        for ds, data in sets.items():
            mean = torch.stack([logits[m][ds] for m in members]).mean(0)
            assert results["methods"][method]["accuracy"][ds] == int((mean.argmax(1) == data["labels"]).sum()) / len(data["labels"])
    assert results["methods"]["ensemble"]["valacc"] == results["methods"]["ensemble"]["accuracy"]["val"]


def test_ensembles_reuse_the_ingredients_logits_and_equal_a_run_that_cannot_keep_them(toy_world, tmp_path, monkeypatch):
    """The logits measured for each ingredient's accuracy serve the ensembles; without room for them, the same run results."""
    monkeypatch.setattr(logits_cache, "TOTAL_MAX_BYTES", 0)  # no logits kept across runs either (see test_logits_cache.py)
    config = derived_config(toy_world, "ensembles", methods=["uniform_soup", "ensemble", "greedy_ensemble"])
    forwards = []
    hook = torch.nn.modules.module.register_module_forward_hook(lambda m, _i, _o: forwards.append(m) if isinstance(m, Classifier) else None)
    try:
        run_config(config, tmp_path / "kept")
        kept = len(forwards)
        monkeypatch.setattr(kitchen, "LOGITS_MEMO_BYTES", 0)
        forwards.clear()
        run_config(config, tmp_path / "streamed")
        streamed = len(forwards)
    finally:
        hook.remove()
    assert_same_run(tmp_path / "kept", tmp_path / "streamed")
    assert 0 < kept < streamed


@pytest.mark.parametrize("run", ["finished_run", "code_release_run", "ngopt_run"])
def test_greedy_and_manifoldmixms_never_below_best_ingredient(request, run):
    run_dir = request.getfixturevalue(run)
    results = results_of(run_dir)
    val = results["val_dataset"]
    best = max(e["accuracy"][val] for e in results["ingredients"].values())
    for method in ("greedy_soup", MM):
        if method in results["methods"]:
            entry = results["methods"][method]
            assert entry["valacc"] >= best and entry["accuracy"][val] >= best
            assert entry["accuracy"][val] == entry["valacc"]


# -- events and results.json ------------------------------------------------------------------------------


def test_every_valacc_event_is_complete(finished_run):
    evals = events_of(finished_run, type="eval")
    assert len(evals) == results_of(finished_run)["evaluations"]
    for e in evals:
        assert {"type", "method", "phase", "candidate", "lambda", "valacc", "t"} <= e.keys()
        assert 0.0 <= e["valacc"] <= 1.0
    mm_evals = [e for e in evals if e["method"] == MM]
    assert mm_evals and all(len(e["lambda"]) == N_COMPONENTS for e in mm_evals)
    assert [e["candidate"] for e in evals if e["phase"] == "ingredient"] == ["a", "a_copy", "b", "noise"]
    times = [e["t"] for e in runs.read_events(finished_run)]
    assert times == sorted(times)


def test_status_shows_where_each_set_lives_and_its_bytes(finished_run, toy_world):
    memory = runs.read_status(finished_run).datasets
    for name in ("val", "test"):
        with safe_open(toy_world.parent / f"{name}.safetensors", framework="pt") as f:
            n = f.get_slice("labels").get_shape()[0]
        staging = IN_FLIGHT * min(CPU_BATCH, n) * 3 * 16 * 16  # the set stays on disk: two batches of uint8 images, int64 labels
        assert memory[name].model_dump() == {"where": "disk", "device_bytes": 0, "host_bytes": staging + n * 8}


def test_results_json_layout(finished_run):
    results = results_of(finished_run)
    assert results["val_dataset"] == "val" and results["datasets"] == ["val", "test"] and results["ood_datasets"] == ["test"]
    for name in ("a", "a_copy", "b", "noise"):
        entry = results["ingredients"][name]
        assert set(entry["accuracy"]) == {"val", "test"} and entry["valacc"] == entry["accuracy"]["val"]
    for method in ("uniform_soup", "greedy_soup", MM, "ensemble", "greedy_ensemble"):
        entry = results["methods"][method]
        assert set(entry["accuracy"]) == {"val", "test"}
        assert isinstance(entry["ingredients"], list) and isinstance(entry["lambdas"], list)
    assert len(results["methods"][MM]["beta"]) == 2 and len(results["methods"][MM]["beta"][0]) == N_COMPONENTS
    assert results["fused"] == {"method": MM, "file": runs.FUSED}
    assert results["partition"]["components"] == ["embeddings", "block 0", "block 1", "final norm + projection", "head"]


# -- the fused model -----------------------------------------------------------------------------------------


def test_fused_file_matches_ingredients_and_carries_recipe(finished_run, toy_world):
    fused = read_state_dict(finished_run / runs.FUSED)
    signature = read_signature(toy_world.parent / "a.safetensors")
    assert {n: (tuple(t.shape), str(t.dtype).removeprefix("torch.")) for n, t in fused.items()} == {
        n: (i.shape, i.dtype) for n, i in signature.items()}
    _, metadata = fused_tensors(finished_run / runs.FUSED)
    recipe = json.loads(metadata["manifoldmix_recipe"])
    entry = results_of(finished_run)["methods"][MM]
    assert recipe["method"] == MM and recipe["ingredients"] == ["a", "b"] == entry["ingredients"]
    assert recipe["lambdas"] == entry["lambdas"] and recipe["beta"] == entry["beta"] and recipe["valacc"] == entry["valacc"]
    assert [c["name"] for c in recipe["partition"]["components"]] == results_of(finished_run)["partition"]["components"]
    assert recipe["config"]["methods"] == json.loads((finished_run / runs.CONFIG).read_text())["methods"]


def test_fused_model_is_the_sum_of_beta_theta(finished_run, toy_world):
    fused = read_state_dict(finished_run / runs.FUSED)
    _, metadata = fused_tensors(finished_run / runs.FUSED)
    recipe = json.loads(metadata["manifoldmix_recipe"])
    weights = results_of(finished_run)["methods"][MM]["beta"]
    thetas = [load_file(toy_world.parent / f"{name}.safetensors") for name in recipe["ingredients"]]
    covered = set()
    for j, component in enumerate(recipe["partition"]["components"]):
        for name in component["params"]:
            expected = sum(weights[i][j] * theta[name] for i, theta in enumerate(thetas))
            assert torch.allclose(fused[name], expected, atol=1e-5, rtol=1e-5), name
            covered.add(name)
    assert covered == set(fused)


@pytest.mark.slow
def test_fused_file_as_only_ingredient_reproduces_valacc(finished_run, toy_world, tmp_path):
    config = derived_config(toy_world, "fused-only", ingredients=[{"name": "fused", "path": str(finished_run / runs.FUSED)}],
                            methods=["uniform_soup"])
    results = run_config(config, tmp_path / "run")
    mm = results_of(finished_run)["methods"][MM]
    assert results["ingredients"]["fused"]["valacc"] == mm["valacc"]
    assert results["ingredients"]["fused"]["accuracy"] == mm["accuracy"]


# -- optimizers --------------------------------------------------------------------------------------------


def test_unknown_optimizer_suggests_names():
    with pytest.raises(ConfigError, match="Cobila") as exc:
        check_optimizer("Cobila")
    assert "did you mean" in str(exc.value) and "Cobyla" in str(exc.value)
    check_optimizer("NGOpt")


def test_maximize_finds_the_best_point_it_measured():
    seen = []

    def objective(x):
        seen.append(float(-((x - 0.3) ** 2).sum()))
        return seen[-1]

    lam, value = maximize(objective, np.array([0.5, 0.5]), np.zeros(2), np.ones(2), Search("Cobyla", 20, 0))
    assert len(seen) == 20 and value == max(seen)
    assert np.all((lam >= 0) & (lam <= 1)) and value == pytest.approx(objective(lam))
    with pytest.raises(ConfigError, match="at least 1"):
        maximize(objective, np.array([0.5]), np.zeros(1), np.ones(1), Search("Cobyla", 0, 0))


@pytest.mark.parametrize("optimizer", ["Cobyla", "SQP", "OnePlusOne", "CMA"])
def test_seed_matters_says_whether_two_seeds_search_differently(optimizer):
    """A sweep runs a setting once when its optimizer ignores the seed: the claim is checked by running both seeds."""
    def objective(x):
        return float(-((x - 0.3) ** 2).sum() + 0.01 * np.sin(20 * x).sum())

    points = [maximize(objective, np.full(4, 0.5), np.zeros(4), np.ones(4), Search(optimizer, 30, seed))[0] for seed in (0, 1)]
    assert seed_matters(optimizer) == (not np.array_equal(*points))


@pytest.mark.parametrize("optimizer", ["Cobyla", "NGOpt", "OnePlusOne"])
def test_an_objective_that_raises_leaves_no_optimizer_thread_behind(optimizer):
    """Cobyla's non-daemon thread used to wait forever for a `tell` and keep the process from exiting."""
    before = set(threading.enumerate())
    calls = []

    def objective(x):
        calls.append(x)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return float(-((x - 0.3) ** 2).sum())

    with pytest.raises(OSError, match="No space") as caught:  # kept: its traceback holds the optimizer, as an uncaught error's does
        maximize(objective, np.array([0.5, 0.5]), np.zeros(2), np.ones(2), Search(optimizer, 20, 0))
    deadline = time.monotonic() + 10
    left = [t for t in threading.enumerate() if t not in before and not t.daemon]
    for thread in left:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert len(calls) == 3 and caught.traceback
    assert not [t for t in left if t.is_alive()]


def test_run_with_unknown_optimizer_fails_with_suggestions(toy_world, tmp_path):
    config = derived_config(toy_world, "bad-optimizer", methods=[MM], manifoldmix={"optimizer": "Cobila"},
                            ingredients=ingredients("a", "b"))
    with pytest.raises(ConfigError, match="did you mean .*Cobyla"):
        run_config(config, tmp_path / "run")
    assert not (tmp_path / "run" / runs.EVENTS).exists()


def test_unknown_optimizer_is_rejected_before_any_work(toy_world, tmp_path):
    config = derived_config(toy_world, "bad-optimizer-early", methods=[MM], manifoldmix={"optimizer": "Cobila"})
    with pytest.raises(ConfigError, match="Cobila"):
        start_run(config, tmp_path / "run")
