"""The evaluator's compute path, tried on the CPU: bf16 weights cast once per evaluation, the fused attention path,
sets streamed batch by batch, sets read from disk (a rank its shard alone) with the logits of sets in memory, and
exact accuracies."""

from __future__ import annotations

import subprocess
import sys

import torch
import toy
from helpers import REPO
from torch.profiler import profile

from manifoldmix_core.anatomy import detect_key_layout
from manifoldmix_core.data import EvalSet
from manifoldmix_core.distributed import Group
from manifoldmix_core.evaluate import Evaluator, bound_classifier
from manifoldmix_core.mixing import FlatLayout, mix
from manifoldmix_core.partition import structural
from manifoldmix_core.stored_sets import stored_images, write_stored_set

CPU = torch.device("cpu")


def _setup(dtype: torch.dtype | None = None, batch_size: int = 7):
    state, other = toy.teacher(0), toy.teacher(1)
    layout = detect_key_layout(state)
    flat = FlatLayout.build(structural(list(state), layout), {n: tuple(v.shape) for n, v in state.items()},
                            is_live=lambda n: layout.classifier_name(n) is not None)
    model, weights = bound_classifier(toy.spec(), flat, layout, CPU, dtype)
    return Evaluator(model, CPU, batch_size, weights), weights, flat.flatten(state), flat.flatten(other), flat.live_spans


def _evalset(n: int = 30) -> EvalSet:
    generator = torch.Generator().manual_seed(5)
    images = torch.randint(0, 256, (n, 3, 16, 16), dtype=torch.uint8, generator=generator)
    return EvalSet("set", images, torch.randint(0, toy.CLASSES, (n,), generator=generator))


def test_float32_on_the_cpu_binds_the_work_buffer_itself():
    _, weights, *_ = _setup()
    assert weights.compute is weights.work and weights.work.dtype == torch.float32


def test_bf16_weights_are_cast_once_per_evaluation_from_the_float32_work_buffer():
    """The GPU path (bf16 weights refreshed from the float32 mix) gives the float32 logits to bf16 precision."""
    exact, _, psi, theta, spans = _setup()
    low, weights, *_ = _setup(torch.bfloat16)
    assert weights.compute.dtype == torch.bfloat16 and weights.work.dtype == torch.float32
    evalset = _evalset()
    for lam in ([0.2, 0.5, 0.7, 0.9, 0.4], [1.0, 0.0, 1.0, 0.0, 1.0]):
        for evaluator in (exact, low):
            mix(evaluator.weights.work, psi, theta, lam, spans)
        ref, got = exact.logits(evalset), low.logits(evalset)
        assert got.dtype == torch.float32
        assert float((got - ref).norm() / ref.norm()) < 3e-2
        live = torch.cat([weights.work[a:b] for a, b in spans])
        assert torch.equal(torch.cat([weights.compute[a:b] for a, b in spans]), live.to(torch.bfloat16))


def test_attention_takes_the_fused_path():
    evaluator, *_ = _setup()
    with profile() as prof:
        evaluator.logits(_evalset(4))
    names = {event.name for event in prof.events()}
    assert names & {"aten::_native_multi_head_attention", "aten::scaled_dot_product_attention"}, sorted(names)


def test_batches_cover_the_set_and_accuracy_is_an_exact_fraction():
    evaluator, weights, psi, *_ = _setup(batch_size=7)
    weights.work.copy_(psi)
    evalset = _evalset(30)
    batches = list(evaluator.batches(evalset))
    assert [len(images) for images, _ in batches] == [7, 7, 7, 7, 2]
    assert torch.equal(torch.cat([labels for _, labels in batches]), evalset.labels)
    logits = evaluator.logits(evalset)
    right = int((logits.argmax(1) == evalset.labels).sum())
    assert evaluator.correct(evalset) == right
    assert evaluator.accuracy(evalset) == right / 30 == evaluator.accuracy_of(evalset, logits)


