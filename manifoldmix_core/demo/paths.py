"""Where the shipped demo zoo's files live; importable without torch, so the app's start page stays instant.

They are package data (demo/data, installed with the library, found with importlib.resources); in a
checkout, demo/data is a link to the repository's data/demo, where `demo build` writes.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEMO_DIR = Path(resources.files(__package__) / "data").resolve()
MANIFEST, PRETRAINED, PROBE, ZOO = "manifest.json", "pretrained.safetensors", "linear_probe.safetensors", "zoo"


def demo_ready(root: Path = DEMO_DIR) -> bool:
    """Whether the prebuilt zoo is present (the app can then start a demo run at once)."""
    return (root / MANIFEST).is_file() and any((root / ZOO).glob("*.safetensors"))
