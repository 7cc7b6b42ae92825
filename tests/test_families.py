# ruff: noqa: F811  (pytest fixtures imported from app_support are redefined as arguments)
"""Model families: detection, partitions on each family's anatomy, a run per family through the runner whose fused
model reloads in the family's own library with the engine's logits, model folders (sharded too), a toy family
registered through the registry alone, and the errors a user meets."""

from __future__ import annotations

import json
import subprocess
import sys

import families_toy as ft
import open_clip
import pytest
import timm
import torch
import toy
import transformers
from app_support import app_env  # noqa: F401  (the app tests' environment)
from helpers import REPO, cli, events_of, run_config
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from manifoldmix_core import runs
from manifoldmix_core.anatomy import part_of
from manifoldmix_core.config import load_config
from manifoldmix_core.errors import ConfigError, IngredientError
from manifoldmix_core.families import FAMILIES, Family, detect
from manifoldmix_core.ingredients import find_ingredients, read_folder_config, read_signature, read_state_dict, validate_pool
from manifoldmix_core.lazy import load_ref
from manifoldmix_core.models import Classifier
from manifoldmix_core.partition import named_presets


def _hf_state(projection: bool = False, bare: bool = False) -> dict:
    state = ft.hf_model(projection=projection).state_dict()
    if bare:
        state = {k.removeprefix("vision_model."): v for k, v in state.items()}
    return {**state, "head.weight": torch.zeros(ft.CLASSES, 16 if projection else 32), "head.bias": torch.zeros(ft.CLASSES)}


# -- detection --------------------------------------------------------------------------------------------------------


def test_each_family_is_detected_from_its_names():
    assert detect(toy.teacher()).family == "open_clip"
    assert detect(ft.timm_model().state_dict()).family == "timm_vit"
    for state in (_hf_state(), _hf_state(projection=True), _hf_state(bare=True)):
        layout = detect(state)
        assert layout.family == "hf_clip"
        assert layout.classifier_name("head.weight") == "head.weight"
    projected = detect(_hf_state(projection=True))
    assert projected.classifier_name("visual_projection.weight") == "visual.visual_projection.weight"
    assert projected.classifier_name("vision_model.encoder.layers.1.mlp.fc1.weight") == "visual.vision_model.encoder.layers.1.mlp.fc1.weight"
    # transformers 4's CLIPVisionModel names and transformers 5's prefix-less ones build the same tower.
    assert detect({"vision_model.embeddings.patch_embedding.weight", "head.weight", "head.bias"}) \
        .classifier_name("vision_model.post_layernorm.weight") == "visual.post_layernorm.weight"


def test_an_unknown_checkpoint_names_the_file_the_families_tried_and_their_keys():
    with pytest.raises(IngredientError) as exc:
        detect({"backbone.stem.weight", "fc.weight", "fc.bias"}, "ckpt/resnet.safetensors")
    message = str(exc.value)
    assert message.startswith("ckpt/resnet.safetensors: no ViT image tower found")
    for family in FAMILIES.values():
        assert family.name in message and family.looks_for[0] in message
    assert "re-save" in message


def test_a_headless_checkpoint_of_a_known_family_says_which_head_names_were_looked_for():
    state = {k: v for k, v in ft.timm_model().state_dict().items() if not k.startswith("head.")}
    with pytest.raises(IngredientError, match=r"^ckpt/t.safetensors: no linear head found: expected 'head.weight'"):
        detect(state, "ckpt/t.safetensors")


