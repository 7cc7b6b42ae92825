"""Code named by import path ("package.module:name") and imported when first used, so registries need no torch."""

from __future__ import annotations

import importlib


def load_ref(ref: str):
    """The object an import path names."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)
