"""Run: settings and launch (the engine's CLI as its own process), then a live view polled from the run directory."""

from datetime import timedelta

import streamlit as st

from app_lib import run_store
from app_lib.algorithm import ALGORITHM_STEPS, algorithm_dot
from app_lib.components import partition_size, searched_components
from app_lib.device import device_options, gpu_available
from app_lib.draft import blockers, degenerate, with_settings
from app_lib.figures import lambda_figure, timeline_figure, valacc_figure
from app_lib.live import LiveLog, memory_text, progress_text
from app_lib.method_settings import controls, saved, summaries
from app_lib.ui import STATE_ICONS, draft, pick_run, setting_widget
from app_lib.vocabulary import counted, method_label, percent
from manifoldmix_core import runs
from manifoldmix_core.methods import METHODS, defaults

st.title("Run")

with st.expander("Start a new run", expanded=not run_store.list_runs()):
    config = draft()
    st.caption(f"{counted(len(config.get('ingredients', [])), 'ingredient')} · held-out set: "
               f"{(config.get('val') or {}).get('name', '—')} · OOD sets: {', '.join(config.get('ood', [])) or '—'} · "
               f"partition: {config.get('partition', {}).get('preset', 'custom')}")
    name = st.text_input("Run name", value=config.get("name") or "run", key="run_name")
    methods = st.pills("Methods", list(METHODS), selection_mode="multi", format_func=lambda m: METHODS[m].label,
                       default=[m for m in config.get("methods") or defaults() if m in METHODS], key="run_methods") or []
    devices = device_options()
    device = st.selectbox("Device", devices, index=devices.index(config["device"]) if config.get("device") in devices else 0,
                          help="GPU detected" if gpu_available() else "no GPU detected: runs on the CPU", key="run_device")
    components, live = partition_size(config)
    values, problems = {}, []
    columns = st.columns(3)
    for n, control in enumerate(controls(methods, config, components, live)):  # each method's settings model, as declared
        values[control.section, control.name], problem = setting_widget(columns[n % 3], control)
        problems += [problem] if problem else []
    sections = saved(config, methods, values)
    for line in summaries(methods, sections, components, live):
        st.caption(line)
    config.update(with_settings(config, methods, sections, device, name))  # the workspace keeps the settings
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
state_at_start = status.state
active = state_at_start in run_store.ACTIVE

actions = st.columns(4)  # above the charts: Cancel must not hide below them
if active and actions[0].button("Cancel run", key="cancel"):
    run_store.cancel(run_dir)
    st.toast("Cancel requested: the worker stops after the current evaluation.")
if state_at_start in ("cancelled", "interrupted", "damaged") and actions[0].button("Resume run", key="resume"):
    run_store.resume(run_dir)
    st.rerun()
if state_at_start == "finished" and actions[1].button("Open results", key="open_results"):
    st.switch_page("views/results.py", query_params={"runs": run_dir.name})


@st.fragment(run_every=timedelta(seconds=1.5) if active else None)
def live_view() -> None:
    """Redrawn every 1.5 s while the run is active; any state change reruns the page, so the run selector's label,
    the buttons and polling follow it (queued -> running -> finished)."""
    status = run_store.read_status(run_dir)
    state = status.state
    if state != state_at_start:
        st.rerun()
    if f"live_log:{run_dir}" not in st.session_state:  # read on from where the last poll stopped
        run_config = runs.read_json(run_dir / runs.CONFIG, default={})
        st.session_state[f"live_log:{run_dir}"] = LiveLog(run_dir, searched_components(run_config if isinstance(run_config, dict) else {}))
    live = st.session_state[f"live_log:{run_dir}"].poll()
    evals = live.evaluations()
    method = live.mixing_method()
    head = st.columns([2, 1, 1, 1])
    head[0].markdown(f"### {STATE_ICONS.get(state, '')} {state}")
    head[1].metric("Evaluations", len(evals))
    head[2].metric("Best ValAcc", percent(evals["valacc"].max()) if len(evals) else "–")
    who, order = live.current_candidate(), live.order()
    place = f" ({order.index(who) + 1} of {len(order)})" if who in order else ""  # the name is the value: a metric cuts long ones
    head[3].metric(("λ search for" if state in run_store.ACTIVE else "Last λ search") + place, who or "–")
    st.progress(status.progress, text=progress_text(status, live))
    if note := run_store.queue_note(status):
        st.info(note, icon=":material/hourglass_top:")
    if memory := memory_text(status):
        st.caption(memory)
    if state in run_store.ACTIVE and not len(evals) and not note:  # the seconds before the first evaluation must not look like nothing
        st.info(f"Starting: {status.message or 'the engine is starting'}. The engine loads the model and the datasets "
                "and measures each ingredient first; the charts appear with the first evaluation, in a few seconds.",
                icon=":material/hourglass_top:")
    if state == "failed":
        st.error(f"The run failed: {status.message}")
        if status.traceback:
            with st.expander("Traceback"):
                st.code(status.traceback)
    elif state == "cancelled":
        st.warning(f"Cancelled: {status.message}")
    elif state == "interrupted":
        st.warning(f"Interrupted: {status.message}")
    elif state == "damaged":
        st.error(f"This run's status cannot be shown: {status.message}")
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
            st.markdown(f"**λ per component in the search for {live.ingredient(shown)}**")
            trajectory = live.lambda_trajectory(shown, method)
            if trajectory.empty:
                st.caption("No λ search yet: candidates so far were skipped or are baselines.")
            else:
                st.plotly_chart(lambda_figure(trajectory, shown, live.components), key="lambda_chart")
                ended = live.search_end(shown, method)
                st.caption(f"λ search for {live.ingredient(shown)}: {ended.reason if ended else 'running'}.")
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
