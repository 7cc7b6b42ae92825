"""Sweeps: one setup run under several settings (partition granularities and/or optimizers) × seeds, as a queue of
ordinary run directories that one worker runs one after the other.

A sweep directory holds sweep.json (its members: run id, setting, seed) and nothing else of a run, so run lists
skip it; each member is a normal run directory beside it (<sweep id>-NN), placed by `plan_sweep` before any
work, and run by `run_sweep` exactly as `run`/`resume` would. CANCEL in the sweep directory stops the queue;
running the sweep again skips finished members, resumes a cancelled or interrupted one and goes on.
Members run only the methods that search λ per component, and skip the ingredients' own test evaluations: neither
depends on the settings, and on the demo the ingredients' tests are two thirds of a member's time.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from . import claim, lifecycle, methods, runs
from .claim import claimed
from .errors import Cancelled, ConfigError, ManifoldMixError

SWEEP = "sweep.json"
GRANULARITIES = ("whole", "coarse", "medium", "fine")


@dataclass(frozen=True)
class Member:
    """One run of the sweep: its run id (a directory beside the sweep's), the setting it tries, its seed."""

    run_id: str
    setting: str
    seed: int


@dataclass(frozen=True)
class Sweep:
    """The queue: a name and its members in the order they run (seed by seed, so early results cover every setting)."""

    name: str
    members: tuple[Member, ...]

    @property
    def settings(self) -> list[str]:
        return list(dict.fromkeys(m.setting for m in self.members))

    def to_dict(self) -> dict:
        return {"name": self.name, "members": [asdict(m) for m in self.members]}

    @classmethod
    def read(cls, sweep_dir: Path) -> Sweep:
        data = runs.read_json(Path(sweep_dir) / SWEEP)
        if not isinstance(data, dict):
            raise ConfigError(f"{sweep_dir} has no readable {SWEEP}; it is not a sweep directory")
        return cls(data["name"], tuple(Member(**m) for m in data["members"]))


def setting_label(partition: str, optimizer: str, vary_partition: bool, vary_optimizer: bool) -> str:
    """'medium', 'CMA' or 'medium · CMA': the parts that differ between the sweep's settings."""
    parts = [p for p, varies in ((partition, vary_partition), (optimizer, vary_optimizer)) if varies]
    return " · ".join(parts) or partition


def plan_sweep(sweep_dir: Path, base: dict, partitions: list[str], optimizers: list[str], seeds: list[int]) -> Sweep:
    """Write sweep.json and one run directory (config.json only) per setting × seed; nothing runs yet."""
    sweep_dir = Path(sweep_dir)
    if not partitions or not optimizers or not seeds:
        raise ConfigError("a sweep needs at least one partition, one optimizer and one seed")
    mixing = [m.name for m in methods.METHODS.values() if m.per_component]
    members = []
    for seed in seeds:
        for partition in partitions:
            for optimizer in optimizers:
                setting = setting_label(partition, optimizer, len(partitions) > 1, len(optimizers) > 1)
                run_id = f"{sweep_dir.name}-{len(members) + 1:02d}"
                config = copy.deepcopy(base)
                config.update(name=f"{sweep_dir.name} {setting} seed {seed}", methods=mixing, partition={"preset": partition},
                              ingredient_tests="none")
                config["manifoldmix"] = {**config.get("manifoldmix", {}), "optimizer": optimizer, "seed": seed}
                (sweep_dir.parent / run_id).mkdir(parents=True)
                runs.write_json_atomic(sweep_dir.parent / run_id / runs.CONFIG, config)
                members.append(Member(run_id, setting, seed))
    sweep = Sweep(sweep_dir.name, tuple(members))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    runs.write_json_atomic(sweep_dir / SWEEP, sweep.to_dict())
    return sweep


def member_dir(sweep_dir: Path, member: Member) -> Path:
    return Path(sweep_dir).parent / member.run_id


def run_sweep(sweep_dir: Path, show_progress: bool = False) -> Sweep:
    """Run the queue to its end as the sweep's one worker: finished members are skipped, started ones resumed, failed
    ones left failed (their status says why) while the others go on. CANCEL in the sweep directory stops it."""
    sweep_dir = Path(sweep_dir)
    sweep = Sweep.read(sweep_dir)
    with claimed(sweep_dir):
        (sweep_dir / runs.CANCEL).unlink(missing_ok=True)
        for member in sweep.members:
            if (sweep_dir / runs.CANCEL).exists():
                raise Cancelled("sweep cancelled by the user")
            run_dir = member_dir(sweep_dir, member)
            state = runs.read_status(run_dir).get("state")
            if state in ("finished", "failed") and (state == "failed" or (run_dir / runs.RESULTS).is_file()):
                continue
            print(f"sweep {sweep.name}: {member.setting}, seed {member.seed} ({member.run_id})", file=sys.stderr)
            try:
                if (run_dir / runs.EVENTS).exists():
                    lifecycle.resume(run_dir, show_progress)
                else:  # a cancel that came before its first event is spent: the sweep goes on with this member
                    (run_dir / runs.CANCEL).unlink(missing_ok=True)
                    lifecycle.run(run_dir / runs.CONFIG, run_dir, show_progress)
            except Cancelled:
                raise
            except ManifoldMixError as exc:  # this member failed (status.json says so); the queue goes on
                print(f"sweep {sweep.name}: {member.run_id} failed: {exc}", file=sys.stderr)
    return sweep


def cancel_sweep(sweep_dir: Path) -> None:
    """Stop the queue: no further member starts, and the running one stops between two evaluations (resumable)."""
    sweep_dir = Path(sweep_dir)
    runs.request_cancel(sweep_dir)
    for member in Sweep.read(sweep_dir).members:
        worker = claim.holder(member_dir(sweep_dir, member))
        if worker is not None and worker.alive():
            runs.request_cancel(member_dir(sweep_dir, member))


def sweep_state(sweep_dir: Path) -> tuple[str, dict[str, int]]:
    """The sweep's state (running while its worker holds it, else finished, cancelled or stopped) and its members by state."""
    sweep_dir = Path(sweep_dir)
    counts: dict[str, int] = {}
    for member in Sweep.read(sweep_dir).members:
        state = runs.read_status(member_dir(sweep_dir, member)).get("state", "queued")
        counts[state] = counts.get(state, 0) + 1
    worker = claim.holder(sweep_dir)
    if worker is not None and worker.alive():
        return "running", counts
    if set(counts) <= {"finished", "failed"}:
        return "finished", counts
    return ("cancelled" if (sweep_dir / runs.CANCEL).exists() else "stopped"), counts
