"""Execute a run directory: set up from config.json, run each method, write results and the fused model.

The same function serves `run` and `resume`: on resume the journal replays what was already
measured (see runs.py), so an interrupted run finishes exactly as an uninterrupted one would.
Before a measurement is replayed, the inputs it came from are checked by content: the datasets
and settings in the setup event, each ingredient in its own accuracy event (so an ingredient that
had not been measured yet, say one that failed for NaN weights, may be fixed before resuming).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import torch
from safetensors.torch import save_file
from tqdm import tqdm

from . import activity, events, methods, runs
from .anatomy import KeyLayout, float_names
from .claim import claimed
from .config import RunConfig, load_config
from .data import EvalSet, SetMemory, load_dataset, place, stratified_rows
from .distributed import SINGLE, FollowerJournal, Group
from .errors import Cancelled, ConfigError, ManifoldMixError, ResumeError, RunWarning
from .evaluate import Evaluator, bound_classifier, pick_device
from .families.registry import FAMILIES, detect
from .files import default_cache_dir, write_atomic
from .ingredients import Ingredient, ingredient_state, read_folder_config, validate_pool
from .intervals import percent
from .lazy import load_ref
from .logits_cache import LogitsCache
from .mixing import FlatLayout
from .models import ModelSpec, build_classifier, check_architecture
from .partition import Partition, resolve
from .soups.kitchen import Kitchen, SoupResult
from .stored_sets import StoredImages


@dataclass
class Prepared:
    """Everything built from a config before the first evaluation."""

    kitchen: Kitchen
    partition: Partition
    signature: dict
    datasets: dict[str, EvalSet]
    device: torch.device
    memory: dict[str, SetMemory]  # where each evaluation set lives and what it takes there
    key_layout: KeyLayout  # where the tower and head sit in the ingredients' names, and their family
    spec: ModelSpec


def prepare(config: RunConfig, journal: runs.Journal | FollowerJournal, on_step: Callable[[str], None] = lambda _: None,
            cache_dir: Path | None = None, group: Group = SINGLE) -> Prepared:
    """Validate ingredients, build the classifier bound to a work buffer, load datasets and place them (data.place: sets
    left on disk are read through staging buffers that must fit `host_memory_mb`; on a device a rank keeps its shard)."""
    head = Path(config.model.head) if config.model.head else None
    ingredients = [Ingredient(i.name, Path(i.path), i.hparams, head) for i in config.ingredients]
    signature = validate_pool(ingredients)
    folder_config = read_folder_config(ingredients[0].path)
    key_layout = detect(signature, ingredients[0].path, folder_config, config.model.family)
    spec = load_ref(FAMILIES[key_layout.family].spec)(config.model, signature, key_layout, folder_config)
    device = pick_device(config.device)
    check_architecture(build_classifier(spec, "meta"), signature, key_layout, str(ingredients[0].path))
    mixed = float_names(signature)
    partition = resolve(config.partition, mixed, key_layout)
    flat = FlatLayout.build(partition, {n: signature[n].shape for n in mixed},
                            is_live=lambda n: key_layout.classifier_name(n) is not None)
    model, weights = bound_classifier(spec, flat, key_layout, device)
    evaluator = Evaluator(model, device, config.batch_size, weights, group)
    datasets, memory, search_set = {}, {}, None
    for ds in config.datasets:
        evalset = load_dataset(ds, spec.image_size, cache_dir or default_cache_dir())
        evalset.check_classes(spec.num_classes)
        if isinstance(evalset.images, StoredImages):
            evaluator.staging.check(evalset.images, config.host_memory_mb << 20, ds.name)
        free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else None
        if ds.name == config.val.name and config.search_rows():
            search_set = _search_set(evalset, *config.search_rows(), evaluator.staging, free, group)
        memory[ds.name] = place(evalset, evaluator.staging, ds.name == config.val.name, free, group.shard(len(evalset)))
        datasets[ds.name] = evalset
    classes = datasets[config.val.name].labels.unique()
    if len(classes) < 2:
        warnings.warn(RunWarning(f"the validation set {config.val.name} holds only class {int(classes[0])}: ValAcc then only counts how "
                                 "often that class is predicted, so soup decisions say little; use a held-out set with every class"),
                      stacklevel=2)
    logits_cache = LogitsCache(cache_dir or default_cache_dir(), _logits_context(spec, key_layout, evaluator, weights.compute.dtype),
                               spec.num_classes)
    kitchen = Kitchen(flat, ingredients, evaluator, weights.work, datasets, config.val.name, journal, on_step, cache_dir, logits_cache,
                      search_set)
    return Prepared(kitchen, partition, signature, datasets, device, memory, key_layout, spec)


def _search_set(val: EvalSet, n: int, seed: int, staging, free: int | None, group: Group) -> EvalSet:
    """The held-out subset the λ search evaluates on (config `search_subset`): its class-stratified, seeded rows, read before
    the held-out set is placed (a rank may keep only its shard), then placed like it, each rank holding its shard."""
    if n > len(val):
        raise ConfigError(f"manifoldmix.search_subset must be at most the {len(val):,} images of the held-out set {val.name}, "
                          f"got {n:,}; leave it out to search on every image")
    subset = val.select(stratified_rows(val.labels, n, seed), f"{val.name} (search subset)")
    place(subset, staging, True, free, group.shard(n))
    return subset


def _logits_context(spec: ModelSpec, key_layout: KeyLayout, evaluator: Evaluator, dtype: torch.dtype) -> str:
    """Everything besides the ingredient's and the set's content that decides its logits bit for bit (logits_cache.py):
    the model, the family and the version of the library that builds its tower, the device, dtype and batch size."""
    library = FAMILIES[key_layout.family].library
    return json.dumps({"spec": dataclasses.asdict(spec), "family": key_layout.family, "device": evaluator.device.type,
                       "dtype": str(dtype), "batch": evaluator.batch_size, "torch": torch.__version__,
                       "library": [library, version(library)] if library else None}, sort_keys=True, default=str)


def _steps(config: RunConfig) -> int:
    """Progress units: one per ingredient and one per ingredient tested after the ValAcc order is known, each method's
    own (see methods.py) and one per method's test accuracy."""
    n = len(config.ingredients)
    names = [i.name for i in config.ingredients]
    later = len(config.tested_ingredients(names)) if len(_sets_at_first_read(config)) < len(config.datasets) else 0
    return n + later + sum(methods.METHODS[m].steps(n) + 1 for m in config.methods)


