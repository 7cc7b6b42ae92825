"""Partitions: the model cut into ordered components (latent space manifolds), each mixed with its own λ.

Presets: the whole model; the author's name-depth grouping (`groupStateDictKeysByLevel` semantics,
which gives C8 / C15 / C26 on CLIP ViT-B/32 in model-soups layout); structural ViT presets for any
depth; and a custom mapping from block or parameter names to components. All serialise to JSON.
Torch-free: the app's partition editor offers exactly these presets (NAMED_PRESETS).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from . import jsonfile
from .anatomy import KeyLayout, part_of, vit_depth
from .errors import DamagedFile, PartitionError

OTHER = "other (not used by the classifier)"


@dataclass(frozen=True)
class Component:
    """One latent space manifold: a name and the parameter names it owns."""

    name: str
    params: tuple[str, ...]


@dataclass(frozen=True)
class Partition:
    """Ordered components; every parameter belongs to exactly one of them."""

    components: tuple[Component, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.components]

    def __len__(self) -> int:
        return len(self.components)

    def component_of(self) -> dict[str, int]:
        """Parameter name -> component index."""
        return {p: i for i, c in enumerate(self.components) for p in c.params}

    def validate(self, param_names: Iterable[str]) -> Partition:
        """Every parameter in exactly one component, no empty or duplicate component; errors name the culprits."""
        param_names = list(param_names)
        if not self.components:
            raise PartitionError("the partition has no components")
        empty = [c.name for c in self.components if not c.params]
        if empty:
            raise PartitionError(f"empty components (assign parameters or remove them): {', '.join(empty)}")
        dup_names = [n for n, count in Counter(self.names).items() if count > 1]
        if dup_names:
            raise PartitionError(f"component names must be unique; repeated: {', '.join(dup_names)}")
        counts = Counter(p for c in self.components for p in c.params)
        twice = [p for p, count in counts.items() if count > 1]
        if twice:
            raise PartitionError(f"parameters in more than one component: {_some(twice)}")
        known = set(param_names)
        unknown = [p for p in counts if p not in known]
        if unknown:
            raise PartitionError(f"parameters not in the model: {_some(unknown)}")
        missing = [p for p in param_names if p not in counts]
        if missing:
            raise PartitionError(f"parameters in no component: {_some(missing)}")
        return self

    def to_json(self) -> str:
        return json.dumps({"components": [{"name": c.name, "params": list(c.params)} for c in self.components]}, indent=1)

    @classmethod
    def from_dict(cls, data: Mapping) -> Partition:
        shape = 'a partition is {"components": [{"name": str, "params": [str, ...]}, ...]}'
        components = data.get("components") if isinstance(data, Mapping) else None
        if not isinstance(components, list):
            raise PartitionError(f"{shape}; 'components' is missing or not a list")
        for n, c in enumerate(components):
            if not isinstance(c, Mapping) or set(c) != {"name", "params"} or not isinstance(c["name"], str):
                raise PartitionError(f"{shape}; component {n} is {json.dumps(c)[:120]}")
            if not isinstance(c["params"], list) or not all(isinstance(p, str) for p in c["params"]):
                raise PartitionError(f"{shape}; the params of component {c['name']!r} must be a list of parameter names, "
                                     f"got {json.dumps(c['params'])[:120]}")
        return cls(tuple(Component(c["name"], tuple(c["params"])) for c in components))

    @classmethod
    def from_json(cls, text: str) -> Partition:
        try:
            data = jsonfile.parse(text, "partition file")
        except DamagedFile as exc:
            raise PartitionError(str(exc)) from exc
        return cls.from_dict(data)


def _some(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (and {len(names) - limit} more)" if len(names) > limit else "")


def _grouped(param_names: Iterable[str], key) -> Partition:
    """Components in first-appearance order of key(name)."""
    groups: dict[str, list[str]] = {}
    for name in param_names:
        groups.setdefault(key(name), []).append(name)
    return Partition(tuple(Component(k, tuple(v)) for k, v in groups.items()))


def whole_model(param_names: Iterable[str]) -> Partition:
    """One component: ManifoldMixMS then mixes whole models with one λ per candidate."""
    return Partition((Component("whole model", tuple(param_names)),))


def by_name_depth(param_names: Iterable[str], level: int, special_cases: Mapping[str, int] | None = None) -> Partition:
    """The author's groupStateDictKeysByLevel: group names by their first level+1 dot-separated tokens.

    `special_cases` maps a name prefix to its own level; a trailing '<INT>' in the prefix stands
    for the block number found at that level of the name, so numbered blocks become separate groups.
    """
    special_cases = special_cases or {}

    def key(name: str) -> str:
        tokens = name.split(".")
        use = min(level, len(tokens) - 1)
        for prefix, special_level in special_cases.items():
            special_level = min(special_level, len(tokens) - 1)
            truncated = ".".join(tokens[: special_level + 1])
            number = re.search(r"\d+$", truncated)
            if prefix.endswith("<INT>") and number:
                prefix = prefix.replace("<INT>", number.group())
            if name.startswith(prefix):
                use = special_level
                break
        return ".".join(tokens[: use + 1])

    return _grouped(param_names, key)


def author_preset(param_names: Iterable[str], granularity: int) -> Partition:
    """The author's granularities 1/2/3: C8 / C15 / C26 on CLIP ViT-B/32 in model-soups layout."""
    if granularity == 3:
        return by_name_depth(param_names, 2, {"model.visual.transformer.resblocks.<INT>": 4,
                                              "model.transformer.resblocks.<INT>": 3})
    if granularity in (0, 1, 2):
        return by_name_depth(param_names, granularity)
    raise PartitionError(f"author granularity must be 0, 1, 2 or 3, got {granularity}")


