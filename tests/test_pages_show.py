# ruff: noqa: F811  (pytest fixtures imported from app_support are redefined as arguments)
"""What the pages show (issue 18, items 6-14): the run Results opens on, "–" for what was not measured, the sweep's
intervals and name, ingredient names, the live view's words, figures' markers, Results' story, Start's order."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from app_support import APP, TOY_RUN, app_env, fake_run  # noqa: F401
from streamlit.testing.v1 import AppTest

from manifoldmix_core import runs
from manifoldmix_core.run_records import Results, Status

TIMEOUT = 60


def open_page(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update(query or {})
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def shown_cells(dataframe) -> str:
    """What a styled st.dataframe displays, as text (the Styler's display values)."""
    import pyarrow as pa
    return pa.ipc.open_stream(dataframe.proto.arrow_data.styler.display_values).read_pandas().to_string()


def sweep_member(root, run_id: str, sweep_id: str = "20250102-000000-whole-vs-coarse") -> None:
    """A newer copy of the toy run made a member of a sweep: ManifoldMixMS only, its ingredients held out only."""
    shutil.copytree(root / TOY_RUN, root / run_id)
    results = json.loads((root / run_id / runs.RESULTS).read_text())
    results["methods"] = {"manifoldmixms": results["methods"]["manifoldmixms"]}
    results["ingredients"] = {n: {**i, "accuracy": {"val": i["accuracy"]["val"]}} for n, i in results["ingredients"].items()}
    (root / run_id / runs.RESULTS).write_text(json.dumps(results))
    status = json.loads((root / run_id / runs.STATUS).read_text())
    runs.write_json_atomic(root / run_id / runs.STATUS, {**status, "created_at": time.time()})
    (root / sweep_id).mkdir()
    (root / sweep_id / "sweep.json").write_text(json.dumps({"name": sweep_id, "members": [
        {"run_id": run_id, "setting": "whole", "seed": 0}]}))


# -- item 6: Results opens on a complete run; sweep members under their sweep; "–" where nothing was measured --------

def test_results_opens_on_the_newest_run_of_its_own_not_a_newer_sweep_member(app_env):
    sweep_member(app_env, "20250102-000000-whole-vs-coarse-01")
    at = open_page("views/results.py")
    assert at.multiselect(key="results_runs").value == [TOY_RUN]
    assert at.multiselect(key="results_runs").options[-1].endswith("sweep 20250102-000000-whole-vs-coarse")


def test_results_shows_a_dash_not_none_where_a_sweep_member_measured_nothing(app_env):
    member = "20250102-000000-whole-vs-coarse-01"
    sweep_member(app_env, member)
    at = open_page("views/results.py", query={"runs": member})
    cells = shown_cells(at.dataframe[0])
    assert "–" in cells and "None" not in cells and "nan" not in cells.lower()
    assert at.dataframe[0].proto.placeholder == "–"  # the grid draws a missing value as this, else as "None"


def test_ingredients_held_out_column_shows_a_dash_until_measured(app_env, toy_world):
    from app_support import toy_draft
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    at.session_state["draft"] = toy_draft(toy_world)
    at.switch_page("views/ingredients.py").run()
    assert at.dataframe[0].value["held-out accuracy (%)"].isna().all()
    assert at.dataframe[0].proto.placeholder == "–"


# -- item 11: Table 1's second best is marked in a way st.dataframe draws; the CSV holds rounded numbers -------------

def test_table1_second_best_carries_a_mark_the_data_grid_shows(app_env):
    """st.dataframe draws a Styler's colour and weight but not font-style: italics alone never reached the screen."""
    at = open_page("views/results.py")
    table = at.dataframe[0].value
    from app_lib.scoreboard import rank_marks
    second = rank_marks(table) == "second"
    import pyarrow as pa
    shown = pa.ipc.open_stream(at.dataframe[0].proto.arrow_data.styler.display_values).read_pandas()
    row, column = next((r, c) for r in range(len(table)) for c in range(len(table.columns)) if second.iloc[r, c])
    assert shown.iloc[row, column].endswith("(2nd)") and "(2nd)" in texts(at.caption)
    assert sum(str(v).endswith("(2nd)") for v in shown.to_numpy().ravel()) == int(second.to_numpy().sum())


def test_table1_csv_rounds_percentages():
    from app_lib.scoreboard import board_from_results, table1, table1_download, table1_half_widths
    results = {"val_dataset": "val", "datasets": ["val", "test"], "ood_datasets": [], "dataset_sizes": {"val": 1000, "test": 7},
               "ingredients": {"a": {"accuracy": {"val": 0.9168, "test": 0.5714285714285714}, "valacc": 0.9168}}, "methods": {}}
    board = board_from_results(Results.model_validate(results), "r")
    csv = table1_download(table1(board), table1_half_widths(board)).to_csv()
    assert "91.68," in csv and "57.1429," in csv and "9999999" not in csv


# -- item 8: the default sweep has no duplicate runs and is named after what it sweeps ------------------------------

def test_default_sweep_of_a_deterministic_optimizer_runs_each_setting_once_and_is_named_after_its_settings(app_env, toy_world,
                                                                                                            monkeypatch):
    from app_support import toy_draft

    from manifoldmix_core import sweep
    started = []
    monkeypatch.setattr("app_lib.run_store.spawn", lambda args, run_dir: started.append(args))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    at.session_state["draft"] = toy_draft(toy_world)
    at.switch_page("views/experiments.py").run()
    assert at.pills(key="sweep_optimizers").value == ["Cobyla"] and at.number_input(key="sweep_seeds").value == 1
    assert not at.warning and "4 settings × 1 seed = 4 runs" in texts(at.caption)
    at.pills(key="sweep_partitions").set_value(["whole", "coarse"]).run()
    at.button(key="launch_sweep").click().run()
    sweep_dir = app_env / at.query_params["sweep"]
    assert sweep_dir.name.endswith("-whole-vs-coarse") and len(sweep.Sweep.read(sweep_dir).members) == 2


def test_sweep_names_say_what_varies():
    from app_lib.sweeps import sweep_name
    assert sweep_name(["whole", "coarse"], ["Cobyla"], 1) == "whole-vs-coarse"
    assert sweep_name(["medium"], ["Cobyla", "CMA"], 3) == "Cobyla-vs-CMA"
    assert sweep_name(["whole", "fine"], ["CMA", "DE"], 2) == "whole-vs-fine-by-CMA-vs-DE"
    assert sweep_name(["medium"], ["CMA"], 5) == "medium-CMA-5-seeds"
    assert sweep_name(["medium"], ["Cobyla"], 3) == "medium-Cobyla"  # one run: Cobyla ignores the seed



def test_a_sweep_mixing_cobyla_with_a_seeded_optimizer_plans_cobyla_once(tmp_path):
    from manifoldmix_core import sweep
    plan = sweep.plan_sweep(tmp_path / "s", {"name": "x"}, ["whole", "coarse"], ["Cobyla", "NGOpt"], [0, 1, 2])
    assert [(m.setting, m.seed) for m in plan.members if m.deterministic] == [("whole · Cobyla", 0), ("coarse · Cobyla", 0)]
    assert [(m.setting, m.seed) for m in plan.members if not m.deterministic] == [
        (f"{p} · NGOpt", seed) for seed in (0, 1, 2) for p in ("whole", "coarse")]
    assert plan.one_run == ["whole · Cobyla", "coarse · Cobyla"] and sweep.Sweep.read(tmp_path / "s") == plan
    assert len(sweep.plan_runs(["whole", "coarse"], ["Cobyla", "NGOpt"], [0, 1, 2])) == len(plan.members) == 8
    old = {"name": "t", "members": [{"run_id": "t-01", "setting": "w", "seed": 0}]}  # a sweep.json written before
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / sweep.SWEEP).write_text(json.dumps(old))
    assert sweep.Sweep.read(tmp_path / "t").one_run == []


