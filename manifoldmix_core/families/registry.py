"""The model families a checkpoint may come from, one record each; detection, the runner, the saver and the app read it.

A family says how to recognise its checkpoints from parameter names alone (and a model folder's config.json),
where its image tower and head sit (anatomy.KeyLayout, whose Anatomy drives every partition preset), and,
by import path so that this registry stays free of torch, how its own library builds the tower, what the tower
hands the head, and how a fused model is written in the family's own format. Adding a family is one module
under families/ and one `register(Family(...))` record (timm's `_registry.py`, like methods.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..anatomy import KeyLayout
from ..errors import IngredientError
from ..registry import Registry

Detect = Callable[[set[str], Mapping | None], KeyLayout | None]


@dataclass(frozen=True)
class Family:
    """One model family: its name (config `model.family`), label, detector and the code its library runs.

    `detect(names, folder_config)` returns the checkpoint's KeyLayout, None when the names are not this family's, or
    raises an IngredientError when they are but something is missing (a head). The import paths ("module:function"):
    `spec(model_config, signature, layout, folder_config) -> ModelSpec`, `build(spec) -> nn.Module` (the tower),
    `features(tower, x) -> Tensor` (what the head sees), `save(tensors, layout, spec, folder, metadata)` (optional: the
    fused model in the family's own format beside fused.safetensors), `check(model_config, folder_config)` (optional,
    torch-free: what the family can tell about the model settings without its library, raising a ConfigError; the app
    runs it before a launch, `spec` runs it too).
    """

    name: str
    label: str
    detect: Detect
    looks_for: tuple[str, ...]  # the keys detection looks for, for the error when no family recognises a checkpoint
    spec: str
    build: str
    features: str
    save: str | None = None
    check: str | None = None
    library: str = ""  # the package its builder needs (imported only when a model of this family is built)
    author_preset: bool = False  # the author's C8/C15/C26 grouping is defined on this family's (model-soups) names


FAMILIES: Registry[Family] = Registry("model.family")
register = FAMILIES.register  # make a family available to detection, run configs, the runner and the app under its name
get = FAMILIES.named  # the family of that name, or a ConfigError listing the known ones


def detect(names: Iterable[str], source: str | Path = "<checkpoint>", folder_config: Mapping | None = None,
           family: str | None = None) -> KeyLayout:
    """The key layout of a checkpoint, from the first family that recognises its names (only `family`, when given).

    Nothing recognised: an error naming the file, every family tried and the keys each looked for.
    """
    names = set(names)
    tried = [get(family)] if family else list(FAMILIES.values())
    for candidate in tried:
        try:
            layout = candidate.detect(names, folder_config)
        except IngredientError as exc:
            raise IngredientError(source, exc.detail, exc.param) from exc
        if layout is not None:
            return layout
    looked = "; ".join(f"{f.name}: {', '.join(repr(k) for k in f.looks_for)}" for f in tried)
    raise IngredientError(source, f"no ViT image tower found; tried the model families {looked}. "
                          f"Its first keys are {sorted(names)[:4]}: re-save the checkpoint in one of these layouts, "
                          "or register a family for it (manifoldmix_core/families/)")
