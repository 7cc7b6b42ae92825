"""Run configuration: typed dataclasses read from JSON, with errors that name the offending key."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import jsonfile, methods, sources
from .anatomy import OPENAI_MEAN, OPENAI_STD
from .errors import ConfigError, DamagedFile
from .families import registry as families
from .jsontypes import fits, type_name
from .partition import check_spec

SEMANTICS = ("paper", "code-release")
NAME_MAX = 128
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
FILE = {"file": True}  # a field naming a file: resolved against the config's folder; only its content counts for resume
ALL_TESTED_UP_TO = 16  # default `ingredient_tests`: every ingredient up to this many, else the top DEFAULT_TOP by ValAcc
DEFAULT_TOP = 5
HOST_MEMORY_MB = 1024  # default `host_memory_mb`: two CUDA batches of 224 px images (616 MB) fit, with room to spare


@dataclass(frozen=True)
class ModelConfig:
    """The model family (detected from the checkpoints when omitted), its own architecture (an open_clip config name or
    vision-config dict, default ViT-B-32; a timm model name; a Hugging Face vision config, read from a model folder's
    config.json when omitted), the family builder's options, and how features meet the head."""

    architecture: Any = None
    normalize_features: bool = False
    quick_gelu: bool | None = None
    image_mean: tuple = OPENAI_MEAN
    image_std: tuple = OPENAI_STD
    family: str | None = None
    options: dict = field(default_factory=dict)
    head: str | None = field(default=None, metadata=FILE)  # one head file shared by headless finetunes


UNSET_MODEL = {"architecture": None, "family": None, "options": {}, "head": None}  # detected / the family's default when unset


@dataclass(frozen=True)
class IngredientConfig:
    name: str
    path: str
    hparams: dict | None = None


@dataclass(frozen=True)
class DatasetConfig:
    """One evaluation set: where it comes from and how model classes map onto its classes."""

    name: str
    source: str
    path: str
    class_subset: list | None = None
    class_map: dict | None = None


@dataclass(frozen=True)
class ManifoldMixConfig:
    """Algorithm 1's settings; `semantics` picks the paper's text or the author's code release."""

    optimizer: str = "Cobyla"
    budget_per_component: int = 30
    budget: int | None = None
    tau: float = 0.998
    semantics: str = "paper"
    second_pass: bool = False
    seed: int = 0
    optimize_inert: bool = False


@dataclass(frozen=True)
class WiseFTConfig:
    """WiSE-FT's zero-shot (pretrained) checkpoint, interpolated with the best ingredient, and the α grid searched on ValAcc."""

    zero_shot: str = field(metadata=FILE)
    alphas: list = field(default_factory=lambda: [round(0.1 * i, 1) for i in range(11)])


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to rerun: ingredients, datasets, partition, methods and their settings."""

    model: ModelConfig
    ingredients: list
    val: DatasetConfig
    test: list = field(default_factory=list)
    ood: list[str] = field(default_factory=list)
    partition: dict = field(default_factory=lambda: {"preset": "structural"})
    methods: list[str] = field(default_factory=methods.defaults)
    manifoldmix: ManifoldMixConfig = field(default_factory=ManifoldMixConfig)
    wise_ft: WiseFTConfig | None = None
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
        data = dataclasses.asdict(self)
        data["model"] = {key: value for key, value in data["model"].items() if key not in UNSET_MODEL or value != UNSET_MODEL[key]}
        return {key: value for key, value in data.items() if value is not None or key not in _sections(optional=True)}

    def settings_digest(self) -> str:
        """A hash of everything that decides the results except where files live (their content is hashed on its own)."""
        data = self.to_dict()
        for item in (*data["ingredients"], data["val"], *data["test"]):
            item.pop("path")
        data.pop("host_memory_mb")  # where sets are staged changes no result, so a run may resume with another budget
        for name, cls in _sections().items():
            for f in dataclasses.fields(cls):
                if f.metadata.get("file") and data.get(name):
                    data[name].pop(f.name, None)
        return hashlib.blake2b(json.dumps(data, sort_keys=True).encode(), digest_size=16).hexdigest()

    @property
    def datasets(self) -> list[DatasetConfig]:
        return [self.val, *self.test]


def _sections(optional: bool = False) -> dict[str, type]:
    """RunConfig's fields that hold a settings dataclass (model, manifoldmix, wise_ft), by name; `optional`: those that may be unset."""
    found = {}
    for name, hint in typing.get_type_hints(RunConfig).items():
        args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        cls = next((a for a in args if dataclasses.is_dataclass(a)), None)
        if cls is not None and (type(None) in args or not optional):
            found[name] = cls
    return found


