# ruff: noqa: F811  (pytest fixtures imported from app_support are redefined as arguments)
"""AppTest tests of every page: widgets, errors and state, on a real finished toy run."""

from __future__ import annotations

import json
import re

import pytest
from app_support import APP, TIMEOUT, TOY_RUN, app_env, fake_run, open_page, texts, toy_draft  # noqa: F401

from manifoldmix_core import runs

# -- Start ----------------------------------------------------------------------------------------------------------

def test_start_explains_and_guards_the_missing_demo(app_env, monkeypatch):
    monkeypatch.setattr("app_lib.demo.demo_status", lambda: (False, "The demo is not built yet"))
    monkeypatch.setattr("app_lib.draft.demo_status", lambda: (False, "The demo is not built yet"))
    at = open_page("views/start.py")
    assert "manifold mixing model soup" in texts(at.markdown)
    button = at.button(key="run_demo")
    assert button.disabled
    assert "not built yet" in texts(at.warning)


def test_start_runs_the_demo_and_jumps_to_it(app_env, toy_world, monkeypatch):
    monkeypatch.setenv("MANIFOLDMIX_DEMO_CONFIG", str(toy_world))
    launched = []
    monkeypatch.setattr("app_lib.run_store.spawn", lambda args, run_dir: launched.append(args))
    at = open_page("views/start.py")
    at.button(key="run_demo").click().run()
    assert not at.exception
    assert launched and launched[0][0] == "run"
    run_id = at.query_params["run"]
    assert (app_env / run_id / runs.CONFIG).is_file() and run_id.endswith("-demo")
    assert [t.value for t in at.title] == ["Run"]


def test_start_tells_the_demo_zoo_story_from_the_measured_table(app_env):
    at = open_page("views/start.py")
    assert [e.label for e in at.expander] == ["What the shipped demo zoo shows (README, Table 1)"]
    story = texts(at.expander[0].markdown)
    assert "uniform soup" in story and "greedy soup keeps" in story and "ManifoldMixMS" in story


# -- Run --------------------------------------------------------------------------------------------------------------

def test_run_page_shows_a_finished_run_from_the_url(app_env):
    at = open_page("views/run.py", query={"run": TOY_RUN})
    assert at.selectbox(key="pick_run").value == TOY_RUN
    assert "finished" in texts(at.markdown)
    assert "Finished" in texts(at.success)
    assert at.selectbox(key="lambda_candidate").value == "b"
    assert at.button(key="open_results")
    assert at.query_params["run"] == TOY_RUN
    assert "Evaluation sets: val read from disk a batch at a time" in texts(at.caption)  # from status.json, written by the engine


def test_run_page_says_why_a_run_failed(app_env):
    fake_run(app_env, "20990101-000000-broken", {"state": "failed", "message": "val: dataset folder not found",
                                                  "traceback": "Traceback ..."})
    at = open_page("views/run.py", query={"run": "20990101-000000-broken"})
    assert "dataset folder not found" in texts(at.error)
    traceback = [e for e in at.expander if e.label == "Traceback"]  # the page always has other expanders
    assert len(traceback) == 1 and [c.value for c in traceback[0].code] == ["Traceback ..."]


def test_run_page_cancel_and_resume(app_env, monkeypatch):
    import os
    running = fake_run(app_env, "20990101-000000-live", {"state": "running", "progress": 0.4, "eta_s": 75, "pid": os.getpid(),
                                                          "message": "manifoldmixms: b"})
    at = open_page("views/run.py", query={"run": running.name})
    assert "about 1 min 15 s left" in at.get("progress")[0].proto.text
    at.button(key="cancel").click().run()
    assert (running / runs.CANCEL).is_file()
    resumed = []
    monkeypatch.setattr("app_lib.run_store.spawn", lambda args, run_dir: resumed.append(args))
    fake_run(app_env, "20990101-000001-stopped", {"state": "cancelled", "message": "cancelled by the user"})
    at = open_page("views/run.py", query={"run": "20990101-000001-stopped"})
    assert "Cancelled" in texts(at.warning)
    at.button(key="resume").click().run()
    assert resumed == [["resume", str(app_env / "20990101-000001-stopped"), "--quiet"]]


def test_run_page_launches_the_draft_with_its_settings(app_env, toy_world, monkeypatch):
    launched = []
    monkeypatch.setattr("app_lib.run_store.spawn", lambda args, run_dir: launched.append(run_dir))
    at = open_page("views/run.py", draft=toy_draft(toy_world))
    at.number_input(key="run_manifoldmix.budget_per_component").set_value(2)
    at.segmented_control(key="run_manifoldmix.semantics").set_value("code-release")
    at.text_input(key="run_name").set_value("budget two")
    at.button(key="launch").click().run()
    assert not at.exception
    config = json.loads((launched[0] / runs.CONFIG).read_text())
    assert config["manifoldmix"]["budget_per_component"] == 2 and config["manifoldmix"]["semantics"] == "code-release"
    assert at.query_params["run"] == launched[0].name and launched[0].name.endswith("budget-two")


