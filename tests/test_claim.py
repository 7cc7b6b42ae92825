"""One writer per run directory: the claim file, its holder, stale claims and their takeover."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from helpers import REPO, dead_pid

from manifoldmix_core import claim, runs
from manifoldmix_core.errors import ClaimError

HOLD = ("import sys, time\nfrom manifoldmix_core.claim import claimed\n"
        "with claimed(sys.argv[1]):\n    print('claimed', flush=True)\n    time.sleep(120)")


def hold_in_another_process(run_dir) -> subprocess.Popen:
    """A live process holding run_dir's claim (kill it to leave a stale claim)."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "claimed"
    return process


def write_claim(run_dir, **changes) -> None:
    """A claim file as another process would have left it."""
    record = {"pid": os.getpid(), "host": socket.gethostname(), "boot_id": claim._boot_id(),
              "start_ticks": claim._start_ticks(os.getpid()), "command": "python -m manifoldmix_core run", "since": time.time(), **changes}
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / claim.LOCK).write_text(json.dumps(record))


def test_claim_names_its_holder_and_is_released(tmp_path):
    run_dir = tmp_path / "run"
    with claim.claimed(run_dir) as held:
        holder = claim.holder(run_dir)
        assert holder.pid == os.getpid() and holder.host == socket.gethostname() and holder.alive()
        assert (run_dir / claim.LOCK).stat().st_size == claim.RESERVE
        with claim.claimed(run_dir) as nested:  # one process, one claim
            assert nested is held
        assert claim.held(run_dir) is held
    assert not (run_dir / claim.LOCK).exists() and claim.held(run_dir) is None


def test_claim_is_released_when_the_body_raises(tmp_path):
    with pytest.raises(KeyboardInterrupt), claim.claimed(tmp_path):
        raise KeyboardInterrupt
    assert not (tmp_path / claim.LOCK).exists()


def test_a_live_holder_in_another_process_is_refused_by_name(tmp_path):
    process = hold_in_another_process(tmp_path)
    try:
        with pytest.raises(ClaimError, match=f"being written by pid {process.pid} on host {socket.gethostname()}"), claim.claimed(tmp_path):
            pass
        assert claim.holder(tmp_path).pid == process.pid
    finally:
        process.kill()
        process.wait()
    with claim.claimed(tmp_path):  # SIGKILL left the claim behind; it is stale now
        assert claim.holder(tmp_path).pid == os.getpid()


@pytest.mark.parametrize("changes", [{"pid": None}, {"start_ticks": -1}, {"boot_id": "another-boot"}],
                         ids=["pid-gone", "pid-reused", "rebooted"])
def test_stale_claims_are_taken_over(tmp_path, changes):
    if "pid" in changes:
        changes = {"pid": dead_pid()}
    write_claim(tmp_path, **changes)
    assert not claim.holder(tmp_path).alive()
    with claim.claimed(tmp_path):
        assert claim.holder(tmp_path).pid == os.getpid() and claim.holder(tmp_path).alive()


def test_a_claim_from_another_host_is_never_taken_over(tmp_path):
    write_claim(tmp_path, host="elsewhere", pid=dead_pid())
    with pytest.raises(ClaimError, match=f"on host elsewhere.*delete {tmp_path / claim.LOCK}"), claim.claimed(tmp_path):
        pass
    assert claim.holder(tmp_path).host == "elsewhere"


def test_an_unreadable_claim_is_respected_until_it_is_clearly_abandoned(tmp_path):
    (tmp_path / claim.LOCK).write_text("")
    with pytest.raises(ClaimError, match="unreadable"), claim.claimed(tmp_path):
        pass
    old = time.time() - 2 * claim.UNREADABLE_GRACE_S
    os.utime(tmp_path / claim.LOCK, (old, old))
    with claim.claimed(tmp_path):
        assert claim.holder(tmp_path).pid == os.getpid()


def test_make_room_gives_back_the_reserve_but_keeps_the_claim(tmp_path):
    with claim.claimed(tmp_path) as held:
        assert held.make_room()
        assert (tmp_path / claim.LOCK).stat().st_size < 1000 and claim.holder(tmp_path).pid == os.getpid()
        assert not held.make_room()
    assert not (tmp_path / claim.LOCK).exists()


def test_read_status_trusts_the_claim_over_a_reused_pid(tmp_path):
    runs.write_json_atomic(tmp_path / runs.STATUS, {"state": "running", "pid": os.getpid(), "progress": 0.3})
    assert runs.read_status(tmp_path).state == "running"
    write_claim(tmp_path, start_ticks=-1)  # the worker died and its pid now belongs to another process
    assert runs.read_status(tmp_path).state == "interrupted"
