# ruff: noqa: F811  (pytest fixtures imported from app_support are redefined as arguments)
"""The app's model settings (issue 20): the Ingredients page's Model section, its controls made from the engine's
ModelConfig and saved into the workspace draft, the shared head picked like checkpoints, and the Run page's pre-launch
check of the model settings against the pool's first checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import families_toy as ft
import torch
from app_support import app_env, open_page, texts  # noqa: F401
from helpers import run_config
from safetensors.torch import save_file
from streamlit.testing.v1 import AppTest

from app_lib import workspace
from app_lib.draft import blockers
from manifoldmix_core.checkpoint_files import check_model
from manifoldmix_core.config import ModelConfig, load_config
from manifoldmix_core.errors import ConfigError, IngredientError
from manifoldmix_core.families import FAMILIES

FIELDS = ModelConfig.model_fields


def world_draft(config: Path, model: dict | None = None) -> dict:
    """A family world's config as the app's draft (absolute paths), its `model` replaced."""
    draft = load_config(config).to_dict()
    draft["model"] = model or {}
    return draft


def runnable(draft: dict, tmp_path: Path) -> Path:
    """The app's draft as a config file, as the Run page writes it."""
    path = tmp_path / "from_app.json"
    path.write_text(json.dumps(draft))
    return path


def normalisation(at: AppTest) -> None:
    """The toy worlds' image mean and std, typed as a user would."""
    for name, values in (("image_mean", ft.MEAN), ("image_std", ft.STD)):
        model_control(at, name).input(", ".join(map(str, values))).run()


def model_control(at: AppTest, name: str):
    key = f"run_model.{name}"
    kind = "selectbox" if name in ("family", "quick_gelu") else "checkbox" if name == "normalize_features" else "text_input"
    return getattr(at, kind)(key=key)


def test_the_model_controls_come_from_model_config_and_a_timm_pool_typed_in_the_app_runs(app_env, tmp_path):
    """A timm pool needs its model name: the Run page says so before a launch; typed on Ingredients, it is saved in the
    draft (unset settings left out) and the draft runs."""
    draft = world_draft(ft.timm_world(tmp_path / "t", n=2))
    assert any("for the timm_vit family, model.architecture names a timm model" in b for b in blockers(draft))
    at = open_page("views/run.py", draft=draft)
    assert "model.architecture names a timm model" in texts(at.error)
    at.switch_page("views/ingredients.py").run()
    assert not at.exception
    for name in ("family", "architecture", "options", "normalize_features", "quick_gelu", "image_mean", "image_std"):
        assert model_control(at, name).label == FIELDS[name].title
    assert model_control(at, "family").options[1:] == [f.label for f in FAMILIES.values()]
    assert model_control(at, "quick_gelu").options == ["auto", "on", "off"]
    assert "Family detected from the checkpoints: timm ViT." in texts(at.caption)
    model_control(at, "family").set_value(FAMILIES["timm_vit"].label).run()
    model_control(at, "architecture").input(ft.TIMM_NAME).run()
    model_control(at, "options").input(json.dumps(ft.TIMM_OPTIONS)).run()
    normalisation(at)
    assert not at.exception and not at.error
    saved = at.session_state["draft"]["model"]
    assert saved == {"family": "timm_vit", "architecture": ft.TIMM_NAME, "options": ft.TIMM_OPTIONS, "image_mean": ft.MEAN,
                     "image_std": ft.STD}
    at.run()  # the workspace file holds what the last run changed (a page run alone saves with the next run)
    on_disk, _ = workspace.load_versioned(at.session_state["ws"])
    assert on_disk["model"] == {**saved, "image_mean": list(ft.MEAN), "image_std": list(ft.STD)}
    assert blockers(at.session_state["draft"]) == []
    results = run_config(runnable(at.session_state["draft"], tmp_path), tmp_path / "run")
    assert set(results["methods"]) == {"uniform_soup", "greedy_soup", "manifoldmixms"}