# -- anatomy and partitions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state, final", [
    (ft.timm_model().state_dict(), "norm.weight"),
    (_hf_state(), "post_layernorm.weight"),
    (_hf_state(projection=True), "visual_projection.weight"),
])
def test_partitions_follow_each_familys_anatomy(state, final):
    layout = detect(state)
    names = list(state)
    presets = named_presets(names, layout)
    assert "C8" not in presets  # the author's grouping is defined on the model-soups layout only
    assert presets["whole"].names == ["whole model"]
    assert presets["coarse"].names == ["embeddings", "block 0", "block 1", "final norm + projection", "head"]  # two halves of 2
    assert presets["medium"].names == ["embeddings", "block 0", "block 1", "final norm + projection", "head"]
    assert presets["fine"].names == ["embeddings", "block 0 attention", "block 0 MLP", "block 1 attention", "block 1 MLP",
                                     "final norm + projection", "head"]
    assert part_of(final, layout).kind == "final"
    block = next(n for n in names if ".1." in n and ("mlp.fc2" in n))
    assert part_of(block, layout).block == 1 and not part_of(block, layout).attention
    attention = next(n for n in names if ".0." in n and ("attn" in n))
    assert part_of(attention, layout).block == 0 and part_of(attention, layout).attention


# -- model folders --------------------------------------------------------------------------------------------------------


def test_model_folders_single_and_sharded_read_as_one_checkpoint(tmp_path):
    config = load_config(ft.hf_world(tmp_path / "w", n=2))
    folders = [i.path for i in config.ingredients]
    whole = read_state_dict(folders[1])
    ft.shard(tmp_path / "w" / "zoo" / "ft1")
    assert sorted((tmp_path / "w" / "zoo" / "ft1").iterdir())[0].name == "config.json"
    found = find_ingredients(tmp_path / "w" / "zoo")
    assert [(i.name, i.path.name) for i in found] == [("ft0", "ft0"), ("ft1", "ft1")]
    sharded = read_state_dict(found[1].path)
    assert sharded.keys() == whole.keys() and all(torch.equal(sharded[k], whole[k]) for k in whole)
    assert read_signature(found[1].path) == read_signature(found[0].path)
    assert read_folder_config(found[1].path)["hidden_size"] == 32
    assert validate_pool(found) == read_signature(found[0].path)


def test_model_folders_of_pytorch_model_bin_files_read_like_safetensors_ones(tmp_path):
    """Folders older transformers wrote: pytorch_model.bin, or its shards with pytorch_model.bin.index.json (read with
    weights_only=True, as every torch checkpoint)."""
    config = load_config(ft.hf_world(tmp_path / "w", n=3))
    wholes = [read_state_dict(i.path) for i in config.ingredients]
    zoo = tmp_path / "w" / "zoo"
    ft.as_torch_file(zoo / "ft1")
    ft.shard(zoo / "ft2", torch_files=True)
    found = find_ingredients(zoo)
    assert [i.name for i in found] == ["ft0", "ft1", "ft2"]
    for ingredient, whole in zip(found, wholes, strict=True):
        state = read_state_dict(ingredient.path)
        assert state.keys() == whole.keys() and all(torch.equal(state[k], whole[k]) for k in whole)
    assert validate_pool(found) == read_signature(found[0].path)


def test_a_shard_index_naming_a_file_outside_its_folder_is_refused(tmp_path):
    ft.hf_world(tmp_path / "w", n=1)
    ft.shard(tmp_path / "w" / "zoo" / "ft0")
    index = tmp_path / "w" / "zoo" / "ft0" / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    data["weight_map"]["head.bias"] = "../val.safetensors"
    index.write_text(json.dumps(data))
    with pytest.raises(IngredientError, match="names the shard '../val.safetensors'"):
        read_signature(tmp_path / "w" / "zoo" / "ft0")


def test_a_mixed_pool_is_refused_naming_the_first_other_file(tmp_path):
    ft.timm_world(tmp_path / "t", n=1)
    ft.hf_world(tmp_path / "h", n=1, folders=False)
    pool = find_ingredients(tmp_path / "t" / "zoo") + find_ingredients(tmp_path / "h" / "zoo")
    pool[1] = type(pool[1])("other", pool[1].path)
    with pytest.raises(IngredientError, match=r"h/zoo/ft0.safetensors: is a Hugging Face CLIP vision checkpoint but .* is a timm ViT one"):
        validate_pool(pool)


# -- a run per family: the fused model reloads in its own library ------------------------------------------------------


