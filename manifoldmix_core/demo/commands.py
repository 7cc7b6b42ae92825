"""`python -m manifoldmix_core demo build|run`: rebuild the shipped zoo, or run the default demo."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..partition import PRESET_KINDS


def add_parser(sub) -> None:
    demo = sub.add_parser("demo", help="the embedded demo world").add_subparsers(dest="demo_command", required=True)
    build = demo.add_parser("build", help="rebuild the pretrained model, linear probe and finetuned zoo")
    build.add_argument("--out", type=Path, default=None, help="output folder (default: data/demo)")
    build.add_argument("--reduced", action="store_true", help="a tiny build that exercises every step in seconds")
    build.add_argument("--quiet", action="store_true")
    build.set_defaults(func=cmd_build)
    run = demo.add_parser("run", help="run the default demo config (all methods, val + ID test + five OOD sets)")
    run.add_argument("--run-dir", type=Path, required=True)
    run.add_argument("--partition", choices=tuple(k for k, kind in PRESET_KINDS.items() if kind.label), default="medium")
    run.add_argument("--quiet", action="store_true")
    run.set_defaults(func=cmd_run)


def cmd_build(args: argparse.Namespace) -> int:
    from .zoo import DEMO_DIR, FULL, REDUCED, build
    manifest = build(args.out or DEMO_DIR, REDUCED if args.reduced else FULL, show=not args.quiet)
    print(json.dumps({"seconds": manifest["seconds"], "valacc": manifest["valacc"]}, indent=1))
    return 0


def cmd_run(args: argparse.Namespace) -> dict:
    """The default demo config, placed in the run directory and run under one claim (like `run`)."""
    from ..config import parse_config
    from ..lifecycle import run
    from .run_config import demo_config
    return run(parse_config(demo_config(partition=args.partition)), args.run_dir, show_progress=not args.quiet)
