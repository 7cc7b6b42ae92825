# ruff: noqa: F401  (pytest-playwright's launch and context fixtures, pointed at Debian's chromium, are imported to apply here)
"""Issue 17's browser acceptance: through the app in headless Chromium, with a workspaces folder seeded with damaged
workspace files (the ones of tests/faults/test_fault_hostile_files.py) and a runs root whose newest sweeps have a
damaged sweep.json, every page renders without an exception box; Start lists the damaged workspaces as damaged, each
one's link says it cannot be opened and starts a new workspace, and Experiments names the damaged sweeps."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from helpers import DAMAGED_SWEEPS, DAMAGED_WORKSPACES, write_sweep
from test_e2e_browser import PAGES, browser_context_args, browser_type_launch_args, no_exception, settle, streamlit_server

from app_lib import workspace
from app_lib.ui import BROWSER_COOKIE

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SECRET = "read through a symlink"  # the name in the valid draft a symlinked workspace file points at, outside the folder
EARLIER_SHOWN = 5  # Start lists this many earlier workspaces, most recent first (views/start.py)
SWEEPS = {  # newest first: the newest names its member by an absolute path, the next climbs out of the runs root
    "20990101-000003-absolute": {"name": "t", "members": [{"run_id": "/etc", "setting": "w", "seed": 0}]},
    "20990101-000002-climbing": {"name": "t", "members": [{"run_id": "../x", "setting": "w", "seed": 0}]},
    "20990101-000001-no-members": DAMAGED_SWEEPS["no members"],
}


def seed_damage(base: Path) -> list[str]:
    """base/workspaces holding every damaged workspace file and base/runs the damaged sweeps (mtimes in the listed
    order, newest first); returns the workspace ids, newest first."""
    folder, now = base / "workspaces", time.time()
    folder.mkdir()
    (base / "secret.json").write_text(f'{{"name": "{SECRET}", "ingredients": []}}')
    ids = [f"ws-damage{n:02d}" for n in range(1, len(DAMAGED_WORKSPACES) + 1)]
    for age, (ws_id, content) in enumerate(zip(ids, DAMAGED_WORKSPACES.values(), strict=True)):
        path = folder / f"{ws_id}.json"
        if content is None:
            path.symlink_to(base / "secret.json")
        else:
            path.write_bytes(content)
        os.utime(path, (now - 60 * (age + 1),) * 2, follow_symlinks=False)
    for age, (sweep_id, content) in enumerate(SWEEPS.items()):
        os.utime(write_sweep(base / "runs" / sweep_id, content), (now - 60 * (age + 1),) * 2)
    return ids


def visit(page, url: str) -> str:
    """Open url as a fresh browser session, wait for the page to settle, fail on any exception box; the page's text."""
    page.goto(url)
    page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=60_000)
    settle(page)
    no_exception(page)
    text = page.locator('[data-testid="stApp"]').inner_text()
    assert SECRET not in text, url
    return text


def test_every_page_renders_over_damaged_workspaces_and_sweeps(tmp_path, toy_world, page):
    from manifoldmix_core.demo.paths import demo_ready
    ids = seed_damage(tmp_path)
    with streamlit_server(tmp_path, toy_world, toy_as_demo=not demo_ready()) as url:
        visit(page, url)  # the first visit gives this browser its cookie; Start lists the workspaces a browser knows
        token = next(c["value"] for c in page.context.cookies() if c["name"] == BROWSER_COOKIE)
        for ws_id in reversed(ids):
            workspace.remember(token, ws_id, tmp_path / "workspaces")
        text = visit(page, url)
        listed = [ws_id for ws_id in ids if f"{ws_id} · damaged, cannot be opened" in text]
        assert listed == ids[:EARLIER_SHOWN], text  # the most recent ones, each named as damaged with its reason

        for name in PAGES:
            text = visit(page, f"{url}/{name}")
            if name == "experiments":  # the newest sweep is the damaged one shown, named; nothing offers to act on it
                assert f"Sweep {next(iter(SWEEPS))} is damaged and cannot be shown" in text and "run_id" in text, text
                assert not page.get_by_role("button", name="Resume sweep").count()
                assert not page.get_by_role("button", name="Cancel sweep").count()

        for sweep_id in SWEEPS:  # each damaged sweep by its link
            text = visit(page, f"{url}/experiments?sweep={sweep_id}")
            assert f"Sweep {sweep_id} is damaged and cannot be shown" in text, text

        for ws_id in ids:  # each damaged workspace by its link, on Start: said, and a new workspace started
            visit(page, f"{url}/?ws={ws_id}")
            sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
            assert f"{ws_id}' cannot be opened" in sidebar and "Started a new one" in sidebar, sidebar
            assert f"ws={ws_id}" not in page.url, page.url  # the new workspace gets its id in the URL with its first change

        wrong_types = ids[list(DAMAGED_WORKSPACES).index("wrong types")]  # the one that crashed five pages
        for name in PAGES:
            visit(page, f"{url}/{name}?ws={wrong_types}")
            assert f"ws={wrong_types}" not in page.url, page.url
