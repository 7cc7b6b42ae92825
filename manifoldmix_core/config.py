"""Run configuration: pydantic models read from JSON, with errors that name the offending key and the allowed values.

The run config's schema is built from the method registry: each method with settings names its settings model
(declared in its own module under soups/), and that model is the config section `Method.settings.section`. A model
whose fields all have defaults is always present (so `manifoldmix` is written into every canonical config.json);
one with a required field (WiSE-FT's zero-shot checkpoint) is absent until given, and its method cannot run without it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from . import jsonfile, methods, sources
from .anatomy import OPENAI_MEAN, OPENAI_STD
from .errors import ConfigError, DamagedFile
from .families import registry as families
from .jsontypes import type_name
from .lazy import load_ref
from .partition import check_spec, default_spec
from .settings import Settings, build, extra, setting

NAME_MAX = 128
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
ALL_TESTED_UP_TO = 16  # default `ingredient_tests`: every ingredient up to this many, else the top DEFAULT_TOP by ValAcc
DEFAULT_TOP = 5
HOST_MEMORY_MB = 1024  # default `host_memory_mb`: two CUDA batches of 224 px images (616 MB) fit, with room to spare


class ModelConfig(Settings):
    """The model family (detected from the checkpoints when omitted), its own architecture (an open_clip config name or
    vision-config dict, default ViT-B-32; a timm model name; a Hugging Face vision config, read from a model folder's
    config.json when omitted), the family builder's options, and how features meet the head."""

    architecture: Any = setting(None, "Architecture", "the family's own name for the model; blank: the family's default "
                                "(open_clip: ViT-B-32; Hugging Face: the model folder's config.json; timm needs a model name "
                                "such as vit_base_patch16_224). A JSON object gives open_clip's or Hugging Face's vision config")
    normalize_features: bool = setting(False, "Normalize features", "scale the image features to unit length before the "
                                       "head, as CLIP's zero-shot heads and the model-soups checkpoints expect")
    quick_gelu: bool | None = setting(None, "Quick GELU", "open_clip towers only (OpenAI's were trained with "
                                      "QuickGELU); auto: the open_clip config's own choice")
    image_mean: tuple = setting(OPENAI_MEAN, "Image mean (R, G, B)", "the image normalisation the tower was trained with; "
                                "the default is CLIP's (timm's ViTs often use 0.5, 0.5, 0.5)")
    image_std: tuple = setting(OPENAI_STD, "Image std (R, G, B)", "the image normalisation the tower was trained with; the "
                               "default is CLIP's (timm's ViTs often use 0.5, 0.5, 0.5)")
    family: str | None = setting(None, "Model family", "auto: detected from the checkpoints' parameter names",
                                 choices="manifoldmix_core.families.registry:FAMILIES")
    options: dict = setting(label="Options (JSON object)", help="keyword arguments for the family's builder, e.g. "
                            '{"img_size": 384} for timm or {"num_attention_heads": 12} for Hugging Face; blank: none',
                            default_factory=dict)
    head: str | None = setting(None, "Shared head file", "one linear head (weight and bias) shared by headless "
                               "finetunes; leave it out for checkpoints that hold their own head", file=True)

    @field_validator("architecture")
    @classmethod
    def _architecture(cls, value):
        if value is not None and (not isinstance(value, (str, Mapping)) or not value):
            raise ValueError("must be the family's architecture: an open_clip config name or vision-config object, "
                             "a timm model name, or a Hugging Face vision-config object")
        return value

    @field_validator("family")
    @classmethod
    def _family(cls, value: str | None) -> str | None:
        if value is not None:
            families.get(value)  # its ConfigError names the key and the registered families
        return value

    @field_validator("image_mean", "image_std")
    @classmethod
    def _rgb(cls, value: tuple, info) -> tuple:
        positive = info.field_name == "image_std"
        if len(value) != 3 or not all(_number(v) for v in value) or (positive and not all(v > 0 for v in value)):
            raise ValueError(f"must be three numbers (R, G, B){', all positive' if positive else ''}")
        return tuple(value)


UNSET_MODEL = {"architecture": None, "family": None, "options": {}, "head": None}  # detected / the family's default when unset


