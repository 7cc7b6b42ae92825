"""The demo zoo: a reduced build end to end, its files through the engine, and a demo run on it."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from manifoldmix_core.anatomy import detect_key_layout
from manifoldmix_core.config import parse_config
from manifoldmix_core.data import EvalSet
from manifoldmix_core.demo import run_config, splits, zoo
from manifoldmix_core.demo.paths import demo_ready
from manifoldmix_core.demo.train import FINETUNE_FAMILIES, PRETRAIN_AUG, augment, finetune, random_hparams
from manifoldmix_core.evaluate import Evaluator
from manifoldmix_core.ingredients import find_ingredients, read_state_dict, validate_pool
from manifoldmix_core.mixing import FlatLayout
from manifoldmix_core.models import bind, build_classifier, spec_from_signature
from manifoldmix_core.partition import whole_model
from manifoldmix_core.runner import execute, start_run
from manifoldmix_core.runs import read_events, read_status


@pytest.fixture(scope="module")
def reduced_zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    manifest = zoo.build(root, zoo.REDUCED, show=False)
    return root, manifest


def test_reduced_build_writes_every_artefact(reduced_zoo):
    root, manifest = reduced_zoo
    assert (root / zoo.PRETRAINED).is_file() and (root / zoo.PROBE).is_file()
    names = sorted(p.stem for p in (root / zoo.ZOO).glob("*.safetensors"))
    assert names == [f"ft_{i:02d}" for i in range(zoo.REDUCED.n_finetunes)]
    assert json.loads((root / zoo.MANIFEST).read_text()) == manifest
    assert 0 <= manifest["pretrained_valacc"] <= 1 and 0 <= manifest["linear_probe_valacc"] <= 1
    hparams = json.loads((root / zoo.ZOO / "hparams.json").read_text())
    assert set(hparams) == set(names) and all({"lr", "wd", "epochs", "seed"} <= set(h) for h in hparams.values())
    assert demo_ready(root)


def shipped_zoo():
    return zoo.DEMO_DIR, json.loads((zoo.DEMO_DIR / zoo.MANIFEST).read_text())


@pytest.mark.parametrize("which", ["reduced", "shipped"])
def test_zoo_files_reproduce_recorded_valacc_through_the_engine(which, reduced_zoo):
    root, manifest = reduced_zoo if which == "reduced" else shipped_zoo()
    if which == "shipped":
        assert len(manifest["valacc"]) >= 16
        assert sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) <= 25 * 2**20
    ingredients = find_ingredients(root / zoo.ZOO)
    assert all(ing.hparams for ing in ingredients)
    signature = validate_pool(ingredients)
    layout = detect_key_layout(signature)
    spec = spec_from_signature(manifest["vision"], signature, layout)
    model = build_classifier(spec)
    flat = FlatLayout.build(whole_model(signature), {n: i.shape for n, i in signature.items()}, lambda n: True)
    images, labels = splits.load_split("val")
    val = EvalSet("val", torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels))
    for ing in ingredients:
        params = flat.flatten(read_state_dict(ing.path))
        bind(model, {layout.classifier_name(n): v for n, v in flat.views(params).items()})
        assert Evaluator(model, torch.device("cpu")).accuracy(val) == pytest.approx(manifest["valacc"][ing.name], abs=1e-3)


def test_build_is_deterministic(reduced_zoo, tmp_path):
    root, _ = reduced_zoo
    plan = zoo.BuildPlan(n_finetunes=1, pretrain_epochs=1, pretrain_fraction=0.005, train_n=100, epoch_scale=0.1)
    first, second = zoo.build(tmp_path / "one", plan, show=False), zoo.build(tmp_path / "two", plan, show=False)
    assert first["valacc"] == second["valacc"]
    for name in (zoo.PRETRAINED, zoo.PROBE, f"{zoo.ZOO}/ft_00.safetensors"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_hparam_search_is_shaped_like_the_real_zoo_and_seeded():
    recipes = [random_hparams(i, 0, zoo.SEARCH) for i in range(200)]
    assert recipes == [random_hparams(i, 0, zoo.SEARCH) for i in range(200)]
    assert recipes != [random_hparams(i, 1, zoo.SEARCH) for i in range(200)]  # the plan's seed is the search's seed
    lrs = np.array([r.lr for r in recipes])
    low, high = zoo.SEARCH.lr
    assert lrs.min() >= low and lrs.max() <= high
    assert abs(np.median(np.log10(lrs)) - np.log10(low * (high / low) ** 0.5)) < 0.05  # log-uniform: median at the geometric mid
    assert {r.epochs for r in recipes} == set(range(zoo.SEARCH.epochs[0], zoo.SEARCH.epochs[1] + 1))
    for field in ("mixup", "smoothing"):  # each on for half the recipes, as in hparam_info.json
        off = sum(getattr(r, field) == 0 for r in recipes) / len(recipes)
        assert 0.35 < off < 0.65, field
    assert [r.family for r in recipes[:8]] == [*zoo.SEARCH.families, *zoo.SEARCH.families][:8]
    assert set(zoo.SEARCH.families) <= set(FINETUNE_FAMILIES)
    assert len({r.seed for r in recipes}) == len(recipes)


def test_each_finetune_trains_on_its_own_seeded_sample():
    """Bagging: one recipe's sample is the same every time; two recipes' samples differ; the head is refit on it."""
    images = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(40) % 10
    lp_init = zoo.load_model(zoo.DEMO_DIR / zoo.PROBE)
    recipe = lambda i: replace(random_hparams(i, 0, zoo.SEARCH), epochs=1, batch_size=8)  # noqa: E731
    first, again, other = (finetune(lp_init, images, labels, recipe(i)) for i in (0, 0, 1))
    state = lambda m: torch.cat([p.flatten() for p in m.state_dict().values()])  # noqa: E731
    assert torch.equal(state(first), state(again))
    assert not torch.equal(state(first), state(other))
    assert zoo.SEARCH.head_refit and not torch.equal(first.head.weight, lp_init.head.weight)


def test_anchor_keeps_a_finetune_closer_to_where_it_started():
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(64) % 10
    lp_init = zoo.load_model(zoo.DEMO_DIR / zoo.PROBE)
    start = torch.cat([p.flatten() for p in lp_init.parameters()])
    recipe = replace(random_hparams(0, 0, zoo.SEARCH), epochs=2, batch_size=16, head_refit=False, bag=1.0)
    drift = {anchor: float((torch.cat([p.detach().flatten() for p in finetune(lp_init, images, labels, replace(recipe, anchor=anchor)).parameters()])
                            - start).norm()) for anchor in (0.0, 50.0)}
    assert drift[50.0] < drift[0.0]


def test_shipped_zoo_is_the_complete_output_of_its_search():
    """No finetune dropped or re-rolled: the zoo holds exactly recipes 0..n-1 of the recorded search."""
    manifest = json.loads((zoo.DEMO_DIR / zoo.MANIFEST).read_text())
    plan = zoo.BuildPlan(**manifest["plan"])
    assert manifest["zoo_version"] == zoo.ZOO_VERSION and manifest["generator_version"] == splits.GENERATOR_VERSION
    assert manifest["protocol"] == json.loads(json.dumps(zoo.protocol(plan)))
    names = sorted(p.stem for p in (zoo.DEMO_DIR / zoo.ZOO).glob("*.safetensors"))
    assert names == [f"ft_{i:02d}" for i in range(plan.n_finetunes)]
    hparams = json.loads((zoo.DEMO_DIR / zoo.ZOO / "hparams.json").read_text())
    assert hparams == {f"ft_{i:02d}": random_hparams(i, plan.seed, zoo.SEARCH).to_dict() for i in range(plan.n_finetunes)}


def test_augment_keeps_range_and_changes_images():
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    for family in (None, PRETRAIN_AUG):
        args = () if family is None else (family,)
        out = augment(images, 1.0, torch.Generator().manual_seed(0), *args)
        assert out.shape == images.shape and out.min() >= 0 and out.max() <= 255
        assert not torch.equal(out, images.float())
        assert torch.equal(augment(images, 0.0, torch.Generator(), *args), images.float())
    flat = torch.full((4, 3, 32, 32), 100, dtype=torch.uint8)
    flat[:, :, :, :16] = 200  # left half bright: a flip moves it right, a 2-pixel shift cannot
    shifted = augment(flat, 1.0, torch.Generator().manual_seed(0))
    for image in shifted:  # jitter scales both halves alike, so the left half stays the brighter one in every image
        assert image[:, :, 2:14].min() > image[:, :, 18:30].max()


def test_augment_families_warp_and_occlude():
    """Geometry moves the edge between the halves off its column; occlusion paints flat bars; base does neither."""
    flat = torch.full((64, 3, 32, 32), 100, dtype=torch.uint8)
    flat[:, :, :, :16] = 200
    out = {name: augment(flat, 1.0, torch.Generator().manual_seed(0), family) for name, family in FINETUNE_FAMILIES.items()}
    for name, images in out.items():
        assert images.shape == flat.shape and images.min() >= 0 and images.max() <= 255, name
    edge_moved = lambda x: bool((x[:, :, :, 12:14].amin(dim=(1, 2, 3)) < x[:, :, :, 18:20].amax(dim=(1, 2, 3))).any())  # noqa: E731
    assert not edge_moved(out["base"]) and edge_moved(out["geometric"])
    base_again = augment(flat, 1.0, torch.Generator().manual_seed(0), FINETUNE_FAMILIES["base"])
    assert torch.equal(base_again, out["base"])  # the extra ops draw after the base ops: base recipes are unchanged
    changed = (out["occlusion"] != out["base"]).any(1)  # [N, H, W]: where occlusion differs from base, a flat grey bar
    assert changed.any()
    for image, mask in zip(out["occlusion"], changed):
        bar = image[:, mask]
        assert bar.numel() == 0 or (bar == bar[0, 0]).all()


def test_demo_run_on_reduced_zoo_writes_complete_run_directory(reduced_zoo, tmp_path):
    root, _ = reduced_zoo
    config = parse_config(run_config.demo_config(root, partition="coarse"))
    assert [d.name for d in config.test] == ["test", "v2", "sketch", "rendition", "objectnet", "a"]
    run_dir = start_run(config, tmp_path / "run")
    results = execute(run_dir)
    assert read_status(run_dir).state == "finished"
    for name in ("config.json", "status.json", "events.jsonl", "results.json", "fused.safetensors"):
        assert (run_dir / name).is_file()
    assert set(results["methods"]) == {"uniform_soup", "greedy_soup", "manifoldmixms", "ensemble", "greedy_ensemble"}
    assert set(results["methods"]["manifoldmixms"]["accuracy"]) == set(splits.EVAL_SPLITS)
    best = max(i["valacc"] for i in results["ingredients"].values())
    assert results["methods"]["manifoldmixms"]["valacc"] >= best
    assert any(e["type"] == "eval" and e["method"] == "manifoldmixms" for e in read_events(run_dir))


def test_demo_config_without_zoo_says_how_to_build(tmp_path):
    from manifoldmix_core.errors import ConfigError
    with pytest.raises(ConfigError, match="demo build"):
        run_config.demo_config(tmp_path)
