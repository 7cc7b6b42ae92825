"""Tests of the paper's reference results loaders and the C8 run-log parser, on the shipped files."""

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from manifoldmix_core.reference import published, runlog
from manifoldmix_core.reference.replay import replay_events

SHIPPED = published.ROOT
README_C8_PERCENT = {"ImageNet": 80.95, "ImageNetV2": 69.67, "ImageNetSketch": 48.15, "ImageNetR": 64.81, "ObjectNet": 45.66, "ImageNetA": 29.07}


def _jsonl_record(path: Path, name: str) -> dict:
    """The raw record with model_name == name from a shipped .jsonl file."""
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return next(r for r in records if r["model_name"] == name)


@pytest.fixture(scope="module")
def run() -> runlog.ReferenceRun:
    """The shipped C8 run, parsed once."""
    return runlog.load_reference_run()


def test_shipped_files_include_licence_and_readme():
    for name in (
        "LICENSE",
        "README.md",
        published.MODELS_FILE,
        published.UNIFORM_FILE,
        published.GREEDY_FILE,
        published.HPARAMS_FILE,
        runlog.RUN_LOG_FILE,
        runlog.PHASE1_FILE,
    ):
        assert (SHIPPED / name).is_file(), name
    assert "Hannes Fassold" in (SHIPPED / "LICENSE").read_text()


def test_models_are_the_72_finetunes_with_all_datasets():
    models = published.load_models()
    assert sorted(models, key=lambda n: int(n.split("_")[1])) == [f"model_{i}" for i in range(72)]
    for acc in models.values():
        assert set(acc) == set(published.DATASETS)
        assert all(0.0 < v < 1.0 for v in acc.values())
    assert models["model_0"][published.VAL_DATASET] == pytest.approx(0.7808076923076923)


def test_hparams_cover_every_model():
    hparams = published.load_hparams()
    assert set(hparams) == set(published.load_models())
    assert hparams["model_0"] == {"info": "LP initialization"}
    assert hparams["model_2"]["epochs"] == 16


@pytest.mark.parametrize("soup, filename", [("uniform_soup", published.UNIFORM_FILE), ("greedy_soup", published.GREEDY_FILE)])
def test_baseline_soups_equal_their_jsonl(soup, filename):
    raw = _jsonl_record(SHIPPED / filename, soup)
    assert published.load_soups()[soup] == {d: raw[d] for d in published.DATASETS}


def test_c8_final_accuracies_match_readme(run):
    c8 = runlog.fused_model_accuracy(run)
    assert {d: round(c8[d] * 100, 2) for d in README_C8_PERCENT} == README_C8_PERCENT
    assert round(published.avg_ood(c8) * 100, 2) == 51.47
    assert c8[published.VAL_DATASET] == pytest.approx(0.839731)


def test_avg_ood_is_mean_of_the_five_ood_sets():
    acc = {d: 0.1 * (i + 1) for i, d in enumerate(published.OOD_DATASETS)} | {published.ID_TEST: 0.99}
    assert published.avg_ood(acc) == pytest.approx(0.3)
    with pytest.raises(KeyError, match="ImageNetA"):
        published.avg_ood({d: 0.5 for d in published.OOD_DATASETS[:-1]})


def test_sorted_ingredients_follow_individual_valacc(run):
    models = published.load_models()
    assert sorted(run.sorted_names) == sorted(models)
    assert list(run.sorted_valacc) == sorted(run.sorted_valacc, reverse=True)
    for name, valacc in zip(run.sorted_names, run.sorted_valacc):
        assert valacc == pytest.approx(models[name][published.VAL_DATASET], abs=5e-7)


def test_accepted_ingredients_match_phase1(run):
    phase1 = runlog.load_phase1()
    assert run.accepted_names == tuple(run.sorted_names[i] for i in phase1.ingredient_indices)
    assert run.n_components == phase1.n_components == 8


def test_rejected_candidates_are_phase1_near_misses(run):
    rejected = tuple(s.index for s in run.steps if s.decision == "rejected")
    assert rejected == runlog.load_phase1().near_miss_indices


def test_phase1_beta_rows_are_ingredients_and_columns_sum_to_one():
    phase1 = runlog.load_phase1()
    assert len(phase1.beta) == len(phase1.ingredient_indices)
    for j in range(phase1.n_components):
        assert sum(row[j] for row in phase1.beta) == pytest.approx(1.0)


def test_every_candidate_is_investigated_once_in_order(run):
    assert [s.index for s in run.steps] == list(range(1, 72))
    assert [s.name for s in run.steps] == list(run.sorted_names[1:])
    assert [s.valacc for s in run.steps] == list(run.sorted_valacc[1:])


def test_decision_counts_are_consistent(run):
    counts = Counter(s.decision for s in run.steps)
    assert counts == {"skipped": 44, "rejected": 21, "accepted": 6}
    assert len(run.accepted_names) == 1 + counts["accepted"]
    for step in run.steps:
        expected_passes = {"skipped": 0, "rejected": 1, "accepted": 2}[step.decision]
        assert step.n_passes == expected_passes, step.index
    assert sum(s.n_passes for s in run.steps) == 33