class IngredientConfig(Settings):
    name: str
    path: str
    hparams: dict | None = None


class DatasetConfig(Settings):
    """One evaluation set: where it comes from and how model classes map onto its classes."""

    name: str
    source: str
    path: str
    class_subset: list | None = None
    class_map: dict | None = None


class RunConfig(BaseModel):
    """Everything needed to rerun: ingredients, datasets, partition, methods and their settings.

    This is the part every run has; `schema()` adds one field per method settings section of the registry."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    model: ModelConfig
    ingredients: list
    val: DatasetConfig
    test: list = Field(default_factory=list)
    ood: list[str] = Field(default_factory=list)
    partition: dict = Field(default_factory=default_spec)
    methods: list[str] = Field(default_factory=methods.defaults)
    device: str = "auto"
    batch_size: int | None = None
    host_memory_mb: int = HOST_MEMORY_MB  # bounds the staging buffers sets on disk are read through; results do not depend on it
    name: str = ""
    ingredient_tests: str | dict = "all"

    def tested_ingredients(self, order: list[str]) -> list[str]:
        """Which ingredients (`order`: best ValAcc first) are measured on the test/OOD sets: all, the top k, or none."""
        if self.ingredient_tests == "all":
            return list(order)
        if self.ingredient_tests == "none":
            return []
        return list(order[: self.ingredient_tests["top"]])

    def to_dict(self) -> dict:
        """The config as JSON data; an unset optional section or model setting is left out, so configs written before it
        existed read the same (and runs started before it resume: the settings digest is over this)."""
        data = self.model_dump(mode="json")
        data["model"] = {key: value for key, value in data["model"].items() if key not in UNSET_MODEL or value != UNSET_MODEL[key]}
        for name, model in sections().items():
            if isinstance(data.get(name), dict):
                data[name] = {key: value for key, value in data[name].items()
                              if value is not None or not extra(model, key).get("omitted")}
        return {key: value for key, value in data.items() if value is not None or key not in optional_sections()}

    def settings_digest(self) -> str:
        """A hash of everything that decides the results except where files live (their content is hashed on its own)."""
        data = self.to_dict()
        for item in (*data["ingredients"], data["val"], *data["test"]):
            item.pop("path")
        data.pop("host_memory_mb")  # where sets are staged changes no result, so a run may resume with another budget
        for name, model in {"model": ModelConfig, **sections()}.items():
            for key in model.model_fields:
                if extra(model, key).get("file") and data.get(name):
                    data[name].pop(key, None)
        return hashlib.blake2b(json.dumps(data, sort_keys=True).encode(), digest_size=16).hexdigest()

    def search_rows(self) -> tuple[int, int] | None:
        """(images, seed) of a held-out subset that a selected method's λ search evaluates on (its settings'
        `search_rows`), or None when every search evaluates on the whole held-out set."""
        for name in self.methods:
            section = methods.METHODS[name].settings
            rows = getattr(getattr(self, section.section, None), "search_rows", None) if section else None
            if rows is not None:
                return rows
        return None

    @property
    def datasets(self) -> list[DatasetConfig]:
        return [self.val, *self.test]


def sections() -> dict[str, type[BaseModel]]:
    """Each method's settings model by its config section, in registry order (imports the methods' modules, torch-free)."""
    return {m.settings.section: load_ref(m.settings.model) for m in methods.METHODS.values() if m.settings}


def optional_sections() -> set[str]:
    """The sections absent until given: their model has a required field."""
    return {name for name, model in sections().items() if not _all_default(model)}


def _all_default(model: type[BaseModel]) -> bool:
    return not any(f.is_required() for f in model.model_fields.values())


def schema() -> type[RunConfig]:
    """The run config's pydantic model for the methods registered now (built once per registry state)."""
    return _schema(tuple(sections().items()))


@functools.cache
def _schema(found: tuple[tuple[str, type[BaseModel]], ...]) -> type[RunConfig]:
    fields = {name: (model, Field(default_factory=model)) if _all_default(model) else (model | None, None) for name, model in found}
    return create_model("RunConfig", __base__=RunConfig, **fields)