def test_bad_options_are_refused_with_a_message_naming_the_key_and_not_saved(app_env, tmp_path):
    draft = world_draft(ft.timm_world(tmp_path / "t", n=2), {"architecture": ft.TIMM_NAME, "options": {"depth": 2}})
    at = open_page("views/ingredients.py", draft=draft)
    for typed, said in (('{"depth": 2', "model.options is not valid JSON"),
                        ("[2, 32]", "model.options must be a JSON object such as"),
                        ("", None)):
        model_control(at, "options").input(typed).run()
        assert not at.exception
        if said:
            assert said in texts(at.error) and "Not saved: " in texts(at.error) and "not saved" not in texts(at.error)
            assert at.session_state["draft"]["model"]["options"] == {"depth": 2}
    assert "options" not in at.session_state["draft"]["model"]  # blank: no options, left out like every unset setting
    model_control(at, "architecture").input('{"width": ').run()  # an object must be JSON too
    assert "model.architecture is not valid JSON" in texts(at.error)
    assert at.session_state["draft"]["model"]["architecture"] == ft.TIMM_NAME
    model_control(at, "architecture").input(ft.TIMM_NAME).run()
    model_control(at, "image_std").input("0.5, 0, 0.5").run()  # the engine's own check: std is positive
    assert "model.image_std must be three numbers (R, G, B), all positive" in texts(at.error)
    model_control(at, "image_std").input("0.5, 0.5").run()
    assert "model.image_std must be three numbers" in texts(at.error)
    assert "image_std" not in at.session_state["draft"]["model"]
    model_control(at, "image_std").input("").run()
    assert "model.image_std must be numbers separated by commas" in texts(at.error)
    model_control(at, "image_std").input("0.26862954, 0.26130258, 0.27577711").run()  # CLIP's, the default: left out
    model_control(at, "quick_gelu").set_value("on").run()
    model_control(at, "normalize_features").check().run()
    assert not at.error
    assert at.session_state["draft"]["model"] == {"architecture": ft.TIMM_NAME, "quick_gelu": True, "normalize_features": True}


def test_a_headless_hugging_face_pool_with_its_head_picked_in_the_app_runs(app_env, tmp_path, monkeypatch):
    """The shared head is picked from an allowed server folder like checkpoints; then the headless model folders are
    accepted, and the draft runs. A file that is no linear head is not taken."""
    ft.hf_world(tmp_path / "h", n=2, shared_head=True)
    world = json.loads((tmp_path / "h" / "config.json").read_text())
    monkeypatch.setenv("MANIFOLDMIX_ROOTS", str(tmp_path / "h"))
    at = open_page("views/ingredients.py", draft={"name": "hf", "model": {}, "ingredients": [], "val": None, "test": [], "ood": []})
    at.multiselect(key="server_files").set_value(["zoo/ft0/model.safetensors"]).run()
    at.button(key="add_server").click().run()
    assert "no linear head found" in texts(at.error) and not at.session_state["draft"]["ingredients"]
    at.button(key="dismiss").click().run()
    at.selectbox(key="head_file").set_value("val.safetensors").run()
    at.button(key="use_head").click().run()
    assert "Not used as the shared head" in texts(at.error) and "is not a linear head" in texts(at.error)
    assert "head" not in at.session_state["draft"]["model"]
    at.selectbox(key="head_file").set_value("head.safetensors").run()
    at.button(key="use_head").click().run()
    assert at.session_state["draft"]["model"] == {"head": str(tmp_path / "h" / "head.safetensors")}
    assert "Shared head file: head.safetensors" in [e.label for e in at.expander]
    at.multiselect(key="server_files").set_value(["zoo/ft0/model.safetensors", "zoo/ft1/model.safetensors"]).run()
    at.button(key="add_server").click().run()
    normalisation(at)
    assert not at.exception and not at.error
    assert [i["name"] for i in at.session_state["draft"]["ingredients"]] == ["ft0", "ft1"]
    assert "Family detected from the checkpoints: Hugging Face CLIP vision." in texts(at.caption)
    draft = {**at.session_state["draft"], **{k: world[k] for k in ("test", "ood")},
             "val": {**world["val"], "path": str(tmp_path / "h" / world["val"]["path"])},
             "methods": world["methods"], "manifoldmix": world["manifoldmix"], "device": "cpu"}
    draft["test"] = [{**t, "path": str(tmp_path / "h" / t["path"])} for t in draft["test"]]
    assert blockers(draft) == []
    at.switch_page("views/partition.py").run()  # the anatomy of a headless pool, its head from the shared file
    assert not at.exception and not at.error
    assert list(at.dataframe[0].value["unit"])[:3] == ["embeddings", "block 0 attention", "block 0 MLP"]
    results = run_config(runnable(draft, tmp_path), tmp_path / "run")
    assert set(results["methods"]) == {"uniform_soup", "greedy_soup", "manifoldmixms"}


