"""Partitions: the author's C8/C15/C26 on ViT-B/32, structural presets, custom assignments, validation."""

from __future__ import annotations

import json

import open_clip
import pytest
import torch
import toy

from app_lib.partition_editor import MIXED, assignment_of, network_order, selected_units, to_spec, unit_component, units
from manifoldmix_core.anatomy import KeyLayout, detect_key_layout, vit_depth
from manifoldmix_core.errors import PartitionError
from manifoldmix_core.mixing import FlatLayout
from manifoldmix_core.partition import (
    OTHER,
    Component,
    Partition,
    author_preset,
    check_spec,
    from_assignment,
    named_presets,
    resolve,
    structural,
    whole_model,
)


@pytest.fixture(scope="module")
def vit_b32_model_soups() -> dict[str, tuple[int, ...]]:
    """Parameter shapes of CLIP ViT-B/32 in model-soups layout (built on the meta device: no memory, no download)."""
    with torch.device("meta"):
        clip = open_clip.model.CLIP(**open_clip.get_model_config("ViT-B-32"))
    shapes = {f"model.{k}": tuple(v.shape) for k, v in clip.state_dict().items() if not k.startswith("transformer.")}
    shapes["classification_head.weight"] = (1000, 512)
    shapes["classification_head.bias"] = (1000,)
    return shapes


@pytest.mark.parametrize("granularity, n_components, n_live", [(1, 8, 3), (2, 15, 9), (3, 26, 20)])
def test_author_presets_on_vit_b32(vit_b32_model_soups, granularity, n_components, n_live):
    names = list(vit_b32_model_soups)
    partition = author_preset(names, granularity).validate(names)
    assert len(partition) == n_components
    layout = detect_key_layout(names)
    assert layout == KeyLayout("model.visual.", "classification_head.")
    flat = FlatLayout.build(partition, vit_b32_model_soups, is_live=lambda n: layout.classifier_name(n) is not None)
    assert len(flat.live_components) == n_live
    assert flat.numel == sum(torch.Size(s).numel() for s in vit_b32_model_soups.values())


def test_author_component_names(vit_b32_model_soups):
    names = list(vit_b32_model_soups)
    c8 = author_preset(names, 1).names
    assert sorted(c8) == sorted(["model.positional_embedding", "model.text_projection", "model.logit_scale", "model.visual",
                                 "model.token_embedding", "model.ln_final", "classification_head.weight",
                                 "classification_head.bias"])
    c15 = author_preset(names, 2).names
    assert {"model.visual.transformer", "model.visual.conv1", "model.visual.ln_post", "model.ln_final.weight",
            "model.ln_final.bias"} <= set(c15)
    c26 = author_preset(names, 3)
    blocks = [n for n in c26.names if n.startswith("model.visual.transformer.resblocks.")]
    assert blocks == [f"model.visual.transformer.resblocks.{i}" for i in range(12)]
    block_11 = c26.components[c26.names.index("model.visual.transformer.resblocks.11")]
    assert all(p.startswith("model.visual.transformer.resblocks.11.") for p in block_11.params)
    assert len(block_11.params) == 12
    assert author_preset(names, 0).names == ["model", "classification_head"]
    with pytest.raises(PartitionError, match="granularity"):
        author_preset(names, 4)


# -- structural presets on a 6-block tower -------------------------------------------------------------

SIX_BLOCKS = {**toy.VISION, "layers": 6}


@pytest.fixture(scope="module")
def six_block_clip() -> list[str]:
    """A full open_clip CLIP (6-block image tower, 2-block text tower) plus a head: parameter names."""
    with torch.device("meta"):
        clip = open_clip.model.CLIP(toy.EMBED, SIX_BLOCKS, {"context_length": 8, "vocab_size": 50, "width": 16,
                                                            "heads": 2, "layers": 2})
    return [*clip.state_dict(), "head.weight", "head.bias"]


LAYOUT = KeyLayout("visual.", "head.")


def test_vit_depth(six_block_clip):
    assert vit_depth(six_block_clip, LAYOUT) == 6  # the 2-block text tower is not counted


@pytest.mark.parametrize("per, blocks", [
    (1, ["block 0", "block 1", "block 2", "block 3", "block 4", "block 5"]),
    (2, ["blocks 0-1", "blocks 2-3", "blocks 4-5"]),
    (4, ["blocks 0-3", "blocks 4-5"]),
    (6, ["blocks 0-5"]),
    (10, ["blocks 0-5"]),
])
def test_structural_block_grouping(six_block_clip, per, blocks):
    partition = structural(six_block_clip, LAYOUT, blocks_per_component=per).validate(six_block_clip)
    assert partition.names == ["embeddings", *blocks, "final norm + projection", "head", OTHER]
    by_name = dict(zip(partition.names, partition.components, strict=True))
    assert set(by_name["embeddings"].params) == {"visual.class_embedding", "visual.positional_embedding",
                                                 "visual.conv1.weight", "visual.ln_pre.weight", "visual.ln_pre.bias"}
    assert set(by_name["final norm + projection"].params) == {"visual.ln_post.weight", "visual.ln_post.bias", "visual.proj"}
    assert set(by_name["head"].params) == {"head.weight", "head.bias"}
    for label in blocks:
        first, _, last = label.split()[1].partition("-")
        indices = {int(p.split(".")[3]) for p in by_name[label].params}
        assert indices == set(range(int(first), int(last or first) + 1))