def settings_table() -> str:
    """The README's table of every method's settings, written from the settings models (a test keeps the README equal)."""
    rows = ["| section | key | type | default | meaning |", "|---|---|---|---|---|"]
    for section, model in sections().items():
        for key, field in model.model_fields.items():
            default = "required" if field.is_required() else f"`{json.dumps(field.get_default(call_default_factory=True))}`"
            meaning = (field.description or field.title or "").replace("|", "\\|")
            rows.append(f"| `{section}` | `{key}` | {type_name(field.annotation)} | {default} | {meaning} |")
    return "\n".join(rows)


def parse_config(data: Mapping, base_dir: Path | None = None) -> RunConfig:
    """A validated RunConfig; relative paths are resolved against base_dir (the config file's folder)."""
    if not isinstance(data, Mapping):
        raise ConfigError("a run config must be a JSON object")
    data = dict(data)
    data.setdefault("model", {})  # every model setting has a default: the family and its architecture come from the checkpoints
    for key in ("ingredients", "val"):
        if key not in data:
            raise ConfigError(f"the run config needs '{key}'")
    base = Path(base_dir or ".")
    ingredients = data["ingredients"]
    if isinstance(ingredients, Mapping) and "folder" in ingredients:
        if set(ingredients) != {"folder"} or not isinstance(ingredients["folder"], str) or not ingredients["folder"]:
            raise ConfigError(f'ingredients as a folder is {{"folder": "path/to/checkpoints"}}, got {json.dumps(ingredients)}')
        from .ingredients import find_ingredients
        ingredients = [{"name": i.name, "path": str(i.path), "hparams": dict(i.hparams) if i.hparams else None}
                       for i in find_ingredients(_resolve(base, ingredients["folder"]))]
    if not isinstance(ingredients, list) or not ingredients:
        raise ConfigError("'ingredients' must be a non-empty list of {name, path} or {\"folder\": path}")
    data["ingredients"] = [_ingredient(i, f"ingredients[{n}]", base) for n, i in enumerate(ingredients)]
    data["model"] = _section(ModelConfig, "model", base, data["model"])
    data["val"] = _dataset(data["val"], "val", base)
    if not isinstance(data.get("test", []), list):
        raise ConfigError(f"'test' must be a list of datasets, got {json.dumps(data['test'])[:120]}")
    data["test"] = [_dataset(d, f"test[{n}]", base) for n, d in enumerate(data.get("test", []))]
    data.setdefault("ingredient_tests", default_ingredient_tests(len(data["ingredients"])))
    found = sections()
    nested = {name: functools.partial(_section, model, name, base) for name, model in found.items()}
    config = build(schema(), data, "config", nested)
    _check_values(config)
    return config


def default_ingredient_tests(n: int) -> str | dict:
    """Test/OOD accuracies of every ingredient for a small pool, of the best few by ValAcc for a large one.

    Each ingredient tested costs one evaluation per test set: for the paper's 72 finetunes and six sets that
    is 432 evaluations before the first soup step, of which only the best ones appear in Table 1; Figure 2
    then shows the top five and every soup. The choice is written into the canonical config.json.
    """
    return "all" if n <= ALL_TESTED_UP_TO else {"top": DEFAULT_TOP}


def _check_ingredient_tests(value) -> None:
    if value in ("all", "none"):
        return
    if not (isinstance(value, Mapping) and set(value) == {"top"} and _index(value["top"]) and value["top"] >= 1):
        raise ConfigError(f'ingredient_tests must be "all", "none" or {{"top": k}} with an integer k >= 1 (the k best ingredients '
                          f"by ValAcc get test/OOD accuracies), got {json.dumps(value)}")


def _section(model: type[BaseModel], name: str, base: Path, data) -> BaseModel:
    """A settings section (a method's, or `model`), its file fields resolved against the config's folder."""
    section = build(model, data, name)
    files = {key: _resolve(base, getattr(section, key)) for key in model.model_fields
             if extra(model, key).get("file") and getattr(section, key) is not None}
    return section.model_copy(update=files) if files else section


def _resolve(base: Path, path: str) -> str:
    return str(path) if Path(path).is_absolute() else str((base / path).resolve())