def structural(param_names: Iterable[str], layout: KeyLayout, blocks_per_component: int = 1,
               split_attn_mlp: bool = False) -> Partition:
    """ViT building blocks: embeddings, blocks (grouped by N, optionally attention vs MLP), final, head.

    Parameters outside the classifier (text-tower leftovers) form one last component.
    """
    param_names = list(param_names)
    if blocks_per_component < 1:
        raise PartitionError(f"blocks per component must be at least 1, got {blocks_per_component}")
    depth = vit_depth(param_names, layout)

    def blocks(first: int) -> str:
        last = min(first + blocks_per_component, depth) - 1
        return f"block {first}" if first == last else f"blocks {first}-{last}"

    def key(name: str) -> str:
        part = part_of(name, layout)
        if part.kind != "block":
            return {"head": "head", "inert": OTHER, "final": "final norm + projection", "embeddings": "embeddings"}[part.kind]
        label = blocks(part.block // blocks_per_component * blocks_per_component)
        return f"{label} {'attention' if part.attention else 'MLP'}" if split_attn_mlp else label

    order = ["embeddings"]
    for start in range(0, depth, blocks_per_component):
        order += [f"{blocks(start)} attention", f"{blocks(start)} MLP"] if split_attn_mlp else [blocks(start)]
    order += ["final norm + projection", "head", OTHER]
    grouped = {c.name: c for c in _grouped(param_names, key).components}
    return Partition(tuple(grouped[name] for name in order if name in grouped))


def from_assignment(param_names: Iterable[str], assignment: Mapping[str, str], default: str | None = None) -> Partition:
    """Custom partition: map parameter names or name prefixes (blocks) to components; longest prefix wins."""
    prefixes = sorted(assignment, key=len, reverse=True)

    def key(name: str) -> str:
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix.rstrip(".") + "."):
                return assignment[prefix]
        if default is None:
            raise PartitionError(f"parameter '{name}' matches no entry of the assignment and no default component is set")
        return default

    return _grouped(param_names, key)


