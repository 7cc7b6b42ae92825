# ruff: noqa: F811  (pytest fixtures imported from app_support are redefined as arguments)
"""The method registry: WiSE-FT added through it, and a toy method seen everywhere after one `register` call."""

from __future__ import annotations

import json

import pytest
from app_support import APP, app_env  # noqa: F401
from helpers import assert_same_run, derived_config, events_of, fused_tensors, run_config, simulate_kill
from streamlit.testing.v1 import AppTest

from app_lib.live import candidate_timeline, evaluations, mixing_method
from manifoldmix_core import methods, runs
from manifoldmix_core.config import load_config
from manifoldmix_core.errors import ConfigError, ResumeError
from manifoldmix_core.events import read as read_events
from manifoldmix_core.methods import Marker, Method, one_step
from manifoldmix_core.runner import execute
from manifoldmix_core.soups.kitchen import Kitchen, SoupResult

ALPHAS = [round(0.1 * i, 1) for i in range(11)]


# -- WiSE-FT ----------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wise_ft_config(toy_world):
    """WiSE-FT between the best ingredient (a) and b as the "zero-shot" model: their average is the teacher (toy.py)."""
    return derived_config(toy_world, "wise-ft", methods=["uniform_soup", "wise_ft"], wise_ft={"zero_shot": "b.safetensors"})


