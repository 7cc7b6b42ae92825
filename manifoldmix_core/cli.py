"""Headless entry point; the app launches exactly these commands, so every app run is reproducible.

`run` and `resume` claim the run directory before they write to it (claim.py, lifecycle.py). SIGINT
and SIGTERM stop a worker like CANCEL does, through the same cleanup: status.json says cancelled and
`resume` goes on. A command returns an exit code, or a run's results, which `main` prints as a table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from . import lifecycle, runs
from .errors import Cancelled, ConfigError, ManifoldMixError, RunWarning, Stopped
from .intervals import to_percent


def summary(results: dict) -> str:
    """A small accuracy table for the terminal."""
    datasets = results["datasets"]
    rows = [("model", *datasets)]
    for name, entry in results["methods"].items():
        rows.append((name, *(f"{to_percent(entry['accuracy'][d]):.2f}" for d in datasets)))
    best = max(results["ingredients"], key=lambda n: results["ingredients"][n]["valacc"])
    measured = results["ingredients"][best]["accuracy"]  # test sets only where `ingredient_tests` asked for them
    rows.append((f"best ingredient ({best})", *(f"{to_percent(measured[d]):.2f}" if d in measured else "-" for d in datasets)))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows)


def cmd_run(args) -> dict:
    """`run RUN_DIR` runs the config.json inside; `run CONFIG --run-dir DIR` first places CONFIG there."""
    if args.run_dir is not None:
        return lifecycle.run(args.target, args.run_dir, show_progress=not args.quiet)
    if not (args.target / runs.CONFIG).is_file():
        raise ConfigError(f"{args.target} is not a run directory (it holds no {runs.CONFIG}); "
                          f"to start from a config file, give the run directory too: run {args.target} --run-dir DIR")
    return lifecycle.run(args.target / runs.CONFIG, args.target, show_progress=not args.quiet)


def _run_dir(args) -> Path:
    """The run directory a `run` or `resume` command names."""
    return args.run_dir if args.command == "resume" or args.run_dir is not None else args.target


def cmd_resume(args) -> dict | int:
    results = lifecycle.resume(args.run_dir, show_progress=not args.quiet)
    if results is None:
        print(f"{args.run_dir} has already finished; nothing to resume", file=sys.stderr)
        return 0
    return results


def cmd_sweep(args) -> int:
    """Run a sweep's queue (sweep.py): again after a cancel or a crash, it skips what finished and resumes the rest.
    Exit code 1 when any member failed (each is named with its reason)."""
    from .sweep import run_sweep
    sweep, failed = run_sweep(args.sweep_dir, show_progress=not args.quiet)
    for run_id, reason in failed.items():
        print(f"sweep {sweep.name}: member {run_id} failed: {reason}", file=sys.stderr)
    if failed:
        print(f"error: sweep {sweep.name}: {len(failed)} of {len(sweep.members)} members failed", file=sys.stderr)
        return 1
    print(f"sweep {sweep.name}: {len(sweep.members)} runs done", file=sys.stderr)
    return 0


def cmd_heldout(args) -> int:
    """ValAcc of every ingredient of a config, printed as JSON {name: ValAcc}; nothing is written."""
    from .config import load_config
    from .runner import heldout_accuracy
    print(json.dumps(heldout_accuracy(load_config(args.config))))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m manifoldmix_core",
                                     description="Fuse finetuned checkpoints: uniform, greedy and manifold mixing model soups.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a run directory's config.json, or start a run from a config file (with --run-dir)")
    run.add_argument("target", type=Path, metavar="RUN_DIR | CONFIG", help="a run directory holding config.json, or a run config (JSON)")
    run.add_argument("--run-dir", type=Path, help="with a config file: the directory for config, status, events, results")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)
    resume = sub.add_parser("resume", help="continue an interrupted or cancelled run")
    resume.add_argument("run_dir", type=Path)
    resume.add_argument("--quiet", action="store_true", help="no progress bar")
    resume.set_defaults(func=cmd_resume)
    sweep = sub.add_parser("sweep", help="run (or continue) a sweep directory's queue of runs, one after the other")
    sweep.add_argument("sweep_dir", type=Path)
    sweep.add_argument("--quiet", action="store_true", help="no progress bars")
    sweep.set_defaults(func=cmd_sweep)
    heldout = sub.add_parser("heldout", help="held-out accuracy (ValAcc) of each ingredient of a config, printed as JSON")
    heldout.add_argument("config", type=Path, help="run config (JSON); its test sets are not loaded")
    heldout.set_defaults(func=cmd_heldout)
    try:
        from .demo import commands
        commands.add_parser(sub)
    except ImportError:
        pass
    return parser


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise Stopped in the main thread, so the run ends through its cleanup;
    a second signal while that cleanup runs ends the process at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = []

    def handler(signum, _frame):
        if stopping:
            os._exit(128 + signum)
        stopping.append(signum)
        raise Stopped(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    text = f"warning: {message}" if issubclass(category, RunWarning) else warnings.formatwarning(message, category, filename, lineno, line)
    print(text.rstrip("\n"), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with stop_on_signals(), warnings.catch_warnings():
        warnings.showwarning = _show_warning
        warnings.simplefilter("always", RunWarning)
        try:
            outcome = lifecycle.follow(_run_dir(args)) if args.command in ("run", "resume") and lifecycle.torchrun_rank() > 0 \
                else args.func(args)
        except Cancelled as exc:
            print(f"cancelled: {exc}", file=sys.stderr)
            return 130
        except KeyboardInterrupt as exc:
            print(f"cancelled: {exc or 'interrupted'}; 'resume' continues the run", file=sys.stderr)
            return 128 + (signal.Signals[exc.signal_name] if isinstance(exc, Stopped) else signal.SIGINT)
        except ManifoldMixError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if isinstance(outcome, dict):
        print(summary(outcome))
        return 0
    return outcome
