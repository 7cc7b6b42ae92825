"""Reading back a JSON file as hostile input: bounded size, strict UTF-8, bounded nesting and, given one, the file kind's
schema; anything else is DamagedFile naming the file, so a damaged file is reported instead of crashing its reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from .errors import DamagedFile

MAX_BYTES = 64 << 20  # far above any file the project writes (a workspace or sweep.json is a few kB)
MAX_DEPTH = 64  # our files nest a handful of levels; json and pydantic recurse, so deeper is refused before them

Model = TypeVar("Model", bound=BaseModel)


def parse(data: bytes | str, name: str):
    """JSON text (bytes must be UTF-8) as Python data, or DamagedFile naming `name`."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text)
    except UnicodeDecodeError as exc:
        raise DamagedFile(f"{name} is damaged: not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise DamagedFile(f"{name} is damaged: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from exc
    except RecursionError as exc:
        raise DamagedFile(f"{name} is damaged: nested more than {MAX_DEPTH} levels deep") from exc
    _check_depth(value, name)
    return value


def _check_depth(value, name: str) -> None:
    """Walk the parsed data without recursion: DamagedFile past MAX_DEPTH levels of lists and objects."""
    level = [value]
    for _ in range(MAX_DEPTH + 1):
        level = [v for item in level for v in (item.values() if isinstance(item, dict) else item if isinstance(item, list) else ())]
        if not level:
            return
    raise DamagedFile(f"{name} is damaged: nested more than {MAX_DEPTH} levels deep")


def validated(value, schema: type[Model], name: str) -> Model:
    """Parsed data checked against its file kind's schema, or DamagedFile naming the file and the first problems."""
    try:
        return schema.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'the top level'}: {e['msg']}" for e in exc.errors()[:3])
        raise DamagedFile(f"{name} is damaged: {problems}") from exc


def load(path: str | Path, schema: type[Model] | None = None):
    """A JSON file's data (validated against `schema` when given); FileNotFoundError when it is missing, DamagedFile when
    it is there but unreadable, too large, not UTF-8 JSON, too deep or not of the schema."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DamagedFile(f"{path} cannot be read: {exc.strerror or exc}") from exc
    if len(data) > MAX_BYTES:
        raise DamagedFile(f"{path} is damaged: larger than {MAX_BYTES >> 20} MiB")
    value = parse(data, str(path))
    return value if schema is None else validated(value, schema, str(path))
