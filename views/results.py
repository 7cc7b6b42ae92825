"""Results: Figure 2 and Table 1 for any set of finished runs, final λ heatmaps, and the fused model to download."""

import json

import streamlit as st

from app_lib.figures import DOWNLOAD_FORMATS, LAMBDA_MEANING, chart_config, figure2, lambda_heatmap
from app_lib.fused import read_recipe
from app_lib.live import final_lambdas
from app_lib.run_store import find_run, list_runs, read_results
from app_lib.run_story import run_story
from app_lib.scoreboard import (
    board_from_results,
    figure2_frame,
    held_out_only,
    merge_boards,
    styled_table1,
    table1,
    table1_download,
    table1_half_widths,
)
from app_lib.sweeps import grouped_runs, sweep_members
from app_lib.ui import run_label
from app_lib.vocabulary import RANK_CAPTION, counted, method_label, size_text
from manifoldmix_core import runs

st.title("Results")
finished = [r for r in list_runs() if r.state == "finished" and (r.path / runs.RESULTS).is_file()]
if not finished:
    st.info("No finished runs yet. Start one on the Run page (or run the demo from Start).")
    st.stop()

members = sweep_members()  # a sweep's settings run ManifoldMixMS only: listed under their sweep, after the runs of their own
by_id = {r.run_id: r for r in finished}
ids = grouped_runs(list(by_id), members)
wanted = [i for i in st.query_params.get("runs", "").split(",") if i in ids]
if wanted:
    st.session_state["results_runs"] = wanted  # the URL wins (reload, second tab, link from the Run page)
elif not [i for i in st.session_state.get("results_runs", []) if i in ids]:
    st.session_state["results_runs"] = ids[:1]
chosen = st.multiselect("Runs (pick several to compare partitions side by side)", ids, key="results_runs",
                        format_func=lambda i: run_label(by_id[i]) + (f" · sweep {members[i]}" if i in members else ""),
                        on_change=lambda: st.query_params.__setitem__("runs", ",".join(st.session_state["results_runs"])))
st.query_params["runs"] = ",".join(chosen)
if not chosen:
    st.stop()

results, damaged = read_results(chosen)
for run_id, reason in damaged.items():
    st.error(f"Run {run_id} cannot be shown: {reason}")
if not results:
    st.stop()
board = merge_boards({run_id: board_from_results(r, run_id) for run_id, r in results.items()})
if len(chosen) == 1 and (story := run_story(results[chosen[0]])):
    st.markdown("\n".join(f"- {sentence}" for sentence in story))
if not board.ood:
    st.warning("These runs have no OOD sets in common, so there is no average OOD accuracy to plot.")

axes = [board.val, *board.id_tests]
y = st.segmented_control("Vertical axis", axes, default=board.id_tests[0] if board.id_tests else board.val, required=True,
                         format_func=lambda d: f"{d} (held-out)" if d == board.val else f"{d} (ID test)", key="results_y")
fmt = st.segmented_control("Figure downloads (camera button above each chart)", DOWNLOAD_FORMATS, default="png", required=True,
                           format_func=str.upper, key="results_format")
st.subheader("Figure 2: accuracy vs average OOD accuracy")
st.plotly_chart(figure2(figure2_frame(board, y), y), key="figure2", config=chart_config("figure2", fmt))
st.caption("A hollow marker sits on the same spot as a larger one drawn below it: both models reached the same accuracies.")
if untested := held_out_only(board):
    st.caption(f"{len(untested)} ingredient(s) were measured on the held-out set only (the run's `ingredient_tests`), so Figure 2 "
               "leaves them out and Table 1 shows their test columns as –.")

st.subheader("Table 1: accuracy per dataset (%)")
st.caption(f"{RANK_CAPTION}; ensembles excluded from the ranking (they cost one forward pass per member). "
           "± is the half-width of the 95 % confidence interval (normal approximation on the set's size; runs from before "
           "results.json recorded sizes show none).")
table, halves = table1(board), table1_half_widths(board)
st.dataframe(styled_table1(table, halves), key="table1", placeholder="–")  # an unmeasured cell, not "None"
st.download_button("Download Table 1 (CSV)", table1_download(table, halves).to_csv().encode(), "table1.csv", "text/csv", key="table1_csv")

st.subheader("Final λ per accepted candidate and component")
st.caption(f"{LAMBDA_MEANING}. Rows are the accepted candidates in the order they were mixed in.")
columns = st.columns(len(results))
for column, (run_id, run_results) in zip(columns, results.items(), strict=True):
    with column:
        partition = run_results.partition
        st.markdown(f"**{run_id}** · " + (counted(partition.n, "component") if partition else "? components"))
        matrix = final_lambdas(run_results)
        if matrix.empty:
            st.caption("No ManifoldMixMS candidate was accepted (or the method did not run).")
        else:
            st.plotly_chart(lambda_heatmap(matrix), key=f"heatmap_{run_id}", config=chart_config(f"{run_id}-lambdas", fmt))
        fused = run_results.fused
        path = find_run(run_id) / runs.FUSED
        if fused and path.is_file():
            recipe = read_recipe(path) or {"method": fused.method}
            st.download_button(f"Download fused model ({method_label(fused.method)}, {size_text(path.stat().st_size)})",
                               lambda path=path: path.read_bytes(), f"{run_id}-fused.safetensors",
                               "application/octet-stream", on_click="ignore", key=f"fused_{run_id}")
            st.download_button("Download recipe (JSON)", json.dumps(recipe, indent=1), f"{run_id}-recipe.json",
                               "application/json", on_click="ignore", key=f"recipe_{run_id}")