def test_run_page_without_ingredients_cannot_launch(app_env):
    from app_lib.draft import EMPTY
    at = open_page("views/run.py", draft=json.loads(json.dumps(EMPTY)))
    assert at.button(key="launch").disabled
    assert "ingredients" in texts(at.error)


@pytest.mark.parametrize("budget", [0, -5])
def test_run_page_refuses_an_out_of_range_budget_with_the_reason(app_env, toy_world, budget):
    """Issue 9, defect 5: a budget shown as 0 or -5 left Launch enabled, and the run used 30."""
    at = open_page("views/run.py", draft=toy_draft(toy_world))
    at.number_input(key="run_manifoldmix.budget_per_component").set_value(budget).run()
    assert at.number_input(key="run_manifoldmix.budget_per_component").value == budget
    assert at.button(key="launch").disabled
    assert "budget must be at least 1" in texts(at.error)


def test_run_page_warns_about_degenerate_setups(app_env, toy_world):
    """Issue 9, defect 5: a one-ingredient run or budget 1 started without a word."""
    draft = toy_draft(toy_world)
    draft["ingredients"] = draft["ingredients"][:1]
    at = open_page("views/run.py", draft=draft)
    at.number_input(key="run_manifoldmix.budget_per_component").set_value(1).run()
    assert "Only one ingredient" in texts(at.warning) and "budget of 1 evaluation" in texts(at.warning)
    assert not at.button(key="launch").disabled


# -- Results ----------------------------------------------------------------------------------------------------------

def test_results_page_has_figure2_table1_heatmap_and_downloads(app_env):
    at = open_page("views/results.py")
    assert at.multiselect(key="results_runs").value == [TOY_RUN]
    assert at.query_params["runs"] == TOY_RUN
    table = at.dataframe[0].value
    assert "Best finetuned (a)" in table.index and "ManifoldMixMS-C5" in table.index
    assert table.loc["Greedy soup", "Avg OOD"] == pytest.approx(100.0)
    labels = [b.label for b in at.get("download_button")]
    assert any(label.startswith("Download fused model (ManifoldMixMS, ") for label in labels)
    assert "Download recipe (JSON)" in labels


def test_results_table1_shows_95_percent_intervals_from_the_recorded_dataset_sizes(app_env):
    """Issue 9, smaller: the app's Table 1 had no confidence intervals; each cell now reads accuracy ± 1.96·sqrt(p(1−p)/n)."""
    import math

    import pyarrow as pa
    results = json.loads((app_env / TOY_RUN / runs.RESULTS).read_text())
    at = open_page("views/results.py")
    shown = pa.ipc.open_stream(at.dataframe[0].proto.arrow_data.styler.display_values).read_pandas()
    p, n = results["methods"]["uniform_soup"]["accuracy"]["val"], results["dataset_sizes"]["val"]
    row = list(at.dataframe[0].value.index).index("Uniform soup")
    assert shown.iloc[row]["val"] == f"{100 * p:.2f} ± {100 * 1.96 * math.sqrt(max(p * (1 - p), 1e-12) / n):.2f}"

def test_results_table1_of_a_run_without_dataset_sizes_renders_without_intervals(app_env):
    """results.json written before the engine recorded dataset sizes still shows its Table 1, plain numbers only."""
    import pyarrow as pa
    path = app_env / TOY_RUN / runs.RESULTS
    results = json.loads(path.read_text())
    del results["dataset_sizes"]
    path.write_text(json.dumps(results))
    at = open_page("views/results.py")
    shown = pa.ipc.open_stream(at.dataframe[0].proto.arrow_data.styler.display_values).read_pandas()
    assert "±" not in shown.to_string() and "Uniform soup" in at.dataframe[0].value.index


def test_results_page_compares_partitions_side_by_side(app_env):
    import shutil
    other = app_env / "20250101-000001-c1"
    shutil.copytree(app_env / TOY_RUN, other)
    results = json.loads((other / runs.RESULTS).read_text())
    results["partition"] = {"n": 1, "components": ["whole model"], "live": ["whole model"]}
    results["methods"]["manifoldmixms"]["lambdas"] = [[0.5]]
    results["methods"]["manifoldmixms"]["accuracy"] = {"val": 0.9, "test": 0.8}
    (other / runs.RESULTS).write_text(json.dumps(results))
    at = open_page("views/results.py", query={"runs": f"{TOY_RUN},{other.name}"})
    table = at.dataframe[0].value
    assert {"ManifoldMixMS-C1", "ManifoldMixMS-C5"} <= set(table.index)
    assert list(table.index).count("Uniform soup") == 1


