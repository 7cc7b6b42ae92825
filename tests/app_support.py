"""Shared fixtures of the app tests: an app environment around conftest's finished toy run (`finished_run`)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from manifoldmix_core import runs

APP = Path(__file__).resolve().parents[1] / "app.py"
TIMEOUT = 60  # seconds an AppTest run may take on a loaded 2-core machine
TOY_RUN = "20250101-000000-toy"


@pytest.fixture
def app_env(finished_run, toy_world, tmp_path, monkeypatch) -> Path:
    """A runs root holding a copy of the finished run; data roots = the toy world; uploads in tmp. Returns the runs root."""
    root = tmp_path / "runs"
    shutil.copytree(finished_run, root / TOY_RUN)
    monkeypatch.setenv("MANIFOLDMIX_RUNS", str(root))
    monkeypatch.setenv("MANIFOLDMIX_ROOTS", str(toy_world.parent))
    monkeypatch.setenv("MANIFOLDMIX_UPLOADS", str(tmp_path / "uploads"))
    monkeypatch.delenv("MANIFOLDMIX_DEMO_CONFIG", raising=False)
    return root


def fake_run(root: Path, run_id: str, status: dict, events: list[dict] | None = None, config: dict | None = None) -> Path:
    """A run directory in a given state (failed, cancelled, running...) without running anything."""
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    (run_dir / runs.CONFIG).write_text(json.dumps(config or {"name": run_id}))
    runs.write_json_atomic(run_dir / runs.STATUS, {"created_at": time.time(), **status})
    (run_dir / runs.EVENTS).write_text("".join(json.dumps(e) + "\n" for e in events or []))
    return run_dir


def toy_draft(toy_config: Path) -> dict:
    """The toy world's config as the app's draft (absolute paths)."""
    from manifoldmix_core.config import load_config
    return load_config(toy_config).to_dict()


def open_page(page: str, draft: dict | None = None, query: dict | None = None) -> AppTest:
    """The app at one page, optionally with a draft run in session state and query parameters in the URL."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update(query or {})
    at.run()
    if draft is not None:
        at.session_state["draft"] = draft
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)