def _engine_logits(run_dir, images: torch.Tensor) -> torch.Tensor:
    """The engine's classifier (what ValAcc is measured with) on the fused weights of a run."""
    config = load_config(run_dir / runs.CONFIG)
    fused = load_file(run_dir / runs.FUSED)
    folder_config = read_folder_config(config.ingredients[0].path)
    layout = detect(fused, run_dir / runs.FUSED, folder_config)
    spec = load_ref(FAMILIES[layout.family].spec)(config.model, read_signature(run_dir / runs.FUSED), layout, folder_config)
    model = Classifier(spec)
    model.load_state_dict({layout.classifier_name(n): t for n, t in fused.items()}, strict=True)
    with torch.no_grad():
        return model.eval()(images)


def _check_run(results: dict) -> None:
    assert set(results["methods"]) == {"uniform_soup", "greedy_soup", "manifoldmixms"}
    assert results["partition"]["components"][0] == "embeddings" and len(results["partition"]["components"]) == 7
    assert results["methods"]["manifoldmixms"]["valacc"] >= max(i["valacc"] for i in results["ingredients"].values())


def test_timm_run_end_to_end_and_fused_state_dict_loads_in_timm(tmp_path):
    results = run_config(ft.timm_world(tmp_path / "w"), tmp_path / "run")
    _check_run(results)
    model = timm.create_model(ft.TIMM_NAME, pretrained=False, num_classes=ft.CLASSES, **ft.TIMM_OPTIONS)
    model.load_state_dict(load_file(tmp_path / "run" / runs.FUSED), strict=True)
    images = ft.images(32, 99)
    assert (ft.timm_logits(model.eval(), images) - _engine_logits(tmp_path / "run", images)).abs().max() <= 1e-5


def test_open_clip_fused_model_loads_into_an_open_clip_tower(finished_run):
    """The demo's family: the fused image tower loads into open_clip's own CLIP model, whose encode_image plus the
    fused head gives the engine's logits."""
    fused = load_file(finished_run / runs.FUSED)
    clip = open_clip.model.CLIP(toy.EMBED, toy.VISION, {"context_length": 8, "vocab_size": 50, "width": 16, "heads": 2, "layers": 1})
    clip.visual.load_state_dict({k.removeprefix("visual."): v for k, v in fused.items() if k.startswith("visual.")}, strict=True)
    images = torch.randint(0, 256, (32, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(99))
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD))
    with torch.no_grad():
        logits = clip.eval().encode_image((images / 255.0 - mean) / std) @ fused["head.weight"].T + fused["head.bias"]
    assert (logits - _engine_logits(finished_run, images)).abs().max() <= 1e-5


@pytest.mark.parametrize("folders, shared_head", [(True, False), (False, False), (True, True)],
                         ids=["model folders", "prefix-less files", "headless folders + shared head"])
def test_hf_clip_run_end_to_end_and_fused_folder_loads_with_from_pretrained(tmp_path, folders, shared_head):
    results = run_config(ft.hf_world(tmp_path / "w", folders=folders, shared_head=shared_head), tmp_path / "run")
    _check_run(results)
    folder = tmp_path / "run" / runs.FUSED_MODEL
    tower = transformers.CLIPVisionModel.from_pretrained(folder).eval()
    head = load_file(folder / "head.safetensors")
    images = ft.images(32, 99)
    assert (ft.hf_logits(tower, head, images) - _engine_logits(tmp_path / "run", images)).abs().max() <= 1e-5
    with safe_open(folder / "head.safetensors", "pt") as f:
        assert json.loads(f.metadata()["manifoldmix_recipe"])["method"] == "manifoldmixms"


def test_wise_ft_gives_a_headless_zero_shot_model_the_shared_head(tmp_path):
    """WiSE-FT on headless Hugging Face folders: the zero-shot folder takes the pool's shared head, so α = 0 is that
    model as an ingredient, and its content (with the head's) is journaled."""
    config = ft.hf_world(tmp_path / "w", n=3, shared_head=True)
    data = json.loads(config.read_text())
    data.update(methods=["wise_ft"], wise_ft={"zero_shot": "zoo/ft2", "alphas": [0.0]})
    config.write_text(json.dumps(data))
    results = run_config(config, tmp_path / "run")
    assert results["methods"]["wise_ft"]["valacc"] == results["ingredients"]["ft2"]["valacc"]
    assert [e["role"] for e in events_of(tmp_path / "run", type="input")] == ["zero_shot"]


