"""Sweeps: one setup run under several settings (partition granularities and/or optimizers) × seeds, as a queue of
ordinary run directories that one worker runs one after the other.

A sweep directory holds sweep.json (its members: run id, setting, seed) and nothing else of a run, so run lists
skip it; each member is a normal run directory beside it (<sweep id>-NN), placed by `plan_sweep` before any
work, and run by `run_sweep` exactly as `run`/`resume` would. CANCEL in the sweep directory stops the queue;
running the sweep again skips finished members, resumes a cancelled or interrupted one and goes on.
Members run only the methods that search λ per component, and skip the ingredients' own test evaluations: neither
depends on the settings, and on the demo the ingredients' tests are two thirds of a member's time. A setting whose
optimizer never draws a random number (Cobyla; optim.seed_matters) runs once, with the first seed: every seed would give
the same run.
"""

from __future__ import annotations

import copy
import shutil
import sys
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from . import claim, jsonfile, lifecycle, methods, runs, safepaths
from .claim import claimed
from .errors import Cancelled, ConfigError, ManifoldMixError, PartitionError, PathError
from .partition import NAMED_PRESETS, check_spec, named_spec

SWEEP = "sweep.json"
GRANULARITIES = tuple(p.key for p in NAMED_PRESETS if not p.model_soups_only)  # the default sweep: the presets any ViT has
MAX_MEMBERS = 1000  # settings × seeds; more is a typo (a string of seeds, a range too long), not an experiment


def _run_id(value: str) -> str:
    """A member's run id is a plain name (safepaths' one check), reported by pydantic as a problem of sweep.json."""
    try:
        return safepaths.check_label(value, "run_id")
    except PathError as exc:
        raise ValueError(str(exc)) from exc


class Member(BaseModel):
    """One run of the sweep: its run id (a directory beside the sweep's), the setting it tries, its seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    run_id: Annotated[StrictStr, AfterValidator(_run_id)]
    setting: StrictStr
    seed: Annotated[StrictInt, Field(ge=0)]
    deterministic: StrictBool = False  # its optimizer ignores the seed: this one run stands for every seed (old files: False)


class Sweep(BaseModel):
    """sweep.json, written by plan_sweep and read by the worker and the app through this one schema: a name and its
    members in the order they run (seed by seed, so early results cover every setting)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: StrictStr
    members: tuple[Member, ...]

    @property
    def settings(self) -> list[str]:
        return list(dict.fromkeys(m.setting for m in self.members))

    @property
    def one_run(self) -> list[str]:
        """The settings planned as one run because their optimizer ignores the seed."""
        return list(dict.fromkeys(m.setting for m in self.members if m.deterministic))

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    @classmethod
    def read(cls, sweep_dir: Path) -> Sweep:
        """The sweep of a directory; DamagedFile when sweep.json is damaged, PathError when a member's folder is a
        symlink leaving the runs root, ConfigError when there is no sweep.json."""
        path = Path(sweep_dir) / SWEEP
        try:
            sweep = jsonfile.load(path, cls)
        except FileNotFoundError as exc:
            raise ConfigError(f"{sweep_dir} has no {SWEEP}; it is not a sweep directory") from exc
        for member in sweep.members:
            member_dir(sweep_dir, member)
        return sweep


def setting_label(partition: str, optimizer: str, vary_partition: bool, vary_optimizer: bool) -> str:
    """'medium', 'CMA' or 'medium · CMA': the parts that differ between the sweep's settings."""
    parts = [p for p, varies in ((partition, vary_partition), (optimizer, vary_optimizer)) if varies]
    return " · ".join(parts) or partition


