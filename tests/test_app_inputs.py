# ruff: noqa: F811  (pytest fixtures imported from app_support are redefined as arguments)
"""AppTest tests of the input pages: Ingredients (upload, server folders, errors), Datasets, Partition."""

from __future__ import annotations

import json

from app_support import APP, app_env, toy_draft  # noqa: F401
from streamlit.testing.v1 import AppTest
from test_app_pages import open_page, texts

from app_lib import workspace
from app_lib.draft import EMPTY


def empty_draft() -> dict:
    return json.loads(json.dumps(EMPTY))


# -- Ingredients ------------------------------------------------------------------------------------------------------

def test_upload_keeps_good_files_and_reports_bad_ones(app_env, toy_world, tmp_path):
    at = open_page("views/ingredients.py", draft=empty_draft())
    good = (toy_world.parent / "a.safetensors").read_bytes()
    at.file_uploader(key="upload").set_value([("a.safetensors", good, "application/octet-stream"),
                                              ("broken.pt", b"not a checkpoint", "application/octet-stream")])
    at.run()
    at.button(key="add_uploads").click().run()
    assert not at.exception
    assert [i["name"] for i in at.session_state["draft"]["ingredients"]] == ["a"]
    assert "broken.pt" in texts(at.error) and "Not added" in texts(at.error)
    # issue 9, smaller: refused uploads stayed in data/uploads; re-uploading a file was ignored silently; "1 ingredients"
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == ["a.safetensors"]
    assert at.subheader[0].value == "1 ingredient"
    at.button(key="add_uploads").click().run()
    assert "a.safetensors is already an ingredient (a)" in texts(at.info)
    assert len(at.session_state["draft"]["ingredients"]) == 1
    table = at.dataframe[0].value
    assert table.loc[0, "name"] == "a" and table.loc[0, "size (MB)"] > 0


def test_server_folder_pick_and_traversal_refused(app_env, toy_world):
    at = open_page("views/ingredients.py", draft=empty_draft())
    files = at.multiselect(key="server_files")
    assert {"a.safetensors", "noise.safetensors"} <= set(files.options)
    files.set_value(["a.safetensors", "b.safetensors"]).run()
    at.button(key="add_server").click().run()
    assert [i["name"] for i in at.session_state["draft"]["ingredients"]] == ["a", "b"]
    at.text_input(key="server_sub").set_value("../../..").run()
    assert "outside the allowed folders" in texts(at.error)


def test_server_folder_outside_the_roots_is_an_error_not_an_exception(app_env):
    """Issue 9, defect 2: a fresh session typing '../../etc' got the message and then NameError: 'folder'."""
    at = open_page("views/ingredients.py", draft=empty_draft())
    at.text_input(key="server_sub").set_value("../../etc").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "outside the allowed folders" in texts(at.error)
    assert at.multiselect(key="server_files").options == []


def test_hyperparameters_are_short():
    """Issue 9, smaller: hparams were printed with 19 decimals."""
    from app_lib.ingredient_pool import hparams_text
    assert hparams_text({"lr": 0.1 + 0.2, "epochs": 10, "aug": "none"}) == "lr=0.3, epochs=10, aug=none"


def test_heldout_accuracy_on_demand_is_cached(app_env, toy_world):
    at = open_page("views/ingredients.py", draft=toy_draft(toy_world))
    at.button(key="heldout").click().run(timeout=120)
    assert not at.exception and not at.error
    table = at.dataframe[0].value.set_index("name")
    assert table.loc["a", "held-out accuracy (%)"] > table.loc["noise", "held-out accuracy (%)"]
    assert 1 < table.loc["a", "held-out accuracy (%)"] <= 100  # a percentage, as on every other page
    assert len(at.session_state["heldout_cache"]) == 4