class Progress:
    """Feeds status.json (and a terminal bar) with progress, ETA and what the run does now in words (activity.py)."""

    def __init__(self, status: runs.StatusWriter, total: int, show: bool):
        self.status, self.total, self.done, self.evals = status, total, 0, 0
        self.started = time.time()
        self.bar = tqdm(total=total, unit="step", dynamic_ncols=True, disable=not show)
        self.last_write = 0.0
        self.finish_at: float | None = None  # estimated at each finished step; between steps the ETA counts down to it
        self.kitchen: Kitchen | None = None  # once set up: the ValAcc order and the λ search's width that the words name

    def step(self, label: str) -> None:
        self.done += 1
        self.bar.update(1)
        self.bar.set_description(label[:60])
        self._write(label, force=True)

    def event(self, raw: dict) -> None:
        event = events.parse(raw)
        if isinstance(event, events.EVALUATIONS):
            self.evals += 1
            self.bar.set_postfix(valacc=f"{event.valacc:.4f}")
            order, searched = (self.kitchen.order, self.kitchen.searched) if self.kitchen else ([], None)
            used = event.images if isinstance(event, events.Eval) else None
            subset = activity.images(used, len(self.kitchen.val)) if self.kitchen else ""
            what = activity.evaluation(event, order, searched, subset=subset)
            self._write(what if isinstance(event, events.IngredientEval) else f"{what} · ValAcc {percent(event.valacc)}")

    def _write(self, message: str, force: bool = False) -> None:
        now = time.time()
        if not force and now - self.last_write < 0.25:
            return
        self.last_write = now
        fraction = min(self.done / self.total, 0.999)
        if force and fraction > 0:
            self.finish_at = now + (now - self.started) / fraction * (1 - fraction)
        eta = None if self.finish_at is None else max(0.0, self.finish_at - now)  # a long λ search must not make it grow
        self.status.update(state="running", progress=round(fraction, 4), eta_s=eta, message=message, evals=self.evals)