def check_plan(partitions, optimizers, seeds) -> None:
    """Refuse a sweep the engine could not run, naming the value: a list given as a single string, more than MAX_MEMBERS
    members, a value listed twice, partitions that are not presets of the engine's registry, optimizers nevergrad does
    not know, seeds that are not whole numbers of at least 0. A partition is a named preset (partition.NAMED_PRESETS:
    whole ... fine, C8/C15/C26) or a preset kind that needs no other key."""
    from .optim import check_optimizer
    lists = {"partitions": partitions, "optimizers": optimizers, "seeds": seeds}
    for what, values in lists.items():
        if not isinstance(values, list | tuple) or not values:
            raise ConfigError(f"a sweep's {what} must be a non-empty list, got {safepaths.shown(values)}")
    n = len(partitions) * len(optimizers) * len(seeds)
    if n > MAX_MEMBERS:
        raise ConfigError(f"a sweep of {len(partitions)} partitions × {len(optimizers)} optimizers × {len(seeds)} seeds "
                          f"would be {n} runs, more than {MAX_MEMBERS}; use fewer seeds or settings")
    for what, values in lists.items():
        repeated = [v for i, v in enumerate(values) if v in values[:i]]
        if repeated:
            raise ConfigError(f"a sweep's {what} lists {safepaths.shown(repeated[0])} twice")
    for name in (*partitions, *optimizers):
        if not isinstance(name, str):
            raise ConfigError(f"a sweep's partitions and optimizers are names, got {safepaths.shown(name)}")
    for partition in partitions:
        try:
            check_spec(named_spec(partition))
        except PartitionError as exc:
            raise ConfigError(f"a sweep's partitions: {exc}") from exc
    for optimizer in optimizers:
        check_optimizer(optimizer)
    for seed in seeds:
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
            raise ConfigError(f"a sweep's seeds must be whole numbers between 0 and 2**32 - 1, got {safepaths.shown(seed)}")


def plan_runs(partitions: list[str], optimizers: list[str], seeds: list[int]) -> list[tuple[str, str, int]]:
    """The runs a sweep starts, (partition, optimizer, seed) in the order they run: seed by seed, so early results cover
    every setting; a setting whose optimizer ignores the seed only with the first seed. The Experiments page counts them."""
    from .optim import seed_matters
    check_plan(partitions, optimizers, seeds)
    seeded = {optimizer: seed_matters(optimizer) for optimizer in optimizers}
    return [(partition, optimizer, seed) for seed in seeds for partition in partitions for optimizer in optimizers
            if seeded[optimizer] or seed == seeds[0]]


def plan_sweep(sweep_dir: Path, base: dict, partitions: list[str], optimizers: list[str], seeds: list[int]) -> Sweep:
    """Write one run directory (config.json only) per run of plan_runs (setting × seed, one run for a deterministic
    optimizer), then sweep.json; nothing runs yet. Planning is all or nothing: a bad input or a taken name leaves
    nothing on disk."""
    sweep_dir = Path(sweep_dir)
    safepaths.check_label(sweep_dir.name, "sweep id")
    from .optim import seed_matters
    mixing = [m.name for m in methods.METHODS.values() if m.per_component]
    planned: list[tuple[Member, dict]] = []
    for partition, optimizer, seed in plan_runs(partitions, optimizers, seeds):
        setting = setting_label(partition, optimizer, len(partitions) > 1, len(optimizers) > 1)
        config = copy.deepcopy(base)
        config.update(name=f"{sweep_dir.name} {setting} seed {seed}", methods=mixing, partition=named_spec(partition),
                      ingredient_tests="none")
        config["manifoldmix"] = {**config.get("manifoldmix", {}), "optimizer": optimizer, "seed": seed}
        member = Member(run_id=f"{sweep_dir.name}-{len(planned) + 1:02d}", setting=setting, seed=seed,
                        deterministic=not seed_matters(optimizer))
        planned.append((member, config))
    sweep = Sweep(name=sweep_dir.name, members=tuple(m for m, _ in planned))
    folders = [sweep_dir, *(member_dir(sweep_dir, m) for m in sweep.members)]
    taken = next((f for f in folders if f.exists() or f.is_symlink()), None)
    if taken is not None:
        raise ConfigError(f"cannot plan sweep {sweep.name}: {taken} already exists; choose another sweep name")
    made: list[Path] = []
    try:
        for member, config in planned:
            made.append(member_dir(sweep_dir, member))
            made[-1].mkdir(parents=True)
            runs.write_json_atomic(made[-1] / runs.CONFIG, config)
        made.append(sweep_dir)
        sweep_dir.mkdir()
        runs.write_json_atomic(sweep_dir / SWEEP, sweep.to_dict())
    except BaseException:
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return sweep


