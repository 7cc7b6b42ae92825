"""Workspaces: the setup being assembled (ingredients, datasets, partition, run settings) kept on disk under an id the
URL carries (?ws=...), so a reload, a second tab or a link sent to a student opens the same setup.

A workspace is one JSON file, the draft run config; runs keep their own ids and directories. Nothing is
deleted here: "reset" starts a new workspace and leaves the old file (and every link to it) alone. The file is
written and read through one schema (`Workspace`), so a damaged or forged file is reported, never handed to a page.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from manifoldmix_core import jsonfile, runs, safepaths
from manifoldmix_core.errors import ManifoldMixError

from .paths import workspaces_root

_ID = re.compile(r"ws-[a-z0-9]{8}")


class Named(BaseModel):
    """An ingredient or a dataset of the draft: pages rely on its name and path; its other keys are the engine's to check."""

    model_config = ConfigDict(extra="allow")
    name: StrictStr
    path: StrictStr


class Workspace(BaseModel):
    """A workspace file: the draft run config in the shape every page relies on (the engine validates the values when
    a run starts); keys the pages do not read, such as a method's settings, are kept as they are."""

    model_config = ConfigDict(extra="allow")
    name: StrictStr | None = None
    model: dict[str, Any] = Field(default_factory=dict)
    ingredients: list[Named] = Field(default_factory=list)
    val: Named | None = None
    test: list[Named] = Field(default_factory=list)
    ood: list[StrictStr] = Field(default_factory=list)
    partition: dict[str, Any] = Field(default_factory=dict)
    methods: list[StrictStr] = Field(default_factory=list)
    manifoldmix: dict[str, Any] = Field(default_factory=dict)
    device: StrictStr = "auto"

    def draft(self) -> dict:
        """The draft as pages hold it: exactly the keys the file has."""
        return self.model_dump(mode="json", exclude_unset=True)


@dataclass(frozen=True)
class Saved:
    """A workspace file as Start lists it: its id, when it was saved, and its draft or why it cannot be opened."""

    ws_id: str
    mtime: float
    draft: dict | None
    damage: str | None = None


def new_id() -> str:
    """A fresh, URL-safe, unguessable-enough id: 'ws-' and 8 lowercase letters or digits."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "ws-" + "".join(secrets.choice(alphabet) for _ in range(8))


def path_of(ws_id: str, root: Path | None = None) -> Path | None:
    """The workspace's file, or None for an id that is not one (ids from the URL cannot name other files)."""
    return (root or workspaces_root()) / f"{ws_id}.json" if isinstance(ws_id, str) and _ID.fullmatch(ws_id) else None


def load(ws_id: str, root: Path | None = None) -> dict | None:
    """The draft saved under this id, or None when there is no such workspace; DamagedFile (or PathError for a symlink
    leading out of the workspaces folder) when its file cannot be a workspace."""
    path = path_of(ws_id, root)
    if path is None:
        return None
    safepaths.entry(path.parent, path.name, "workspace file")
    try:
        return jsonfile.load(path, Workspace).draft()
    except FileNotFoundError:
        return None


def recent(root: Path | None = None) -> Iterator[Saved]:
    """Every workspace on disk, most recently saved first, a damaged one with the reason instead of its draft; each file
    is read only when the caller gets to it, so taking the first few reads only those."""
    root = root or workspaces_root()
    found = [(p.stem, p.lstat().st_mtime) for p in root.glob("ws-*.json") if _ID.fullmatch(p.stem)] if root.is_dir() else []
    for ws_id, mtime in sorted(found, key=lambda f: f[1], reverse=True):
        try:
            draft = load(ws_id, root)
        except ManifoldMixError as exc:
            yield Saved(ws_id, mtime, None, str(exc))
        else:
            if draft is not None:
                yield Saved(ws_id, mtime, draft)


def save(ws_id: str, draft: dict, root: Path | None = None) -> bool:
    """Write the draft under its id, in the workspace schema, when it differs from what is on disk (a damaged file
    differs); returns whether it wrote. The write replaces the file, so a symlink there is replaced, never followed."""
    path = path_of(ws_id, root)
    if path is None:
        raise ValueError(f"not a workspace id: {safepaths.shown(ws_id)}")
    data = Workspace.model_validate(draft).draft()
    try:
        if load(ws_id, root) == json.loads(json.dumps(data)):
            return False
    except ManifoldMixError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    runs.write_json_atomic(path, data)
    return True
