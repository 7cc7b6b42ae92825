"""Headless entry point; the app launches exactly these commands, so every app run is reproducible.

`run` and `resume` claim the run directory before writing to it (claim.py). SIGINT and SIGTERM stop
a worker like CANCEL does, through the same cleanup: status.json says cancelled and `resume` goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from . import runs
from .claim import claimed
from .errors import Cancelled, ManifoldMixError, RunWarning, Stopped


def summary(results: dict) -> str:
    """A small accuracy table for the terminal."""
    datasets = results["datasets"]
    rows = [("model", *datasets)]
    for name, entry in results["methods"].items():
        rows.append((name, *(f"{100 * entry['accuracy'][d]:.2f}" for d in datasets)))
    best = max(results["ingredients"], key=lambda n: results["ingredients"][n]["valacc"])
    rows.append((f"best ingredient ({best})", *(f"{100 * results['ingredients'][best]['accuracy'][d]:.2f}" for d in datasets)))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows)


def execute_and_report(run_dir: Path, quiet: bool) -> int:
    """Run (or resume) a run directory to the end and print its accuracy table."""
    from .runner import execute
    print(summary(execute(run_dir, show_progress=not quiet)))
    return 0


def cmd_run(args) -> int:
    from .config import load_config
    from .runner import start_run
    try:
        config = load_config(args.config)
    except ManifoldMixError as exc:
        _fail_own_queued_run(args.config, args.run_dir, exc)
        raise
    with claimed(args.run_dir):
        run_dir = start_run(config, args.run_dir)
        print(f"run directory: {run_dir}", file=sys.stderr)
        return execute_and_report(run_dir, args.quiet)


def _fail_own_queued_run(config: Path, run_dir: Path, exc: ManifoldMixError) -> None:
    """A queued run whose own config.json is invalid has failed (how the app learns it); any other run is left alone."""
    own = run_dir / runs.CONFIG
    if not own.is_file() or config.resolve() != own.resolve() or (run_dir / runs.EVENTS).exists():
        return
    with contextlib.suppress(ManifoldMixError), claimed(run_dir):
        runs.StatusWriter(run_dir).update(state="failed", message=str(exc))


def cmd_resume(args) -> int:
    from .runner import resume_check
    run_dir = resume_check(args.run_dir)
    with claimed(run_dir):
        if runs.read_status(run_dir).get("state") == "finished" and (run_dir / runs.RESULTS).is_file():
            print(f"{run_dir} has already finished; nothing to resume", file=sys.stderr)
            return 0
        return execute_and_report(run_dir, args.quiet)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m manifoldmix_core",
                                     description="Fuse finetuned checkpoints: uniform, greedy and manifold mixing model soups.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start a run from a config file")
    run.add_argument("config", type=Path, help="run config (JSON)")
    run.add_argument("--run-dir", type=Path, required=True, help="directory for config, status, events, results")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)
    resume = sub.add_parser("resume", help="continue an interrupted or cancelled run")
    resume.add_argument("run_dir", type=Path)
    resume.add_argument("--quiet", action="store_true", help="no progress bar")
    resume.set_defaults(func=cmd_resume)
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
            return args.func(args)
        except Cancelled as exc:
            print(f"cancelled: {exc}", file=sys.stderr)
            return 130
        except KeyboardInterrupt as exc:
            print(f"cancelled: {exc or 'interrupted'}; 'resume' continues the run", file=sys.stderr)
            return 128 + (signal.Signals[exc.signal_name] if isinstance(exc, Stopped) else signal.SIGINT)
        except ManifoldMixError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
