"""Checkpoint layouts, the classifier bound to flat buffers, architecture checks, a model-soups-layout run."""

from __future__ import annotations

import json

import open_clip
import pytest
import torch
import toy
from helpers import derived_config, fused_tensors, run_config
from safetensors.torch import load_file, save_file

from manifoldmix_core import runs
from manifoldmix_core.anatomy import KeyLayout, detect_key_layout
from manifoldmix_core.errors import ConfigError, IngredientError
from manifoldmix_core.images import load_tensor_file
from manifoldmix_core.ingredients import signature_of
from manifoldmix_core.mixing import FlatLayout, mix
from manifoldmix_core.models import Classifier, ModelSpec, bind, build_classifier, check_architecture, spec_from_signature
from manifoldmix_core.partition import structural

TEXT = {"context_length": 8, "vocab_size": 50, "width": 16, "heads": 2, "layers": 1}


def tiny_clip_state(seed: int) -> dict[str, torch.Tensor]:
    """A full open_clip CLIP state dict whose image tower has the toy's architecture."""
    torch.manual_seed(seed)
    model = open_clip.model.CLIP(toy.EMBED, toy.VISION, TEXT)
    return {k: v.clone() for k, v in model.state_dict().items()}


def model_soups_layout(clip_state: dict, head: dict) -> dict[str, torch.Tensor]:
    """model-soups' ModelWrapper: 'model.' + CLIP without the text transformer, plus classification_head.*."""
    state = {f"model.{k}": v for k, v in clip_state.items() if not k.startswith("transformer.")}
    state["classification_head.weight"], state["classification_head.bias"] = head["weight"], head["bias"]
    return state


# -- layouts --------------------------------------------------------------------------------------


def test_detect_layout_open_clip_image_tower_and_head():
    state = toy.teacher()
    layout = detect_key_layout(state)
    assert layout == KeyLayout("visual.", "head.")
    assert all(layout.classifier_name(n) == n for n in state)


def test_detect_layout_full_clip_with_head():
    state = tiny_clip_state(0)
    state["head.weight"], state["head.bias"] = torch.zeros(toy.CLASSES, toy.EMBED), torch.zeros(toy.CLASSES)
    layout = detect_key_layout(state)
    assert layout == KeyLayout("visual.", "head.")
    assert layout.classifier_name("visual.proj") == "visual.proj"
    text = [n for n in state if not n.startswith(("visual.", "head."))]
    assert "transformer.resblocks.0.attn.in_proj_weight" in text and "logit_scale" in text
    assert all(layout.classifier_name(n) is None for n in text)
    # The same CLIP with the head named as in OpenAI-CLIP finetuning code.
    state["classification_head.weight"], state["classification_head.bias"] = state.pop("head.weight"), state.pop("head.bias")
    assert detect_key_layout(state) == KeyLayout("visual.", "classification_head.")


def test_detect_layout_model_soups():
    state = model_soups_layout(tiny_clip_state(0), {"weight": torch.zeros(4, toy.EMBED), "bias": torch.zeros(4)})
    layout = detect_key_layout(state)
    assert layout == KeyLayout("model.visual.", "classification_head.")
    assert layout.classifier_name("model.visual.transformer.resblocks.1.mlp.c_fc.weight") == \
        "visual.transformer.resblocks.1.mlp.c_fc.weight"
    assert layout.classifier_name("classification_head.bias") == "head.bias"
    for inert in ("model.token_embedding.weight", "model.ln_final.weight", "model.logit_scale", "model.text_projection"):
        assert layout.classifier_name(inert) is None


def test_detect_layout_errors():
    state = toy.teacher()
    with pytest.raises(IngredientError, match="no linear head"):
        detect_key_layout([n for n in state if not n.startswith("head.")])
    with pytest.raises(IngredientError, match="no ViT image tower"):
        detect_key_layout([n for n in state if n != "visual.conv1.weight"])


# -- building and binding ----------------------------------------------------------------------------


def _images(n: int = 24, seed: int = 3) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _reference_logits(spec: ModelSpec, state: dict, images: torch.Tensor) -> torch.Tensor:
    model = Classifier(spec)
    model.load_state_dict(state)
    with torch.no_grad():
        return model.eval()(images)


def _bound(spec: ModelSpec, state: dict):
    """A meta-built classifier whose parameters are views of one flat buffer, as the runner does it."""
    layout = detect_key_layout(state)
    flat_layout = FlatLayout.build(structural(list(state), layout), {n: tuple(v.shape) for n, v in state.items()},
                                   is_live=lambda n: layout.classifier_name(n) is not None)
    work = flat_layout.flatten(state)
    model = build_classifier(spec)
    bind(model, {layout.classifier_name(n): v for n, v in flat_layout.views(work).items()})
    return model, flat_layout, work


