# ruff: noqa: F811  (pytest fixtures imported from app_support are redefined as arguments)
"""A run directory written before events, status.json and results.json had schemas (tests/data/run-before-schemas,
written by main at 84bdca7) still reads, shows on the pages and resumes: users' existing run directories keep working."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import toy
from app_support import APP  # noqa: F401
from helpers import fused_tensors, simulate_kill, without_log, without_time
from test_app_pages import open_page, texts

from app_lib.live import LiveLog
from manifoldmix_core import events, runs
from manifoldmix_core.runner import execute

OLD_RUN = Path(__file__).parent / "data" / "run-before-schemas"
OLD_WORLD = "/tmp/pt-events/gen/world"  # where the toy world lay when the old run was written
OLD_ID = "20251203-190000-old"


def rewired(target: Path, world: Path) -> Path:
    """A copy of the old run whose config.json and results.json name the files of `world` instead of the old toy world."""
    shutil.copytree(OLD_RUN, target)
    for name in (runs.CONFIG, runs.RESULTS):
        (target / name).write_text((OLD_RUN / name).read_text().replace(OLD_WORLD, str(world)))
    return target


@pytest.fixture
def world(tmp_path) -> Path:
    """A fresh toy world: the same files, byte for byte, as the one the old run read (tests/toy.py is seeded)."""
    return toy.write_world(tmp_path / "world").parent


def test_an_old_log_reads_as_typed_events():
    typed = events.read(OLD_RUN)
    lines = (OLD_RUN / runs.EVENTS).read_text().splitlines()
    assert len(typed) == len(lines) == 40
    assert Counter(type(e).__name__ for e in typed) == {"Eval": 17, "Accuracy": 8, "Decision": 8, "IngredientEval": 3,
                                                         "SkipTest": 2, "Setup": 1, "SearchEnd": 1}
    end = next(e for e in typed if isinstance(e, events.SearchEnd))
    assert end.search_pass == json.loads(next(line for line in lines if '"search_end"' in line))["pass"] == 1
    searched = [e for e in typed if isinstance(e, events.Eval) and e.search_pass == 1]
    assert searched and all(len(e.lam) == 5 for e in searched)  # "lambda" on disk, one λ per component
    assert [e.name for e in typed if isinstance(e, events.IngredientEval)] == ["a", "b", "noise"]
    live = LiveLog(OLD_RUN).poll()
    assert live.count == 40 and not live.broken and live.run_summary()["evaluations"] == 20


def test_old_status_and_results_read_through_their_schemas():
    status = runs.read_status(OLD_RUN)
    assert status.state == "finished" and status.log.events == 40 and status.datasets["val"].where == "disk"
    results = runs.read_results(OLD_RUN)
    assert results.order == ["a", "b", "noise"] and results.dataset_sizes == {"val": 365, "test": 379}
    assert set(results.methods) == {"uniform_soup", "greedy_soup", "manifoldmixms", "ensemble", "greedy_ensemble"}


@pytest.fixture
def old_app_env(world, tmp_path, monkeypatch) -> Path:
    """A runs root holding only the old run, pointed at a fresh toy world."""
    root = tmp_path / "runs"
    rewired(root / OLD_ID, world)
    monkeypatch.setenv("MANIFOLDMIX_RUNS", str(root))
    monkeypatch.setenv("MANIFOLDMIX_ROOTS", str(world))
    monkeypatch.setenv("MANIFOLDMIX_UPLOADS", str(tmp_path / "uploads"))
    monkeypatch.delenv("MANIFOLDMIX_DEMO_CONFIG", raising=False)
    return root


def test_the_run_page_shows_an_old_run(old_app_env):
    at = open_page("views/run.py", query={"run": OLD_ID})
    assert "Finished" in texts(at.success)
    assert at.selectbox(key="lambda_candidate").value == "b"
    assert "Evaluation sets: val read from disk a batch at a time" in texts(at.caption)


def test_the_results_page_shows_an_old_run(old_app_env):
    at = open_page("views/results.py")
    assert at.multiselect(key="results_runs").value == [OLD_ID]
    table = at.dataframe[0].value
    assert "Best finetuned (a)" in table.index and "ManifoldMixMS-C5" in table.index


def test_an_old_run_killed_midway_resumes_to_the_same_end(world, tmp_path):
    """Resume replays the old tape (its hash chain, field names and λ as written then) and finishes as the old run did."""
    finished = rewired(tmp_path / "finished", world)
    run_dir = simulate_kill(finished, tmp_path / "killed", keep_lines=20)
    execute(run_dir)
    assert without_time(runs.read_events(run_dir)) == without_time(runs.read_events(finished))
    assert without_log(json.loads((run_dir / runs.RESULTS).read_text())) == without_log(json.loads((finished / runs.RESULTS).read_text()))
    tensors, _ = fused_tensors(run_dir / runs.FUSED)
    old_tensors, _ = fused_tensors(finished / runs.FUSED)
    assert tensors.keys() == old_tensors.keys() and all((tensors[k] == old_tensors[k]).all() for k in tensors)
