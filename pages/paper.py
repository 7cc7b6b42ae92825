"""Paper: the published CLIP ViT-B/32 numbers in the Figure 2 / Table 1 views, and a replay of the author's C8 run."""

import math

import pandas as pd
import streamlit as st

from app_lib.figures import figure2, timeline_figure, valacc_figure
from app_lib.live import candidate_timeline, evaluations, mixing_method, run_summary
from app_lib.paper import reference_board, replay
from app_lib.run_store import list_runs
from app_lib.scoreboard import figure2_frame, styled_table1, table1
from manifoldmix_core import events
from manifoldmix_core.reference import published

board = st.cache_data(reference_board)()
replayed, seconds_per_eval = st.cache_data(replay)()

st.title("Paper: published results")
st.caption("Fassold 2023, *manifold mixing model soups*: 72 CLIP ViT-B/32 finetunes on ImageNet; held-out set "
           "ImageNet2p (2 % of ImageNet train), OOD sets ImageNet-V2, -Sketch, -R, ObjectNet, -A. "
           "Numbers from the author's code release (MIT), shipped in manifoldmix_core/reference/data/.")
y = st.segmented_control("Vertical axis", [published.ID_TEST, published.VAL_DATASET], default=published.ID_TEST,
                         required=True, key="paper_y")
st.plotly_chart(figure2(figure2_frame(board, y), y), key="paper_figure2")
st.subheader("Table 1 (published)")
st.dataframe(styled_table1(table1(board)), key="paper_table1")

st.subheader("Replay of the author's ManifoldMixMS-C8 run")
hours = max(e.t for e in replayed) / 3600
st.caption(f"{len(replayed)} events from main.log, {hours:.0f} hours of wall time; one ValAcc evaluation took "
           f"{seconds_per_eval:.1f} s on 26k held-out images (each optimizer pass of 240 evaluations is one point).")
end = math.ceil(hours * 2) / 2  # a whole number of the slider's half-hour steps, so its end label is its maximum
until = st.slider("Replay up to hour", 0.0, end, end, 0.5, key="paper_replay_hours")
shown = [e for e in replayed if e.t <= until * 3600]
method = mixing_method(replayed)
timeline = candidate_timeline(shown, method)
for column in ("start", "end"):
    timeline[column] = timeline[column] / 3600
summary = run_summary(shown, method)
cols = st.columns(4)
cols[0].metric("Candidates investigated", summary["candidates"])
cols[1].metric("Skipped", summary["skipped"])
cols[2].metric("λ searched, rejected", summary["rejected"])
cols[3].metric("Accepted", summary["accepted"])
left, right = st.columns(2)
with left:
    st.markdown("**ValAcc over evaluations (skip tests and optimizer passes)**")
    st.plotly_chart(valacc_figure(evaluations(shown), method), key="paper_valacc")
with right:
    st.markdown("**Candidates over time**")
    st.plotly_chart(timeline_figure(timeline, time_unit="hours"), key="paper_timeline")

st.subheader("Compare with your runs")
finished = [r for r in list_runs() if r.state == "finished"]
rows = {"author's C8 run": {**run_summary(replayed, method), "seconds per evaluation": seconds_per_eval}}
for info in finished[:10]:
    rows[info.run_id] = run_summary(events.read(info.path))
st.dataframe(pd.DataFrame.from_dict(rows, orient="index"), key="paper_compare")
if not finished:
    st.caption("Finished runs appear here with their own counts and speed.")
