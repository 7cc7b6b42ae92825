"""Workspaces: the setup being assembled (ingredients, datasets, partition, run settings) kept on disk under an id the
URL carries (?ws=...), so a reload, a second tab or a link sent to a student opens the same setup.

A workspace is one JSON file, the draft run config; runs keep their own ids and directories. Nothing is
deleted here: "reset" starts a new workspace and leaves the old file (and every link to it) alone. The file is
written and read through one schema (`Workspace`), so a damaged or forged file is reported, never handed to a page.

Saves are compare-and-swap on the file's `version` (a file without one is version 0): a save based on a version that is
no longer on disk is refused (`Stale`), so a second tab or browser on the same link never silently overwrites a change.
Which workspaces a browser created or opened is kept per browser token (`Known`), so Start lists only those.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from manifoldmix_core import jsonfile, runs, safepaths
from manifoldmix_core.errors import ManifoldMixError

from .paths import workspaces_root

_ID = re.compile(r"ws-[a-z0-9]{8}")
_BROWSER = re.compile(r"br-[a-z0-9]{16}")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
LOCK = ".lock"  # held (flock) around every compare-and-swap, so two savers cannot both pass the version check
BROWSERS = "browsers"  # sub-folder: one Known file per browser token
KNOWN_KEPT = 50  # a browser's list keeps its most recent workspaces


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
    version: StrictInt = Field(default=0, ge=0)  # bumped by every save; files written before issue 18 have none: 0

    def draft(self) -> dict:
        """The draft as pages hold it: exactly the keys the file has, without the version (not part of a run config)."""
        return self.model_dump(mode="json", exclude_unset=True, exclude={"version"})


class Known(BaseModel):
    """A browser's file: the workspaces it created or opened, most recent first (what Start lists for it)."""

    model_config = ConfigDict(extra="forbid")
    workspaces: list[StrictStr] = Field(default_factory=list)


class Stale(ManifoldMixError):
    """A save based on a version that is no longer the one on disk: the workspace changed elsewhere (another tab or
    browser). Carries what is on disk now, so the page can show it."""

    def __init__(self, ws_id: str, draft: dict, version: int):
        super().__init__(f"workspace {ws_id} was changed elsewhere (now version {version}); this change was not saved")
        self.draft, self.version = draft, version


@dataclass(frozen=True)
class Saved:
    """A workspace file as Start lists it: its id, when it was saved, and its draft or why it cannot be opened."""

    ws_id: str
    mtime: float
    draft: dict | None
    damage: str | None = None


def new_id() -> str:
    """A fresh, URL-safe, unguessable-enough id: 'ws-' and 8 lowercase letters or digits."""
    return "ws-" + "".join(secrets.choice(_ALPHABET) for _ in range(8))


def new_browser() -> str:
    """A fresh browser token: 'br-' and 16 lowercase letters or digits (the cookie the app sets, see ui.browser)."""
    return "br-" + "".join(secrets.choice(_ALPHABET) for _ in range(16))


def is_browser(token) -> bool:
    """Whether a value (a cookie: hostile) is a browser token, so it may name a file."""
    return isinstance(token, str) and _BROWSER.fullmatch(token) is not None


def path_of(ws_id: str, root: Path | None = None) -> Path | None:
    """The workspace's file, or None for an id that is not one (ids from the URL cannot name other files)."""
    return (root or workspaces_root()) / f"{ws_id}.json" if isinstance(ws_id, str) and _ID.fullmatch(ws_id) else None


def load(ws_id: str, root: Path | None = None) -> dict | None:
    """The draft saved under this id, or None when there is no such workspace; DamagedFile (or PathError for a symlink
    leading out of the workspaces folder) when its file cannot be a workspace."""
    found = load_versioned(ws_id, root)
    return None if found is None else found[0]


def load_versioned(ws_id: str, root: Path | None = None) -> tuple[dict, int] | None:
    """(draft, version) saved under this id, or None when there is no such workspace; errors as load()."""
    path = path_of(ws_id, root)
    if path is None:
        return None
    safepaths.entry(path.parent, path.name, "workspace file")
    try:
        saved = jsonfile.load(path, Workspace)
    except FileNotFoundError:
        return None
    return saved.draft(), saved.version


def recent(root: Path | None = None, only: Iterable[str] | None = None) -> Iterator[Saved]:
    """Every workspace on disk (or those of `only`, e.g. a browser's), most recently saved first, a damaged one with the
    reason instead of its draft; each file is read only when the caller gets to it, so taking the first few reads only those."""
    root = root or workspaces_root()
    wanted = None if only is None else set(only)
    found = [(p.stem, p.lstat().st_mtime) for p in root.glob("ws-*.json")
             if _ID.fullmatch(p.stem) and (wanted is None or p.stem in wanted)] if root.is_dir() else []
    for ws_id, mtime in sorted(found, key=lambda f: f[1], reverse=True):
        try:
            draft = load(ws_id, root)
        except ManifoldMixError as exc:
            yield Saved(ws_id, mtime, None, str(exc))
        else:
            if draft is not None:
                yield Saved(ws_id, mtime, draft)


@contextlib.contextmanager
def _locked(root: Path):
    """The workspaces folder's lock, held while a save compares and swaps."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def save(ws_id: str, draft: dict, base: int | None, root: Path | None = None) -> int:
    """Write the draft under its id as the next version if the file is still at version `base` (None: the workspace is
    new, no file yet); returns the version now on disk. Stale when it is not (changed elsewhere), with what is there;
    nothing is written when the draft equals the file's. The write replaces the file, so a symlink there is replaced,
    never followed, and so is a damaged file."""
    root = root or workspaces_root()
    path = path_of(ws_id, root)
    if path is None:
        raise ValueError(f"not a workspace id: {safepaths.shown(ws_id)}")
    data = Workspace.model_validate(draft).draft()
    with _locked(root):
        try:
            found = load_versioned(ws_id, root)
        except ManifoldMixError:
            found = None  # damaged (or a symlink): nobody can have opened it, so any save replaces it
        if found is not None and found[1] != base:
            raise Stale(ws_id, *found)
        if found is not None and found[0] == json.loads(json.dumps(data)):
            return found[1]
        version = (base or 0) + 1
        runs.write_json_atomic(path, {**data, "version": version})
        return version


def _known_path(token: str, root: Path) -> Path:
    if not is_browser(token):
        raise ValueError(f"not a browser token: {safepaths.shown(token)}")
    return root / BROWSERS / f"{token}.json"


def known(token: str, root: Path | None = None) -> list[str]:
    """The workspaces this browser created or opened, most recent first ([] for a new browser or a damaged file)."""
    path = _known_path(token, root or workspaces_root())
    try:
        return [ws for ws in jsonfile.load(path, Known).workspaces if _ID.fullmatch(ws)]
    except (FileNotFoundError, ManifoldMixError):
        return []


def remember(token: str, ws_id: str, root: Path | None = None) -> None:
    """Put a workspace first in this browser's list (it created or opened it); written only when that changes it."""
    root = root or workspaces_root()
    if path_of(ws_id, root) is None:
        raise ValueError(f"not a workspace id: {safepaths.shown(ws_id)}")
    path = _known_path(token, root)
    with _locked(root):
        before = known(token, root)
        after = [ws_id, *(ws for ws in before if ws != ws_id)][:KNOWN_KEPT]
        if after != before:
            path.parent.mkdir(parents=True, exist_ok=True)
            runs.write_json_atomic(path, Known(workspaces=after).model_dump())
