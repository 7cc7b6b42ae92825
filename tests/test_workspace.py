"""The workspace file (app_lib/workspace.py): compare-and-swap saves on its version (issue 18, item 4) and the per-browser
list Start shows (item 3)."""

from __future__ import annotations

import json

import pytest

from app_lib import workspace

DRAFT = {"name": "mine", "ingredients": [{"name": "a", "path": "/x/a.safetensors"}], "manifoldmix": {"budget_per_component": 7}}


def test_saves_are_compare_and_swap_on_the_version(tmp_path):
    assert workspace.save("ws-aaaaaaaa", DRAFT, None, tmp_path) == 1
    tab_a, tab_b = workspace.load_versioned("ws-aaaaaaaa", tmp_path), workspace.load_versioned("ws-aaaaaaaa", tmp_path)
    assert tab_a == (DRAFT, 1) and "version" not in tab_a[0]  # the draft pages hold (a run config) has no version
    assert workspace.save("ws-aaaaaaaa", {**DRAFT, "name": "tab a"}, tab_a[1], tmp_path) == 2
    with pytest.raises(workspace.Stale) as refused:  # tab B's copy is based on version 1: refused, told what is there
        workspace.save("ws-aaaaaaaa", {**DRAFT, "name": "tab b"}, tab_b[1], tmp_path)
    assert refused.value.version == 2 and refused.value.draft["name"] == "tab a"
    assert workspace.load("ws-aaaaaaaa", tmp_path)["name"] == "tab a"
    with pytest.raises(workspace.Stale):  # a new workspace never replaces a file that is there
        workspace.save("ws-aaaaaaaa", DRAFT, None, tmp_path)
    assert workspace.save("ws-aaaaaaaa", {**DRAFT, "name": "tab a"}, 2, tmp_path) == 2  # unchanged: nothing written


def test_a_workspace_file_without_a_version_reads_as_version_0(tmp_path):
    (tmp_path / "ws-bbbbbbbb.json").write_text(json.dumps(DRAFT))  # written before issue 18
    assert workspace.load_versioned("ws-bbbbbbbb", tmp_path) == (DRAFT, 0)
    assert workspace.save("ws-bbbbbbbb", {**DRAFT, "name": "edited"}, 0, tmp_path) == 1
    assert json.loads((tmp_path / "ws-bbbbbbbb.json").read_text())["version"] == 1


def test_a_browser_knows_the_workspaces_it_created_or_opened(tmp_path):
    me, other = workspace.new_browser(), workspace.new_browser()
    for ws in ("ws-aaaaaaaa", "ws-bbbbbbbb", "ws-aaaaaaaa"):
        workspace.remember(me, ws, tmp_path)
    assert workspace.known(me, tmp_path) == ["ws-aaaaaaaa", "ws-bbbbbbbb"] and workspace.known(other, tmp_path) == []
    for ws in ("ws-aaaaaaaa", "ws-cccccccc"):
        workspace.save(ws, DRAFT, None, tmp_path)
    assert [s.ws_id for s in workspace.recent(tmp_path, only=workspace.known(me, tmp_path))] == ["ws-aaaaaaaa"]


@pytest.mark.parametrize("token", ["../../etc/passwd", "br-", "br-" + "A" * 16, "br-" + "a" * 17, None, 7])
def test_a_hostile_browser_token_names_no_file(tmp_path, token):
    assert not workspace.is_browser(token)
    with pytest.raises(ValueError, match="not a browser token"):
        workspace.remember(token, "ws-aaaaaaaa", tmp_path)
    assert not list(tmp_path.rglob("*.json"))