def test_experiments_counts_the_runs_a_mixed_sweep_starts_and_says_why_cobyla_runs_once(app_env, toy_world, monkeypatch):
    from app_support import open_page as open_with_draft
    from app_support import toy_draft

    from manifoldmix_core import sweep
    monkeypatch.setattr("app_lib.run_store.spawn", lambda args, run_dir: None)
    at = open_with_draft("views/experiments.py", draft=toy_draft(toy_world))
    at.pills(key="sweep_optimizers").set_value(["Cobyla", "NGOpt"]).run()
    at.number_input(key="sweep_seeds").set_value(3).run()
    assert "4 settings × 3 seeds + 4 settings × 1 run = 16 runs" in texts(at.caption)
    assert "Cobyla never draws a random number: every seed gives the same run" in texts(at.info) and not at.warning
    at.button(key="launch_sweep").click().run()
    assert len(sweep.Sweep.read(app_env / at.query_params["sweep"]).members) == 16


def test_a_deterministic_setting_is_shown_once_with_its_own_runs_interval(app_env):
    from app_lib.scoreboard import board_from_results
    from app_lib.sweeps import comparison
    sweep_dir = app_env / "20250102-000000-Cobyla-vs-OnePlusOne"
    members = [{"run_id": TOY_RUN, "setting": "Cobyla", "seed": 0, "deterministic": True}]
    for seed in (0, 1):
        shutil.copytree(app_env / TOY_RUN, app_env / f"{sweep_dir.name}-0{seed + 2}")
        members.append({"run_id": f"{sweep_dir.name}-0{seed + 2}", "setting": "OnePlusOne", "seed": seed})
    sweep_dir.mkdir()
    (sweep_dir / "sweep.json").write_text(json.dumps({"name": sweep_dir.name, "members": members}))
    frame = comparison(sweep_dir).set_index("setting")
    board = board_from_results(runs.read_results(app_env / TOY_RUN))
    entry = next(e for e in board.entries if e.kind == "manifoldmixms")
    assert list(frame["seeds"]) == [1, 2] and frame.attrs["one_run"] == ["Cobyla"]
    assert frame.at["Cobyla", "OOD ±95%"] == pytest.approx(100 * board.avg_ood_half_width(entry), rel=1e-4)
    assert frame.at["Cobyla", "ID ±95%"] == pytest.approx(100 * board.half_width(entry, "val"), rel=1e-4)  # the toy has no ID test
    at = open_page("views/experiments.py", query={"sweep": sweep_dir.name})
    assert "Cobyla ran once: its optimizer never draws a random number" in texts(at.caption)
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    cobyla = next(t for t in figure["data"] if t["name"].startswith("Cobyla"))
    assert cobyla["name"] == "Cobyla (one run: the seed changes nothing)" and cobyla["error_y"]["arrayminus"][0] > 0

