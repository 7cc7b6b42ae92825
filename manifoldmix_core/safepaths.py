"""The one checker for paths derived from data (run ids, sweep members, workspace ids, upload names, server folders):
a label is a plain name, and a path stays inside its root once '..' and symlinks are resolved, so no file is read or
written outside the folders the project owns."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import PathError

LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # starts with a letter or digit: never '.', '..', hidden or '-opt'
NAME_MAX, PATH_MAX = 255, 4096  # bytes of one path component and of a whole path (Linux's limits)
SHOWN = 60  # characters of an offending value a message repeats


def shown(value) -> str:
    """The value as a message names it: its repr, cut to a readable length (a 100 kB id is not echoed whole)."""
    text = repr(value)
    return text if len(text) <= SHOWN else f"{text[:SHOWN]}... ({len(str(value))} characters)"


def check_label(value, what: str) -> str:
    """The value itself when it is a plain name usable as one path component, else PathError naming `what`."""
    if not isinstance(value, str) or not LABEL.fullmatch(value):
        raise PathError(f"{what} {shown(value)} is not a plain name: letters, digits, '.', '_' and '-', starting with "
                        "a letter or digit, at most 128 characters")
    return value


def check_text(path: str | Path, what: str) -> str:
    """A path typed or read as text, refused (PathError) when the operating system could not take it: a NUL byte,
    a component over 255 bytes or a path over 4096 bytes."""
    text = str(path)
    if "\x00" in text:
        raise PathError(f"{what} {shown(text)} contains a NUL byte")
    if len(os.fsencode(text)) > PATH_MAX or any(len(os.fsencode(part)) > NAME_MAX for part in Path(text).parts):
        raise PathError(f"{what} {shown(text)} is too long for a path (a name of at most {NAME_MAX} bytes, "
                        f"a path of at most {PATH_MAX})")
    return text


def resolved(path: str | Path, what: str) -> Path:
    """The absolute path with '..' and symlinks resolved; PathError for text no path can be (check_text) or a symlink loop."""
    try:
        return Path(check_text(path, what)).resolve()
    except (OSError, RuntimeError) as exc:
        raise PathError(f"{what} {shown(str(path))} cannot be resolved: {getattr(exc, 'strerror', None) or exc}") from exc


def inside(root: str | Path, path: str | Path, what: str) -> Path:
    """root / path (an absolute path stands alone), resolved; PathError when it leaves root through '..' or a symlink."""
    root = Path(root).resolve()
    result = resolved(root / check_text(path, what), what)
    if not result.is_relative_to(root):
        raise PathError(f"{what} {shown(str(path))} leads outside {root}")
    return result


def entry(root: str | Path, label, what: str) -> Path:
    """root / label for a plain-name label whose folder or file, if it is a symlink, stays inside root."""
    inside(root, check_label(label, what), what)
    return Path(root) / label