def test_a_shared_head_is_for_headless_checkpoints_only(tmp_path):
    config = ft.hf_world(tmp_path / "w", n=2, folders=False)
    save_file({"weight": torch.zeros(ft.CLASSES, 32), "bias": torch.zeros(ft.CLASSES)}, tmp_path / "w" / "head.safetensors")
    data = json.loads(config.read_text())
    data["model"]["head"] = "head.safetensors"
    config.write_text(json.dumps(data))
    with pytest.raises(IngredientError, match=r"ft0.safetensors \(parameter 'head.bias'\): has a head of its own, but model.head"):
        run_config(config, tmp_path / "run")
    headless = ft.hf_world(tmp_path / "h", n=2, shared_head=True)
    save_file({"fc.weight": torch.zeros(ft.CLASSES, 32)}, tmp_path / "h" / "head.safetensors")
    with pytest.raises(IngredientError, match=r"head.safetensors: is not a linear head: expected exactly 'weight' and 'bias'"):
        run_config(headless, tmp_path / "run2")


def test_the_cli_runs_a_pool_of_hugging_face_model_folders(tmp_path):
    """As the app launches runs: a fresh process, where transformers is imported only when the tower is built."""
    done = cli("run", ft.hf_world(tmp_path / "w"), "--run-dir", tmp_path / "run", "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    assert runs.read_status(tmp_path / "run").state == "finished"
    assert (tmp_path / "run" / runs.FUSED_MODEL / "config.json").is_file()
    with safe_open(tmp_path / "run" / runs.FUSED, "pt") as f:
        assert f.metadata()["manifoldmix_family"] == "hf_clip"


# -- config ------------------------------------------------------------------------------------------------------------


def test_config_family_must_be_registered_and_match_the_checkpoints(tmp_path):
    config = ft.timm_world(tmp_path / "w", n=2)
    data = json.loads(config.read_text())
    data["model"]["family"] = "keras"
    (tmp_path / "w" / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"model.family must be one of \('hf_clip', 'open_clip', 'timm_vit'\), got 'keras'"):
        load_config(tmp_path / "w" / "bad.json")
    data["model"]["family"] = "hf_clip"
    (tmp_path / "w" / "other.json").write_text(json.dumps(data))
    with pytest.raises(IngredientError, match=r"ft0.safetensors: no ViT image tower found; tried the model families hf_clip"):
        run_config(tmp_path / "w" / "other.json", tmp_path / "run")


def test_timm_needs_a_timm_model_name(tmp_path):
    config = ft.timm_world(tmp_path / "w", n=2)
    data = json.loads(config.read_text())
    del data["model"]["architecture"]
    config.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"for the timm_vit family, model.architecture names a timm model .* got None"):
        run_config(config, tmp_path / "run")


# -- a new family is one module and one record --------------------------------------------------------------------------


def test_a_toy_family_registered_through_the_registry_alone_runs(tmp_path, monkeypatch):
    """timm ViTs saved under `backbone.` (a common training-framework layout): a family from this test file alone."""
    monkeypatch.setitem(FAMILIES, "backbone_vit", Family(
        "backbone_vit", "timm ViT under backbone.", ft.backbone_detect, ("backbone.patch_embed.proj.weight",),
        spec="manifoldmix_core.families.timm_vit:spec", build="manifoldmix_core.families.timm_vit:build",
        features="manifoldmix_core.families.timm_vit:features"))
    config = ft.timm_world(tmp_path / "w", n=3)
    for path in (tmp_path / "w" / "zoo").glob("ft*.safetensors"):
        state = load_file(path)
        save_file({(k if k.startswith("head.") else "backbone." + k): v for k, v in state.items()}, path)
    assert detect(read_signature(tmp_path / "w" / "zoo" / "ft0.safetensors")).family == "backbone_vit"
    results = run_config(config, tmp_path / "run")
    _check_run(results)
    assert json.loads((tmp_path / "run" / runs.RESULTS).read_text())["methods"].keys() == results["methods"].keys()


