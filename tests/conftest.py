"""Shared fixtures: the toy world (tests/toy.py) and a finished run on it, built once per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
for folder in (TESTS, TESTS.parent / "tools"):  # helpers, the toy world; tools/file_opens.py
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import toy  # noqa: E402
from helpers import run_config  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def manifoldmix_cache(tmp_path_factory):
    """Decoded-dataset cache in a temporary folder (CLI subprocesses inherit it too)."""
    old = os.environ.get("MANIFOLDMIX_CACHE")
    path = tmp_path_factory.mktemp("manifoldmix-cache")
    os.environ["MANIFOLDMIX_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("MANIFOLDMIX_CACHE", None)
    else:
        os.environ["MANIFOLDMIX_CACHE"] = old


@pytest.fixture(scope="session")
def toy_world(tmp_path_factory) -> Path:
    """The toy world's config.json (ingredients a, a_copy, b, noise; val/test tensor files beside it)."""
    return toy.write_world(tmp_path_factory.mktemp("toy-world"))


@pytest.fixture(scope="session")
def finished_run(toy_world, tmp_path_factory) -> Path:
    """The toy config run to the end in-process (all five methods, paper semantics); tests must not modify it."""
    run_dir = tmp_path_factory.mktemp("finished-run") / "run"
    run_config(toy_world, run_dir)
    return run_dir