def test_results_page_with_ingredients_measured_on_the_held_out_set_only(app_env, toy_world):
    from helpers import derived_config, run_config
    run_id = "20250101-000002-top1"
    run_config(derived_config(toy_world, "top1-page", methods=["uniform_soup"], ingredient_tests={"top": 1}), app_env / run_id)
    at = open_page("views/results.py", query={"runs": run_id})
    table = at.dataframe[0].value
    assert not table.loc["Best finetuned (a)"].isna()["test"]  # measured
    assert table.loc["Second-best finetuned (a_copy)"].isna()["test"]  # not measured: no number made up
    assert "3 ingredient(s) were measured on the held-out set only" in texts(at.caption)


def test_results_page_without_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("MANIFOLDMIX_RUNS", str(tmp_path))
    at = open_page("views/results.py")
    assert "No finished runs" in texts(at.info)


# -- Paper ------------------------------------------------------------------------------------------------------------

def test_paper_page_shows_published_numbers_and_replay(app_env):
    at = open_page("views/paper.py")
    table = at.dataframe[0].value
    assert table.loc["ManifoldMixMS-C8", "Avg OOD"] == pytest.approx(51.47, abs=0.01)
    assert table.loc["Best finetuned (model_43)", "ImageNet"] == pytest.approx(80.39, abs=0.01)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accepted"] == "7" and metrics["Skipped"] == "44"
    at.slider(key="paper_replay_hours").set_value(10.0).run()
    assert int({m.label: m.value for m in at.metric}["Candidates investigated"]) < 72
    compare = at.dataframe[1].value
    assert TOY_RUN in compare.index and "author's C8 run" in compare.index


def test_paper_replay_slider_ends_at_its_maximum_and_counts_searched_candidates(app_env):
    """Issue 9, smaller: the slider's end label read 59.10 with a maximum of 59.5; the 'optimised' column was always 0."""
    at = open_page("views/paper.py")
    slider = at.slider(key="paper_replay_hours")
    assert slider.value == slider.max and (slider.max * 2).is_integer()
    compare = at.dataframe[1].value
    author = compare.loc["author's C8 run"]
    assert author["optimised"] == author["candidates"] - author["skipped"] == author["accepted"] + author["rejected"] > 0


def test_paper_replay_play_button_starts_over_from_the_end_and_turns_into_pause(app_env):
    """Issue 9: the replay gets a play button. AppTest does not run the fragment's timer, so this checks the state and one
    frame (the full run after the click draws the first); the stepping itself is test_app_lib's replay_frame test."""
    at = open_page("views/paper.py")
    end = at.slider(key="paper_replay_hours").max
    assert at.button(key="paper_play").label == "Play" and at.slider(key="paper_replay_hours").value == end
    at.segmented_control(key="paper_replay_speed").set_value(2.0).run()
    at.button(key="paper_play").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["paper_playing"] and at.button(key="paper_play").label == "Pause"
    assert at.slider(key="paper_replay_hours").value == 2.0  # rewound to hour 0, then one frame of 2 h
    at.button(key="paper_play").click().run()
    assert not at.session_state["paper_playing"] and at.button(key="paper_play").label == "Play"
    assert at.slider(key="paper_replay_hours").value == 2.0  # Pause keeps the hour reached


def test_results_figures_download_as_png_or_svg_and_small_markers_stay_visible(app_env):
    """Issue 9: Results figures download as PNG/SVG; greedy-ensemble markers hid under greedy soup's in Figure 2."""
    at = open_page("views/results.py")
    at.segmented_control(key="results_format").set_value("svg").run()
    chart = next(e for e in at.get("plotly_chart") if "figure2" in e.proto.id)
    assert json.loads(chart.proto.config)["toImageButtonOptions"]["format"] == "svg"
    sizes = [t["marker"]["size"] for t in json.loads(chart.proto.spec)["data"]]
    assert sizes == sorted(sizes, reverse=True)


def test_run_page_keeps_the_watched_run_across_pages(app_env):
    """Issue 9, defect 3: leaving Run and coming back showed the newest run, not the one being watched."""
    fake_run(app_env, "20990101-000000-newer", {"state": "finished", "message": "done"})
    at = open_page("views/run.py", query={"run": TOY_RUN})
    assert at.selectbox(key="pick_run").value == TOY_RUN
    at.switch_page("views/start.py").run()
    at.query_params.clear()  # the sidebar's links carry no ?run=
    at.switch_page("views/run.py").run()
    assert at.selectbox(key="pick_run").value == TOY_RUN
    assert at.query_params["run"] == TOY_RUN


