"""Unit tests of app_lib: root checks, upload streaming, run listing, Table 1 ranking, live frames (read incrementally)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time

import pytest
from helpers import REPO

from app_lib import run_store
from app_lib.datasets import demo_datasets
from app_lib.demo_story import ROWS, demo_story
from app_lib.ingredient_pool import UploadTooLarge, safe_name, save_upload
from app_lib.live import LiveLog, candidate_timeline, evaluations, final_lambdas, lambda_trajectory, memory_text
from app_lib.paper import reference_board, replay_frame
from app_lib.paths import inside_roots, list_files
from app_lib.scoreboard import board_from_results, figure2_frame, merge_boards, rank_marks, table1, table1_download, table1_half_widths, table1_rows
from app_lib.vocabulary import size_text, unique_name
from manifoldmix_core import runs
from manifoldmix_core.config import load_config
from manifoldmix_core.demo.run_config import demo_config
from manifoldmix_core.errors import PathError
from manifoldmix_core.events import read as read_events
from manifoldmix_core.intervals import half_width
from manifoldmix_core.run_records import Results, Status


def test_inside_roots_refuses_traversal_and_symlink_escapes(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.pt").write_bytes(b"x")
    (root / "sub" / "ok.pt").write_bytes(b"x")
    (root / "escape").symlink_to(outside)
    assert inside_roots("sub/ok.pt", [root]) == root / "sub" / "ok.pt"
    for bad in ("../outside/secret.pt", str(outside / "secret.pt"), "escape/secret.pt", "/etc/passwd"):
        with pytest.raises(PathError):
            inside_roots(bad, [root])
    assert [p.name for p in list_files(root, (".pt",), [root])] == ["ok.pt"]


def test_save_upload_streams_and_enforces_the_limit(tmp_path):
    path = save_upload(io.BytesIO(b"a" * 1000), "../../evil name.safetensors", 1000, tmp_path)
    assert path == tmp_path / "evil_name.safetensors" and path.stat().st_size == 1000
    with pytest.raises(UploadTooLarge):
        save_upload(io.BytesIO(b"a" * 1001), "big.pt", 1000, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil_name.safetensors"]
    assert safe_name(".hidden") == "hidden"


def test_save_upload_keeps_the_same_bytes_once_and_never_overwrites_other_bytes(tmp_path):
    first = save_upload(io.BytesIO(b"a" * 10), "m.pt", 100, tmp_path)
    assert save_upload(io.BytesIO(b"a" * 10), "m.pt", 100, tmp_path) == first  # the pool can say it already has it
    other = save_upload(io.BytesIO(b"b" * 10), "m.pt", 100, tmp_path)
    assert other == tmp_path / "m-2.pt" and first.read_bytes() == b"a" * 10
    assert save_upload(io.BytesIO(b"c" * 10), "m.pt", 100, tmp_path) == tmp_path / "m-3.pt"


def test_find_run_rejects_ids_that_climb_out(tmp_path):
    (tmp_path / "r1").mkdir()
    assert run_store.find_run("r1", tmp_path) == tmp_path / "r1"
    assert run_store.find_run("..", tmp_path) is None and run_store.find_run("../x", tmp_path) is None


def wait_until_settled(run_dir):
    """The engine's last status of a run the app launched (it finishes or fails on its own)."""
    deadline = time.monotonic() + 300
    while run_store.read_status(run_dir).state in run_store.ACTIVE and time.monotonic() < deadline:
        time.sleep(0.1)
    return run_store.read_status(run_dir)


def test_the_app_launches_and_reads_the_engine_writes_status(toy_world, tmp_path):
    config = json.loads(json.dumps(load_config(toy_world).to_dict() | {"methods": ["uniform_soup"]}))
    run_dir = run_store.launch(config, root=tmp_path)
    status = wait_until_settled(run_dir)
    assert status.state == "finished" and status.pid != os.getpid()
    assert runs.read_json(run_dir / runs.RESULTS)["methods"]["uniform_soup"]["valacc"] > 0
    assert runs.read_json(run_dir / runs.CONFIG) == config


def test_a_launched_run_whose_config_is_invalid_reads_as_failed(toy_world, tmp_path):
    config = load_config(toy_world).to_dict()
    config["manifoldmix"]["tau"] = 0
    run_dir = run_store.launch(config, root=tmp_path)
    status = wait_until_settled(run_dir)
    assert status.state == "failed" and "manifoldmix.tau" in status.message and status.pid != os.getpid()
    assert "manifoldmix.tau" in run_store.worker_log(run_dir)


def test_the_datasets_pages_demo_sets_are_the_demo_runs():
    """The Datasets page offers the demo world's sets by the engine's split names, as the default demo run uses them."""
    config = demo_config()
    assert demo_datasets() == {role: config[role] for role in ("val", "test", "ood")}


