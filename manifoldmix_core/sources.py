"""Where evaluation sets come from: dataset sources by name, a lookup the demo world registers into.

A source reads a dataset config's `path` into uint8 images [N, 3, H, W], integer labels and a content
fingerprint (what resume checks). Its loader is named by import path, so validating a config needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError
from .lazy import load_ref
from .registry import Registry


@dataclass(frozen=True)
class Source:
    """One kind of evaluation set; `loader(path, image_size, cache_dir)` returns (images, labels, fingerprint).

    The Datasets page lists the sources it may add by hand (`offered`) with their `help`, checks a set with `checker`
    and previews it with `previewer`; it never branches on a source's name."""

    name: str
    loader: str
    path_is_file: bool = True  # False: `path` is a name the source knows (a demo split), not a file beside the config
    checker: str | None = None  # "module:function"(path), torch-free: refuses a wrong set in a moment, without reading it
    previewer: str | None = None  # "module:function"(path, count) -> (HWC uint8 images, captions), torch-free, reading only those
    help: str = ""  # what `path` is, in the Datasets page's words
    offered: bool = True  # added by hand on the Datasets page (the demo's splits come with its own button)


SOURCES: Registry[Source] = Registry("source")
register = SOURCES.register  # make a source available to run configs under its name
get = SOURCES.named  # the source of that name, or a ConfigError listing the known ones


def check(name: str, path: str) -> None:
    """The source's quick check of a set on disk (its file list, its header), where it has one: a DatasetError names
    what is wrong when the set is added, not when a run reads it."""
    source = get(name)
    if source.checker:
        load_ref(source.checker)(path)


def preview(name: str, path: str, count: int) -> tuple[list, list[str]]:
    """The source's first `count` images of a set (HWC uint8) with their captions; ConfigError when it has no preview."""
    source = get(name)
    if not source.previewer:
        raise ConfigError(f"source {name!r} has no preview")
    return load_ref(source.previewer)(path, count)


register(Source("imagefolder", "manifoldmix_core.images:read_image_folder", checker="manifoldmix_core.dataset_files:check_image_folder",
                previewer="manifoldmix_core.dataset_files:preview_image_folder", help="<folder>/<class>/<images>"))
register(Source("tensors", "manifoldmix_core.images:read_tensor_file", checker="manifoldmix_core.dataset_files:check_tensor_file",
                previewer="manifoldmix_core.dataset_files:preview_tensor_file", help="a .safetensors file with images and labels"))
