# ruff: noqa: F811  (pytest fixtures imported from app_support are redefined as arguments)
"""One contract over every registry entry (issue 19): methods, optimizers, named partition presets, dataset sources and
model families. For each: the app offers it, config validation accepts it, and it round-trips through a small run (on
the toy world, or on a small pool of the family's own checkpoints)."""

from __future__ import annotations

import json
from pathlib import Path

import families_toy as ft
import numpy as np
import pytest
from app_support import APP, app_env, toy_draft  # noqa: F401
from helpers import derived_config, run_config
from PIL import Image
from safetensors.numpy import load_file, save_file
from streamlit.testing.v1 import AppTest

from app_lib.components import partition_size
from app_lib.datasets import sets_of
from manifoldmix_core import runs
from manifoldmix_core.config import load_config, sections
from manifoldmix_core.families import FAMILIES
from manifoldmix_core.methods import METHODS
from manifoldmix_core.optim import OPTIMIZERS
from manifoldmix_core.partition import NAMED_PRESETS, named_spec
from manifoldmix_core.settings import extra
from manifoldmix_core.sources import SOURCES

ENTRIES = ([("method", name) for name in METHODS] + [("optimizer", name) for name in OPTIMIZERS]
           + [("preset", p.key) for p in NAMED_PRESETS] + [("source", name) for name in SOURCES]
           + [("family", name) for name in FAMILIES])
PAIR = [{"name": "a", "path": "a.safetensors"}, {"name": "a_copy", "path": "a_copy.safetensors"}]  # a search is never skipped


def open_page(page: str, draft: dict) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.session_state["draft"] = draft
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def model_soups_world(toy_world: Path, root: Path) -> Path:
    """The toy ingredients in model-soups key layout (model.visual.*, classification_head.*), where C8/C15/C26 mean what they say."""
    for name in ("a", "a_copy"):
        state = load_file(toy_world.parent / f"{name}.safetensors")
        save_file({("model." + k if k.startswith("visual.") else k.replace("head.", "classification_head.", 1)): v
                   for k, v in state.items()}, root / f"{name}.safetensors")
    return derived_config(toy_world, "model-soups", ingredients=[{**i, "path": str(root / i["path"])} for i in PAIR])


def sample_set(source: str, toy_world: Path, root: Path) -> dict:
    """A small set of each registered source; a source registered without one here fails the contract."""
    if source == "tensors":
        return {"name": "extra", "source": source, "path": str(toy_world.parent / "test.safetensors")}
    if source == "imagefolder":
        data = load_file(toy_world.parent / "test.safetensors")
        for n, (image, label) in enumerate(zip(data["images"][:24], data["labels"][:24])):
            (root / "pics" / f"c{int(label)}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0))).save(root / "pics" / f"c{int(label)}" / f"{n}.png")
        return {"name": "extra", "source": source, "path": str(root / "pics")}
    if source == "demo":
        return {"name": "extra", "source": source, "path": "val", "class_subset": [c % 4 for c in range(10)]}  # 10 classes, the toy model 4
    raise AssertionError(f"source {source!r} has no sample set in this contract test; add one")


def family_config(family: str, toy_world: Path, root: Path) -> Path:
    """A small pool of each registered family, the family named in the config; a family registered without one here
    fails the contract."""
    worlds = {"open_clip": lambda: derived_config(toy_world, "family-open_clip", ingredients=PAIR),
              "hf_clip": lambda: ft.hf_world(root / "hf", n=2), "timm_vit": lambda: ft.timm_world(root / "timm", n=2)}
    if family not in worlds:
        raise AssertionError(f"family {family!r} has no sample pool in this contract test; add one")
    base = worlds[family]()
    return derived_config(base, f"named-{family}", model={"family": family}, methods=["uniform_soup"])


def method_config(name: str, toy_world: Path) -> Path:
    """The toy world running one method; a required file setting (WiSE-FT's zero-shot model) gets an ingredient file."""
    settings = METHODS[name].settings
    model = sections()[settings.section] if settings else None
    required = {k: "b.safetensors" for k, f in model.model_fields.items() if f.is_required() and extra(model, k).get("file")} if model else {}
    return derived_config(toy_world, f"method-{name}", methods=[name], ingredients=PAIR, **({settings.section: required} if required else {}))


@pytest.mark.parametrize("kind, name", ENTRIES, ids=[f"{k}-{n}" for k, n in ENTRIES])
def test_every_registry_entry_is_offered_accepted_and_runs(kind, name, app_env, toy_world, tmp_path):
    draft = toy_draft(toy_world)
    if kind == "method":
        assert METHODS[name].label in open_page("views/run.py", draft).pills(key="run_methods").options
        config = method_config(name, toy_world)
    elif kind == "optimizer":
        assert name in open_page("views/run.py", draft).selectbox(key="run_manifoldmix.optimizer").options
        config = derived_config(toy_world, f"optimizer-{name}", methods=["manifoldmixms"], ingredients=PAIR,
                                partition={"preset": "whole"}, manifoldmix={"optimizer": name, "budget_per_component": 2})
    elif kind == "preset":
        preset = next(p for p in NAMED_PRESETS if p.key == name)
        base = model_soups_world(toy_world, tmp_path) if preset.model_soups_only else toy_world
        config = derived_config(base, f"preset-{name}", methods=["manifoldmixms"], ingredients=json.loads(base.read_text())["ingredients"]
                                if preset.model_soups_only else PAIR, partition=named_spec(name), manifoldmix={"budget_per_component": 1})
        assert preset.label in open_page("views/experiments.py", load_config(base).to_dict()).pills(key="sweep_partitions").options
    elif kind == "family":
        assert FAMILIES[name].label in open_page("views/ingredients.py", draft).selectbox(key="run_model.family").options
        config = family_config(name, toy_world, tmp_path)
    else:
        sample = sample_set(name, toy_world, tmp_path)
        at = open_page("views/datasets.py", draft)
        if SOURCES[name].offered:
            assert name in at.selectbox(key="set_source").options
        else:  # a source the form does not list is one a page fills in: the demo world's button
            at.button(key="use_demo_sets").click().run()
            assert name in {d["source"] for _, d in sets_of(at.session_state["draft"])}
        config = derived_config(toy_world, f"source-{name}", methods=["uniform_soup"], ingredients=PAIR[:1],
                                test=[sample], ood=[])

    loaded = load_config(config)  # validation accepts it
    results = run_config(config, tmp_path / "run")
    written = runs.read_json(tmp_path / "run" / runs.CONFIG)  # the canonical config.json keeps it
    assert runs.read_status(tmp_path / "run").state == "finished"
    if kind == "method":
        assert written["methods"] == [name] and name in results["methods"]
    elif kind == "optimizer":
        assert loaded.manifoldmix.optimizer == written["manifoldmix"]["optimizer"] == name
        ends = [json.loads(line) for line in (tmp_path / "run" / runs.EVENTS).read_text().splitlines() if '"search_end"' in line]
        assert ends and all(e["budget"] == 2 for e in ends)
    elif kind == "preset":
        assert written["partition"] == named_spec(name)
        assert results["partition"]["n"] == partition_size(written)[0]
    elif kind == "family":
        assert loaded.model.family == written["model"]["family"] == name and "uniform_soup" in results["methods"]
    else:
        assert written["test"][0]["source"] == name and "extra" in results["methods"]["uniform_soup"]["accuracy"]