@pytest.mark.parametrize("normalize", [False, True])
def test_bound_classifier_equals_loaded_classifier(normalize):
    spec = ModelSpec(toy.VISION, embed_dim=toy.EMBED, num_classes=toy.CLASSES, normalize_features=normalize)
    state = toy.teacher()
    state["head.bias"] = torch.linspace(-1, 1, toy.CLASSES)
    images = _images()
    model, _, _ = _bound(spec, state)
    assert all(p.device.type == "cpu" for p in model.parameters())
    with torch.no_grad():
        got = model(images)
    expected = _reference_logits(spec, state, images)
    assert torch.allclose(got, expected, atol=1e-6, rtol=0)


def test_bound_classifier_follows_in_place_mixing():
    """Mixing into the flat buffer changes the model without any reload: it is the mixed model's logits."""
    spec = toy.spec()
    state = toy.teacher()
    other = toy.ingredients(state, torch.arange(toy.CLASSES).repeat(3))["noise"]
    model, flat_layout, work = _bound(spec, state)
    psi, theta = flat_layout.flatten(state), flat_layout.flatten(other)
    lam = [0.9, 0.7, 0.5, 0.3, 0.1]
    assert len(lam) == len(flat_layout.component_spans)
    mix(work, psi, theta, lam, flat_layout.live_spans)
    images = _images()
    with torch.no_grad():
        got = model(images)
    partition = structural(list(state), detect_key_layout(state))
    mixed = {n: lam[j] * state[n] + (1 - lam[j]) * other[n] for j, c in enumerate(partition.components) for n in c.params}
    assert torch.allclose(got, _reference_logits(spec, mixed, images), atol=1e-4, rtol=1e-5)
    with torch.no_grad():
        assert not torch.allclose(got, _reference_logits(spec, state, images), atol=1e-3)


def test_spec_from_signature_reads_head_shape():
    signature = signature_of(toy.teacher())
    spec = spec_from_signature(toy.VISION, signature, KeyLayout("visual.", "head."))
    assert (spec.embed_dim, spec.num_classes, spec.quick_gelu) == (toy.EMBED, toy.CLASSES, False)
    assert spec.image_size == 16
    assert spec_from_signature("ViT-B-32-quickgelu", signature, KeyLayout("visual.", "head.")).quick_gelu is True
    with pytest.raises(ConfigError, match="ViT-Nope"):
        spec_from_signature("ViT-Nope", signature, KeyLayout("visual.", "head."))


# -- architecture checks -------------------------------------------------------------------------------


def _check(vision_changes: dict, state: dict | None = None):
    state = state or toy.teacher()
    spec = ModelSpec({**toy.VISION, **vision_changes}, embed_dim=toy.EMBED, num_classes=toy.CLASSES)
    model = build_classifier(spec)
    check_architecture(model, signature_of(state), detect_key_layout(state), "ckpt.safetensors")
    return model


@pytest.mark.parametrize("changes", [{"layers": "x"}, {"width": "32"}, {"patch_size": 0}, {"image_size": "big"}, {"depth": 2}])
def test_a_vision_config_open_clip_cannot_build_is_a_config_error(changes):
    with pytest.raises(ConfigError, match="invalid vision config"):
        Classifier(ModelSpec({**toy.VISION, **changes}, toy.EMBED, toy.CLASSES))


def test_check_architecture_accepts_the_right_config():
    _check({})


def test_check_architecture_wrong_width_names_the_parameter():
    with pytest.raises(IngredientError, match="architecture expects") as exc:
        _check({"width": 64, "head_width": 32})
    model = build_classifier(ModelSpec({**toy.VISION, "width": 64, "head_width": 32}, toy.EMBED, toy.CLASSES))
    state = toy.teacher()
    first_mismatch = next(n for n, p in model.named_parameters() if tuple(p.shape) != tuple(state[n].shape))
    assert exc.value.path == "ckpt.safetensors" and exc.value.param == first_mismatch
    assert str(list(state[first_mismatch].shape)) in str(exc.value)


def test_check_architecture_wrong_depth_names_the_parameter():
    with pytest.raises(IngredientError, match=r"visual\.transformer\.resblocks\.2\.") as exc:
        _check({"layers": 3})
    assert exc.value.path == "ckpt.safetensors"
    with pytest.raises(IngredientError, match="not used by the chosen architecture") as exc:
        _check({"layers": 1})
    assert exc.value.param.startswith("visual.transformer.resblocks.1.")


def test_check_architecture_in_model_soups_layout_names_the_checkpoint_parameter():
    state = model_soups_layout(tiny_clip_state(0), {"weight": torch.zeros(4, toy.EMBED), "bias": torch.zeros(4)})
    _check({}, state)
    with pytest.raises(IngredientError) as exc:
        _check({"patch_size": 4}, state)
    assert exc.value.param == "model.visual.positional_embedding"