def test_structural_split_attention_mlp(six_block_clip):
    partition = structural(six_block_clip, LAYOUT, blocks_per_component=2, split_attn_mlp=True).validate(six_block_clip)
    assert partition.names == ["embeddings", "blocks 0-1 attention", "blocks 0-1 MLP", "blocks 2-3 attention",
                               "blocks 2-3 MLP", "blocks 4-5 attention", "blocks 4-5 MLP", "final norm + projection",
                               "head", OTHER]
    by_name = dict(zip(partition.names, partition.components, strict=True))
    assert {p.split(".")[4] for p in by_name["blocks 2-3 attention"].params} == {"ln_1", "attn"}
    assert {p.split(".")[4] for p in by_name["blocks 2-3 MLP"].params} == {"ln_2", "mlp"}
    assert len(structural(six_block_clip, LAYOUT, split_attn_mlp=True)) == 1 + 12 + 3


def test_structural_puts_text_leftovers_in_one_other_component(six_block_clip):
    partition = structural(six_block_clip, LAYOUT)
    other = partition.components[-1]
    assert other.name == OTHER
    expected = [n for n in six_block_clip if not n.startswith(("visual.", "head."))]
    assert sorted(other.params) == sorted(expected)
    assert "transformer.resblocks.1.mlp.c_fc.weight" in other.params and "logit_scale" in other.params
    # Without leftovers there is no such component.
    assert OTHER not in structural(list(toy.teacher()), LAYOUT).names


def test_structural_rejects_zero_blocks_per_component(six_block_clip):
    with pytest.raises(PartitionError, match="at least 1"):
        structural(six_block_clip, LAYOUT, blocks_per_component=0)


# -- custom assignments -------------------------------------------------------------------------------

NAMES = ["enc.resblocks.1.w", "enc.resblocks.1.b", "enc.resblocks.10.w", "enc.resblocks.2.w", "enc.ln.w", "head.w", "head.b"]


def test_from_assignment_longest_prefix_wins():
    assignment = {"enc": "encoder", "enc.resblocks.1": "block one", "enc.resblocks.1.b": "one bias", "head.w": "hw"}
    partition = from_assignment(NAMES, assignment, default="rest").validate(NAMES)
    assert {c.name: c.params for c in partition.components} == {
        "block one": ("enc.resblocks.1.w",),
        "one bias": ("enc.resblocks.1.b",),
        "encoder": ("enc.resblocks.10.w", "enc.resblocks.2.w", "enc.ln.w"),  # 'resblocks.1' is no prefix of 'resblocks.10'
        "hw": ("head.w",),
        "rest": ("head.b",),
    }


def test_from_assignment_trailing_dot_and_no_default():
    partition = from_assignment(NAMES, {"enc.": "encoder", "head.": "head"})
    assert partition.names == ["encoder", "head"]
    with pytest.raises(PartitionError, match="'head.b'"):
        from_assignment(NAMES, {"enc": "encoder", "head.w": "hw"})


# -- validation ---------------------------------------------------------------------------------------


def _partition(*components) -> Partition:
    return Partition(tuple(Component(name, tuple(params)) for name, params in components))


def test_validation_missing_parameter():
    with pytest.raises(PartitionError, match="in no component: head.b"):
        _partition(("x", NAMES[:-1])).validate(NAMES)


def test_validation_duplicated_parameter():
    with pytest.raises(PartitionError, match="more than one component: head.w"):
        _partition(("x", NAMES[:6]), ("y", NAMES[5:])).validate(NAMES)


def test_validation_unknown_parameter():
    with pytest.raises(PartitionError, match="not in the model: tail.w"):
        _partition(("x", NAMES), ("y", ["tail.w"])).validate(NAMES)


def test_validation_empty_and_repeated_components():
    with pytest.raises(PartitionError, match="empty components .*: nothing"):
        _partition(("x", NAMES), ("nothing", [])).validate(NAMES)
    with pytest.raises(PartitionError, match="repeated: x"):
        _partition(("x", NAMES[:3]), ("x", NAMES[3:])).validate(NAMES)
    with pytest.raises(PartitionError, match="no components"):
        Partition(()).validate(NAMES)


def test_validation_lists_only_a_few_names():
    names = [f"p{i}" for i in range(12)]
    with pytest.raises(PartitionError, match=r"p0, p1, p2, p3, p4 \(and 7 more\)"):
        _partition(("x", ["q"])).validate(["q", *names])