def _on_disk(evalset: EvalSet, path) -> EvalSet:
    """The same set written to a tensor file and left there (what a run reads a decoded set as)."""
    return EvalSet(evalset.name, stored_images(write_stored_set(path, evalset.images.shape[1:], [evalset.images], evalset.labels)),
                   evalset.labels)


def test_a_set_on_disk_gives_exactly_the_logits_and_accuracy_of_the_set_in_memory(tmp_path):
    evaluator, weights, psi, *_ = _setup(batch_size=7)
    weights.work.copy_(psi)
    in_memory = _evalset(30)
    on_disk = _on_disk(in_memory, tmp_path / "set.safetensors")
    assert torch.equal(evaluator.logits(on_disk), evaluator.logits(in_memory))
    assert evaluator.correct(on_disk) == evaluator.correct(in_memory) and evaluator.accuracy(on_disk) == evaluator.accuracy(in_memory)


def _bytes_read() -> int:
    """Bytes this process has read through read/pread calls so far (Linux: /proc/self/io's rchar)."""
    return int(next(line.split()[1] for line in open("/proc/self/io") if line.startswith("rchar")))


def test_a_rank_reads_only_its_shard_of_a_set_on_disk(tmp_path):
    """Rank 1 of 2 reads rows 200..399 of 400 from the file, and its logits are exactly those one process has for them."""
    single, weights, psi, *_ = _setup(batch_size=64)
    weights.work.copy_(psi)
    evalset = _on_disk(_evalset(400), tmp_path / "set.safetensors")
    rank = Evaluator(single.model, CPU, 64, weights, Group(1, 2))
    rank.logits(evalset)  # the staging buffers are made on the first evaluation
    before = _bytes_read()
    shard = rank.logits(evalset)
    read = _bytes_read() - before
    row = evalset.images.row_bytes
    assert 200 * row <= read < 200 * row + 16 * 1024  # its shard, not the 400 * row of the whole set
    assert torch.equal(shard, single.logits(evalset)[200:])



DISK_PEAK = """
import resource, sys, torch
from manifoldmix_core.data import EvalSet
from manifoldmix_core.evaluate import Evaluator
from manifoldmix_core.models import Classifier, ModelSpec
from manifoldmix_core.stored_sets import stored_images, stored_labels
vision = {"image_size": 128, "patch_size": 64, "width": 16, "layers": 1, "head_width": 16, "mlp_ratio": 2}
evaluator = Evaluator(Classifier(ModelSpec(vision, embed_dim=8, num_classes=4)).eval(), torch.device("cpu"), 64)
small, big = (EvalSet(path, stored_images(path), stored_labels(path)) for path in sys.argv[1:])
evaluator.correct(small)  # warms up torch's allocator and kernels and makes the staging buffers
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
evaluator.correct(big)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before, big.images.nbytes, evaluator.staging.nbytes(big.images))
"""


def test_a_set_far_larger_than_the_staging_buffers_adds_no_more_than_a_batch_to_peak_memory(tmp_path):
    """A 197 MB set on disk, evaluated through two buffers of 64 images (6 MB): the peak grows by a few batches at most."""
    generator = torch.Generator().manual_seed(0)
    paths = []
    for name, n in (("small", 64), ("big", 4000)):
        chunks = (torch.randint(0, 256, (min(500, n - s), 3, 128, 128), dtype=torch.uint8, generator=generator) for s in range(0, n, 500))
        paths.append(write_stored_set(tmp_path / f"{name}.safetensors", (3, 128, 128), chunks, torch.randint(0, 4, (n,), generator=generator)))
    out = subprocess.run([sys.executable, "-c", DISK_PEAK, *map(str, paths)], capture_output=True, text=True, check=True, cwd=REPO)
    grown, set_bytes, staging_bytes = map(int, out.stdout.split())
    assert staging_bytes == 2 * 64 * 3 * 128 * 128
    assert grown < 4 * staging_bytes < set_bytes // 4, (grown, set_bytes)  # held whole in memory, it would add 197 MB
