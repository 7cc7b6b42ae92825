"""Ingredients' logits kept across runs (logits_cache.py): a second run over the same files computes no ingredient's
logits again and finishes exactly as the first; damaged entries and other ways of computing are never taken for them."""

from __future__ import annotations

import pytest
import torch
from helpers import assert_same_run, derived_config, run_config, without_log
from safetensors.torch import load_file, save_file

from manifoldmix_core import logits_cache
from manifoldmix_core.models import Classifier

METHODS = ["uniform_soup", "ensemble", "greedy_ensemble"]


class Forwards:
    """Counts the classifier's forward passes (each a batch) while active."""

    def __enter__(self):
        self.count = 0
        self._hook = torch.nn.modules.module.register_module_forward_hook(self._seen)
        return self

    def _seen(self, module, _inputs, _output):
        self.count += isinstance(module, Classifier)

    def __exit__(self, *_):
        self._hook.remove()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("MANIFOLDMIX_CACHE", str(folder))
    return folder / logits_cache.SUBDIR


def entries(folder):
    return sorted(folder.glob("*/*.safetensors"))


def test_a_second_run_reads_every_ingredients_logits_and_finishes_as_the_first(toy_world, tmp_path, cache):
    config = derived_config(toy_world, "cached", methods=METHODS)
    with Forwards() as first:
        run_config(config, tmp_path / "first")
    kept = entries(cache)
    assert kept, "the first run kept its ingredients' logits"
    with Forwards() as second:
        run_config(config, tmp_path / "second")
    assert_same_run(tmp_path / "second", tmp_path / "first")
    assert 0 < second.count < first.count  # only the uniform soup's own evaluations are left
    assert entries(cache) == kept


def test_damaged_entries_are_recomputed_never_trusted(toy_world, tmp_path, cache):
    config = derived_config(toy_world, "damaged", methods=METHODS)
    run_config(config, tmp_path / "reference")
    originals = {path: load_file(path)["logits"].clone() for path in entries(cache)}
    damaged = list(originals)
    damaged[0].write_bytes(b"not a safetensors file")
    save_file({"logits": originals[damaged[1]][:-1].contiguous()}, str(damaged[1]))  # a row short
    save_file({"logits": originals[damaged[2]].double()}, str(damaged[2]))  # another dtype
    save_file({"other": originals[damaged[3]]}, str(damaged[3]))  # another tensor name
    run_config(config, tmp_path / "after")
    assert_same_run(tmp_path / "after", tmp_path / "reference")
    for path in damaged[:4]:
        assert torch.equal(load_file(path)["logits"], originals[path]), path


def test_another_way_of_computing_is_another_entry(toy_world, tmp_path, cache):
    run_config(derived_config(toy_world, "batch-a", methods=["ensemble"]), tmp_path / "a")
    first = entries(cache)
    with Forwards() as other:
        run_config(derived_config(toy_world, "batch-b", methods=["ensemble"], batch_size=7), tmp_path / "b")
    assert other.count > 0 and len(entries(cache)) == 2 * len(first)


def test_the_cache_stays_within_its_size_and_can_be_turned_off(toy_world, tmp_path, cache, monkeypatch):
    config = derived_config(toy_world, "small", methods=["ensemble"])
    full = run_config(config, tmp_path / "full")
    sizes = sorted(path.stat().st_size for path in entries(cache))
    monkeypatch.setattr(logits_cache, "TOTAL_MAX_BYTES", sum(sizes[:2]))
    run_config(derived_config(toy_world, "small-b", methods=["ensemble"], batch_size=7), tmp_path / "pruned")
    assert sum(path.stat().st_size for path in entries(cache)) <= sum(sizes[:2])
    monkeypatch.setattr(logits_cache, "TOTAL_MAX_BYTES", 0)
    for path in entries(cache):
        path.unlink()
    off = run_config(config, tmp_path / "off")
    assert entries(cache) == []
    assert without_log(off)["methods"] == without_log(full)["methods"]