def _check_name(name: str, where: str) -> None:
    """Names of ingredients and datasets are data (keys, labels, never parts of a path): short, printable, no separators."""
    problem = ("is empty" if not name else f"is longer than {NAME_MAX} characters" if len(name) > NAME_MAX
               else "contains a path separator" if "/" in name or "\\" in name else "contains '..'" if ".." in name
               else "contains control characters" if any(ord(c) < 32 or ord(c) == 127 for c in name) else None)
    if problem:
        raise ConfigError(f"{where} {name!r} {problem}; names label results and may not look like paths")


def _ingredient(data, where: str, base: Path) -> IngredientConfig:
    cfg = build(IngredientConfig, data, where)
    _check_name(cfg.name, f"{where}.name")
    return cfg.model_copy(update={"path": _resolve(base, cfg.path)})


def _dataset(data, where: str, base: Path) -> DatasetConfig:
    cfg = build(DatasetConfig, data, where)
    _check_name(cfg.name, f"{where}.name")
    source = sources.get(cfg.source, f"{where}.source")
    if cfg.class_subset is not None and cfg.class_map is not None:
        raise ConfigError(f"{where}: give either class_subset or class_map, not both")
    if cfg.class_subset is not None and (not cfg.class_subset or not all(_index(c) for c in cfg.class_subset)):
        raise ConfigError(f"{where}.class_subset must be a non-empty list of model class indices (integers >= 0), got {cfg.class_subset!r}")
    if cfg.class_map is not None:
        bad = {k: v for k, v in cfg.class_map.items() if not (re.fullmatch(r"\d+", k) and _index(v))}
        if bad or not cfg.class_map:
            raise ConfigError(f'{where}.class_map maps model classes to dataset classes, {{"409": 0, ...}} (integers >= 0); '
                              f"bad entries: {json.dumps(bad) if bad else 'it is empty'}")
    if source.path_is_file:
        cfg = cfg.model_copy(update={"path": _resolve(base, cfg.path)})
    return cfg


def _index(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_values(config: RunConfig) -> None:
    """Reject absurd or malformed settings of the whole run before any work starts (a section's own checks are its model's)."""
    _check_ingredient_tests(config.ingredient_tests)
    unknown = [m for m in config.methods if m not in methods.METHODS]
    if unknown or not config.methods:
        raise ConfigError(f"methods must be a non-empty subset of {tuple(methods.METHODS)}; unknown: {unknown}")
    if len(set(config.methods)) != len(config.methods):
        raise ConfigError(f"methods lists a method twice: {config.methods}")
    for name in config.methods:
        section = methods.METHODS[name].settings
        if section and getattr(config, section.section) is None:
            raise ConfigError(f"method {name} reads the '{section.section}' settings, which the config lacks; add "
                              f"\"{section.section}\": {{...}} (the README's run config lists its keys)")
    if not DEVICE.fullmatch(config.device):
        raise ConfigError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {config.device!r}")
    check_spec(config.partition)
    if config.batch_size is not None and not 1 <= config.batch_size <= 65536:
        raise ConfigError(f"batch_size must be between 1 and 65536, got {config.batch_size}")
    if not 1 <= config.host_memory_mb <= 1 << 24:
        raise ConfigError(f"host_memory_mb (MB of host memory for staging evaluation sets read from disk) must be between 1 and "
                          f"{1 << 24}, got {config.host_memory_mb}")
    names = [d.name for d in config.datasets]
    if len(set(names)) != len(names):
        raise ConfigError(f"dataset names must be unique, got {names}")
    missing = [n for n in config.ood if n not in names]
    if missing:
        raise ConfigError(f"ood names {missing} are not among the datasets {names}")
    ingredient_names = [i.name for i in config.ingredients]
    repeated = sorted({n for n in ingredient_names if ingredient_names.count(n) > 1})
    if repeated:
        raise ConfigError(f"ingredient names must be unique; repeated: {', '.join(repeated)}")


def load_config(path: str | Path) -> RunConfig:
    path = Path(path)
    try:
        data = jsonfile.load(path)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except DamagedFile as exc:
        raise ConfigError(str(exc)) from exc
    return parse_config(data, path.parent.resolve())