# -- item 7: the sweep figure draws the table's 95 % intervals on a sensible axis and says what differs -------------

def _settings(*rows):
    import pandas as pd

    from app_lib.sweeps import COLUMNS
    frame = pd.DataFrame([dict(zip(["setting", "seeds", "ID mean", "ID sd", "ID ±95%", "OOD mean", "OOD sd", "OOD ±95%",
                                    "held-out mean"], row, strict=True)) for row in rows], columns=COLUMNS)
    frame.attrs["id_set"] = "ID test (test)"
    return frame


def test_sweep_figure_draws_the_tables_interval_not_the_sd_on_at_least_a_point_of_axis():
    from app_lib.figures import MIN_SPAN, sweep_figure
    from app_lib.sweeps import differences
    frame = _settings(("whole", 3, 90.00, 0.03, 0.25, 60.00, 0.03, 0.43, 91.0), ("coarse", 3, 90.10, 0.03, 0.25, 60.12, 0.03, 0.43, 91.1))
    figure = sweep_figure(frame).to_plotly_json()
    assert [t["error_y"]["array"][0] for t in figure["data"]] == [0.25, 0.25]
    assert [t["error_x"]["array"][0] for t in figure["data"]] == [0.43, 0.43]
    for axis in ("xaxis", "yaxis"):
        low, high = figure["layout"][axis]["range"]
        assert high - low >= MIN_SPAN
    assert differences(frame) == ["No two settings differ beyond their 95 % intervals, on ID or on average OOD accuracy: "
                                  "the differences in the figure may be noise."]


