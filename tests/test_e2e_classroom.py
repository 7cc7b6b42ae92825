# ruff: noqa: F401, F811  (pytest-playwright's launch and context fixtures, pointed at Debian's chromium, are imported to apply here)
"""Issue 18's browser acceptance for a class on one server (items 3-5), in headless Chromium against `streamlit run`:
two browsers see only their own workspaces, viewing pages and hostile links create no file, two tabs on one link do
not overwrite each other's change, and concurrent demo launches are one run that waits in the run queue, with a
different launch queued behind it ("1 ahead of you") until a slot frees. The toy world stands in for the demo."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_e2e_browser import browser_context_args, browser_type_launch_args, no_exception, settle, streamlit_server

from app_lib import run_store
from manifoldmix_core import run_queue, runs

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def visit(page, url: str) -> str:
    page.goto(url, timeout=120_000)
    page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=60_000)
    settle(page)
    no_exception(page)
    return page.locator('[data-testid="stApp"]').inner_text()


def rename(page, name: str) -> None:
    """Type a run name on the Run page (a change to the workspace) and let the app save it."""
    box = page.get_by_label("Run name")
    box.fill(name)
    box.press("Enter")
    settle(page)
    no_exception(page)


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("ws-*.json")) if folder.is_dir() else []


def test_private_workspaces_and_no_lost_edits(tmp_path, toy_world, browser, browser_context_args):
    folder = tmp_path / "workspaces"
    with streamlit_server(tmp_path, toy_world, toy_as_demo=True) as url:
        teacher = browser.new_context(**browser_context_args)
        student = browser.new_context(**browser_context_args)
        first = teacher.new_page()
        for name in ("", "/ingredients", "/partition", "/results", "/run"):  # viewing creates nothing
            visit(first, url + name)
        assert files(folder) == []
        rename(first, "teacher-setup")
        saved = files(folder)
        assert len(saved) == 1  # the first change gives the workspace its file
        ws = saved[0].removesuffix(".json")

        other = student.new_page()
        text = visit(other, url)
        assert ws not in text  # another browser does not see the teacher's workspace on Start
        for hostile in ("ws-00000000", "../../etc/passwd", "ws-AAAAAAAA", "%2e%2e%2fx", "ws-" + "a" * 300):
            visit(other, f"{url}/?ws={hostile}")
            assert f"ws={hostile}" not in other.url
        assert files(folder) == [f"{ws}.json"]  # nor do hostile links create files

        second = teacher.new_page()  # a second tab of the teacher's browser, on the same link
        visit(second, f"{url}/run?ws={ws}")
        rename(first, "tab-one")
        rename(second, "tab-two")  # based on the copy before tab-one: refused, and the tab shows the current setup
        text = second.locator('[data-testid="stApp"]').inner_text()
        assert "changed in another tab or browser" in text, text
        assert second.get_by_label("Run name").input_value() == "tab-one"
        assert json.loads((folder / f"{ws}.json").read_text())["name"] == "tab-one"

        third = teacher.new_page()  # the teacher's browser, on the bare address: Start lists its workspace
        assert ws in visit(third, url)
        assert ws not in visit(other, url)
        teacher.close()
        student.close()


def test_concurrent_demo_launches_are_one_queued_run(tmp_path, toy_world, browser, browser_context_args, monkeypatch):
    monkeypatch.setenv(run_queue.MAX_RUNS_ENV, "1")
    root = tmp_path / "runs"
    root.mkdir()
    with streamlit_server(tmp_path, toy_world, toy_as_demo=True) as url:
        contexts = [browser.new_context(**browser_context_args) for _ in range(4)]
        pages = [context.new_page() for context in contexts]
        for page in pages:
            visit(page, url)
        with run_queue.slot(root / "held-by-the-test"):  # the one slot is taken: launches must wait in line
            for page in pages:  # four students press "Run the demo" at once
                page.get_by_role("button", name="Run the demo").click()
            for page in pages:
                page.wait_for_url(re.compile(r".*run=.*"), timeout=60_000)
                settle(page)
            ids = {re.search(r"run=([^&]+)", page.url).group(1) for page in pages}
            assert len(ids) == 1 and [p.name for p in root.iterdir() if not p.name.startswith(".")] == list(ids)
            demo = root / ids.pop()
            pages[0].get_by_text("Queued, next in line").first.wait_for(timeout=30_000)

            config = json.loads((demo / runs.CONFIG).read_text())  # another setup, launched meanwhile, waits behind the demo
            config["manifoldmix"]["seed"] += 5
            other = run_store.launch(config, name="other", root=root)
            late = pages[1]
            visit(late, f"{url}/run?run={other.name}")
            late.get_by_text("Queued, 1 ahead of you").first.wait_for(timeout=60_000)
            assert runs.read_status(demo).state == "queued"
        for page in pages[:2]:
            page.get_by_role("button", name="Open results").first.wait_for(timeout=120_000)  # finished, one after the other
        assert len([p for p in root.iterdir() if not p.name.startswith(".")]) == 2
        for context in contexts:
            context.close()
