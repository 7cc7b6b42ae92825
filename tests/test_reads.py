"""Each ingredient file is read once to be hashed, validated and measured, then only when a method needs its tensors.

Counted at the filesystem (inotify, tests/file_opens.py) on a private copy of the toy world, so every open counts:
the header read that checks the pool's shapes, safetensors' own reader, the content hash.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest
from file_opens import FileOpens
from helpers import derived_config, run_config

from manifoldmix_core import logits_cache
from manifoldmix_core.soups import kitchen

INGREDIENTS = ("a", "a_copy", "b", "noise")
HEADER = 1  # validate_pool reads each file's safetensors header (names, shapes, dtypes) before anything is built


@pytest.fixture
def world(toy_world, tmp_path):
    """The toy world's files in a folder of their own, so that only this test's opens are counted."""
    folder = tmp_path / "world"
    shutil.copytree(toy_world.parent, folder, ignore=shutil.ignore_patterns("*.json"))
    shutil.copy(toy_world, folder / "config.json")
    old = time.time() - 60  # settled files: the first run caches their hashes (fingerprint.SETTLED_S)
    for path in folder.iterdir():
        os.utime(path, (old, old))
    return folder / "config.json"


def test_one_read_hashes_validates_and_measures_a_new_ingredient(world, tmp_path, monkeypatch):
    monkeypatch.setenv("MANIFOLDMIX_CACHE", str(tmp_path / "cold-cache"))  # no hash cached: the first read must hash
    config = derived_config(world, "uniform", methods=["uniform_soup"])
    # the second run finds the hashes and the ingredients' logits cached: measuring an ingredient reads nothing
    for run, measure in (("cold", 1), ("warm", 0)):
        with FileOpens(world.parent) as opens:
            run_config(config, tmp_path / run)
        assert len(list((tmp_path / "cold-cache" / "fingerprints").iterdir())) >= len(INGREDIENTS)
        uniform = 1  # the uniform soup averages every ingredient
        assert {n: opens.counts[f"{n}.safetensors"] for n in INGREDIENTS} == dict.fromkeys(INGREDIENTS, HEADER + measure + uniform), run


@pytest.mark.slow
@pytest.mark.parametrize("memo", ["kept", "none"])
def test_every_method_reads_an_ingredient_only_when_it_needs_its_tensors(world, tmp_path, monkeypatch, memo):
    monkeypatch.setenv("MANIFOLDMIX_CACHE", str(tmp_path / "cache"))
    if memo == "none":  # no room to keep the ingredients' logits, in memory or on disk: the ensembles run their members again
        monkeypatch.setattr(kitchen, "LOGITS_MEMO_BYTES", 0)
        monkeypatch.setattr(logits_cache, "TOTAL_MAX_BYTES", 0)
    with FileOpens(world.parent) as opens:
        results = run_config(world, tmp_path / "run")
    members = results["methods"]["greedy_ensemble"]["ingredients"]
    # uniform, greedy and ManifoldMixMS read each ingredient once. With the logits kept, the ensembles read nothing;
    # without, the ensemble's test sets read each once more, the greedy ensemble reads each candidate once and its
    # members again for its test sets (the best one, decided by its ValAcc alone, is read for the running sum instead)
    needed = {name: 3 + (0 if memo == "kept" else 1 + (2 if name in members else 1)) for name in INGREDIENTS}
    assert {n: opens.counts[f"{n}.safetensors"] for n in INGREDIENTS} == {n: HEADER + 1 + k for n, k in needed.items()}
