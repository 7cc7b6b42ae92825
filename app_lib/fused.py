"""The fused model file of a run and the recipe stored in its safetensors metadata (read without torch)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

RECIPE_KEY = "manifoldmix_recipe"


def read_recipe(path: Path) -> dict | None:
    """The recipe (method, ingredients, λ, β, partition, config) from a fused.safetensors header, or None."""
    try:
        with Path(path).open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > 100_000_000:
                return None
            header = json.loads(f.read(size))
        return json.loads(header.get("__metadata__", {}).get(RECIPE_KEY, "null"))
    except (OSError, struct.error, json.JSONDecodeError, UnicodeDecodeError):
        return None