def test_sweep_figure_never_draws_an_interval_past_100_percent():
    """A toy sweep at 100 % accuracy drew error bars to 102.4 % on an axis to 103 %: no accuracy lies beyond 100."""
    from app_lib.figures import sweep_figure
    frame = _settings(("whole", 3, 99.5, 0.03, 2.4, 99.0, 0.03, 0.43, 91.0), ("coarse", 3, 100.0, 0.0, 2.4, 98.8, 0.03, 0.43, 91.1))
    figure = sweep_figure(frame).to_plotly_json()
    assert [t["error_y"]["array"][0] for t in figure["data"]] == pytest.approx([0.5, 0.0])
    assert [t["error_y"]["arrayminus"][0] for t in figure["data"]] == [2.4, 2.4]
    assert [t["error_x"]["array"][0] for t in figure["data"]] == pytest.approx([0.43, 0.43])
    low, high = figure["layout"]["yaxis"]["range"]
    assert 100 <= high <= 100.5 and low <= 100 - 2.4


def test_sweep_words_name_the_settings_that_differ_beyond_their_intervals():
    from app_lib.sweeps import differences
    frame = _settings(("whole", 3, 90.0, 0.1, 0.25, 60.0, 0.1, 0.3, 91.0), ("fine", 3, 91.0, 0.1, 0.25, 60.2, 0.1, 0.3, 92.0),
                      ("coarse", 1, 95.0, None, None, 70.0, None, None, 96.0))
    assert differences(frame) == ["fine beats whole on ID accuracy by 1.00 points, beyond both 95 % intervals."]
    assert differences(frame.iloc[[0, 2]])[0].startswith("Fewer than two settings")


# -- item 10: the live view's words and ETA -------------------------------------------------------------------------

def _search_log(second_search: int) -> list[dict]:
    """Four ingredients measured, candidate b searched with a budget of 10 and accepted, candidate c searched
    `second_search` times so far: one evaluation per second."""
    from manifoldmix_core import events
    lines, t = [], 0.0

    def at(event: dict, **measured) -> None:
        nonlocal t
        t += 1.0 if event["type"] == "eval" else 0.0
        lines.append({**event, **measured, "t": t})

    for name, valacc in (("a", 0.9), ("b", 0.85), ("c", 0.8), ("d", 0.7)):
        at(events.ingredient_valacc(name, valacc))
    at(events.evaluation("manifoldmixms", "skip_test", "b", [0.5]), valacc=0.91)
    for _ in range(10):
        at(events.evaluation("manifoldmixms", events.search_phase(1), "b", [0.6]), valacc=0.9192)
    at(events.search_end("manifoldmixms", "b", 1, 10, 10))
    at(events.decision("manifoldmixms", "b", True, 0.9192, [0.6]))
    at(events.evaluation("manifoldmixms", "skip_test", "c", [0.6]), valacc=0.91)
    for _ in range(second_search):
        at(events.evaluation("manifoldmixms", events.search_phase(1), "c", [0.7]), valacc=0.905)
    return lines


def test_live_words_use_labels_percentages_and_algorithm_steps_not_internal_names():
    """Algorithm 1 searches λ once per candidate ingredient, in ValAcc order, one λ per component all at once."""
    from app_lib.live import LiveLog, progress_text
    from manifoldmix_core.events import parse
    live = LiveLog(searched=7).feed(parse(line) for line in _search_log(4))
    text = progress_text(Status.model_validate({"state": "running", "progress": 0.51, "eta_s": 0.0,
                                                "message": "manifoldmixms: c (optimize_1) ValAcc 0.9050"}), live)
    assert text.startswith("ManifoldMixMS · λ search for ingredient 3 of 4 (c), all 7 components at once: 4 evaluations "
                           "so far · best ValAcc 91.92 %")
    assert "optimize_" not in text and "0.9" not in text.replace("91.92", "")
    assert LiveLog().feed(parse(line) for line in _search_log(4)).activity().startswith(
        "ManifoldMixMS · λ search for ingredient 3 of 4 (c), one λ per component, all at once")  # the partition unknown