def test_decisions_agree_with_the_algorithm(run):
    soup = run.initial_valacc
    for step in run.steps:
        assert step.soup_valacc_before == soup
        promising = step.approx_valacc > published.TAU * soup
        assert promising == (step.decision != "skipped"), step.index
        if step.decision == "accepted":
            assert step.decision_valacc >= soup
            soup = step.decision_valacc
        elif step.decision == "rejected":
            assert step.decision_valacc < soup
    assert soup == run.final_valacc


def test_timing_summary(run):
    assert 20 <= run.seconds_per_eval <= 32
    assert run.evals_per_pass == 240
    assert 59 < run.duration_s / 3600 < 59.5
    for step in run.steps:
        assert step.start <= step.approx_at <= step.decided_at <= step.end
        for p in step.passes:
            # 240 evaluations at roughly the single-evaluation speed
            assert 20 <= p.duration_s / run.evals_per_pass <= 32


def test_replay_events_follow_the_log(run):
    events = replay_events(run)
    times = [e["t"] for e in events]
    assert times == sorted(times) and times[0] >= 0
    assert times[-1] <= run.duration_s
    kinds = Counter((e["type"], e.get("phase")) for e in events)
    assert kinds == {
        ("eval", "ingredient"): 72,
        ("decision", None): 72,
        ("eval", "skip_test"): 71,
        ("skip_test", None): 71,
        ("eval", "optimize_1"): 27,
        ("eval", "optimize_2"): 6,
    }
    assert all(e["method"] == ("ingredients" if e.get("phase") == "ingredient" else "manifoldmixms") for e in events)
    assert all(e["lambda"] is None for e in events if e["type"] == "eval")
    accepted = [e["candidate"] for e in events if e["type"] == "decision" and e["accepted"]]
    assert tuple(accepted) == run.accepted_names
    skip_tests = [e for e in events if e["type"] == "skip_test"]
    assert [e["passed"] for e in skip_tests] == [s.decision != "skipped" for s in run.steps]
    assert skip_tests[0]["threshold"] == pytest.approx(0.998 * 0.830462)


def test_replay_events_are_json_serialisable(run):
    assert json.loads(json.dumps(replay_events(run)))[0]["phase"] == "ingredient"


def test_missing_root_raises_file_not_found(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="individual_model_results.jsonl"):
        published.load_models(missing)
    with pytest.raises(FileNotFoundError, match="main.log"):
        runlog.load_reference_run(missing)
    with pytest.raises(FileNotFoundError, match="hparam_info.json"):
        published.load_hparams(missing)


def _copy_shipped(tmp_path: Path) -> Path:
    """A writable copy of the shipped reference folder."""
    root = tmp_path / "reference"
    shutil.copytree(SHIPPED, root)
    return root


def _replace_line(path: Path, lineno: int, text: str) -> None:
    """Overwrite one (1-based) line of a text file."""
    lines = path.read_text().splitlines()
    lines[lineno - 1] = text
    path.write_text("\n".join(lines) + "\n")


def test_corrupted_log_value_names_file_and_line(tmp_path):
    root = _copy_shipped(tmp_path)
    log = root / runlog.RUN_LOG_FILE
    lineno = next(i for i, line in enumerate(log.read_text().splitlines(), 1) if "ValAcc(approxAvg(A, C))" in line)
    _replace_line(log, lineno, "[2023-03-21 08:27:38][INFO] ValAcc(approxAvg(A, C)): 0.83x269")
    with pytest.raises(ValueError, match=rf"main\.log:{lineno}: malformed"):
        runlog.parse_run_log(log)


def test_truncated_log_line_names_file_and_line(tmp_path):
    root = _copy_shipped(tmp_path)
    log = root / runlog.RUN_LOG_FILE
    _replace_line(log, 20, "[2023-03-21 08:2")
    with pytest.raises(ValueError, match=r"main\.log:20: not a"):
        runlog.load_reference_run(root)


def test_log_with_a_step_cut_short_is_rejected(tmp_path):
    root = _copy_shipped(tmp_path)
    log = root / runlog.RUN_LOG_FILE
    lines = log.read_text().splitlines()
    cut = next(i for i, line in enumerate(lines) if "Starting Cobyla optimizer" in line) + 1
    log.write_text("\n".join(lines[:cut]) + "\n")
    with pytest.raises(ValueError, match="unfinished optimizer pass"):
        runlog.parse_run_log(log)


def test_malformed_models_line_names_file_and_line(tmp_path):
    root = _copy_shipped(tmp_path)
    _replace_line(root / published.MODELS_FILE, 3, '{"model_name": "model_2", "ImageNet2p": ')
    with pytest.raises(ValueError, match=r"individual_model_results\.jsonl:3: malformed JSON"):
        published.load_models(root)
