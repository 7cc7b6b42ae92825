"""A run log edited, cut or spliced between a kill and its resume: the hash chain refuses it, naming the line (issue 17, item 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import report, status_of
from helpers import assert_same_run, run_config, simulate_kill

from manifoldmix_core import chain, events, runs
from manifoldmix_core import cli as cli_module

KEEP = 6  # events left by the kill: the setup, then each ingredient's ValAcc and accuracy


def lines_of(run_dir: Path) -> list[str]:
    return (run_dir / runs.EVENTS).read_text().splitlines(keepends=True)


def refused(run_dir: Path, capsys) -> str:
    """Resume through the CLI; it must fail with a clear error and leave the log, results and fused model alone."""
    before = (run_dir / runs.EVENTS).read_bytes()
    code = cli_module.main(["resume", str(run_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: cannot resume:"), err
    assert (run_dir / runs.EVENTS).read_bytes() == before
    assert not (run_dir / runs.RESULTS).exists() and not (run_dir / runs.FUSED).exists()
    status = status_of(run_dir)
    assert status.state == "failed" and status.message in err
    return err


@pytest.fixture
def killed(reference, tmp_path) -> Path:
    """The fault run as a kill after KEEP events leaves it."""
    return simulate_kill(reference, tmp_path / "run", KEEP)


def test_a_forged_ingredient_valacc_is_refused_naming_its_line(killed, reference, capsys):
    """The audit's case: the last kept line is the weakest ingredient's first accuracy; its ValAcc edited to 0.999, main
    resumed (exit 0) and greedy soup kept that ingredient alone."""
    lines = lines_of(killed)
    forged = json.loads(lines[-1])
    assert forged["kind"] == "ingredient" and forged["model"] == "noise"
    forged["accuracy"]["val"] = 0.999
    (killed / runs.EVENTS).write_text("".join(lines[:-1]) + json.dumps(forged) + "\n")
    err = refused(killed, capsys)
    assert f"line {KEEP} of {killed / runs.EVENTS} breaks the hash chain" in err
    (killed / runs.EVENTS).write_text("".join(lines))  # the true log resumes to the uninterrupted run
    assert cli_module.main(["resume", str(killed), "--quiet"]) == 0
    assert_same_run(killed, reference)
    report(fault="ValAcc edited in events.jsonl", phase=f"after {KEEP} events", ended_in_s=None,
           status=f"failed, line {KEEP} named", resume="refused; the true log: bit-identical")


def test_a_value_edited_as_text_is_refused(killed, capsys):
    """Edited in a text editor, not re-serialised: the same line is named."""
    lines = lines_of(killed)
    at = next(n for n, line in enumerate(lines) if '"valacc": 0.' in line)
    lines[at] = lines[at].replace('"valacc": 0.', '"valacc": 0.9', 1)
    (killed / runs.EVENTS).write_text("".join(lines))
    assert f"line {at + 1} of" in refused(killed, capsys)


def test_lines_removed_from_the_middle_are_refused_naming_the_gap(killed, capsys):
    lines = lines_of(killed)
    (killed / runs.EVENTS).write_text("".join(lines[:2] + lines[4:]))
    err = refused(killed, capsys)
    assert "line 3 of" in err and "breaks the hash chain" in err


def test_a_log_cut_at_its_end_is_refused_against_the_recorded_head(killed, capsys):
    (killed / runs.EVENTS).write_text("".join(lines_of(killed)[:4]))
    err = refused(killed, capsys)
    assert f"has 4 lines, but {killed / runs.STATUS} recorded {KEEP}" in err and "cut short" in err


@pytest.mark.parametrize("splice", ["middle", "whole log"])
def test_two_spliced_logs_are_refused(splice, killed, fault_config, tmp_path, capsys):
    """Another run of the same config, joined to this one at line 4, or put in its place whole."""
    other = tmp_path / "other"
    run_config(fault_config, other)
    mine, theirs = lines_of(killed), lines_of(other)[:KEEP]
    assert theirs[3] != mine[3]  # the same events at other times: the splice really mixes two logs
    (killed / runs.EVENTS).write_text("".join(mine[:3] + theirs[3:] if splice == "middle" else theirs))
    err = refused(killed, capsys)
    if splice == "middle":
        assert "line 4 of" in err and "breaks the hash chain" in err
    else:
        assert f"line {KEEP} of {killed / runs.EVENTS} is not the line {killed / runs.STATUS} recorded as the log's head" in err


def test_a_legacy_log_without_a_chain_is_shown_but_not_resumed(killed, capsys):
    """A log written before the chain (or stripped of it) still reads for display; resuming it is refused."""
    shown = events.read(killed)
    legacy = [{k: v for k, v in json.loads(line).items() if k != chain.FIELD} for line in lines_of(killed)]
    (killed / runs.EVENTS).write_text("".join(json.dumps(e) + "\n" for e in legacy))
    assert events.read(killed) == shown and runs.read_events(killed) == legacy
    assert "has no hash chain" in refused(killed, capsys)


def test_results_and_status_record_the_head_of_the_log(reference):
    lines = lines_of(reference)
    head = json.loads(lines[-1])[chain.FIELD]
    assert json.loads((reference / runs.RESULTS).read_text())["log"] == chain.record(len(lines), head)
    assert status_of(reference).log.model_dump() == chain.record(len(lines), head)
