"""What every method works with: ingredients in ValAcc order, mixing, and journaled ValAcc.

The kitchen holds at most three flat models besides the algorithm's own Ψ: the work buffer the
classifier is bound to, and a one-slot cache of the current candidate θ_i (loaded lazily, so a
resumed run that replays an evaluation does not even read the file; checked for NaN once per run;
an ingredient whose content hash is not cached yet is hashed from the same read, see `fingerprint`).
Tensors are read when a method needs them, never kept for later: memory stays flat in N.
Test accuracies are counted batch by batch and ensembles are running sums of their members'
logits, one member at a time, so no method holds more than one set's logits per set whatever the
number of ingredients. The ingredients' own logits, computed anyway for their accuracies, are kept
for the ensembles while they fit in LOGITS_MEMO_BYTES (all of a small zoo's do; 72 ViT-B/32 on
ImageNet's sets do not, and those ensembles run their members again), so memory stays bounded; where they are small
enough they are also kept on disk across runs (logits_cache.py), so the next run over the same files reads them.
The runner tells it which method is cooking (`method`), so algorithms never spell their own name into events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch

from .. import activity, events
from ..data import EvalSet
from ..evaluate import Evaluator
from ..ingredients import SHARED_HEAD, Ingredient, check_finite, ingredient_fingerprinted, ingredient_state, read_signature
from ..logits_cache import LogitsCache
from ..mixing import FlatLayout, copy_spans, mix
from ..runs import Journal
from .result import SoupResult

__all__ = ["Build", "Kitchen", "SoupResult"]

Build = Callable[[torch.Tensor], object]
LOGITS_MEMO_BYTES = 256 * 2**20


class Kitchen:
    """Shared machinery for soups; algorithms stay a screen long by calling these few methods."""

    def __init__(self, flat_layout: FlatLayout, ingredients: Sequence[Ingredient], evaluator: Evaluator, work: torch.Tensor,
                 datasets: Mapping[str, EvalSet], val_name: str, journal: Journal, on_step: Callable[[str], None] = lambda _: None,
                 cache_dir: Path | None = None, logits_cache: LogitsCache | None = None, search_set: EvalSet | None = None):
        self.flat_layout, self.evaluator, self.work, self.journal = flat_layout, evaluator, work, journal
        self.logits_cache = logits_cache
        self.ingredients = {ing.name: ing for ing in ingredients}
        self.datasets, self.val = datasets, datasets[val_name]
        self.search_set = search_set  # the held-out subset a λ search evaluates on (config `search_subset`), or None: every image
        self.on_step, self.cache_dir = on_step, cache_dir
        self.valacc_of: dict[str, float] = {}
        self.order: list[str] = []
        self.method = ""
        self.searched: int | None = None  # components the running λ search optimises at once (its method sets it)
        self._slot: tuple[str, torch.Tensor] | None = None
        self._finite: set[str] = set()  # ingredients already checked for NaN / inf in this run
        self._logits: dict[tuple[str, str], torch.Tensor] = {}  # (ingredient, set) -> logits, within LOGITS_MEMO_BYTES
        self._logits_bytes = 0
        self._fingerprints: dict[str, str] = {}  # ingredient -> content hash, once known (the logits cache's key)

    @property
    def n_components(self) -> int:
        return len(self.flat_layout.component_spans)

    def theta(self, name: str) -> torch.Tensor:
        """Ingredient `name` as a flat float32 vector on the device (one-slot cache)."""
        if self._slot is None or self._slot[0] != name:
            self._fill_slot(name, ingredient_state(self.ingredients[name]))
        return self._slot[1]

    def fingerprint(self, name: str) -> str:
        """Ingredient `name`'s content hash; when it is not cached yet, the read that hashes it also fills the slot."""
        if self._slot is not None and self._slot[0] != name:
            self._slot = None  # not held while the file's bytes and tensors are: the peak stays two models' worth
        digest, state = ingredient_fingerprinted(self.ingredients[name], self.cache_dir)
        if state is not None:
            self._fill_slot(name, state)
        self._fingerprints[name] = digest
        return digest

    def _fill_slot(self, name: str, state: dict[str, torch.Tensor]) -> None:
        """Hold ingredient `name` (its tensors just read), checked for NaN / inf the first time in this run."""
        self._slot = None
        path = self.ingredients[name].path
        if name not in self._finite:
            check_finite(path, state)
            self._finite.add(name)
        self._slot = (name, self.flat_layout.flatten(state, self.work.device, str(path)))

    def outside_model(self, path: str | Path, role: str) -> torch.Tensor:
        """A checkpoint that is not an ingredient (WiSE-FT's zero-shot model: a file or a model folder) as a flat vector;
        its content is journaled. A headless one takes the pool's shared head (`model.head`), as the ingredients do."""
        head = next(iter(self.ingredients.values())).head
        if head is not None and any(n.startswith(SHARED_HEAD) for n in read_signature(path)):
            head = None  # a zero-shot model with its own (zero-shot) head keeps it
        outside = Ingredient(role, Path(path), None, head)
        digest, state = ingredient_fingerprinted(outside, self.cache_dir)
        state = state if state is not None else ingredient_state(outside)
        check_finite(path, state)
        flat = self.flat_layout.flatten(state, self.work.device, str(path))
        self.record(events.input_file(self.method, role, digest))
        return flat

    # -- building the parameters to evaluate into the work buffer -------------------------------
    def mixed(self, psi: torch.Tensor, name: str, lam: Sequence[float]) -> Build:
        """Ψ'(λ) on the live spans: enough for ValAcc, since inert parameters do not touch the output."""
        return lambda work: mix(work, psi, self.theta(name), lam, self.flat_layout.live_spans)

    def interpolated(self, psi: torch.Tensor, theta: torch.Tensor, lam: Sequence[float]) -> Build:
        """λ·Ψ + (1−λ)·θ of two flat models already in memory, on the live spans."""
        return lambda work: mix(work, psi, theta, lam, self.flat_layout.live_spans)

    def copy_stored(self, params: torch.Tensor | None = None, name: str | None = None) -> Build:
        """A Build that copies a stored model (given flat parameters, or ingredient `name`) into the work buffer."""
        return lambda work: copy_spans(work, params if params is not None else self.theta(name), self.flat_layout.live_spans)

    def commit(self, psi: torch.Tensor, name: str, lam: Sequence[float]) -> None:
        """Ψ ← Ψ'(λ) on every component, with the very same arithmetic used when it was evaluated."""
        self.blend_into(psi, psi, self.theta(name), lam)

    def blend_into(self, out: torch.Tensor, psi: torch.Tensor, theta: torch.Tensor, lam: Sequence[float]) -> None:
        """out ← λ·Ψ + (1−λ)·θ on every component, by way of the work buffer (the arithmetic ValAcc was measured with)."""
        mix(self.work, psi, theta, lam, self.flat_layout.component_spans)
        out.copy_(self.work)

    # -- journaled measurements -----------------------------------------------------------------
    def valacc(self, phase: str, candidate: str, lam: Sequence[float] | None, build: Build, search: bool = False) -> float:
        """ValAcc of the parameters `build` writes, recorded as an eval event (or replayed from it); a λ search's inner
        evaluation (`search`) uses the search subset when the run has one, every other one the whole held-out set."""
        evalset = self.search_set if search and self.search_set is not None else self.val
        return self.measure(phase, candidate, lam, lambda: self.unrecorded_valacc(build, evalset), len(evalset))

    def measure(self, phase: str, candidate: str, lam: Sequence[float] | None, value: Callable[[], float],
                images: int | None = None) -> float:
        """A ValAcc that value() computes on `images` held-out images (an ensemble's, say), recorded as an eval event (or
        replayed from it); the count is written in runs with a search subset only, so other runs' logs stay as they were."""
        images = None if self.search_set is None else images or len(self.val)
        event = events.evaluation(self.method, phase, candidate, lam, images)
        recorded = self.journal.record(event, lambda: events.measured_valacc(value()))
        return events.parse(recorded).valacc

    def unrecorded_valacc(self, build: Build, evalset: EvalSet | None = None) -> float:
        """ValAcc of the parameters `build` writes on the held-out set (or `evalset`), not journaled (held-out accuracy on demand)."""
        build(self.work)
        return self.evaluator.accuracy(evalset or self.val)

    def record(self, event: dict) -> dict:
        return self.journal.record(event)

    def skip_test(self, candidate: str, valacc: float, threshold: float, passed: bool) -> bool:
        """Record Algorithm 1's skip test; returns whether the candidate passed (a skipped one is a finished step)."""
        self.record(events.skip_test(self.method, candidate, valacc, threshold, passed))
        if not passed:
            self.on_step(activity.skipped(self.method, candidate, self.order))
        return passed

    def step_done(self, what: str) -> None:
        """Report one finished step of the running method, in words under its label (activity.py)."""
        self.on_step(activity.done(self.method, what))

    def decide(self, candidate: str, accepted: bool, valacc: float, lam: Sequence[float] | None = None) -> None:
        """Record an accept/reject decision and report one finished step."""
        self.record(events.decision(self.method, candidate, accepted, valacc, lam))
        self.on_step(activity.decided(self.method, candidate, accepted, self.order))

    def test_accuracies(self, build: Build, sets: Sequence[str] | None = None) -> dict[str, float]:
        """Accuracy on every dataset (or the named ones) of the parameters `build` writes, counted batch by batch (no logits kept)."""
        build(self.work)
        return {name: self.evaluator.accuracy(self.datasets[name]) for name in (self.datasets if sets is None else sets)}

    def ingredient_accuracies(self, name: str, sets: Sequence[str]) -> dict[str, float]:
        """Accuracy of ingredient `name` on the named sets, from its logits wherever they can be kept (see `_logits_of`)."""
        load = self._loader(name)
        accuracy = {}
        for ds in sets:
            evalset = self.datasets[ds]
            logits = self._logits_of(name, ds, load)
            if logits is None:
                load()
                accuracy[ds] = self.evaluator.accuracy(evalset)
            else:
                accuracy[ds] = self.evaluator.accuracy_of(evalset, logits)
        return accuracy

    def ensemble_sums(self, members: Sequence[str], sets: Sequence[str]) -> dict[str, torch.Tensor]:
        """Σ of the members' logits on each named set, one member at a time: memory O(1) in the number of members."""
        sums: dict[str, torch.Tensor] = {}
        for name in members:
            load = self._loader(name)
            for ds in sets:
                logits = self._logits_of(name, ds, load)
                if logits is None:
                    load()
                    logits = self.evaluator.logits(self.datasets[ds])
                sums[ds] = logits if ds not in sums else sums[ds] + logits
        return sums

    def _loader(self, name: str) -> Callable[[], None]:
        """Copies ingredient `name` into the work buffer on its first call only (a fresh loader per use of the buffer)."""
        loaded = []

        def load() -> None:
            if not loaded:
                self.copy_stored(name=name)(self.work)
                loaded.append(name)
        return load

    def _logits_of(self, name: str, ds: str, load: Callable[[], None]) -> torch.Tensor | None:
        """Ingredient `name`'s logits on set `ds`: from the memo, else the logits cache, else computed (after load()) when
        the memo or the cache can keep them; None when neither can (then callers count batch by batch)."""
        if (name, ds) in self._logits:
            return self._logits[name, ds]
        evalset, cache = self.datasets[ds], self.logits_cache
        rows = self.evaluator.group.shard(len(evalset))
        cacheable = cache is not None and cache.holds(rows)
        fingerprint = (self._fingerprints.get(name) or self.fingerprint(name)) if cacheable else ""
        logits = cache.get(fingerprint, evalset.fingerprint, rows) if cacheable else None
        if logits is not None:
            logits = logits.to(self.evaluator.device)
        else:
            if not cacheable and self._logits_bytes >= LOGITS_MEMO_BYTES:
                return None
            load()
            logits = self.evaluator.logits(evalset)
            if cacheable:
                cache.put(fingerprint, evalset.fingerprint, rows, logits)
        if self._logits_bytes < LOGITS_MEMO_BYTES:
            self._logits[name, ds] = logits
            self._logits_bytes += logits.numel() * logits.element_size()
        return logits

    def ensemble_accuracy(self, members: Sequence[str]) -> dict[str, float]:
        """Accuracy on every dataset of the ensemble averaging the members' logits (the argmax of the sum is the mean's)."""
        return {ds: self.evaluator.accuracy_of(self.datasets[ds], total) for ds, total in self.ensemble_sums(members, list(self.datasets)).items()}