def member_dir(sweep_dir: Path, member: Member) -> Path:
    """The member's run directory beside the sweep's; PathError when it is a symlink leading out of that folder."""
    return safepaths.entry(Path(sweep_dir).parent, member.run_id, "sweep member run_id")


def run_sweep(sweep_dir: Path, show_progress: bool = False) -> tuple[Sweep, dict[str, str]]:
    """Run the queue to its end as the sweep's one worker: finished members are skipped, started ones resumed, failed
    ones left failed (their status says why) while the others go on, whatever their error. CANCEL in the sweep directory
    stops it. Returns the sweep and its failed members (run id -> reason), a missing member folder among them."""
    sweep_dir = Path(sweep_dir)
    sweep = Sweep.read(sweep_dir)
    errors: dict[str, str] = {}
    with claimed(sweep_dir):
        (sweep_dir / runs.CANCEL).unlink(missing_ok=True)
        for member in sweep.members:
            if (sweep_dir / runs.CANCEL).exists():
                raise Cancelled("sweep cancelled by the user")
            run_dir = member_dir(sweep_dir, member)
            state = member_status(sweep_dir, member).state
            if state in ("missing", "failed") or (state == "finished" and (run_dir / runs.RESULTS).is_file()):
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
            except Exception as exc:  # this member failed, whatever the error (status.json says so); the queue goes on
                errors[member.run_id] = str(exc) if isinstance(exc, ManifoldMixError) else f"{type(exc).__name__}: {exc}"
                print(f"sweep {sweep.name}: {member.run_id} failed: {errors[member.run_id]}", file=sys.stderr)
    return sweep, {**errors, **failures(sweep_dir, sweep)}


def member_status(sweep_dir: Path, member: Member) -> runs.Status:
    """The member's status (runs.read_status), or state 'missing' when its folder was deleted."""
    run_dir = member_dir(sweep_dir, member)
    if not run_dir.is_dir():
        return runs.Status(state="missing", message=f"its folder {run_dir} is missing")
    return runs.read_status(run_dir)


def failures(sweep_dir: Path, sweep: Sweep) -> dict[str, str]:
    """The members that failed (run id -> the reason their status gives), and those whose folder is missing."""
    statuses = {member.run_id: member_status(sweep_dir, member) for member in sweep.members}
    return {run_id: status.message or "failed" for run_id, status in statuses.items() if status.state in ("failed", "missing")}


def cancel_sweep(sweep_dir: Path) -> None:
    """Stop the queue: no further member starts, and the running one stops between two evaluations (resumable)."""
    sweep_dir = Path(sweep_dir)
    runs.request_cancel(sweep_dir)
    for member in Sweep.read(sweep_dir).members:
        worker = claim.holder(member_dir(sweep_dir, member))
        if worker is not None and worker.alive():
            runs.request_cancel(member_dir(sweep_dir, member))


def sweep_state(sweep_dir: Path) -> tuple[str, dict[str, int]]:
    """The sweep's state (running while its worker holds it, else finished, cancelled or stopped) and its members by
    state; a member whose folder was deleted counts as 'missing', and cannot keep the sweep 'stopped'."""
    sweep_dir = Path(sweep_dir)
    counts: dict[str, int] = {}
    for member in Sweep.read(sweep_dir).members:
        state = member_status(sweep_dir, member).state
        counts[state] = counts.get(state, 0) + 1
    worker = claim.holder(sweep_dir)
    if worker is not None and worker.alive():
        return "running", counts
    if set(counts) <= {"finished", "failed", "missing"}:
        return "finished", counts
    return ("cancelled" if (sweep_dir / runs.CANCEL).exists() else "stopped"), counts