def test_json_round_trip(six_block_clip):
    for partition in (structural(six_block_clip, LAYOUT, 4, True), whole_model(six_block_clip), author_preset(NAMES, 1)):
        again = Partition.from_json(partition.to_json())
        assert again == partition
        assert again.component_of() == partition.component_of()
    with pytest.raises(PartitionError, match="not valid JSON"):
        Partition.from_json("{")
    with pytest.raises(PartitionError, match="components"):
        Partition.from_json('{"parts": []}')
    with pytest.raises(PartitionError, match="params of component 'tower' must be a list of parameter names, got \"visual\""):
        Partition.from_json('{"components": [{"name": "tower", "params": "visual"}]}')
    with pytest.raises(PartitionError, match="component 0 is"):
        Partition.from_json('{"components": [{"name": 3, "params": []}]}')


def test_resolve_presets_and_unknown_preset(six_block_clip):
    names = six_block_clip
    assert len(resolve({"preset": "whole"}, names, LAYOUT)) == 1
    assert resolve({"preset": "structural", "blocks_per_component": 3}, names, LAYOUT).names[1:3] == ["blocks 0-2",
                                                                                                       "blocks 3-5"]
    assigned = resolve({"preset": "assign", "assign": {"visual": "tower"}, "default": "rest"}, names, LAYOUT)
    assert assigned.names == ["rest", "tower"]  # first-appearance order: the text tower comes first in CLIP
    custom = structural(names, LAYOUT, 2)
    assert resolve(json.loads(custom.to_json()), names, LAYOUT) == custom
    with pytest.raises(PartitionError, match="in no component"):
        resolve({"components": [{"name": "head", "params": ["head.weight", "head.bias"]}]}, names, LAYOUT)
    with pytest.raises(PartitionError, match="unknown partition preset 'blocks'") as exc:
        resolve({"preset": "blocks"}, names, LAYOUT)
    assert "structural" in str(exc.value)


# -- the app's partition editor offers the engine's presets ---------------------------------------------

def tower_names(depth: int, prefix: str = "visual.", head: str = "head.") -> list[str]:
    """Parameter names of a real open_clip image tower with `depth` blocks, plus a linear head (meta device)."""
    from open_clip.model import CLIPVisionCfg, _build_vision_tower
    with torch.device("meta"):
        tower = _build_vision_tower(toy.EMBED, CLIPVisionCfg(**{**toy.VISION, "layers": depth}))
    return [prefix + n for n in tower.state_dict()] + [head + "weight", head + "bias"]


@pytest.mark.parametrize("depth", [4, 12, 24])
def test_the_editors_presets_are_the_engines(depth):
    names = tower_names(depth)
    layout = detect_key_layout(names)
    offered = named_presets(names, layout)
    assert list(offered) == ["whole", "coarse", "medium", "fine"]
    for key, partition in offered.items():
        edited = Partition.from_dict(to_spec(assignment_of(partition), network_order(names, layout))).validate(names)
        assert partition == resolve({"preset": key}, names, layout), key
        assert [(c.name, set(c.params)) for c in edited.components] == [(c.name, set(c.params)) for c in partition.components], key
        if key != "whole":
            assert all(unit_component(unit, assignment_of(partition)) != MIXED for unit in units(names, layout)), key
    blocks = [c for c in offered["medium"].names if c.startswith("block")]
    assert blocks == [f"block {i}" for i in range(depth)]
    assert [c for c in offered["coarse"].names if c.startswith("block")] == [f"blocks 0-{depth // 2 - 1}", f"blocks {depth // 2}-{depth - 1}"]
    assert len(offered["fine"]) == len(offered["medium"]) + depth
    assert len({len(p) for p in offered.values()}) == len(offered)  # issue 9 defect 8: no two presets alike, also at depth 4


def test_a_click_or_box_in_the_partition_picture_names_its_units():
    """The Partition picture is the editor: plotly's selection event carries each bar's unit name as customdata."""
    names = tower_names(4)
    stack = units(names, detect_key_layout(names))
    click = {"points": [{"curve_number": 3, "point_index": 0, "customdata": ["block 1 attention"]}]}
    box = {"points": [{"customdata": ["block 0 MLP"]}, {"customdata": ["head"]}, {"customdata": ["block 0 MLP"]}]}
    assert [u.name for u in selected_units(click, stack)] == ["block 1 attention"]
    assert [u.name for u in selected_units(box, stack)] == ["block 0 MLP", "head"]
    assert selected_units({"points": []}, stack) == selected_units(None, stack) == []


def test_the_editor_offers_the_authors_presets_in_model_soups_layout():
    names = tower_names(12, "model.visual.", "classification_head.")
    offered = named_presets(names, detect_key_layout(names))
    assert list(offered) == ["whole", "coarse", "medium", "fine", "C8", "C15", "C26"]
    assert offered["C26"] == author_preset(names, 3)


@pytest.mark.parametrize("kind", [[], {}, 3, None])
def test_a_preset_that_is_no_name_is_a_partition_error(kind):
    """The preset kinds are a registry keyed by name: a list or an object as `preset` is refused by name, not a TypeError."""
    with pytest.raises(PartitionError, match="unknown partition preset"):
        check_spec({"preset": kind})
