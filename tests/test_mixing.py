"""Component-wise convex mixing on flat buffers against the formula on state dicts; β unrolling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from manifoldmix_core.errors import IngredientError
from manifoldmix_core.mixing import FlatLayout, copy_spans, mix
from manifoldmix_core.partition import Component, Partition
from manifoldmix_core.soups.manifold_mix import beta

SHAPES = {
    "visual.a": (3, 4),
    "text.t1": (5,),
    "visual.b": (2, 2, 2),
    "head.weight": (3, 2),
    "text.scale": (),
    "head.bias": (3,),
}
# Component 0 mixes live and inert parameters (inert listed first to check the reordering); component 2 is all inert.
PARTITION = Partition((
    Component("tower", ("text.t1", "visual.a", "visual.b")),
    Component("head", ("head.weight", "head.bias")),
    Component("text", ("text.scale",)),
))


def is_live(name: str) -> bool:
    return not name.startswith("text.")


@pytest.fixture(scope="module")
def layout() -> FlatLayout:
    return FlatLayout.build(PARTITION, SHAPES, is_live)


def state(seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {name: torch.randn(shape, generator=generator) * 3 for name, shape in SHAPES.items()}


def reference_mix(psi: dict, theta: dict, lam) -> dict:
    """λ^j·Ψ + (1−λ^j)·θ per parameter of component j, straight from the paper."""
    component = PARTITION.component_of()
    return {n: lam[component[n]] * psi[n] + (1 - lam[component[n]]) * theta[n] for n in psi}


def test_layout_orders_by_component_live_first(layout):
    assert layout.names == ("visual.a", "visual.b", "text.t1", "head.weight", "head.bias", "text.scale")
    assert layout.numel == 12 + 8 + 5 + 6 + 3 + 1
    assert layout.component_spans == ((0, 25), (25, 34), (34, 35))
    assert layout.live_spans == ((0, 20), (25, 34), (34, 34))
    assert layout.live_components == [0, 1]


def test_flatten_and_views_round_trip(layout):
    s = state(0)
    flat = layout.flatten(s)
    views = layout.views(flat)
    assert all(torch.equal(views[n], s[n]) for n in s)
    views["head.bias"][1] = 42.0  # views share storage with the flat vector
    assert 42.0 in flat.tolist()
    with pytest.raises(IngredientError) as exc:
        layout.flatten({**s, "visual.b": torch.zeros(8)}, source="x.pt")
    assert exc.value.param == "visual.b" and exc.value.path == "x.pt"
    with pytest.raises(IngredientError, match="nothing") as exc:
        layout.flatten({n: v for n, v in s.items() if n != "text.scale"}, source="x.pt")
    assert exc.value.param == "text.scale"


@pytest.mark.parametrize("lam", [(0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (0.0, 1.0, 0.5), (0.3, 0.77, 0.9), (0.5, 0.25, 0.0)])
def test_mix_equals_reference_formula(layout, lam):
    psi_state, theta_state = state(1), state(2)
    psi, theta = layout.flatten(psi_state), layout.flatten(theta_state)
    out = torch.full_like(psi, float("nan"))
    returned = mix(out, psi, theta, lam, layout.component_spans)
    assert returned is out
    got = layout.views(out)
    expected = reference_mix(psi_state, theta_state, lam)
    component = PARTITION.component_of()
    for name in SHAPES:
        weight = lam[component[name]]
        if weight == 1.0:
            assert torch.equal(got[name], psi_state[name]), name
        elif weight == 0.0:
            assert torch.equal(got[name], theta_state[name]), name
        else:
            assert torch.allclose(got[name], expected[name], atol=1e-6, rtol=1e-6), name
    assert torch.equal(psi, layout.flatten(psi_state)) and torch.equal(theta, layout.flatten(theta_state))


def test_mix_in_place_into_psi(layout):
    """out may alias Ψ (as when the soup updates itself)."""
    psi_state, theta_state = state(1), state(2)
    psi, theta = layout.flatten(psi_state), layout.flatten(theta_state)
    lam = (0.2, 0.6, 0.9)
    mix(psi, psi, theta, lam, layout.component_spans)
    expected = reference_mix(psi_state, theta_state, lam)
    assert all(torch.allclose(layout.views(psi)[n], expected[n], atol=1e-6) for n in SHAPES)


def test_equation_1_is_the_running_average(layout):
    """Ψ ← k/(k+1)·Ψ + 1/(k+1)·θ_k (Eq. 1, λ = k/(k+1) everywhere) is the uniform soup."""
    states = [state(s) for s in range(5)]
    psi = layout.flatten(states[0])
    for k, s in enumerate(states[1:], start=1):
        mix(psi, psi, layout.flatten(s), [k / (k + 1)] * len(PARTITION), layout.component_spans)
    for name in SHAPES:
        average = torch.stack([s[name] for s in states]).mean(0)
        assert torch.allclose(layout.views(psi)[name], average, atol=1e-5), name


def test_live_spans_leave_inert_parameters_untouched(layout):
    psi_state, theta_state = state(1), state(2)
    psi, theta = layout.flatten(psi_state), layout.flatten(theta_state)
    sentinel = state(3)
    out = layout.flatten(sentinel)
    lam = (0.25, 0.5, 0.75)
    mix(out, psi, theta, lam, layout.live_spans)
    got = layout.views(out)
    expected = reference_mix(psi_state, theta_state, lam)
    for name in SHAPES:
        if is_live(name):
            assert torch.allclose(got[name], expected[name], atol=1e-6), name
        else:
            assert torch.equal(got[name], sentinel[name]), name


def test_copy_spans_copies_only_live_parameters(layout):
    source, target = state(1), state(2)
    out = layout.flatten(target)
    copy_spans(out, layout.flatten(source), layout.live_spans)
    got = layout.views(out)
    for name in SHAPES:
        assert torch.equal(got[name], (source if is_live(name) else target)[name]), name


@pytest.mark.parametrize("seed, n_accepted", [(0, 1), (1, 3), (2, 5)])
def test_beta_reproduces_sequential_mixing(layout, seed, n_accepted):
    rng = np.random.default_rng(seed)
    m = len(PARTITION)
    lambdas = rng.uniform(0, 1, size=(n_accepted, m)).tolist()
    lambdas[0][0] = 1.0  # boundary values are allowed
    states = [state(10 + i) for i in range(n_accepted + 1)]
    psi = layout.flatten(states[0])
    for lam, s in zip(lambdas, states[1:], strict=True):
        mix(psi, psi, layout.flatten(s), lam, layout.component_spans)
    weights = beta(lambdas, m)
    assert len(weights) == n_accepted + 1 and all(len(row) == m for row in weights)
    assert np.allclose(np.sum(weights, axis=0), 1.0, atol=1e-12)
    assert all(w >= 0 for row in weights for w in row)
    component = PARTITION.component_of()
    got = layout.views(psi)
    for name in SHAPES:
        j = component[name]
        expected = sum(weights[i][j] * s[name] for i, s in enumerate(states))
        assert torch.allclose(got[name], expected, atol=1e-5, rtol=1e-5), name


def test_beta_of_nothing_accepted_is_the_first_ingredient():
    assert beta([], 3) == [[1.0, 1.0, 1.0]]
    assert beta([[0.5, 0.25]], 2) == [[0.5, 0.25], [0.5, 0.75]]