def execute(run_dir: str | Path, show_progress: bool = False, cache_dir: Path | None = None, group: Group = SINGLE) -> dict:
    """Run (or resume) the run in run_dir to the end, as the directory's only writer; returns results.json's content.

    Whatever ends it, status.json says so: finished, cancelled (CANCEL file or a signal) or failed (with the reason).
    Under torchrun this is rank 0, and the other ranks `follow`.
    """
    run_dir = Path(run_dir)
    cache_dir = cache_dir or default_cache_dir()
    with claimed(run_dir):
        runs.remove_leftovers(run_dir)
        status = runs.StatusWriter(run_dir)
        status.update(state="running", progress=status.data.progress, message="setting up",
                      started_at=status.data.started_at or time.time())
        try:
            config = load_config(run_dir / runs.CONFIG)
            journal = runs.Journal(run_dir, group.share)
            journal.listeners.append(lambda _: status.note(log=journal.log))  # every later status write records the head
            progress = Progress(status, _steps(config), show_progress)
            journal.listeners.append(progress.event)
            setup = prepare(config, journal, progress.step, cache_dir, group)
            progress.kitchen = setup.kitchen
            status.update(datasets={name: dataclasses.asdict(m) for name, m in setup.memory.items()})
            results = _cook(run_dir, config, setup)
        except Cancelled:
            status.update(state="cancelled", message="cancelled by the user; resume to continue")
            raise
        except KeyboardInterrupt as exc:
            status.update(state="cancelled", message=f"{exc or 'interrupted'}; resume to continue")
            raise
        except ManifoldMixError as exc:
            status.update(state="failed", message=str(exc))
            raise
        except Exception as exc:
            status.update(state="failed", message=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
            raise
        status.update(state="finished", progress=1.0, eta_s=0, message="finished", finished_at=time.time())
    return results


def follow(run_dir: Path, group: Group, cache_dir: Path | None = None) -> None:
    """A torchrun rank other than 0: rank 0's run, evaluated on this rank's share of every set; it writes nothing."""
    config = load_config(run_dir / runs.CONFIG)
    _cook(run_dir, config, prepare(config, FollowerJournal(group), cache_dir=cache_dir or default_cache_dir(), group=group))


def _cook(run_dir: Path, config: RunConfig, setup: Prepared) -> dict:
    kitchen = setup.kitchen
    _record_setup(run_dir, kitchen.journal, config, setup)
    first_sets = _sets_at_first_read(config)
    ingredient_acc = {name: _ingredient_accuracy(run_dir, kitchen, name, kitchen.fingerprint(name), first_sets)
                      for name in kitchen.ingredients}
    kitchen.valacc_of = {name: acc[config.val.name] for name, acc in ingredient_acc.items()}
    kitchen.order = sorted(kitchen.valacc_of, key=lambda n: -kitchen.valacc_of[n])
    tested = config.tested_ingredients(kitchen.order)
    for name in tested:
        if len(ingredient_acc[name]) < len(config.datasets):
            ingredient_acc[name] = {**ingredient_acc[name], **_ingredient_tests(kitchen, name)}
    kept = next((name for name in reversed(methods.METHODS) if name in config.methods and methods.METHODS[name].fused), None)
    entries, fused = {}, None
    for name in config.methods:
        method = methods.METHODS[name]
        kitchen.method = name
        result = load_ref(method.function)(kitchen, config)
        if method.fused:
            measure = lambda r=result: kitchen.test_accuracies(kitchen.copy_stored(r.params))
        else:
            measure = lambda r=result: kitchen.ensemble_accuracy(r.ingredients)
        recorded = kitchen.journal.record(events.method_accuracy(name), lambda measure=measure: events.measured_accuracy(measure()))
        accuracy = events.parse(recorded).accuracy
        kitchen.on_step(activity.done(name, "test accuracy measured"))
        valacc = accuracy[config.val.name] if result.valacc is None else result.valacc
        entries[name] = {"accuracy": accuracy, "ingredients": result.ingredients, "valacc": valacc,
                         "lambdas": result.lambdas, **result.extra}
        if name == kept:
            fused = result  # the others' Ψ are freed as soon as they are measured
    results = {
        "name": config.name,
        "val_dataset": config.val.name,
        "datasets": list(setup.datasets),
        "dataset_sizes": {name: len(evalset) for name, evalset in setup.datasets.items()},  # for Table 1's confidence intervals
        "ood_datasets": list(config.ood),
        "device": str(setup.device),
        "partition": {"n": len(setup.partition), "components": setup.partition.names,
                      "live": [setup.partition.names[j] for j in kitchen.flat_layout.live_components]},
        "order": kitchen.order,
        "ingredient_tests": config.ingredient_tests,
        "ingredients": {name: {"accuracy": ingredient_acc[name], "valacc": kitchen.valacc_of[name], "tested": name in tested,
                               "hparams": kitchen.ingredients[name].hparams, "path": str(kitchen.ingredients[name].path)}
                        for name in kitchen.order},
        "methods": entries,
    }
    if not kitchen.evaluator.group.leader:
        return results  # rank 0 alone writes the run directory
    results["evaluations"] = sum(isinstance(e, events.EVALUATIONS) for e in events.read(run_dir))
    results["log"] = kitchen.journal.log
    if fused is not None:
        _save_fused(run_dir / runs.FUSED, setup, kept, fused, config)
        results["fused"] = {"method": kept, "file": runs.FUSED}
    runs.write_results(run_dir, results)
    return results


def _record_setup(run_dir: Path, journal: runs.Journal, config: RunConfig, setup: Prepared) -> None:
    """The setup event: settings, dataset contents and components; on resume, refuse any that changed."""
    event = events.setup(config.settings_digest(), {name: evalset.fingerprint for name, evalset in setup.datasets.items()},
                         setup.partition.names)
    old = events.parse(journal.upcoming() or {})
    if isinstance(old, events.Setup):
        if old.settings != event["settings"]:
            raise ResumeError(f"cannot resume: the settings in {run_dir / runs.CONFIG} changed since the run started "
                              "(only where files live may change); restore them or start a new run")
        for ds in config.datasets:
            _refuse_change(f"dataset {ds.name} ({ds.path})", old.datasets.get(ds.name), event["datasets"][ds.name])
    journal.record(event)


def _refuse_change(what: str, before, now) -> None:
    if before != now:
        raise ResumeError(f"cannot resume: {what} changed since the run started: content hash {before} != {now}; "
                          "restore it, or start a new run")


def _sets_at_first_read(config: RunConfig) -> list[str]:
    """The sets each ingredient is measured on when first read: all of them when every ingredient is to be tested (one
    read each), else the held-out set alone (which ones to test waits for the ValAcc order; those are read again)."""
    names = [i.name for i in config.ingredients]
    every = len(config.tested_ingredients(names)) == len(names)
    return [ds.name for ds in config.datasets] if every else [config.val.name]


def _ingredient_accuracy(run_dir: Path, kitchen: Kitchen, name: str, fingerprint: str, sets: list[str]) -> dict[str, float]:
    """An ingredient's accuracy on `sets` (the held-out one first), then its ValAcc as an eval event; its file's content is part of the event."""
    old = events.parse(kitchen.journal.upcoming() or {})
    if isinstance(old, events.Accuracy) and old.model == name:
        _refuse_change(f"ingredient {name} ({kitchen.ingredients[name].path})", old.fingerprint, fingerprint)
    measure = lambda: events.measured_accuracy(kitchen.ingredient_accuracies(name, sets))
    accuracy = events.parse(kitchen.journal.record(events.ingredient_accuracy(name, fingerprint), measure)).accuracy
    kitchen.record(events.ingredient_valacc(name, accuracy[kitchen.val.name]))
    kitchen.on_step(f"ingredient {name}: ValAcc measured")
    return accuracy


def _ingredient_tests(kitchen: Kitchen, name: str) -> dict[str, float]:
    """An ingredient's accuracy on the test/OOD sets (asked for by `ingredient_tests`), after every ValAcc is known."""
    sets = [ds for ds in kitchen.datasets if ds != kitchen.val.name]
    measure = lambda: events.measured_accuracy(kitchen.ingredient_accuracies(name, sets))
    accuracy = events.parse(kitchen.journal.record(events.ingredient_tests(name), measure)).accuracy
    kitchen.on_step(f"ingredient {name}: test accuracy measured")
    return accuracy


def _save_fused(path: Path, setup: Prepared, method: str, result: SoupResult, config: RunConfig) -> None:
    """The fused model in the ingredients' own names and dtypes, with its recipe in the metadata."""
    signature = setup.signature
    tensors = {name: view.to(getattr(torch, signature[name].dtype)).cpu().contiguous()
               for name, view in setup.kitchen.flat_layout.views(result.params).items()}
    constants = [n for n in signature if n not in tensors]
    if constants:
        first = ingredient_state(setup.kitchen.ingredients[result.ingredients[0]])
        tensors.update({n: first[n].contiguous() for n in constants})
    recipe = {"method": method, "ingredients": result.ingredients, "lambdas": result.lambdas, "beta": None, **result.extra,
              "valacc": result.valacc, "partition": json.loads(setup.partition.to_json()), "config": config.to_dict()}
    metadata = {"manifoldmix_recipe": json.dumps(recipe), "manifoldmix_family": setup.key_layout.family}
    write_atomic(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    save = FAMILIES[setup.key_layout.family].save
    if save is not None:  # the family's own format too (a Hugging Face folder), written whole before it is moved in place
        folder = path.parent / runs.FUSED_MODEL
        scratch = path.parent / f".{runs.FUSED_MODEL}.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        load_ref(save)(tensors, setup.key_layout, setup.spec, scratch, metadata)
        shutil.rmtree(folder, ignore_errors=True)
        scratch.rename(folder)


def start_run(config: RunConfig | str | Path, run_dir: str | Path) -> Path:
    """Create a run directory from a config (or config file), as its only writer, refusing to overwrite another run.

    A queued run directory (config.json, nothing measured yet) is taken as it is when the config is the same,
    which is how the app hands a run to the CLI, and refused when it differs.
    """
    run_dir = Path(run_dir)
    config = config if isinstance(config, RunConfig) else load_config(config)
    folders = sorted({str(Path(i.path).resolve().parent) for i in config.ingredients})
    if str(run_dir.resolve()) in folders:
        raise ConfigError(f"--run-dir {run_dir} is the ingredient folder: the run's {runs.FUSED} would become an ingredient "
                          "of the next run read from it; choose another run directory")
    with claimed(run_dir):
        if (run_dir / runs.EVENTS).exists() or (run_dir / runs.RESULTS).exists():
            raise ConfigError(f"{run_dir} already holds a run; use 'resume {run_dir}' or choose a new --run-dir")
        if (run_dir / runs.CONFIG).exists() and not _same_config(run_dir / runs.CONFIG, config):
            raise ConfigError(f"{run_dir} already holds a queued run with another config; use 'resume {run_dir}' to start "
                              "that one, or choose a new --run-dir")
        runs.remove_leftovers(run_dir)
        runs.write_json_atomic(run_dir / runs.CONFIG, config.to_dict())
        runs.StatusWriter(run_dir).update(state="queued", progress=0.0, message="queued", created_at=time.time())
    return run_dir


def _same_config(path: Path, config: RunConfig) -> bool:
    try:
        return load_config(path).to_dict() == config.to_dict()
    except ManifoldMixError:
        return False


def heldout_accuracy(config: RunConfig, cache_dir: Path | None = None) -> dict[str, float]:
    """ValAcc of each ingredient on its own (the app's Ingredients table): a throwaway setup, no run directory, no test sets."""
    config = config.model_copy(update={"test": [], "ood": []})
    with tempfile.TemporaryDirectory() as scratch:
        kitchen = prepare(config, runs.Journal(Path(scratch)), cache_dir=cache_dir).kitchen
    val = config.val.name
    return {name: kitchen.ingredient_accuracies(name, [val])[val] for name in kitchen.ingredients}
