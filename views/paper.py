"""Paper: the published CLIP ViT-B/32 numbers in the Figure 2 / Table 1 views, and a replay of the author's C8 run."""

import math
from datetime import timedelta

import pandas as pd
import streamlit as st

from app_lib.figures import figure2, timeline_figure, valacc_figure
from app_lib.live import candidate_timeline, evaluations, mixing_method, run_summary
from app_lib.paper import REPLAY_FRAME_SECONDS, REPLAY_SPEEDS, reference_board, replay, replay_frame
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
st.dataframe(styled_table1(table1(board)), key="paper_table1", placeholder="–")

st.subheader("Replay of the author's ManifoldMixMS-C8 run")
hours = max(e.t for e in replayed) / 3600
st.caption(f"{len(replayed)} events from main.log, {hours:.0f} hours of wall time; one ValAcc evaluation took "
           f"{seconds_per_eval:.1f} s on 26k held-out images (each optimizer pass of 240 evaluations is one point).")
end = math.ceil(hours * 2) / 2  # a whole number of the slider's half-hour steps, so its end label is its maximum
method = mixing_method(replayed)
st.session_state.setdefault("paper_replay_hours", end)  # the slider's start, set here since Play also sets its value
playing = st.session_state.setdefault("paper_playing", False)


def toggle_play() -> None:
    """Play starts over from hour 0 when the replay already stands at its end; Pause keeps the hour reached."""
    if not st.session_state["paper_playing"] and st.session_state["paper_replay_hours"] >= end:
        st.session_state["paper_replay_hours"] = 0.0
    st.session_state["paper_playing"] = not st.session_state["paper_playing"]


play, speed_box = st.columns([1, 3])
play.button("Pause" if playing else "Play", key="paper_play", on_click=toggle_play, icon=":material/pause:" if playing else ":material/play_arrow:")
speed = speed_box.segmented_control("Hours per step", REPLAY_SPEEDS, default=1.0, required=True, key="paper_replay_speed",
                                    format_func=lambda h: f"{h:g} h")


@st.fragment(run_every=timedelta(seconds=REPLAY_FRAME_SECONDS) if playing else None)
def replay_view() -> None:
    """The replay up to the slider's hour; while playing, each run of this fragment is one frame (app_lib.paper.replay_frame)
    and the page reruns at the end so the button reads Play again."""
    if st.session_state["paper_playing"]:
        hour, still = replay_frame(st.session_state["paper_replay_hours"], speed, end)
        st.session_state["paper_replay_hours"] = hour
        if not still:
            st.session_state["paper_playing"] = False
            st.rerun()
    until = st.slider("Replay up to hour", 0.0, end, step=0.5, key="paper_replay_hours")
    shown = [e for e in replayed if e.t <= until * 3600]
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


replay_view()

st.subheader("Compare with your runs")
finished = [r for r in list_runs() if r.state == "finished"]
rows = {"author's C8 run": {**run_summary(replayed, method), "seconds per evaluation": seconds_per_eval}}
for info in finished[:10]:
    rows[info.run_id] = run_summary(events.read(info.path))
st.dataframe(pd.DataFrame.from_dict(rows, orient="index"), key="paper_compare")
if not finished:
    st.caption("Finished runs appear here with their own counts and speed.")
