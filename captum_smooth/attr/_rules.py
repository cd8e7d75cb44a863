"""Rules that fold evaluated rows (:class:`~captum_smooth.attr._engine.Chunk`) into attributions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import torch
from torch import Tensor

from captum_smooth._utils.captum_compat import TargetType
from captum_smooth.attr._engine import Chunk, evaluate, evaluate_adaptive


class RiemannSum:
    """``A = Σ_rows d_row ⊙ ∇f(row)`` per example, and ``Σ_rows c_row · f(row)``.

    With ``d`` the step size times ``x - x'`` this is the Riemann sum of Integrated Gradients;
    with ``d = (x - z) / R`` it is SmoothTaylor's Monte-Carlo average; with ``d = x_{j+1} - x_j``
    it integrates along any polygonal path (Guided IG, Blur IG). The weighted sum of outputs
    gives convergence deltas without a second pass.
    """

    def __init__(self, inputs: tuple[Tensor, ...]) -> None:
        self.attributions = tuple(torch.zeros_like(x) for x in inputs)
        self.weighted_values = torch.zeros(
            inputs[0].shape[0], dtype=inputs[0].dtype, device=inputs[0].device
        )

    def expected_total(self) -> Tensor:
        """What the attributions should sum to: the weighted sum of outputs."""
        return self.weighted_values

    def update(self, chunk: Chunk) -> None:
        if chunk.displacements is None:
            raise ValueError("RiemannSum needs blocks with displacements")
        for total, d, g in zip(self.attributions, chunk.displacements, chunk.grads, strict=True):
            total.index_add_(0, chunk.example, (d * g).to(total.dtype))
        weighted = chunk.value_weights * chunk.values.to(chunk.value_weights.dtype)
        self.weighted_values.index_add_(0, chunk.example, weighted.to(self.weighted_values.dtype))


def integrate(
    rule: Rule,
    forward_func: Callable[..., Any],
    blocks: Any,
    target: TargetType,
    additional_forward_args: Any,
    internal_batch_size: int | None,
    adaptive: bool = False,
) -> Rule:
    """Push a path's blocks through the model in chunks and fold the chunks with ``rule``;
    ``adaptive`` paths are generators evaluated block by block (``evaluate_adaptive``)."""
    n_examples = rule.attributions[0].shape[0]
    run = evaluate_adaptive if adaptive else evaluate
    for chunk in run(
        forward_func, blocks, target, additional_forward_args, n_examples, internal_batch_size
    ):
        rule.update(chunk)
    return rule


class IDGISum:
    """Important Direction Gradient Integration (Yang et al., CVPR 2023, Algorithm 1;
    docs/reference.md#idgi).

    Over the ordered points ``x_0 … x_m`` of any path::

        R = Σ_{j<m} (g_j ⊙ g_j) / ||g_j||² · (f_{j+1} - f_j)

    Each segment's weights sum to one, so ``Σ R = f_m - f_0`` exactly, for any number of
    steps. Where ``g_j = 0`` the direction comes from the segment's end gradient ``g_{j+1}``;
    where that is zero too, ``f_{j+1} - f_j`` is spread in proportion to ``|x_{j+1} - x_j|``
    (the authors' code gives NaN there; ports that skip the step lose completeness).

    Chunks must arrive in path order (as the engine yields them); the rule keeps two blocks.
    """

    def __init__(self, inputs: tuple[Tensor, ...]) -> None:
        self.attributions = tuple(torch.zeros_like(x) for x in inputs)
        self.n_examples = inputs[0].shape[0]
        self.start_values: Tensor | None = None
        self.end_values: Tensor | None = None
        self._previous: _Evaluated | None = None
        self._current: _Evaluated | None = None
        self._current_index = -1
        self._filled = 0

    def expected_total(self) -> Tensor:
        """What the attributions sum to: ``f(end) - f(start)``."""
        if self.start_values is None or self.end_values is None:
            raise ValueError("IDGI needs at least two points on the path")
        return (self.end_values - self.start_values).to(self.attributions[0].dtype)

    def update(self, chunk: Chunk) -> None:
        for index in torch.unique(chunk.block).tolist():
            rows = chunk.block == index
            self._fill(
                index,
                chunk.example[rows],
                tuple(p[rows] for p in chunk.points),
                tuple(g[rows] for g in chunk.grads),
                chunk.values[rows],
            )

    def _fill(self, index, example, points, grads, values) -> None:
        if index != self._current_index:
            self._current = _Evaluated(
                tuple(torch.zeros_like(a) for a in self.attributions),
                tuple(torch.zeros_like(a) for a in self.attributions),
                torch.zeros(self.n_examples, dtype=values.dtype, device=values.device),
            )
            self._current_index, self._filled = index, 0
        for target, source in zip(self._current.points, points, strict=True):
            target[example] = source.to(target.dtype)
        for target, source in zip(self._current.grads, grads, strict=True):
            target[example] = source.to(target.dtype)
        self._current.values[example] = values
        self._filled += example.numel()
        if self._filled == self.n_examples:
            if self._previous is None:
                self.start_values = self._current.values
            else:
                self._add_segment(self._previous, self._current)
            self._previous, self.end_values = self._current, self._current.values

    def _add_segment(self, start: _Evaluated, end: _Evaluated) -> None:
        rise = (end.values - start.values).to(self.attributions[0].dtype)
        steps = tuple((e - s).abs() for s, e in zip(start.points, end.points, strict=True))
        weights_start, has_start = _shares(tuple(g * g for g in _rescaled(start.grads)))
        weights_end, has_end = _shares(tuple(g * g for g in _rescaled(end.grads)))
        weights_step, _ = _shares(steps)
        for total, w_start, w_end, w_step in zip(
            self.attributions, weights_start, weights_end, weights_step, strict=True
        ):
            shape = (-1,) + (1,) * (total.dim() - 1)
            weight = torch.where(
                has_start.view(shape), w_start, torch.where(has_end.view(shape), w_end, w_step)
            )
            total += weight * rise.view(shape)


Rule = TypeVar("Rule", RiemannSum, IDGISum)


class _Evaluated(NamedTuple):
    points: tuple[Tensor, ...]
    grads: tuple[Tensor, ...]
    values: Tensor


def _rescaled(grads: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """Gradients divided by their largest magnitude per example, so that squaring them
    neither underflows nor overflows; the direction ``g²/||g||²`` is unchanged."""
    peak = torch.stack([g.reshape(g.shape[0], -1).abs().amax(dim=1) for g in grads]).amax(dim=0)
    safe = torch.where(peak > 0, peak, torch.ones_like(peak))
    return tuple(g / safe.view((-1,) + (1,) * (g.dim() - 1)) for g in grads)


def _shares(parts: tuple[Tensor, ...]) -> tuple[tuple[Tensor, ...], Tensor]:
    """Non-negative ``parts`` divided by their total per example, and where the total is > 0."""
    total = sum(p.reshape(p.shape[0], -1).sum(dim=1) for p in parts)
    positive = total > 0
    safe = torch.where(positive, total, torch.ones_like(total))
    return tuple(p / safe.view((-1,) + (1,) * (p.dim() - 1)) for p in parts), positive