# -- the app ------------------------------------------------------------------------------------------------------------


def test_ingredients_page_shows_each_ingredients_family_and_partition_page_draws_its_anatomy(app_env, tmp_path):
    from test_app_pages import open_page, texts

    draft = load_config(ft.hf_world(tmp_path / "h", n=2)).to_dict()
    at = open_page("views/ingredients.py", draft=draft)
    assert not at.exception
    assert list(at.dataframe[0].value["family"]) == [FAMILIES["hf_clip"].label] * 2
    assert all(f.label in texts(at.caption) for f in FAMILIES.values())
    at = open_page("views/partition.py", draft=load_config(ft.timm_world(tmp_path / "t", n=2)).to_dict())
    assert not at.exception
    at.selectbox(key="partition_preset").set_value("fine").run()
    assert "Valid: 7 components" in texts(at.success)
    assert list(at.dataframe[0].value["unit"])[:3] == ["embeddings", "block 0 attention", "block 0 MLP"]
    assert "C8" not in at.selectbox(key="partition_preset").options


def test_model_may_be_omitted_and_unset_model_settings_stay_out_of_the_canonical_config(tmp_path):
    config = ft.hf_world(tmp_path / "w", n=2)
    data = json.loads(config.read_text())
    del data["model"]
    config.write_text(json.dumps(data))
    parsed = load_config(config)
    assert parsed.model.family is None and parsed.model.architecture is None and parsed.model.options == {}
    assert set(parsed.to_dict()["model"]) == {"normalize_features", "quick_gelu", "image_mean", "image_std"}
    results = run_config(config, tmp_path / "run")
    assert set(results["methods"]) == {"uniform_soup", "greedy_soup", "manifoldmixms"}


def test_picking_a_model_folders_weights_on_a_server_folder_adds_the_folder(app_env, tmp_path, monkeypatch):
    from test_app_pages import open_page

    ft.hf_world(tmp_path / "h", n=2)
    ft.shard(tmp_path / "h" / "zoo" / "ft1")
    monkeypatch.setenv("MANIFOLDMIX_ROOTS", str(tmp_path / "h" / "zoo"))
    at = open_page("views/ingredients.py", draft={"name": "x", "model": {}, "ingredients": [], "val": None, "test": [], "ood": []})
    files = at.multiselect(key="server_files")
    assert {"ft0/model.safetensors", "ft1/model-00001-of-00002.safetensors"} <= set(files.options)
    files.set_value(["ft0/model.safetensors", "ft1/model-00001-of-00002.safetensors"]).run()
    at.button(key="add_server").click().run()
    assert not at.exception and not at.error
    pool = at.session_state["draft"]["ingredients"]
    assert [(i["name"], i["path"]) for i in pool] == [("ft0", str(tmp_path / "h" / "zoo" / "ft0")),
                                                      ("ft1", str(tmp_path / "h" / "zoo" / "ft1"))]
    table = at.dataframe[0].value.set_index("name")
    assert table.loc["ft1", "size (MB)"] == table.loc["ft0", "size (MB)"] > 0


def test_the_registry_and_config_validation_import_no_model_library():
    """The app's start and config validation stay as light as before: families import their library when they build."""
    code = ("import sys, manifoldmix_core.config, manifoldmix_core.families, app_lib.ingredient_pool; "
            "print(sorted(m for m in ('torch', 'transformers', 'timm', 'open_clip') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_draft_started_in_the_app_runs_on_hugging_face_folders(tmp_path):
    """The app's empty draft names no architecture, so the family (here Hugging Face, from config.json) decides it."""
    from app_lib.draft import EMPTY

    config = ft.hf_world(tmp_path / "w", n=2)
    data = json.loads(config.read_text())
    data["model"] = {**EMPTY["model"], **{k: data["model"][k] for k in ("image_mean", "image_std")}}
    config.write_text(json.dumps(data))
    assert set(run_config(config, tmp_path / "run")["methods"]) == {"uniform_soup", "greedy_soup", "manifoldmixms"}
