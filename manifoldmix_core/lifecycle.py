"""A run directory's life, owned by the engine: queued -> running -> finished, failed or cancelled (and resumed).

The engine is the only writer of status.json: the app places a config.json in a new folder, starts
`python -m manifoldmix_core run <run_dir>` (or `resume <run_dir>`) and from then on only reads.
`run` and `resume` hold the directory's claim (claim.py) from before torch loads to the end, so the
app sees the worker's claim, and a resumed run's status, within a moment of starting it; then they wait for one of
the machine's run slots (run_queue.py) before torch loads, saying in status.json how many runs are ahead.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from . import run_queue, runs
from .claim import claimed
from .config import RunConfig, load_config
from .errors import ConfigError, ManifoldMixError


def run(config: RunConfig | Path, run_dir: Path, show_progress: bool = True) -> dict:
    """Place the config (a RunConfig, or a config file) in run_dir, then run it to the end; returns results.json's content.

    A run directory whose own config.json is given (how the app launches) is taken as it is;
    if that config is invalid, the run has failed and status.json says why.
    """
    run_dir = Path(run_dir)
    if not isinstance(config, RunConfig):
        try:
            config = load_config(config)
        except ManifoldMixError as exc:
            _fail_own_queued_run(Path(config), run_dir, exc)
            raise
    with claimed(run_dir), run_queue.wait_for_slot(run_dir):
        from .runner import execute, start_run  # torch loads while the claim is held, once the run has its slot
        start_run(config, run_dir)
        print(f"run directory: {run_dir}", file=sys.stderr)
        return _led(execute, run_dir, show_progress)


def _fail_own_queued_run(config: Path, run_dir: Path, exc: ManifoldMixError) -> None:
    """A queued run whose own config.json is invalid has failed (how the app learns it); any other run is left alone."""
    own = run_dir / runs.CONFIG
    if not own.is_file() or config.resolve() != own.resolve() or (run_dir / runs.EVENTS).exists():
        return
    with contextlib.suppress(ManifoldMixError), claimed(run_dir):
        runs.StatusWriter(run_dir).update(state="failed", message=str(exc))


def resume(run_dir: Path, show_progress: bool = True) -> dict | None:
    """Continue a run where its events.jsonl left off (a pending cancel is cleared); None if it had already finished."""
    run_dir = Path(run_dir)
    if not (run_dir / runs.CONFIG).is_file():
        raise ConfigError(f"{run_dir} has no {runs.CONFIG}; it is not a run directory")
    with claimed(run_dir):
        (run_dir / runs.CANCEL).unlink(missing_ok=True)
        if runs.read_status(run_dir).state == "finished" and (run_dir / runs.RESULTS).is_file():
            _lead(False).close()
            return None
        runs.StatusWriter(run_dir).update(state="queued", message="resuming")
        with run_queue.wait_for_slot(run_dir):
            from .runner import execute  # torch loads while the claim is held, once the run has its slot
            return _led(execute, run_dir, show_progress)


def torchrun_rank() -> int:
    """This process's rank as torchrun sets it (0 outside torchrun), known before torch is imported."""
    return int(os.environ.get("RANK", "0"))


def _lead(go: bool):
    """Rank 0 under torchrun (or a single process): join the group and tell the other ranks whether to follow a run."""
    from .distributed import join
    group = join()
    group.share(go)  # the run directory is ready (its config placed), or there is nothing to do
    return group


def _led(execute, run_dir: Path, show_progress: bool) -> dict:
    """execute(...) as rank 0 of the torchrun group (or as the only process), the others following."""
    group = _lead(True)
    results = execute(run_dir, show_progress, group=group)
    group.close()
    return results


def follow(run_dir: Path) -> int:
    """A torchrun rank other than 0, for `run` and `resume`: evaluate its share of rank 0's run, writing nothing."""
    from .distributed import join
    from .runner import follow as follow_run
    group = join()
    if group.share():
        follow_run(Path(run_dir), group)
    group.close()
    return 0