def test_the_run_page_names_the_searched_ingredient_and_its_components_like_the_status_line(app_env, toy_world):
    import os

    from app_support import toy_draft

    from app_lib.components import searched_components
    config = toy_draft(toy_world)
    searched = searched_components(config)
    assert searched and searched > 1
    fake_run(app_env, "20990101-000000-searching", {"state": "running", "progress": 0.5, "pid": os.getpid(),
                                                     "message": "manifoldmixms: c (optimize_1) ValAcc 0.9050"},
             events=_search_log(4), config=config)
    at = open_page("views/run.py", query={"run": "20990101-000000-searching"})
    words = f"λ search for ingredient 3 of 4 (c), all {searched} components at once: 4 evaluations so far"
    assert words in at.get("progress")[0].proto.text
    assert "**λ per component in the search for ingredient 3 of 4 (c)**" in texts(at.markdown)
    assert "λ search for ingredient 3 of 4 (c): running." in texts(at.caption)
    assert [m.value for m in at.metric if m.label == "λ search for (3 of 4)"] == ["c"]
    assert "optimize_" not in at.get("progress")[0].proto.text
    charts = " ".join(json.dumps(json.loads(chart.proto.spec), ensure_ascii=False) for chart in at.get("plotly_chart"))
    assert "optimize_" not in charts and "skip_test" not in charts and "λ search" in charts  # hovers name steps in words
    timeline = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if '"type":"bar"' in c.proto.spec)
    assert "ValAcc %{customdata[0]:.2f} %" in timeline["data"][0]["hovertemplate"]
    from app_lib.figures import timeline_figure
    from app_lib.live import LiveLog
    from manifoldmix_core.events import parse
    bars = timeline_figure(LiveLog().feed(parse(line) for line in _search_log(4)).candidate_timeline()).data
    assert sorted(float(row[0]) for bar in bars for row in bar.customdata) == [91.0, 91.92]  # %, not fractions


def test_the_engine_status_messages_use_words_and_labels_not_step_ids(toy_world, tmp_path, monkeypatch):
    """status.json's messages as the run makes them (every one, also those a write at most every 0.25 s leaves out):
    labels, percentages and Algorithm 1's words."""
    import re

    from helpers import run_config, small_toy_config

    from manifoldmix_core import runner
    from manifoldmix_core.methods import METHODS
    messages, write = [], runner.Progress._write

    def recorded(self, message: str, force: bool = False):
        messages.append(message)
        return write(self, message, force)
    monkeypatch.setattr(runner.Progress, "_write", recorded)
    results = run_config(small_toy_config(toy_world, "words"), tmp_path / "run")
    shown = [m for m in messages if m] + [runs.read_status(tmp_path / "run").message]
    searched, order = len(results["partition"]["live"]), results["order"]
    search = rf"ManifoldMixMS · λ search for ingredient (\d) of 3 \((\w+)\), all {searched} components at once · ValAcc \d+\.\d\d %"
    found = [re.fullmatch(search, m) for m in shown if re.fullmatch(search, m)]
    assert found and all(order[int(f[1]) - 1] == f[2] and f[1] != "1" for f in found), shown
    ids = [name for name in METHODS if name != METHODS[name].label.lower()] + ["optimize_", "skip_test", "ValAcc 0."]
    assert not [m for m in shown if any(i in m for i in ids)], shown
    assert "ManifoldMixMS: test accuracy measured" in shown and any(m.startswith("Greedy soup: ingredient ") for m in shown)


def test_live_eta_counts_the_running_search_at_the_measured_cost_per_evaluation():
    from app_lib.live import LiveLog, eta_text
    from manifoldmix_core.events import parse
    running = Status(state="running", progress=0.51, eta_s=0.0)  # the engine's count-down ran out inside the search
    assert eta_text(running, LiveLog().feed(parse(line) for line in _search_log(4))) == "about 6 s left"
    first = [line for line in _search_log(0) if line.get("candidate") == "b" and line["type"] == "eval"][:3]
    assert eta_text(running, LiveLog().feed(parse(line) for line in _search_log(0)[:4] + first)) == "estimating the time left"
    assert eta_text(running.model_copy(update={"eta_s": 75.2}), LiveLog()) == "about 1 min 15 s left"


def test_run_page_says_a_run_is_starting_before_its_first_evaluation(app_env):
    import os
    fake_run(app_env, "20990101-000000-demo", {"state": "running", "message": "setting up", "progress": 0.0, "pid": os.getpid()})
    at = open_page("views/run.py", query={"run": "20990101-000000-demo"})
    assert "Starting: setting up." in texts(at.info)