@pytest.fixture(scope="module")
def wise_ft_run(wise_ft_config, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("wise-ft") / "run"
    run_config(wise_ft_config, run_dir)
    return run_dir


def test_wise_ft_searches_alpha_on_valacc(wise_ft_run):
    results = runs.read_json(wise_ft_run / runs.RESULTS)
    evals = events_of(wise_ft_run, type="eval", method="wise_ft")
    m = results["partition"]["n"]
    assert [e["lambda"] for e in evals] == [[alpha] * m for alpha in ALPHAS] and {e["phase"] for e in evals} == {"alpha"}
    valacc = {e["lambda"][0]: e["valacc"] for e in evals}
    assert valacc[1.0] == results["ingredients"]["a"]["valacc"]  # α = 1 is the best ingredient itself
    assert valacc[0.0] == pytest.approx(results["ingredients"]["b"]["valacc"])  # α = 0 is the zero-shot model
    entry = results["methods"]["wise_ft"]
    assert entry["alpha"] == max(ALPHAS, key=lambda alpha: valacc[alpha]) == 0.5 and entry["valacc"] == valacc[0.5] == 1.0
    assert entry["ingredients"] == ["a"] and entry["accuracy"]["test"] == 1.0


def test_wise_ft_is_the_fused_model_without_manifoldmixms(wise_ft_run):
    results = runs.read_json(wise_ft_run / runs.RESULTS)
    assert results["fused"]["method"] == "wise_ft"
    _, metadata = fused_tensors(wise_ft_run / runs.FUSED)
    recipe = json.loads(metadata["manifoldmix_recipe"])
    assert recipe["method"] == "wise_ft" and recipe["alpha"] == 0.5 and recipe["ingredients"] == ["a"]


def test_wise_ft_resumes_and_refuses_a_changed_zero_shot_model(wise_ft_run, tmp_path):
    raw = runs.read_events(wise_ft_run)
    halfway = [i for i, e in enumerate(raw) if e.get("method") == "wise_ft" and e["type"] == "eval"][5]
    resumed = simulate_kill(wise_ft_run, tmp_path / "resumed", halfway)
    execute(resumed)
    assert_same_run(resumed, wise_ft_run)

    changed = simulate_kill(wise_ft_run, tmp_path / "changed", halfway)
    config = runs.read_json(changed / runs.CONFIG)
    config["wise_ft"]["zero_shot"] = config["ingredients"][3]["path"]  # another file: `noise`, not `b`
    (changed / runs.CONFIG).write_text(json.dumps(config))
    with pytest.raises(ResumeError, match="fingerprint was"):
        execute(changed)


def test_wise_ft_needs_its_zero_shot_model(toy_world):
    missing = derived_config(toy_world, "wise-ft-missing", methods=["wise_ft"])
    with pytest.raises(ConfigError, match="'wise_ft' settings"):
        load_config(missing)
    bad = derived_config(toy_world, "wise-ft-bad", methods=["wise_ft"], wise_ft={"zero_shot": "b.safetensors", "alphas": [0.5, 2]})
    with pytest.raises(ConfigError, match=r"wise_ft.alphas must be .* in \[0, 1\]"):
        load_config(bad)


# -- a method added through the registry alone ----------------------------------------------------------------------

def blend_best_two(kitchen: Kitchen, _config) -> SoupResult:
    """The toy method: the two best ingredients averaged, one ValAcc (on the toy world a and a_copy: a itself)."""
    first, second = kitchen.order[:2]
    psi, lam = kitchen.theta(first).clone(), [0.5] * kitchen.n_components
    valacc = kitchen.valacc("candidate", second, lam, kitchen.mixed(psi, second, lam))
    kitchen.commit(psi, second, lam)
    kitchen.decide(second, True, valacc, lam)
    return SoupResult([first, second], valacc, params=psi, lambdas=[lam])


TOY = Method("blend_best_two", "Best-two blend", "fused", f"{__name__}:blend_best_two", Marker("hexagon", 12, "#17becf"),
             steps=one_step, default=False)


@pytest.fixture
def toy_method():
    """TOY registered for one test, as a plug-in would register it."""
    methods.register(TOY)
    yield TOY
    del methods.METHODS[TOY.name]


def test_a_method_registered_alone_is_validated_run_shown_and_followed(toy_method, toy_world, app_env):
    config = derived_config(toy_world, "toy-method", methods=["uniform_soup", toy_method.name])
    assert load_config(config).methods == ["uniform_soup", toy_method.name]  # config validation knows it
    assert toy_method.name not in load_config(toy_world).methods  # not a default

    run_dir = app_env / "20250102-000000-toy-method"  # runner: in a runs root the app reads
    results = run_config(config, run_dir)
    entry = results["methods"][toy_method.name]
    assert entry["ingredients"] == ["a", "a_copy"] and entry["valacc"] == results["ingredients"]["a"]["valacc"]
    assert entry["accuracy"] == results["ingredients"]["a"]["accuracy"]
    assert results["fused"]["method"] == toy_method.name  # listed after the built-in methods
    assert runs.read_status(run_dir).progress == 1.0

    seen = read_events(run_dir)  # live view
    assert mixing_method(seen) == toy_method.name
    assert toy_method.name in set(evaluations(seen)["method"])
    assert candidate_timeline(seen).set_index("candidate").loc["a_copy", "status"] == "accepted"

    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params["run"] = run_dir.name
    at.run()
    at.switch_page("views/run.py").run()
    assert not at.exception
    assert "Candidates of Best-two blend" in " ".join(m.value for m in at.markdown)
    assert toy_method.label in at.pills(key="run_methods").options

    at.query_params["runs"] = run_dir.name
    at.switch_page("views/results.py").run()  # Results: Table 1 row and Figure 2 marker
    assert not at.exception
    table = at.dataframe[0].value
    assert table.loc["Best-two blend", "test"] == pytest.approx(100 * results["ingredients"]["a"]["accuracy"]["test"])
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    toy_trace = next(t for t in figure["data"] if t["name"] == "Best-two blend")
    assert toy_trace["marker"]["symbol"] == "hexagon" and toy_trace["marker"]["color"] == "#17becf"


def test_the_run_page_asks_for_wise_fts_zero_shot_model(app_env, toy_world, monkeypatch):
    launched = []
    monkeypatch.setattr("app_lib.run_store.spawn", lambda args, run_dir: launched.append(run_dir))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.session_state["draft"] = load_config(toy_world).to_dict()
    at.switch_page("views/run.py").run()
    at.pills(key="run_methods").set_value(["wise_ft"]).run()
    assert at.button(key="launch").disabled and "zero-shot" in " ".join(i.value for i in at.error)
    at.text_input(key="run_wise_ft.zero_shot").set_value("b.safetensors").run()
    at.button(key="launch").click().run()
    assert not at.exception
    config = runs.read_json(launched[0] / runs.CONFIG)
    assert config["methods"] == ["wise_ft"] and config["wise_ft"] == {"zero_shot": str(toy_world.parent / "b.safetensors")}
    assert load_config(launched[0] / runs.CONFIG).wise_ft.alphas == ALPHAS
