"""Where the shipped demo zoo lives; importable without torch, so the app's start page stays instant."""

from __future__ import annotations

from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parents[2] / "data" / "demo"
MANIFEST, PRETRAINED, PROBE, ZOO = "manifest.json", "pretrained.safetensors", "linear_probe.safetensors", "zoo"


def demo_ready(root: Path = DEMO_DIR) -> bool:
    """Whether the prebuilt zoo is present (the app can then start a demo run at once)."""
    return (root / MANIFEST).is_file() and any((root / ZOO).glob("*.safetensors"))