def test_remove_ingredient(app_env, toy_world):
    at = open_page("views/ingredients.py", draft=toy_draft(toy_world))
    row = list(at.dataframe[0].value["name"]).index("noise")
    at.session_state["ingredient_table"] = {"edited_rows": {row: {"remove": True}}, "added_rows": [], "deleted_rows": []}
    at.run()
    at.button(key="remove").click().run()
    assert [i["name"] for i in at.session_state["draft"]["ingredients"]] == ["a", "a_copy", "b"]


# -- Datasets ---------------------------------------------------------------------------------------------------------

def test_datasets_add_preview_and_errors(app_env, toy_world):
    draft = toy_draft(toy_world)
    at = open_page("views/datasets.py", draft=draft)
    assert "held-out: val" in " ".join(e.label for e in at.expander)
    at.toggle(key="preview_val").set_value(True).run()
    assert not at.error and len(at.image) == 1 and at.image[0].proto.imgs
    at.text_input(key="set_name").set_value("shifted")
    at.selectbox(key="set_source").set_value("tensors")
    at.text_input(key="set_path").set_value("test.safetensors")
    at.text_input(key="set_subset").set_value("0, 1, 2, 3")
    at.form_submit_button[0].click().run()
    assert not at.error
    added = at.session_state["draft"]
    assert "shifted" in added["ood"] and added["test"][-1]["class_subset"] == [0, 1, 2, 3]
    at.text_input(key="set_path").set_value("../../etc/passwd")
    at.form_submit_button[0].click().run()
    assert "outside the allowed folders" in texts(at.error)
    at.text_input(key="set_path").set_value("test.safetensors")
    at.text_input(key="set_map").set_value("{not json")
    at.form_submit_button[0].click().run()
    assert "class map must be a JSON object" in texts(at.error)


def test_datasets_checks_a_file_when_it_is_added(app_env, toy_world):
    """Issue 9, defect 4: a model checkpoint was accepted as a tensor set and failed only at preview or in a run."""
    at = open_page("views/datasets.py", draft=toy_draft(toy_world))
    at.text_input(key="set_name").set_value("not-images")
    at.selectbox(key="set_source").set_value("tensors")
    at.text_input(key="set_path").set_value("a.safetensors")
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert "Not added" in texts(at.error) and "model checkpoint" in texts(at.error)
    assert "not-images" not in [d["name"] for d in at.session_state["draft"]["test"]]


def test_datasets_remove_held_out_warns(app_env, toy_world):
    at = open_page("views/datasets.py", draft=toy_draft(toy_world))
    at.button(key="remove_val").click().run()
    assert at.session_state["draft"]["val"] is None
    assert "Choose a held-out set" in texts(at.warning)


# -- Partition --------------------------------------------------------------------------------------------------------

def test_partition_presets_edits_and_validation(app_env, toy_world):
    at = open_page("views/partition.py", draft=toy_draft(toy_world))
    assert "Valid: 5 components" in texts(at.success)
    assert "**whole model**: 1 component ·" in texts(at.caption)  # counts in the right number ("1 components" was shown)
    at.selectbox(key="partition_preset").set_value("fine").run()  # choosing a preset applies it
    assert "Valid: 7 components" in texts(at.success)
    at.text_input(key="new_component").set_value("tower").run()
    at.button(key="add_component").click().run()
    units = list(at.dataframe[0].value["unit"])
    rows = {units.index("block 0 attention"): {"component": "tower"}, units.index("block 0 MLP"): {"component": "tower"}}
    at.session_state["partition_table"] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}
    at.run()
    assert "Valid: 6 components" in texts(at.success)
    spec = at.session_state["draft"]["partition"]
    assert spec["preset"] == "components" and "tower" in [c["name"] for c in spec["components"]]


