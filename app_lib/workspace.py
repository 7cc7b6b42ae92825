"""Workspaces: the setup being assembled (ingredients, datasets, partition, run settings) kept on disk under an id the
URL carries (?ws=...), so a reload, a second tab or a link sent to a student opens the same setup.

A workspace is one JSON file, the draft run config; runs keep their own ids and directories. Nothing is
deleted here: "reset" starts a new workspace and leaves the old file (and every link to it) alone.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

from manifoldmix_core import runs

from .paths import workspaces_root

_ID = re.compile(r"ws-[a-z0-9]{8}")


def new_id() -> str:
    """A fresh, URL-safe, unguessable-enough id: 'ws-' and 8 lowercase letters or digits."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "ws-" + "".join(secrets.choice(alphabet) for _ in range(8))


def path_of(ws_id: str, root: Path | None = None) -> Path | None:
    """The workspace's file, or None for an id that is not one (ids from the URL cannot name other files)."""
    return (root or workspaces_root()) / f"{ws_id}.json" if _ID.fullmatch(ws_id or "") else None


def load(ws_id: str, root: Path | None = None) -> dict | None:
    """The draft saved under this id, or None when there is no such workspace."""
    path = path_of(ws_id, root)
    return runs.read_json(path) if path is not None and path.is_file() else None


def recent(root: Path | None = None) -> Iterator[tuple[str, dict, float]]:
    """Every workspace on disk as (id, draft, modification time), most recently saved first; each file is read only
    when the caller gets to it, so taking the first few reads only those."""
    root = root or workspaces_root()
    found = [(p.stem, p.stat().st_mtime, p) for p in root.glob("ws-*.json") if _ID.fullmatch(p.stem)] if root.is_dir() else []
    for ws_id, mtime, path in sorted(found, key=lambda f: f[1], reverse=True):
        if isinstance(draft := runs.read_json(path), dict):
            yield ws_id, draft, mtime


def save(ws_id: str, draft: dict, root: Path | None = None) -> bool:
    """Write the draft under its id when it differs from what is on disk; returns whether it wrote."""
    path = path_of(ws_id, root)
    if path is None:
        raise ValueError(f"not a workspace id: {ws_id!r}")
    if load(ws_id, root) == json.loads(json.dumps(draft)):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    runs.write_json_atomic(path, draft)
    return True
