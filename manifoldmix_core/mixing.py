"""Component-wise convex mixing on flat buffers: the hot path of every soup.

Each model is one flat float32 vector whose parameters are laid out component by component, and
within a component the classifier's (live) parameters come first. Ψ'(λ)^j = λ^j·Ψ^j + (1−λ^j)·θ^j
is then one `torch.lerp` per component, written in place into a work buffer that the classifier's
parameters are views of. During the search only the live spans are mixed; inert parameters (text
tower leftovers) are mixed when a candidate is accepted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from .errors import IngredientError
from .partition import Partition

Span = tuple[int, int]


@dataclass(frozen=True)
class FlatLayout:
    """Where each floating-point parameter lives in a flat vector, and which spans each component owns."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]
    component_spans: tuple[Span, ...]
    live_spans: tuple[Span, ...]
    numel: int

    @classmethod
    def build(cls, partition: Partition, shapes: Mapping[str, tuple[int, ...]], is_live: Callable[[str], bool]) -> FlatLayout:
        """Order parameters by component, live ones first, and record their offsets."""
        names, offsets, spans, live_spans, offset = [], [], [], [], 0
        for component in partition.components:
            ordered = sorted(component.params, key=lambda n: not is_live(n))
            start, live_end = offset, offset
            for name in ordered:
                names.append(name)
                offsets.append(offset)
                offset += math.prod(shapes[name])
                if is_live(name):
                    live_end = offset
            spans.append((start, offset))
            live_spans.append((start, live_end))
        return cls(tuple(names), tuple(tuple(shapes[n]) for n in names), tuple(offsets), tuple(spans), tuple(live_spans), offset)

    @property
    def live_components(self) -> list[int]:
        """Indices of components that affect the classifier's output."""
        return [j for j, (start, end) in enumerate(self.live_spans) if end > start]

    def flatten(self, state: Mapping[str, torch.Tensor], device: torch.device | str = "cpu", source: str = "<state>") -> torch.Tensor:
        """One float32 vector holding the state's parameters in layout order."""
        flat = torch.empty(self.numel, dtype=torch.float32, device=device)
        for name, shape, offset in zip(self.names, self.shapes, self.offsets):
            tensor = state.get(name)
            if tensor is None or tuple(tensor.shape) != shape:
                raise IngredientError(source, f"expected shape {list(shape)}, found "
                                      f"{'nothing' if tensor is None else list(tensor.shape)}", param=name)
            flat[offset:offset + math.prod(shape)].copy_(tensor.reshape(-1))
        return flat

    def views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Parameter-shaped views into a flat vector (no copies)."""
        return {name: flat[offset:offset + math.prod(shape)].view(shape)
                for name, shape, offset in zip(self.names, self.shapes, self.offsets)}


def mix(out: torch.Tensor, psi: torch.Tensor, theta: torch.Tensor, lam: Sequence[float], spans: Sequence[Span]) -> torch.Tensor:
    """out^j = λ^j·Ψ^j + (1−λ^j)·θ^j on each span j (Eq. 2); Eq. 1 is the case λ^j = k/(k+1)."""
    for (start, end), weight in zip(spans, lam):
        if end > start:
            torch.lerp(theta[start:end], psi[start:end], float(weight), out=out[start:end])
    return out


def copy_spans(out: torch.Tensor, source: torch.Tensor, spans: Sequence[Span]) -> torch.Tensor:
    """Copy only the given spans (e.g. the live ones before evaluating a stored model)."""
    for start, end in spans:
        if end > start:
            out[start:end].copy_(source[start:end])
    return out
