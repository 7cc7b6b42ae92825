"""Start: what ManifoldMix Studio does, Algorithm 1 as a picture, a one-click demo run, and the workspaces."""

from datetime import datetime
from itertools import islice

import streamlit as st

from app_lib import workspace
from app_lib.algorithm import algorithm_dot
from app_lib.demo import demo_config, demo_status
from app_lib.demo_story import demo_story
from app_lib.run_store import launch
from app_lib.ui import browser, open_workspace, reset_workspace, switch_workspace
from app_lib.vocabulary import counted

EARLIER_SHOWN = 5

st.title("ManifoldMix Studio")
st.markdown(
    "ManifoldMix Studio fuses several finetuned checkpoints of one pretrained ViT (the **ingredients**) into a single model. "
    "It implements the *manifold mixing model soup* (ManifoldMixMS, Fassold 2023): the model is cut into **components** "
    "(a **partition**), and each candidate is mixed into the fused model with its own factor **λ** per component. "
    "The λ are chosen by a derivative-free optimizer (Nevergrad) to maximise **ValAcc**, the accuracy on a held-out set. "
    "Uniform soup, greedy soup and logit ensembles run alongside, so you can see what the extra flexibility buys on "
    "out-of-distribution (OOD) test sets. Everything runs as the headless engine `python -m manifoldmix_core`, "
    "so every run you start here can be reproduced from its `config.json`."
)

# The main action comes first: on a phone (390 px) the columns stack, and the diagram above it pushed
# "Run the demo" two screens down.
action, picture = st.columns([2, 3])
with action:
    st.subheader("Try it")
    ready, reason = demo_status()
    if st.button("Run the demo", icon=":material/play_arrow:", type="primary", disabled=not ready, key="run_demo"):
        try:
            with st.spinner("Starting the demo run…"):
                run_dir = launch(demo_config(), name="demo")
        except Exception as exc:  # any failure to start must be shown, not crash the page
            st.error(f"Could not start the demo run: {exc}")
        else:
            st.switch_page("views/run.py", query_params={"run": run_dir.name})
    if not ready:
        st.warning(reason)
    st.write("The demo fuses a zoo of ViTs finetuned (LP-FT, a random hyperparameter search shaped like the paper's zoo) on a "
             "procedurally generated shape world, and measures them on five shifted versions of it, just like ImageNet and "
             "its five OOD sets in the paper.")
    story = demo_story()
    if story:
        with st.expander("What the shipped demo zoo shows (README, Table 1)", expanded=False):
            st.markdown("\n".join(f"- {sentence}" for sentence in story))
    st.markdown("**Your own models:** add checkpoints on **Ingredients**, held-out and OOD sets on **Datasets**, "
                "choose the components on **Partition**, then start on **Run** and compare on **Results**. "
                "**Paper** shows the published numbers and replays the author's run.")
with picture:
    st.subheader("Algorithm 1, one candidate at a time")
    st.graphviz_chart(algorithm_dot())

st.subheader("Your workspace")
current = open_workspace()
st.caption(f"`{current}` holds the setup you assemble on Ingredients, Datasets, Partition and Run. It is saved as "
           "you go and its id is in the address bar: reload, open a new tab or send the link to come back to it.")
with st.popover("Reset workspace", icon=":material/restart_alt:"):
    st.write("Start a new workspace from the demo's setup. This one stays on disk: its link keeps working.")
    st.button("Start a new workspace", on_click=reset_workspace, key="reset_workspace")

earlier = list(islice((saved for saved in workspace.recent(only=workspace.known(browser())) if saved.ws_id != current),
                       EARLIER_SHOWN))
if earlier:
    st.markdown("**Earlier workspaces** (the ones this browser created or opened, most recent first): opening one here "
                "is the same as opening its link.")
    for saved in earlier:
        when = f"saved {datetime.fromtimestamp(saved.mtime):%Y-%m-%d %H:%M}"
        text, button = st.columns([5, 1])
        if saved.draft is None:
            text.caption(f"`{saved.ws_id}` · damaged, cannot be opened ({saved.damage}) · {when}")
            continue
        partition = saved.draft.get("partition") or {}
        components = partition.get("components") if isinstance(partition.get("components"), list) else []
        shape = partition.get("preset") if partition.get("preset") != "components" else counted(len(components), "component")
        text.caption(f"`{saved.ws_id}` · {counted(len(saved.draft.get('ingredients') or []), 'ingredient')} · partition: {shape} · {when}")
        button.button("Open", key=f"open_{saved.ws_id}", on_click=switch_workspace, args=(saved.ws_id,))
