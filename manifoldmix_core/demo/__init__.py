"""Embedded demo world: a procedurally generated stand-in for ImageNet and its five OOD shifts.

Importing it registers the dataset source "demo" (its splits by name, generated at first use).
"""

from ..sources import Source, register

register(Source("demo", "manifoldmix_core.demo.source:read_split", path_is_file=False, offered=False,
                previewer="manifoldmix_core.demo.splits:preview_split", help="a split of the demo world by name"))