def test_the_pre_launch_check_reads_headers_only_and_names_the_model_problem(tmp_path):
    """check_model: a shared head for checkpoints with their own, a headless pool without one, a family named that the
    checkpoints are not, a timm pool without a name; torch checkpoints are left to the run."""
    timm = load_config(ft.timm_world(tmp_path / "t", n=2))
    first = timm.ingredients[0].path
    assert check_model(timm.model, first).family == "timm_vit"
    head = tmp_path / "t" / "head.safetensors"
    save_file({"weight": torch.zeros(ft.CLASSES, 32), "bias": torch.zeros(ft.CLASSES)}, head)
    for model, error, said in (
            (timm.model.model_copy(update={"head": str(head)}), IngredientError, "has a head of its own, but model.head"),
            (timm.model.model_copy(update={"family": "hf_clip"}), IngredientError, "no ViT image tower found"),
            (ModelConfig(), ConfigError, "model.architecture names a timm model")):
        try:
            check_model(model, first)
        except error as exc:
            assert said in str(exc)
        else:
            raise AssertionError(f"{model} passed the check")
    hf = load_config(ft.hf_world(tmp_path / "h", n=2, shared_head=True))
    assert check_model(hf.model, hf.ingredients[0].path).family == "hf_clip"
    try:
        check_model(ModelConfig(), hf.ingredients[0].path)
    except IngredientError as exc:
        assert "no linear head found" in str(exc) and "model.head" in str(exc)
    else:
        raise AssertionError("a headless pool passed without a head")
    ft.as_torch_file(tmp_path / "h" / "zoo" / "ft0")
    assert check_model(ModelConfig(), hf.ingredients[0].path) is None  # a torch file's names cost a full read: the run says


def test_an_uploaded_head_is_checked_and_a_head_outside_the_allowed_folders_is_dropped(app_env, tmp_path):
    ft.hf_world(tmp_path / "h", n=2, shared_head=True)
    head = (tmp_path / "h" / "head.safetensors").read_bytes()
    hostile = {"name": "hf", "model": {"head": "/etc/passwd"}, "ingredients": [], "val": None, "test": [], "ood": []}
    at = open_page("views/ingredients.py", draft=hostile)
    assert "Shared head dropped" in texts(at.error) and "outside the allowed folders" in texts(at.error)
    assert at.session_state["draft"]["model"] == {}
    at.file_uploader(key="head_upload").set_value(("bad.safetensors", (tmp_path / "h" / "val.safetensors").read_bytes(),
                                                   "application/octet-stream")).run()
    at.button(key="use_uploaded_head").click().run()
    assert "is not a linear head" in texts(at.error) and "head" not in at.session_state["draft"]["model"]
    assert not list((tmp_path / "uploads").glob("bad*"))  # a refused upload is not kept
    at.file_uploader(key="head_upload").set_value(("zeroshot head.safetensors", head, "application/octet-stream")).run()
    at.button(key="use_uploaded_head").click().run()
    assert not at.error
    assert at.session_state["draft"]["model"] == {"head": str(tmp_path / "uploads" / "zeroshot_head.safetensors")}
    at.button(key="clear_head").click().run()
    assert at.session_state["draft"]["model"] == {}
