"""Run: settings and launch (the engine's CLI as its own process), then a live view polled from the run directory."""

from datetime import timedelta

import streamlit as st

from app_lib import run_store
from app_lib.algorithm import ALGORITHM_STEPS, algorithm_dot
from app_lib.device import device_options, gpu_available
from app_lib.draft import OPTIMIZERS, blockers, degenerate, with_settings
from app_lib.figures import lambda_figure, timeline_figure, valacc_figure
from app_lib.live import LiveLog, eta_text, memory_text
from app_lib.paths import data_roots, inside_roots
from app_lib.ui import STATE_ICONS, draft, pick_run
from app_lib.vocabulary import counted, method_label, percent
from manifoldmix_core import runs
from manifoldmix_core.errors import PathError
from manifoldmix_core.methods import METHODS, WISE_FT, defaults

st.title("Run")

with st.expander("Start a new run", expanded=not run_store.list_runs()):
    config = draft()
    st.caption(f"{counted(len(config.get('ingredients', [])), 'ingredient')} · held-out set: "
               f"{(config.get('val') or {}).get('name', '—')} · OOD sets: {', '.join(config.get('ood', [])) or '—'} · "
               f"partition: {config.get('partition', {}).get('preset', 'custom')}")
    name = st.text_input("Run name", value=config.get("name") or "run", key="run_name")
    methods = st.pills("Algorithms", list(METHODS), selection_mode="multi", format_func=lambda m: METHODS[m].label,
                       default=[m for m in config.get("methods") or defaults() if m in METHODS], key="run_methods")
    mm = config.get("manifoldmix", {})
    c1, c2, c3 = st.columns(3)
    optimizer = c1.selectbox("Optimizer (Nevergrad)", OPTIMIZERS, index=OPTIMIZERS.index(mm.get("optimizer", "Cobyla"))
                             if mm.get("optimizer", "Cobyla") in OPTIMIZERS else 0, key="run_optimizer")
    # No min/max on the number inputs: a browser keeps the last valid value of a bounded input while showing the typed
    # one, so the run would silently use another number. The engine's validation says what is wrong instead.
    budget = c2.number_input("Budget per component (evaluations)", value=int(mm.get("budget_per_component", 30)), step=1,
                             key="run_budget")
    tau = c3.number_input("τ (skip tolerance, in (0, 1])", value=float(mm.get("tau", 0.998)), step=0.001, format="%.3f",
                          key="run_tau")
    c4, c5, c6 = st.columns(3)
    semantics = c4.segmented_control("Semantics", ["paper", "code-release"], default=mm.get("semantics", "paper"),
                                     required=True, key="run_semantics")
    seed = c5.number_input("Seed", value=int(mm.get("seed", 0)), step=1, key="run_seed",
                           help="The optimizer's random seed; Cobyla and SQP never draw a random number, so for them it changes nothing")
    devices = device_options()
    device = c6.selectbox("Device", devices, index=devices.index(config["device"]) if config.get("device") in devices else 0,
                          help="GPU detected" if gpu_available() else "no GPU detected: runs on the CPU", key="run_device")
    second = st.checkbox("Second optimizer pass after a success (code release only)", value=bool(mm.get("second_pass")),
                         disabled=semantics != "code-release", key="run_second_pass")
    wise_ft, problems = None, []
    if WISE_FT.name in methods:
        zero_shot = st.text_input("WiSE-FT: zero-shot (pretrained) checkpoint, a path inside an allowed folder",
                                  (config.get(WISE_FT.settings) or {}).get("zero_shot", ""), key="run_zero_shot")
        try:
            wise_ft = {"zero_shot": str(inside_roots(zero_shot, data_roots()))} if zero_shot.strip() else None
        except PathError as exc:
            problems.append(str(exc))
        if wise_ft is None and not problems:
            problems.append("Give WiSE-FT's zero-shot checkpoint.")
    settings = {"optimizer": optimizer, "budget_per_component": int(budget), "tau": float(tau), "semantics": semantics,
                "seed": int(seed), "second_pass": bool(second and semantics == "code-release")}
    config.update(with_settings(config, methods or [], settings, device, name, wise_ft))  # the workspace keeps the settings
    problems = problems or blockers(config)
    for problem in problems:
        st.error(f"Cannot launch yet: {problem}")
    for note in degenerate(config):
        st.warning(note)
    if st.button("Launch run", type="primary", disabled=bool(problems), key="launch",
                 help="; ".join(problems) or "Start the engine on this setup in its own process"):
        run_dir = run_store.launch(config)
        st.query_params["run"] = run_dir.name
        st.rerun()

