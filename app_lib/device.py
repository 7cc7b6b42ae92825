"""Cheap GPU detection for the device choice, without importing torch into the app process."""

from __future__ import annotations

import shutil
from pathlib import Path


def gpu_available() -> bool:
    """True when an NVIDIA driver is visible (the engine's 'auto' then picks CUDA)."""
    return Path("/dev/nvidia0").exists() or Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def device_options() -> list[str]:
    """'auto' first; 'cuda' only when a GPU is there."""
    return ["auto", "cuda", "cpu"] if gpu_available() else ["auto", "cpu"]