def test_partition_preset_box_follows_edits_and_shows_what_presets_mean(app_env, toy_world):
    """Issue 9, defect 8: the preset box kept the old preset after edits; the 'parameters' column counted tensors."""
    at = open_page("views/partition.py", draft=toy_draft(toy_world))
    at.selectbox(key="partition_preset").set_value("medium").run()
    assert at.selectbox(key="partition_preset").value == "medium"
    assert "medium (one component per block)" in texts(at.caption)
    table = at.dataframe[0].value.set_index("unit")
    assert table.loc["block 0 attention", "parameters"] > table.loc["block 0 attention", "tensors"] > 1
    rows = {list(table.index).index("head"): {"component": "block 0"}}
    at.session_state["partition_table"] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}
    at.run()
    assert at.selectbox(key="partition_preset").value == "custom"
    assert "Choosing a preset replaces this custom assignment" in texts(at.caption)  # it did so without a word


def test_partition_load_rejects_invalid_json_and_accepts_a_saved_one(app_env, toy_world):
    at = open_page("views/partition.py", draft=toy_draft(toy_world))
    at.file_uploader(key="load_partition").set_value(("p.json", b'{"components": [{"name": "x", "params": ["nope"]}]}',
                                                      "application/json"))
    at.run()
    assert "Not loaded" in texts(at.error)
    names = [p for c in at.session_state["draft"]["partition"]["components"] for p in c["params"]]
    whole = json.dumps({"components": [{"name": "everything", "params": names}]}).encode()
    at.file_uploader(key="load_partition").set_value(("whole.json", whole, "application/json"))
    at.run()
    assert "Valid: 1 component (1 affects" in texts(at.success)


def test_partition_needs_ingredients(app_env):
    at = open_page("views/partition.py", draft=empty_draft())
    assert "Add ingredients first" in texts(at.info)


# -- Workspace (issue 9, defect 1) ------------------------------------------------------------------------------------

def test_a_reload_restores_the_setup_from_the_workspace_in_the_url(app_env, toy_world):
    """Issue 9, defect 1: a reload went back to the demo defaults (13 -> 12 ingredients, 11 -> 7 components)."""
    at = open_page("views/partition.py", draft=toy_draft(toy_world))
    ws = at.query_params["ws"]
    at.selectbox(key="partition_preset").set_value("whole").run()
    at.switch_page("views/ingredients.py").run()
    row = list(at.dataframe[0].value["name"]).index("noise")
    at.session_state["ingredient_table"] = {"edited_rows": {row: {"remove": True}}, "added_rows": [], "deleted_rows": []}
    at.run()
    at.button(key="remove").click().run()
    at.switch_page("views/run.py").run()
    at.number_input(key="run_manifoldmix.budget_per_component").set_value(7).run()
    at.run()  # app.py saves after each page; a page AppTest runs without app.py is saved when the next run starts

    reloaded = open_page("views/partition.py", query={"ws": ws})  # a new browser session: nothing in its session state
    assert reloaded.query_params["ws"] == ws
    draft = reloaded.session_state["draft"]
    assert [i["name"] for i in draft["ingredients"]] == ["a", "a_copy", "b"]
    assert draft["manifoldmix"]["budget_per_component"] == 7
    assert [c["name"] for c in draft["partition"]["components"]] == ["whole model"]
    assert "Valid: 1 component (1 affects" in texts(reloaded.success)


def test_reset_starts_a_new_workspace_and_keeps_the_old_one(app_env, toy_world):
    at = open_page("views/start.py", draft=toy_draft(toy_world))
    old = at.query_params["ws"]
    at.button(key="reset_workspace").click().run()
    assert at.session_state["ws"] != old and at.session_state["draft"]["ingredients"] != toy_draft(toy_world)["ingredients"]
    assert "ws" not in at.query_params  # the new workspace has no file until it is changed
    assert len(open_page("views/ingredients.py", query={"ws": old}).session_state["draft"]["ingredients"]) == 4