def _build(cls, data: Any, where: str):
    """Instantiate a config dataclass from JSON data, rejecting unknown keys and wrong types."""
    if dataclasses.is_dataclass(data):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a JSON object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where}; valid keys: {sorted(names)}")
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in data]
    if missing:
        raise ConfigError(f"{where} is missing required key(s) {missing}")
    kwargs = {}
    sections = _sections() if cls is RunConfig else {}
    for key, value in data.items():
        hint = hints[key]
        if key in sections and value is not None:
            value = _build(sections[key], value, f"{where}.{key}")
        elif not fits(value, hint):
            raise ConfigError(f"{where}.{key} must be {type_name(hint)}, got {value!r}")
        kwargs[key] = value
    return cls(**kwargs)


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
    data["model"] = _build(ModelConfig, data["model"], "model")
    data["val"] = _dataset(data["val"], "val", base)
    if not isinstance(data.get("test", []), list):
        raise ConfigError(f"'test' must be a list of datasets, got {json.dumps(data['test'])[:120]}")
    data["test"] = [_dataset(d, f"test[{n}]", base) for n, d in enumerate(data.get("test", []))]
    data["manifoldmix"] = _build(ManifoldMixConfig, data.get("manifoldmix", {}), "manifoldmix")
    data.setdefault("ingredient_tests", default_ingredient_tests(len(data["ingredients"])))
    config = _build(RunConfig, data, "config")
    config = dataclasses.replace(config, **{name: _files_resolved(getattr(config, name), base) for name in _sections()})
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


def _files_resolved(section, base: Path):
    """A settings section with its file fields resolved against the config's folder."""
    if section is None:
        return None
    files = {f.name: _resolve(base, getattr(section, f.name)) for f in dataclasses.fields(section)
             if f.metadata.get("file") and getattr(section, f.name) is not None}
    return dataclasses.replace(section, **files)


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
    cfg = _build(IngredientConfig, data, where)
    _check_name(cfg.name, f"{where}.name")
    return dataclasses.replace(cfg, path=_resolve(base, cfg.path))


def _dataset(data, where: str, base: Path) -> DatasetConfig:
    cfg = _build(DatasetConfig, data, where)
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
        cfg = dataclasses.replace(cfg, path=_resolve(base, cfg.path))
    return cfg


def _index(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_values(config: RunConfig) -> None:
    """Reject absurd or malformed settings before any work starts."""
    mm, model = config.manifoldmix, config.model
    _check_ingredient_tests(config.ingredient_tests)
    unknown = [m for m in config.methods if m not in methods.METHODS]
    if unknown or not config.methods:
        raise ConfigError(f"methods must be a non-empty subset of {tuple(methods.METHODS)}; unknown: {unknown}")
    if len(set(config.methods)) != len(config.methods):
        raise ConfigError(f"methods lists a method twice: {config.methods}")
    sections = {methods.METHODS[m].settings for m in config.methods}
    for name in config.methods:
        section = methods.METHODS[name].settings
        if section and getattr(config, section) is None:
            raise ConfigError(f"method {name} reads the '{section}' settings, which the config lacks; add \"{section}\": {{...}} "
                              "(the README's run config lists its keys)")
    if model.architecture is not None and (not isinstance(model.architecture, (str, Mapping)) or not model.architecture):
        raise ConfigError("model.architecture must be the family's architecture: an open_clip config name or vision-config object, "
                          f"a timm model name, or a Hugging Face vision-config object; got {model.architecture!r}")
    if model.family is not None:
        families.get(model.family)
    for key in ("image_mean", "image_std"):
        value = getattr(model, key)
        if len(value) != 3 or not all(_number(v) for v in value) or (key == "image_std" and not all(v > 0 for v in value)):
            raise ConfigError(f"model.{key} must be three numbers (R, G, B){', all positive' if key == 'image_std' else ''}, got {list(value)!r}")
    if not DEVICE.fullmatch(config.device):
        raise ConfigError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {config.device!r}")
    if not 0 <= mm.seed < 2**32:
        raise ConfigError(f"manifoldmix.seed must be between 0 and 2**32 - 1, got {mm.seed}")
    check_spec(config.partition)
    if "manifoldmix" in sections:
        from .optim import check_optimizer
        check_optimizer(mm.optimizer)
    if mm.semantics not in SEMANTICS:
        raise ConfigError(f"manifoldmix.semantics must be one of {SEMANTICS}, got {mm.semantics!r}")
    if not 0.0 < mm.tau <= 1.0:
        raise ConfigError(f"manifoldmix.tau must be in (0, 1], got {mm.tau}")
    if mm.budget_per_component < 1 or (mm.budget is not None and mm.budget < 1):
        raise ConfigError("manifoldmix budget must be at least 1 evaluation")
    if (mm.budget or 0) > 100_000 or mm.budget_per_component > 10_000:
        raise ConfigError("manifoldmix budget is absurdly large (over 100,000 evaluations per candidate)")
    if config.wise_ft is not None:
        alphas = config.wise_ft.alphas
        if not alphas or len(alphas) > 1000 or not all(_number(a) and 0.0 <= a <= 1.0 for a in alphas):
            raise ConfigError(f"wise_ft.alphas must be a non-empty list of at most 1,000 numbers in [0, 1], got {alphas!r}")
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
