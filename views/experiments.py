"""Experiments: one click runs a sweep (partition granularities and/or optimizers × seeds) as a queue of ordinary runs,
then compares the settings: mean ± sd over seeds, Figure 2 with error bars, a table with 95 % confidence intervals."""

from datetime import timedelta

import streamlit as st

from app_lib import sweeps
from app_lib.components import named_partitions
from app_lib.draft import blockers
from app_lib.figures import sweep_figure
from app_lib.ui import STATE_ICONS, draft, url_choice
from manifoldmix_core import sweep
from manifoldmix_core.errors import ManifoldMixError
from manifoldmix_core.optim import OPTIMIZERS

st.title("Experiments")
st.caption("Compare partition granularities (or optimizers) on your setup: each setting runs ManifoldMixMS once per seed, "
           "as ordinary runs one after the other; the spread over seeds says whether a difference is real.")

found = sweeps.list_sweeps()
with st.expander("Start a sweep", expanded=not found):
    config = draft()
    presets = {p.key: p.label for p in named_partitions(config)}  # the engine's named presets that fit this model
    partitions = st.pills("Partitions", list(presets), selection_mode="multi", format_func=presets.get,
                          default=[k for k in sweep.GRANULARITIES if k in presets], key="sweep_partitions",
                          help="The engine's named presets: whole: one λ; coarse: two halves of the blocks; medium: one component "
                          "per block; fine: attention and MLP of each block apart; C8/C15/C26: the paper's (author granularity 1/2/3)")
    current = (config.get("manifoldmix") or {}).get("optimizer", "Cobyla")
    offered = list(OPTIMIZERS) + ([current] if current not in OPTIMIZERS else [])  # the workspace's own optimizer is kept
    optimizers = st.pills("Optimizers", offered, selection_mode="multi", default=[current], key="sweep_optimizers")
    n_seeds = st.number_input("Seeds per setting", value=sweeps.default_seeds([current]), step=1, key="sweep_seeds",
                              help="Cobyla and the other scipy methods never draw a random number: 1 seed each is all they need")
    problems = blockers(config)
    if not partitions or not optimizers:
        problems.append("Pick at least one partition and one optimizer.")
    if not 1 <= n_seeds <= 20:
        problems.append("Seeds per setting must be between 1 and 20.")
    for problem in problems:
        st.error(f"Cannot start yet: {problem}")
    base_seed = int((config.get("manifoldmix") or {}).get("seed", 0))
    seeds = list(range(base_seed, base_seed + int(n_seeds)))
    if not problems:
        count, why = sweeps.plan_text(list(partitions), list(optimizers), seeds)
        if why:
            st.info(why)
        st.caption(count)
    if st.button("Run sweep", type="primary", disabled=bool(problems), key="launch_sweep"):
        try:
            sweep_dir = sweeps.launch_sweep(config, list(partitions), list(optimizers), seeds,
                                            name=sweeps.sweep_name(list(partitions), list(optimizers), int(n_seeds)))
        except ManifoldMixError as exc:
            st.error(f"Cannot start this sweep: {exc}")
        else:
            st.query_params["sweep"] = sweep_dir.name
            st.rerun()

if not found:
    st.info("No sweeps yet: start one above.")
    st.stop()
ids = [d.name for d in found]
chosen = url_choice("Sweep", ids, "sweep", unknown=lambda wanted: f"No sweep {wanted}: showing the newest one.")
sweep_dir = found[ids.index(chosen)]
try:
    state, _ = sweep.sweep_state(sweep_dir)
except ManifoldMixError as exc:  # a damaged or forged sweep.json is named; the other sweeps stay one pick away
    st.error(f"Sweep {sweep_dir.name} is damaged and cannot be shown: {exc}")
    st.stop()

actions = st.columns(4)
if state == "running" and actions[0].button("Cancel sweep", key="cancel_sweep"):
    sweep.cancel_sweep(sweep_dir)
    st.toast("Cancel requested: the running member stops after its current evaluation; finished ones are kept.")
if state in ("cancelled", "stopped") and actions[0].button("Resume sweep", key="resume_sweep"):
    sweeps.continue_sweep(sweep_dir)
    st.rerun()


@st.fragment(run_every=timedelta(seconds=2) if state == "running" else None)
def sweep_view() -> None:
    """Polled while the sweep runs: members' states, then the comparison of the settings finished so far."""
    now, counts = sweep.sweep_state(sweep_dir)
    if now != state:
        st.rerun()
    st.markdown(f"### {STATE_ICONS.get(now, '')} {now} · " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    with st.expander("Runs of this sweep", expanded=now == "running"):
        st.dataframe(sweeps.members_frame(sweep_dir), hide_index=True, key="sweep_members")
    frame = sweeps.comparison(sweep_dir)
    for run_id, reason in frame.attrs["damaged"].items():
        st.warning(f"Run {run_id} is left out of the comparison: {reason}")
    if frame.empty:
        st.caption("The comparison appears as soon as a run of the sweep has finished.")
        return
    st.subheader("Figure 2 per setting: mean and 95 % interval over seeds")
    st.plotly_chart(sweep_figure(frame), key="sweep_figure2")
    st.markdown("\n".join(f"- {sentence}" for sentence in sweeps.differences(frame)))
    st.subheader("Settings compared (%)")
    st.caption(f"ID columns: {frame.attrs['id_set']}. Mean and standard deviation over seeds; ±95 % is the half-width of the "
               "mean's 95 % confidence interval (Student's t, so 2 seeds give wide intervals). "
               + (sweeps.one_run_text(frame) or ""))
    st.dataframe(frame.style.format(precision=2, na_rep="–"), hide_index=True, key="sweep_table", placeholder="–")


sweep_view()