def test_a_queued_run_is_said_to_wait_once_not_to_be_starting(app_env, monkeypatch):
    import os

    from manifoldmix_core import run_queue
    monkeypatch.setenv(run_queue.MAX_RUNS_ENV, "1")
    fake_run(app_env, "20990101-000000-waiting", {"state": "queued", "message": "queued, 2 ahead of you", "queue_ahead": 2,
                                                  "pid": os.getpid()})
    at = open_page("views/run.py", query={"run": "20990101-000000-waiting"})
    assert [i.value for i in at.info] == ["Queued, 2 ahead of you. At most 1 run executes at once on this server "
                                          f"(`{run_queue.MAX_RUNS_ENV}`); this run starts when one finishes, and whoever "
                                          "launches the same setup joins it."]


# -- item 9: names are plain at upload, and an ingredient can be renamed ----------------------------------------------

def test_an_upload_with_a_long_unicode_name_gets_a_name_every_run_accepts_and_can_be_renamed(app_env, toy_world, tmp_path):
    from pathlib import Path

    from app_support import toy_draft

    from app_lib.draft import blockers
    from manifoldmix_core.safepaths import LABEL
    draft = toy_draft(toy_world)
    source = Path(draft["ingredients"][0]["path"])
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    at.session_state["draft"] = {**draft, "ingredients": draft["ingredients"][:1]}
    at.switch_page("views/ingredients.py").run()
    long_name = "Modèle finetuné " + "ж" * 3 + "x" * 200 + source.suffix
    at.file_uploader(key="upload").set_value((long_name, source.read_bytes(), "application/octet-stream")).run()
    at.button(key="add_uploads").click().run()
    pool = at.session_state["draft"]["ingredients"]
    added = pool[-1]["name"]
    assert len(pool) == 2 and added.startswith("Modele_finetune_") and LABEL.fullmatch(added) and len(added) <= 128
    assert not blockers(at.session_state["draft"]), blockers(at.session_state["draft"])
    at.session_state["ingredient_table"] = {"edited_rows": {1: {"name": "café au lait"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert [i["name"] for i in at.session_state["draft"]["ingredients"]][-1] == "cafe_au_lait"
    at.session_state["ingredient_table"] = {"edited_rows": {1: {"name": pool[0]["name"]}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert "already named" in texts(at.error) and at.session_state["draft"]["ingredients"][-1]["name"] == "cafe_au_lait"


def test_plain_names_transliterate_cut_and_refuse_nothing_left():
    from app_lib.ingredient_pool import ingredient_name, plain_name, rename
    assert plain_name("Zoë's ViT (2024)…") == "Zoe_s_ViT_2024"
    assert plain_name("../..//x") == "x" and plain_name("模型") == "" and len(plain_name("a" * 300)) == 100
    assert ingredient_name("模型", {"ingredient"}) == "ingredient-2"
    pool = [{"name": "a"}, {"name": "b"}]
    with pytest.raises(ValueError, match="cannot name an ingredient"):
        rename(pool, "a", "模型")
    assert rename(pool, "a", "ä") == "a" and rename(pool, "a", "c") == "c" and pool[0]["name"] == "c"


# -- item 11: coinciding markers stay visible; the λ heatmap says what λ weighs -----------------------------------

def test_figure2_draws_a_marker_on_the_spot_of_a_larger_one_hollow():
    import pandas as pd

    from app_lib.figures import figure2
    from app_lib.scoreboard import INGREDIENT_LABEL, kind_label
    rows = [("Uniform soup", kind_label("uniform_soup"), 61.0, 90.0), ("Ensemble", kind_label("ensemble"), 61.0, 90.0),
            ("ManifoldMixMS-C5", kind_label("manifoldmixms"), 62.0, 91.0),
            ("Greedy ensemble", kind_label("greedy_ensemble"), 62.001, 91.002), ("a", INGREDIENT_LABEL, 55.0, 85.0)]
    points = pd.DataFrame([{"model": m, "kind": k, "run": "r", "avg_ood": x, "y": y, "ingredient": k == INGREDIENT_LABEL}
                           for m, k, x, y in rows])
    traces = {t["name"]: t["marker"] for t in figure2(points, "test").to_plotly_json()["data"]}
    assert traces[kind_label("ensemble")]["symbol"] == ["triangle-up-open"]
    assert traces[kind_label("greedy_ensemble")]["symbol"] == ["triangle-down-open"]
    assert traces[kind_label("uniform_soup")]["symbol"] == "square" and traces[kind_label("manifoldmixms")]["symbol"] == "star"
    assert traces[INGREDIENT_LABEL]["symbol"] == "circle" and traces[INGREDIENT_LABEL]["line"]["width"] == 1
    assert traces[kind_label("ensemble")]["line"] == {"width": [3], "color": [traces[kind_label("ensemble")]["color"]]}


def test_results_says_what_lambda_weighs_in_the_heatmap(app_env):
    at = open_page("views/results.py")
    assert "λ weights the soup so far and 1 − λ the candidate" in texts(at.caption)
    heatmap = next(e for e in at.get("plotly_chart") if "heatmap" in e.proto.id)
    trace = json.loads(heatmap.proto.spec)["data"][0]
    assert "1 − λ" in trace["hovertemplate"] and "customdata" in trace
    import pandas as pd

    from app_lib.figures import lambda_heatmap
    drawn = lambda_heatmap(pd.DataFrame([[0.25, 0.5]], index=["b"], columns=["c1", "c2"])).data[0]
    assert drawn.customdata.tolist() == [[0.75, 0.5]]


# -- item 12: Results tells its run's story from its numbers --------------------------------------------------------

def test_results_tells_the_runs_story_from_its_numbers(app_env):
    results = json.loads((app_env / TOY_RUN / runs.RESULTS).read_text())
    at = open_page("views/results.py")
    story = texts(at.markdown)
    best, mm = results["ingredients"]["a"]["accuracy"], results["methods"]["manifoldmixms"]
    assert f"The best of 4 finetunes by ValAcc, a, scores {100 * best['val']:.2f} % held-out (val)" in story
    assert (f"ManifoldMixMS-C5 keeps {len(mm['ingredients'])} ingredients of 4: val {100 * mm['accuracy']['val']:.2f} % "
            f"({100 * (mm['accuracy']['val'] - best['val']):+.2f} points") in story


def test_run_story_of_a_sweep_member_says_its_ingredients_were_held_out_only(app_env):
    from app_lib.run_story import run_story
    results = json.loads((app_env / TOY_RUN / runs.RESULTS).read_text())
    results["datasets"].append("idtest")
    for entry in (*results["ingredients"].values(), *results["methods"].values()):
        entry["accuracy"] = {"val": entry["accuracy"]["val"]}
    story = run_story(Results.model_validate(results))
    assert len(story) == 1 and "measured on the held-out set only" in story[0]


# -- item 13: the Start page's main action comes first ----------------------------------------------------------------

def _in_order(node) -> list:
    children = getattr(node, "children", None)
    return [node] if children is None else [e for key in sorted(children) for e in _in_order(children[key])]


def test_start_puts_run_the_demo_before_the_diagram_and_the_long_texts(app_env):
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    drawn = _in_order(at.main)
    demo = next(i for i, e in enumerate(drawn) if e.type == "button" and e.key == "run_demo")
    diagram = next(i for i, e in enumerate(drawn) if e.type == "graphviz_chart")
    about = next(i for i, e in enumerate(drawn) if str(getattr(e, "value", "")).startswith("The demo fuses"))
    assert demo < about < diagram


# -- item 14: the README keeps Table 1 and the set-up, the history lives in docs/ ----------------------------------

def test_readme_keeps_table1_and_setup_and_moves_the_demo_history_to_docs():
    from helpers import REPO
    readme, protocols = (REPO / "README.md").read_text(), (REPO / "docs" / "demo_protocols.md").read_text()
    for command in ("python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && .venv/bin/streamlit run app.py",
                    "python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt -r requirements-dev.txt && "
                    ".venv/bin/python -m pytest"):
        assert f"```bash\n{command}\n```" in readme
    assert "### Table 1 on the demo" in readme and "| manifoldmixms (medium, 7 components; 5 finetunes) |" in readme
    assert "What it shows, honestly" in readme
    for moved in ("| target (issue 16) | measured | met |", "Compared with zoo v2", "L2-SP: a decay towards"):
        assert moved not in readme and moved in protocols
    app = readme[readme.index("## The app"):readme.index("## Code layout")]
    assert [line.split("**")[1] for line in app.splitlines() if line.startswith("- **")] == [
        "Start", "Ingredients", "Datasets", "Partition", "Run", "Results", "Experiments", "Paper"]
