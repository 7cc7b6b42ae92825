"""Where things live: the runs root, the server folders users may pick files from, and the check that a path stays in them."""

from __future__ import annotations

import os
from pathlib import Path

from manifoldmix_core.errors import PathError
from manifoldmix_core.safepaths import check_text, resolved, shown

REPO = Path(__file__).resolve().parents[1]
RUNS_ENV, ROOTS_ENV, WORKSPACES_ENV = "MANIFOLDMIX_RUNS", "MANIFOLDMIX_ROOTS", "MANIFOLDMIX_WORKSPACES"


def runs_root() -> Path:
    """Folder holding one sub-folder per run: $MANIFOLDMIX_RUNS, else runs/ in the repository."""
    return Path(os.environ.get(RUNS_ENV) or REPO / "runs").resolve()


def workspaces_root() -> Path:
    """Folder holding one JSON file per workspace: $MANIFOLDMIX_WORKSPACES, else workspaces/ beside the runs root."""
    return Path(os.environ.get(WORKSPACES_ENV) or runs_root().parent / "workspaces").resolve()


def data_roots() -> list[Path]:
    """Server folders users may pick files from: $MANIFOLDMIX_ROOTS (os.pathsep-separated), else data/."""
    raw = os.environ.get(ROOTS_ENV)
    entries = [e for e in raw.split(os.pathsep) if e.strip()] if raw else [str(REPO / "data")]
    return [Path(e).expanduser().resolve() for e in entries]


def inside_roots(path: str | Path, roots: list[Path] | None = None) -> Path:
    """The resolved path if it lies within one of the roots, else PathError (no traversal, no symlink escapes, and text
    that is no path, such as a NUL byte or an over-long name, is refused the same way)."""
    roots = _resolved(roots)
    candidate = Path(check_text(path, "path")).expanduser()
    options = [candidate] if candidate.is_absolute() else [root / candidate for root in roots]
    for option in options:
        real = resolved(option, "path")
        if any(real.is_relative_to(root) for root in roots):
            return real
    raise PathError(f"{shown(str(path))}: outside the allowed folders ({', '.join(map(str, roots))})")


def _resolved(roots: list[Path] | None) -> list[Path]:
    return data_roots() if roots is None else [Path(r).resolve() for r in roots]


def list_files(folder: str | Path, suffixes: tuple[str, ...], roots: list[Path] | None = None,
               limit: int = 2000) -> list[Path]:
    """Files with the given suffixes below a folder inside the roots, sorted; symlinks leaving the roots are dropped."""
    folder = inside_roots(folder, roots)
    if not folder.is_dir():
        return []
    roots = _resolved(roots)
    found = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in suffixes and path.is_file():
            real = path.resolve()
            if any(real.is_relative_to(root) for root in roots):
                found.append(path)
                if len(found) >= limit:
                    break
    return found


def list_dirs(folder: str | Path, roots: list[Path] | None = None) -> list[Path]:
    """Immediate sub-folders of a folder inside the roots (for browsing), sorted by name."""
    folder = inside_roots(folder, roots)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
