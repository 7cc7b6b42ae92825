# ruff: noqa: F811  (pytest fixtures imported from app_support are redefined as arguments)
"""Methods own their settings (issue 19): a method with a setting added by its module and record alone, the one budget
control of the Run page (issue 18, item 1), and optimizers the app lists without rewriting (issue 18, item 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from app_support import APP, TIMEOUT, app_env, open_page, texts, toy_draft  # noqa: F401
from helpers import derived_config, events_of, run_config
from pydantic import field_validator
from streamlit.testing.v1 import AppTest

from app_lib.components import partition_size
from app_lib.live import evaluations, mixing_method
from manifoldmix_core import methods, runs
from manifoldmix_core.config import load_config, settings_table
from manifoldmix_core.errors import ConfigError
from manifoldmix_core.events import read as read_events
from manifoldmix_core.methods import Marker, Method, SettingsRef, one_step
from manifoldmix_core.optim import OPTIMIZERS
from manifoldmix_core.settings import Settings, setting
from manifoldmix_core.soups.result import SoupResult


def launched_config(at: AppTest, launched: list) -> dict:
    at.button(key="launch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return json.loads((launched[-1] / runs.CONFIG).read_text())


# -- a method with a setting, added through its module and record alone ----------------------------------------------

class WeightedBlendSettings(Settings):
    """The toy method's one setting, declared beside its function as a plug-in would."""

    weight: float = setting(0.5, "Blend: weight of the best ingredient", "λ of the best ingredient; 1 − λ goes to the second")

    @field_validator("weight")
    @classmethod
    def _unit(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError("must be in [0, 1]")
        return value


def weighted_blend(kitchen, config) -> SoupResult:
    """The two best ingredients blended with the configured weight, one ValAcc."""
    first, second = kitchen.order[:2]
    psi, lam = kitchen.theta(first).clone(), [config.weighted_blend.weight] * kitchen.n_components
    valacc = kitchen.valacc("candidate", second, lam, kitchen.mixed(psi, second, lam))
    kitchen.commit(psi, second, lam)
    kitchen.decide(second, True, valacc, lam)
    return SoupResult([first, second], valacc, params=psi, lambdas=[lam])


TOY = Method("weighted_blend", "Weighted blend", "fused", f"{__name__}:weighted_blend", Marker("hexagon", 12, "#17becf"),
             steps=one_step, default=False, settings=SettingsRef("weighted_blend", f"{__name__}:WeightedBlendSettings"))


@pytest.fixture
def toy_method():
    methods.register(TOY)
    yield TOY
    del methods.METHODS[TOY.name]


def test_a_method_with_a_setting_needs_only_its_module_and_record(toy_method, toy_world, app_env, monkeypatch):
    """Issue 19's acceptance: widget, validation error, canonical config.json, runner, Results and the live view."""
    launched = []
    monkeypatch.setattr("app_lib.run_store.spawn", lambda args, run_dir: launched.append(run_dir))
    at = open_page("views/run.py", toy_draft(toy_world))
    assert "Weighted blend" in at.pills(key="run_methods").options
    at.pills(key="run_methods").set_value(["uniform_soup", TOY.name]).run()
    weight = at.number_input(key="run_weighted_blend.weight")  # the widget, from the settings model
    assert weight.value == 0.5 and weight.label == "Blend: weight of the best ingredient"
    weight.set_value(2.0).run()
    assert at.button(key="launch").disabled
    assert "weighted_blend.weight must be in [0, 1], got 2.0" in texts(at.error)  # the key, what it must be, the value
    at.number_input(key="run_weighted_blend.weight").set_value(0.25).run()
    assert not at.button(key="launch").disabled
    assert launched_config(at, launched)["weighted_blend"] == {"weight": 0.25}

    with pytest.raises(ConfigError, match=r"weighted_blend.weight must be in \[0, 1\], got 1.5"):
        load_config(derived_config(toy_world, "blend-bad", methods=[TOY.name], weighted_blend={"weight": 1.5}))
    config = derived_config(toy_world, "blend", methods=["uniform_soup", TOY.name], weighted_blend={"weight": 0.25})
    run_dir = app_env / "20250102-000000-blend"
    results = run_config(config, run_dir)
    assert runs.read_json(run_dir / runs.CONFIG)["weighted_blend"] == {"weight": 0.25}  # the canonical config.json
    assert load_config(toy_world).to_dict()["weighted_blend"] == {"weight": 0.5}  # defaults written for every run
    m = results["partition"]["n"]
    assert [e["lambda"] for e in events_of(run_dir, type="eval", method=TOY.name)] == [[0.25] * m]  # run with the setting
    assert results["methods"][TOY.name]["ingredients"] == ["a", "a_copy"]

    seen = read_events(run_dir)  # live view
    assert mixing_method(seen) == TOY.name and TOY.name in set(evaluations(seen)["method"])
    at.query_params["runs"] = run_dir.name
    at.switch_page("views/results.py").run()  # Results: its Table 1 row
    assert not at.exception
    assert "Weighted blend" in at.dataframe[0].value.index


# -- the one budget control (issue 18, item 1) ------------------------------------------------------------------------

def test_the_budget_typed_per_component_is_the_budget_that_runs(app_env, toy_world, monkeypatch):
    """The demo's stored total `"budget": 60` overrode a typed per-component budget: typing 200 ran 60."""
    launched = []
    monkeypatch.setattr("app_lib.run_store.spawn", lambda args, run_dir: launched.append(run_dir))
    draft = toy_draft(toy_world)
    draft["manifoldmix"]["budget"] = 60
    _, live = partition_size(draft)
    assert live and live > 1
    at = open_page("views/run.py", draft)
    per = at.number_input(key="run_manifoldmix.budget_per_component")
    assert per.value == round(60 / live)  # the stored total shown as what it means per component
    assert f"{round(60 / live)} per component × {live} optimised components = {round(60 / live) * live} evaluations" in texts(at.caption)
    per.set_value(200).run()
    assert f"200 per component × {live} optimised components = {200 * live} evaluations per candidate" in texts(at.caption)
    config = launched_config(at, launched)
    assert config["manifoldmix"]["budget_per_component"] == 200 and "budget" not in config["manifoldmix"]
    engine = load_config(launched[-1] / runs.CONFIG).manifoldmix
    assert engine.budget is None and engine.budget_per_component == 200
    assert "budget" not in at.session_state["draft"]["manifoldmix"]  # the workspace keeps what runs


# -- optimizers the app lists (issue 18, item 2) ----------------------------------------------------------------------

def test_a_valid_optimizer_the_list_lacks_is_kept_and_shown(app_env, toy_world, monkeypatch):
    """A workspace's TBPSA was silently rewritten to Cobyla when Run opened."""
    launched = []
    monkeypatch.setattr("app_lib.run_store.spawn", lambda args, run_dir: launched.append(run_dir))
    assert "TBPSA" not in OPTIMIZERS
    draft = toy_draft(toy_world)
    draft["manifoldmix"]["optimizer"] = "TBPSA"
    at = open_page("views/run.py", draft)
    box = at.selectbox(key="run_manifoldmix.optimizer")
    assert box.value == "TBPSA" and set(OPTIMIZERS) <= set(box.options)
    assert launched_config(at, launched)["manifoldmix"]["optimizer"] == "TBPSA"


def test_an_optimizer_name_off_the_list_is_checked_against_nevergrad(app_env, toy_world, monkeypatch):
    """The box takes any typed name (accept_new_options; AppTest cannot type one, so the draft carries it): a name nevergrad
    knows runs as given, a wrong one is named with suggestions and blocks the launch."""
    launched = []
    monkeypatch.setattr("app_lib.run_store.spawn", lambda args, run_dir: launched.append(run_dir))
    draft = toy_draft(toy_world)
    draft["manifoldmix"]["optimizer"] = "Cobila"
    at = open_page("views/run.py", draft)
    assert at.selectbox(key="run_manifoldmix.optimizer").value == "Cobila"
    assert at.button(key="launch").disabled and "did you mean" in texts(at.error) and "Cobyla" in texts(at.error)
    at.selectbox(key="run_manifoldmix.optimizer").set_value("CMA").run()
    assert launched_config(at, launched)["manifoldmix"]["optimizer"] == "CMA"


def test_the_readmes_settings_table_is_the_settings_models():
    """The README's table is written from the settings models; a setting added or changed without it fails here."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    shown = readme.split("<!-- settings table: start -->\n")[1].split("\n<!-- settings table: end -->")[0]
    assert shown == settings_table(), "regenerate it: python -c 'from manifoldmix_core.config import settings_table; print(settings_table())'"