def granularity(param_names: Sequence[str], layout: KeyLayout, level: str) -> Partition:
    """Named structural presets for any ViT depth: coarse (two halves of the blocks), medium (per block),
    fine (per block, attention and MLP apart)."""
    depth = max(1, vit_depth(param_names, layout))
    if level == "coarse":
        return structural(param_names, layout, blocks_per_component=-(-depth // 2))
    return structural(param_names, layout, blocks_per_component=1, split_attn_mlp=level == "fine")


@dataclass(frozen=True)
class PresetKind:
    """A kind of partition spec (its `preset`): the other keys it takes and how it is built from parameter names."""

    name: str
    keys: tuple[str, ...]
    build: Callable[[Sequence[str], KeyLayout, Mapping], Partition]
    label: str = ""  # set for a kind offered by name as it is (whole, coarse, medium, fine): its words in the app


PRESET_KINDS: dict[str, PresetKind] = {k.name: k for k in (
    PresetKind("whole", (), lambda names, layout, spec: whole_model(names), "whole model"),
    *(PresetKind(level, (), lambda names, layout, spec, level=level: granularity(names, layout, level), label)
      for level, label in (("coarse", "coarse (two halves of the blocks)"), ("medium", "medium (one component per block)"),
                           ("fine", "fine (attention / MLP per block)"))),
    PresetKind("author", ("granularity",), lambda names, layout, spec: author_preset(names, spec.get("granularity", 1))),
    PresetKind("structural", ("blocks_per_component", "split_attn_mlp"),
               lambda names, layout, spec: structural(names, layout, spec.get("blocks_per_component", 1), spec.get("split_attn_mlp", False))),
    PresetKind("assign", ("assign", "default"), lambda names, layout, spec: from_assignment(names, spec["assign"], spec.get("default"))),
    PresetKind("components", ("components",), lambda names, layout, spec: Partition.from_dict(spec)),
)}
"""THE partition kinds a run config's `partition.preset` may name (validation, resolve and the app read this)."""


def default_spec() -> dict:
    """The partition a config gets when it names none: structural's defaults, one component per block."""
    return {"preset": "structural"}


@dataclass(frozen=True)
class NamedPreset:
    """A preset offered by name (the app's preset list, the sweep's partitions): the very spec a run config would give."""

    key: str
    label: str
    spec: Mapping
    model_soups_only: bool = False  # the author's name-depth grouping means C8/C15/C26 only in model-soups layout


NAMED_PRESETS = (
    *(NamedPreset(k.name, k.label, {"preset": k.name}) for k in PRESET_KINDS.values() if k.label),
    *(NamedPreset(f"C{n}", f"C{n} (paper: author granularity {g}; model-soups layout only)", {"preset": "author", "granularity": g},
                  model_soups_only=True)
      for n, g in ((8, 1), (15, 2), (26, 3))),
)
"""THE presets offered by name: the Partition page's list and the sweeps' partitions (Experiments, `sweep`)."""


def named_spec(key: str) -> dict:
    """The spec of a named preset ("C8" -> the author's granularity 1), or {"preset": key} for a kind that needs no other key."""
    found = next((p for p in NAMED_PRESETS if p.key == key), None)
    return dict(found.spec) if found else {"preset": key}


def fits_layout(preset: NamedPreset, layout: KeyLayout) -> bool:
    """Whether a named preset means what its label says on a model of this key layout."""
    return not preset.model_soups_only or layout.visual_prefix == "model.visual."


def named_presets(param_names: Sequence[str], layout: KeyLayout) -> dict[str, Partition]:
    """The named presets that fit this model, by key, resolved exactly as a run naming them resolves them."""
    return {p.key: resolve(p.spec, param_names, layout) for p in NAMED_PRESETS if fits_layout(p, layout)}


def _kind(spec: Mapping):
    return spec.get("preset", "components" if "components" in spec else None)


def check_spec(spec: Mapping) -> None:
    """Reject a malformed partition spec of a run config before any work, naming the key (resolve() relies on it)."""
    kind = _kind(spec)
    if not isinstance(kind, str) or kind not in PRESET_KINDS:
        raise PartitionError(f"unknown partition preset {kind!r}; use one of {', '.join(PRESET_KINDS)}")
    keys = PRESET_KINDS[kind].keys
    unknown = sorted(set(spec) - {"preset", *keys})
    if unknown:
        raise PartitionError(f"partition preset {kind!r} takes {list(keys) or 'no other keys'}; unknown: {unknown}")

    def is_int(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    granularity = spec.get("granularity", 1)
    if not (is_int(granularity) and granularity in (0, 1, 2, 3)):
        raise PartitionError(f"partition.granularity must be 0, 1, 2 or 3, got {granularity!r}")
    if not is_int(spec.get("blocks_per_component", 1)) or spec.get("blocks_per_component", 1) < 1:
        raise PartitionError(f"partition.blocks_per_component must be a whole number of at least 1, got {spec.get('blocks_per_component')!r}")
    if not isinstance(spec.get("split_attn_mlp", False), bool):
        raise PartitionError(f"partition.split_attn_mlp must be true or false, got {spec.get('split_attn_mlp')!r}")
    if kind == "assign":
        assign = spec.get("assign")
        if not isinstance(assign, Mapping) or not assign or not all(isinstance(v, str) and v for v in assign.values()):
            raise PartitionError('partition.assign maps block or parameter names to component names, {"visual.ln_pre": "stem", ...}; '
                                 f"got {json.dumps(assign)[:120]}")
        if not isinstance(spec.get("default"), str | None):
            raise PartitionError(f"partition.default must be a component name, got {spec.get('default')!r}")
    if kind == "components":
        Partition.from_dict(spec)


def resolve(spec: Mapping, param_names: Sequence[str], layout: KeyLayout) -> Partition:
    """Turn a partition spec from a run config into a validated Partition."""
    check_spec(spec)
    return PRESET_KINDS[_kind(spec)].build(param_names, layout, spec).validate(param_names)