def test_run_page_names_an_unknown_run_id(app_env):
    """Issue 9, defect 3: an unknown ?run= id silently fell back to the newest run."""
    at = open_page("views/run.py", query={"run": "20200101-000000-gone"})
    assert "No run 20200101-000000-gone" in texts(at.error)


def _in_order(node) -> list:
    """Every element under a block, in the order the page draws them."""
    children = getattr(node, "children", None)
    if children is None:
        return [node]
    return [e for key in sorted(children) for e in _in_order(children[key])]


def test_run_page_labels_follow_the_run(app_env):
    """Issue 9, defect 6: 'Candidates of None' before the mixing method's first event; Cancel below all the charts."""
    import os
    running = fake_run(app_env, "20990101-000000-early", {"state": "running", "progress": 0.1, "pid": os.getpid(),
                                                           "message": "ingredient a"},
                       events=[{"type": "eval", "method": "ingredients", "phase": "ingredient", "candidate": "a",
                                "lambda": None, "valacc": 0.5, "t": 1.0}])
    at = open_page("views/run.py", query={"run": running.name})
    shown = texts(at.markdown)
    assert "None" not in shown and "**Candidates** (none yet: the ingredients are being measured)" in shown
    order = [getattr(e, "key", None) or e.type for e in _in_order(at.main)]
    assert order.index("cancel") < order.index("valacc_chart")


def test_run_page_says_why_a_search_ended_and_where_algorithm_1_is(app_env):
    """Issue 9, defect 6: Cobyla stopped at 77 evaluations at budget 30 and 120 and the page did not say why."""
    at = open_page("views/run.py", query={"run": TOY_RUN})
    assert any(re.fullmatch(r"λ search for ingredient \d of \d \(b\): .*evaluations.*", c.value) for c in at.caption)
    import os
    search = [{"type": "eval", "method": "manifoldmixms", "phase": "optimize_1", "candidate": "b", "lambda": [0.5, 0.5],
               "valacc": 0.5, "t": 2.0},
              {"type": "search_end", "method": "manifoldmixms", "candidate": "b", "pass": 1, "budget": 60, "evaluations": 1,
               "t": 3.0}]
    running = fake_run(app_env, "20990101-000000-accepting", {"state": "running", "progress": 0.5, "pid": os.getpid()},
                       events=search)
    at = open_page("views/run.py", query={"run": running.name})
    assert "Algorithm 1, now: accept test" in texts(at.markdown)
    assert "λ search for ingredient b: optimizer converged after 1 of 60 evaluations." in texts(at.caption)


# -- one vocabulary and colour map (issue 9, defect 7) ------------------------------------------------------------

def _figure(at, key: str) -> dict:
    return json.loads(next(e for e in at.get("plotly_chart") if e.proto.id.endswith(key) or key in e.proto.id).proto.spec)


def test_a_component_has_one_colour_on_partition_and_in_the_lambda_chart(app_env, toy_world):
    at = open_page("views/run.py", query={"run": TOY_RUN})
    lam = {t["name"]: t["line"]["color"] for t in _figure(at, "lambda_chart")["data"]}
    names = {t["name"] for t in _figure(at, "valacc_chart")["data"]}
    assert "Uniform soup" in names and "uniform_soup" not in names  # labels from the registry, as on Results
    at = open_page("views/partition.py", draft=toy_draft(toy_world))
    bars = {t["name"]: t["marker"]["color"] for t in _figure(at, "vit_stack")["data"] if t["type"] == "bar"}
    shared = set(lam) & set(bars)
    assert len(shared) >= 3 and all(lam[c] == bars[c] for c in shared), (lam, bars)


def test_a_loaded_partition_is_listed_in_network_order(app_env, toy_world):
    at = open_page("views/partition.py", draft=toy_draft(toy_world))
    spec = at.session_state["draft"]["partition"]
    head = next(c["params"] for c in spec["components"] if c["name"] == "head")
    rest = [p for c in spec["components"] if c["name"] != "head" for p in c["params"]]
    loaded = json.dumps({"components": [{"name": "classifier head", "params": head}, {"name": "backbone", "params": rest}]})
    at.file_uploader(key="load_partition").set_value(("p.json", loaded.encode(), "application/json"))
    at.run()
    assert [c["name"] for c in at.session_state["draft"]["partition"]["components"]] == ["backbone", "classifier head"]


def test_table1_marks_best_and_second_by_shape_not_red(app_env):
    from app_lib.scoreboard import board_from_results, styled_table1, table1
    from manifoldmix_core.run_records import Results
    results = json.loads((app_env / TOY_RUN / runs.RESULTS).read_text())
    html = styled_table1(table1(board_from_results(Results.model_validate(results), TOY_RUN))).to_html()
    assert "font-weight: bold" in html and "font-style: italic" in html and "#d62728" not in html