def test_start_lists_earlier_changed_workspaces_and_opens_one(app_env, toy_world):
    """A user who starts a new workspace finds the setup they changed before on Start, and opens it again."""
    at = open_page("views/partition.py", draft=toy_draft(toy_world))
    at.selectbox(key="partition_preset").set_value("whole").run()
    at.run()
    ws = at.query_params["ws"]
    at.switch_page("views/start.py").run()
    at.button(key="reset_workspace").click().run()
    captions = texts(at.caption)
    assert f"`{ws}` · 4 ingredients · partition: 1 component · saved" in captions and captions.count(" · saved ") == 1
    at.button(key=f"open_{ws}").click().run()
    assert at.query_params["ws"] == ws and len(at.session_state["draft"]["ingredients"]) == 4
    assert not any(b.key == f"open_{ws}" for b in at.button)  # the open one is not listed as an earlier one


def test_start_lists_only_the_workspaces_this_browser_created_or_opened(app_env, toy_world):
    """Issue 18, item 3: Start listed every visitor's workspaces; a class opened and edited each other's setups."""
    teacher = open_page("views/partition.py", draft=toy_draft(toy_world))
    teacher.selectbox(key="partition_preset").set_value("whole").run()
    teacher.run()
    ws = teacher.query_params["ws"]
    student = open_page("views/start.py")  # another browser: AppTest sessions send no cookie, so each is a new browser
    assert f"`{ws}`" not in texts(student.caption) and not any(b.key == f"open_{ws}" for b in student.button)
    linked = open_page("views/start.py", query={"ws": ws})  # a browser that opened the teacher's link lists it
    linked.button(key="reset_workspace").click().run()
    assert any(b.key == f"open_{ws}" for b in linked.button)
    browsers = app_env.parent / "workspaces" / "browsers"
    assert sorted(p.name for p in browsers.iterdir()) == sorted(f"{s.session_state['ws_browser']}.json" for s in (teacher, linked))


def test_viewing_pages_and_hostile_workspace_links_create_nothing(app_env):
    """Issue 18, item 3: every visit wrote a workspace file, and the walk's 20 hostile ?ws= URLs created 30 files."""
    at = open_page("views/start.py")
    for page in ("ingredients", "datasets", "partition", "run", "results", "experiments", "paper", "start"):
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
    for wanted in ("ws-00000000", "../../etc/passwd", "ws-AAAAAAAA", "ws-0000000/../x", "%00", "ws-" + "a" * 500):
        hostile = open_page("views/start.py", query={"ws": wanted})
        assert hostile.query_params.get("ws") in (None, []), wanted
    folder = app_env.parent / "workspaces"
    assert not folder.exists() or not [p for p in folder.rglob("*") if p.name != ".lock"]


def test_a_stale_save_is_refused_and_the_current_setup_shown(app_env, toy_world):
    """Issue 18, item 4: two tabs on one link, tab B's older copy silently overwrote tab A's change."""
    a = open_page("views/run.py", draft=toy_draft(toy_world))
    a.run()
    ws = a.query_params["ws"]
    b = open_page("views/run.py", query={"ws": ws})
    a.number_input(key="run_manifoldmix.budget_per_component").set_value(7).run()
    a.run()
    assert workspace.load(ws, app_env.parent / "workspaces")["manifoldmix"]["budget_per_component"] == 7
    b.number_input(key="run_manifoldmix.budget_per_component").set_value(11).run()
    assert "changed in another tab or browser" in texts(b.warning)
    assert b.session_state["draft"]["manifoldmix"]["budget_per_component"] == 7
    assert b.number_input(key="run_manifoldmix.budget_per_component").value == 7  # the page shows the current setup, not the refused edit
    assert workspace.load(ws, app_env.parent / "workspaces")["manifoldmix"]["budget_per_component"] == 7
    b.number_input(key="run_manifoldmix.budget_per_component").set_value(11).run()  # an edit based on the current version is saved
    b.run()
    assert workspace.load(ws, app_env.parent / "workspaces")["manifoldmix"]["budget_per_component"] == 11


def test_an_unknown_workspace_is_said_and_a_new_one_started(app_env):
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params["ws"] = "ws-00000000"
    at.run()
    assert "No workspace 'ws-00000000' here" in texts(at.sidebar.error)  # ids are named shortened, quoted
    assert at.query_params.get("ws") != "ws-00000000"
