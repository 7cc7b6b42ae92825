"""The evaluator's compute path, tried on the CPU: bf16 weights cast once per evaluation, the fused attention path,
sets streamed batch by batch, and exact accuracies."""

from __future__ import annotations

import torch
import toy
from torch.profiler import profile

from manifoldmix_core.anatomy import detect_key_layout
from manifoldmix_core.data import EvalSet
from manifoldmix_core.evaluate import Evaluator, bound_classifier
from manifoldmix_core.mixing import FlatLayout, mix
from manifoldmix_core.partition import structural

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