def test_list_runs_newest_first(tmp_path):
    for name, created in (("old", 1.0), ("new", 2.0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / runs.CONFIG).write_text("{}")
        runs.write_json_atomic(tmp_path / name / runs.STATUS, {"state": "finished", "created_at": created, "pid": os.getpid()})
    (tmp_path / "not-a-run").mkdir()
    assert [r.run_id for r in run_store.list_runs(tmp_path)] == ["new", "old"]


def test_paper_table1_marks_best_and_second_best():
    board = reference_board()
    table = table1(board)
    marks = rank_marks(table)
    assert marks.loc["Uniform soup", "Avg OOD"] == "best" and marks.loc["ManifoldMixMS-C8", "Avg OOD"] == "second"
    assert marks.loc["Greedy soup", "ImageNet"] == "best" and marks.loc["ManifoldMixMS-C8", "ImageNet"] == "second"
    points = figure2_frame(board, "ImageNet")
    assert (points["kind"] == "Finetuned ingredient").sum() == 72 and len(points) == 75


def test_table1_download_keeps_numbers_and_puts_each_half_width_beside_its_column(finished_run):
    results = json.loads((finished_run / runs.RESULTS).read_text())
    board = board_from_results(Results.model_validate(results), "toy")
    csv = table1_download(table1(board), table1_half_widths(board))
    assert list(csv.columns) == ["val", "val ±95%", "test", "test ±95%", "Avg OOD", "Avg OOD ±95%"]
    p, n = results["methods"]["greedy_soup"]["accuracy"]["test"], results["dataset_sizes"]["test"]
    assert csv.loc["Greedy soup", "test"] == pytest.approx(100 * p, abs=1e-4)  # rounded to 4 decimals
    assert csv.loc["Greedy soup", "test ±95%"] == csv.loc["Greedy soup", "Avg OOD ±95%"] == pytest.approx(100 * half_width(p, n), abs=1e-4)


def test_merged_runs_keep_a_dataset_size_only_where_all_runs_agree(finished_run):
    results = json.loads((finished_run / runs.RESULTS).read_text())
    other = {**results, "dataset_sizes": {**results["dataset_sizes"], "test": results["dataset_sizes"]["test"] + 1}}
    merged = merge_boards({run: board_from_results(Results.model_validate(r), run) for run, r in (("a", results), ("b", other))})
    assert merged.sizes == {"val": results["dataset_sizes"]["val"]}
    halves = table1_half_widths(merged)
    assert halves["val"].notna().all() and halves["test"].isna().all()


def test_an_ingredient_one_run_tested_and_another_only_held_out_is_one_row(finished_run):
    """Results with a run and a sweep member (no ingredient tests) showed the best finetune twice, once without tests."""
    results = json.loads((finished_run / runs.RESULTS).read_text())
    held_out_only = {**results, "ingredients": {name: {**info, "accuracy": {results["val_dataset"]: info["accuracy"][results["val_dataset"]]}}
                                                for name, info in results["ingredients"].items()}}
    for order in (("tested", "member"), ("member", "tested")):
        boards = {"tested": board_from_results(Results.model_validate(results), "tested"),
                  "member": board_from_results(Results.model_validate(held_out_only), "member")}
        merged = merge_boards({run: boards[run] for run in order})
        assert sorted(e.name for e in merged.ingredients()) == sorted(results["ingredients"])
        best, second = [entry for _, entry in table1_rows(merged)[:2]]
        assert best.name != second.name and best.run == second.run == "tested"


def test_replay_frames_advance_by_the_speed_and_stop_at_the_end():
    assert replay_frame(3.0, 1.0, 59.5) == (4.0, True)
    assert replay_frame(58.5, 2.0, 59.5) == (59.5, False)  # never past the end, and the last frame stops the play
    assert replay_frame(59.0, 0.5, 59.5) == (59.5, False)


def test_memory_text_names_each_sets_place_and_size():
    status = {"datasets": {"val": {"where": "device", "device_bytes": 3 << 30, "host_bytes": 0},
                           "ImageNet-R": {"where": "streamed", "device_bytes": 600 << 20, "host_bytes": 5 << 30},
                           "ImageNet-A": {"where": "disk", "device_bytes": 600 << 20, "host_bytes": 616 << 20},
                           "cpu-set": {"where": "disk", "device_bytes": 0, "host_bytes": 77 << 20}}}
    assert memory_text(Status.model_validate(status)) == ("Evaluation sets: val on the device (3.0 GB) · ImageNet-R streamed from pinned host memory "
                                   "(5.0 GB, at most 600.0 MB on the GPU) · ImageNet-A read from disk a batch at a time (staging "
                                   "buffers 616.0 MB, at most 600.0 MB on the GPU) · cpu-set read from disk a batch at a time "
                                   "(staging buffers 77.0 MB)")
    assert memory_text(Status(state="queued")) == ""


def test_live_frames_from_a_finished_run(finished_run):
    events = read_events(finished_run)
    timeline = candidate_timeline(events).set_index("candidate")
    assert timeline.loc["noise", "status"] == "skipped" and timeline.loc["b", "status"] == "accepted"
    trajectory = lambda_trajectory(events, "b")
    assert set(trajectory["component"]) == set(runs.read_json(finished_run / runs.RESULTS)["partition"]["components"])
    matrix = final_lambdas(runs.read_results(finished_run))
    assert list(matrix.index) == ["b"] and ((matrix >= 0) & (matrix <= 1)).all().all()


def test_demo_story_tells_the_shipped_table_and_nothing_without_it(tmp_path):
    rows = json.loads(ROWS.read_text())
    story = demo_story()
    assert len(story) == 6
    table = rows["rows"]
    lp, uniform = table["linear probe (LP init)"], table[f"uniform_soup ({rows['headline']['finetunes']} finetunes)"]
    assert f"from {100 * lp['test']:.1f} %" in story[0]
    assert f"at {100 * uniform['test']:.1f} % ID test" in story[1]
    greedy_kept = rows["headline"]["greedy_soup"]["kept"]
    assert story[2].startswith(f"The greedy soup keeps {greedy_kept} finetune")
    assert f"{100 * rows['headline']['top5_ensemble']['val']:.1f} %" in story[4]
    assert story[5].lower().endswith(rows["headline"]["granularity"].lower() + ".")
    assert demo_story(tmp_path / "missing.json") == []
    (tmp_path / "old.json").write_text(json.dumps({"rows": table}))
    assert demo_story(tmp_path / "old.json") == []


def test_live_log_reads_events_incrementally_and_agrees_with_a_full_read(finished_run, tmp_path):
    """Fed in pieces cut anywhere (mid-line too), the live log reads each byte once and ends where a full read does."""
    data = (finished_run / runs.EVENTS).read_bytes()
    growing = tmp_path / runs.EVENTS
    growing.write_bytes(b"")
    live = LiveLog(tmp_path)
    cuts = list(range(0, len(data), 997)) + [len(data)]
    for end in cuts[1:]:
        with growing.open("ab") as f:
            f.write(data[growing.stat().st_size:end])
        live.poll()
        assert live.offset == data[:end].rfind(b"\n") + 1  # a line still being written waits for the next poll
    everything = read_events(finished_run)
    assert live.count == len(everything) and live.offset == len(data)
    assert live.poll().count == len(everything)  # nothing new: nothing read again
    assert live.evaluations().equals(evaluations(everything))
    assert live.candidate_timeline().equals(candidate_timeline(everything))
    searched = live.searched_candidates()
    assert "b" in searched and live.current_candidate() == searched[-1]
    for candidate in searched:
        assert live.lambda_trajectory(candidate).equals(lambda_trajectory(everything, candidate))


def test_live_log_stops_at_a_broken_line_and_restarts_on_a_new_file(tmp_path):
    line = json.dumps({"type": "eval", "method": "ingredients", "phase": "ingredient", "candidate": "a", "valacc": 0.5, "t": 1.0})
    (tmp_path / runs.EVENTS).write_text(line + "\n{not json\n" + line + "\n")
    live = LiveLog(tmp_path).poll()
    assert live.count == 1 and live.broken and live.count == len(read_events(tmp_path))
    (tmp_path / runs.EVENTS).write_text("")
    assert live.poll().count == 1  # a broken log is not read further
    fresh = LiveLog(tmp_path)
    (tmp_path / runs.EVENTS).write_text(line + "\n" + line + "\n")
    assert fresh.poll().count == 2
    (tmp_path / runs.EVENTS).write_text(line + "\n")  # replaced by a shorter file: read from the start
    assert fresh.poll().count == 1


def test_the_default_draft_is_built_without_loading_torch():
    """The app's first page builds the demo draft on every new session: importing torch there cost ~2.5 s per start."""
    code = "import sys; from app_lib.draft import initial_draft; d = initial_draft(); print(len(d['ingredients']), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout.split()
    assert out == [str(len(demo_config()["ingredients"])), "False"]


def test_a_taken_name_gets_the_next_free_suffix_for_ingredients_uploads_and_run_ids(tmp_path, monkeypatch):
    assert unique_name("a", set()) == "a" and unique_name("a", {"a", "a-2"}) == "a-3"
    monkeypatch.setattr(run_store.time, "strftime", lambda fmt: "20990101-000000")
    for expected in ("20990101-000000-my-run", "20990101-000000-my-run-2", "20990101-000000-my-run-3"):
        run_id = run_store.new_run_id("My run!", tmp_path)
        assert run_id == expected
        (tmp_path / run_id).mkdir()
    for expected in ("w.pt", "w-2.pt", "w-3.pt"):  # different bytes under a taken name never overwrite it
        assert save_upload(io.BytesIO(expected.encode()), "w.pt", 1 << 20, tmp_path).name == expected


def test_byte_sizes_read_the_same_on_every_page(tmp_path):
    assert [size_text(n) for n in (512, 12 << 10, 616 << 20, 3 << 30)] == ["512.0 B", "12.0 KB", "616.0 MB", "3.0 GB"]
    with pytest.raises(UploadTooLarge, match=r"larger than the limit of 3\.0 MB"):  # the limit is 3 << 20 bytes, not 3.1 MB
        save_upload(io.BytesIO(b"x" * ((3 << 20) + 1)), "big.pt", 3 << 20, tmp_path)
    assert not list(tmp_path.iterdir())