def test_run_with_wrong_architecture_fails_naming_the_parameter(toy_world, tmp_path):
    config = derived_config(toy_world, "wide-run", model={"architecture": {**toy.VISION, "width": 64, "head_width": 32}},
                            methods=["uniform_soup"])
    with pytest.raises(IngredientError) as exc:
        run_config(config, tmp_path / "run")
    assert exc.value.param is not None
    status = runs.read_status(tmp_path / "run")
    assert status.state == "failed" and exc.value.param in status.message


# -- a model-soups-layout run with normalised features ----------------------------------------------------


@pytest.fixture(scope="module")
def model_soups_run(toy_world, tmp_path_factory):
    """Toy ingredients a and b re-saved in model-soups layout with (different) text-tower leftovers."""
    root = tmp_path_factory.mktemp("model-soups")
    names = ("a", "b")
    for seed, name in enumerate(names):
        toy_state = load_file(toy_world.parent / f"{name}.safetensors")
        clip = tiny_clip_state(seed)
        clip.update({k: v for k, v in toy_state.items() if k.startswith("visual.")})
        save_file(model_soups_layout(clip, {"weight": toy_state["head.weight"], "bias": toy_state["head.bias"]}),
                  root / f"{name}.safetensors")
    config = derived_config(toy_world, "model-soups",
                            model={"architecture": toy.VISION, "normalize_features": True},
                            ingredients=[{"name": n, "path": str(root / f"{n}.safetensors")} for n in names],
                            partition={"preset": "author", "granularity": 2},
                            methods=["uniform_soup", "manifoldmixms"],
                            manifoldmix={"budget": 4})
    run_dir = root / "run"
    results = run_config(config, run_dir)
    return root, run_dir, results


@pytest.mark.slow
def test_model_soups_run_with_normalized_features(model_soups_run, toy_world):
    root, run_dir, results = model_soups_run
    assert runs.read_status(run_dir).state == "finished"
    spec = ModelSpec(toy.VISION, embed_dim=toy.EMBED, num_classes=toy.CLASSES, normalize_features=True)
    images, labels = load_tensor_file(toy_world.parent / "val.safetensors", 16)
    for name in ("a", "b"):
        state = load_file(root / f"{name}.safetensors")
        classifier_state = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.visual.")}
        classifier_state["head.weight"] = state["classification_head.weight"]
        classifier_state["head.bias"] = state["classification_head.bias"]
        predictions = _reference_logits(spec, classifier_state, images).argmax(1)
        expected = float((predictions == labels).float().mean())
        assert results["ingredients"][name]["valacc"] == pytest.approx(expected, abs=1e-6)
    partition = results["partition"]
    assert "model.visual.transformer" in partition["live"] and "classification_head.weight" in partition["live"]
    inert = [c for c in partition["components"] if c not in partition["live"]]
    assert sorted(inert) == sorted(["model.positional_embedding", "model.text_projection", "model.logit_scale",
                                    "model.token_embedding.weight", "model.ln_final.weight", "model.ln_final.bias"])


@pytest.mark.slow
def test_model_soups_fused_model_keeps_and_mixes_inert_parameters(model_soups_run):
    root, run_dir, results = model_soups_run
    fused, metadata = fused_tensors(run_dir / runs.FUSED)
    recipe = json.loads(metadata["manifoldmix_recipe"])
    ingredients = {n: load_file(root / f"{n}.safetensors") for n in recipe["ingredients"]}
    first = next(iter(ingredients.values()))
    assert fused.keys() == first.keys()
    assert all(fused[k].dtype == v.dtype for k, v in first.items())
    assert recipe["beta"] == results["methods"][recipe["method"]].get("beta")
    for j, component in enumerate(recipe["partition"]["components"]):
        for name in component["params"]:
            expected = sum(recipe["beta"][i][j] * ingredients[n][name] for i, n in enumerate(recipe["ingredients"]))
            assert torch.allclose(fused[name], expected, atol=1e-5, rtol=1e-5), name
    # a and b share the teacher's tower; their average head is the teacher's minus a constant, and normalising
    # features rescales each image's logits by a positive factor: b is accepted and the soup is always right.
    assert recipe["ingredients"] == ["a", "b"] and recipe["valacc"] == 1.0
    # Inert components are not searched: they stay at λ = k/(k+1) = 1/2, so the text leftovers are averaged.
    components = [c["name"] for c in recipe["partition"]["components"]]
    assert recipe["lambdas"][0][components.index("model.token_embedding.weight")] == 0.5
    assert torch.allclose(fused["model.token_embedding.weight"], (ingredients["a"]["model.token_embedding.weight"]
                                                                   + ingredients["b"]["model.token_embedding.weight"]) / 2)