run_dir = pick_run("Run")
if run_dir is None:
    st.info("No runs yet: start one above, or run the demo from the Start page.")
    st.stop()

status = run_store.read_status(run_dir)
state_at_start = status.get("state", "queued")
active = state_at_start in run_store.ACTIVE

actions = st.columns(4)  # above the charts: Cancel must not hide below them
if active and actions[0].button("Cancel run", key="cancel"):
    run_store.cancel(run_dir)
    st.toast("Cancel requested: the worker stops after the current evaluation.")
if state_at_start in ("cancelled", "interrupted") and actions[0].button("Resume run", key="resume"):
    run_store.resume(run_dir)
    st.rerun()
if state_at_start == "finished" and actions[1].button("Open results", key="open_results"):
    st.switch_page("views/results.py", query_params={"runs": run_dir.name})


@st.fragment(run_every=timedelta(seconds=1.5) if active else None)
def live_view() -> None:
    """Redrawn every 1.5 s while the run is active; any state change reruns the page, so the run selector's label,
    the buttons and polling follow it (queued -> running -> finished)."""
    status = run_store.read_status(run_dir)
    state = status.get("state", "queued")
    if state != state_at_start:
        st.rerun()
    live = st.session_state.setdefault(f"live_log:{run_dir}", LiveLog(run_dir)).poll()  # reads only the lines added since
    evals = live.evaluations()
    method = live.mixing_method()
    head = st.columns([2, 1, 1, 1])
    head[0].markdown(f"### {STATE_ICONS.get(state, '')} {state}")
    head[1].metric("Evaluations", len(evals))
    head[2].metric("Best ValAcc", percent(evals["valacc"].max()) if len(evals) else "–")
    head[3].metric("Candidate", live.current_candidate() or "–")
    st.progress(float(status.get("progress") or 0.0), text=f"{status.get('message', '')}  {eta_text(status)}")
    if note := run_store.queue_note(status):
        st.info(note, icon=":material/hourglass_top:")
    if memory := memory_text(status):
        st.caption(memory)
    if state == "failed":
        st.error(f"The run failed: {status.get('message')}")
        if status.get("traceback"):
            with st.expander("Traceback"):
                st.code(status["traceback"])
    elif state == "cancelled":
        st.warning(f"Cancelled: {status.get('message')}")
    elif state == "interrupted":
        st.warning(f"Interrupted: {status.get('message')}")
    elif state == "finished":
        st.success("Finished. Compare it with other runs on Results.")
    if len(evals):
        left, right = st.columns(2)
        with left:
            st.markdown("**ValAcc over evaluations**")
            st.plotly_chart(valacc_figure(evals, method), key="valacc_chart")
        with right:
            options = live.searched_candidates(method)
            shown = live.current_candidate(method) if active else (options[-1] if options else None)
            if not active and options:
                shown = st.selectbox("λ trajectory of candidate", options, index=options.index(shown), key="lambda_candidate")
            st.markdown(f"**λ per component while optimising {shown or '—'}**")
            trajectory = live.lambda_trajectory(shown, method)
            if trajectory.empty:
                st.caption("No λ search yet: candidates so far were skipped or are baselines.")
            else:
                st.plotly_chart(lambda_figure(trajectory, shown, live.components), key="lambda_chart")
                ended = live.search_end(shown, method)
                st.caption(f"λ search of {shown}: {ended.reason}." if ended else f"λ search of {shown}: running.")
        timeline_col, algorithm_col = st.columns(2)  # the flowchart scales to its column: half the width keeps its text readable
        with timeline_col:
            st.markdown(f"**Candidates of {method_label(method)}** (skipped / optimised / accepted / rejected)" if method
                        else "**Candidates** (none yet: the ingredients are being measured)")
            st.plotly_chart(timeline_figure(live.candidate_timeline(method)), key="timeline_chart")
        with algorithm_col:
            step = live.algorithm_step(method) if active else None
            st.markdown(f"**Algorithm 1, now: {ALGORITHM_STEPS[step]}**" if step else "**Algorithm 1**")
            st.graphviz_chart(algorithm_dot(step))
    log = run_store.worker_log(run_dir)
    if log and state in ("failed", "interrupted"):
        with st.expander("Worker log"):
            st.code(log)


live_view()

with st.expander("Run directory"):
    st.code(str(run_dir))
    st.json(runs.read_json(run_dir / runs.CONFIG, default={}), expanded=False)
