# ruff: noqa: F811  (pytest fixtures imported from app_support are redefined as arguments)
"""What the pages show (issue 18, items 6-14): the run Results opens on, "–" for what was not measured, the sweep's
intervals and name, ingredient names, the live view's words, figures' markers, Results' story, Start's order."""

from __future__ import annotations

import json
import shutil
import time

from app_support import APP, TOY_RUN, app_env, fake_run  # noqa: F401
from streamlit.testing.v1 import AppTest

from manifoldmix_core import runs

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
    board = board_from_results(results, "r")
    csv = table1_download(table1(board), table1_half_widths(board)).to_csv()
    assert "91.68," in csv and "57.1429," in csv and "9999999" not in csv
