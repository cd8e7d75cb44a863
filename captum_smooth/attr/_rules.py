"""Rules that fold evaluated rows (:class:`~captum_smooth.attr._engine.Chunk`) into attributions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from captum._utils.typing import TargetType
from torch import Tensor

from captum_smooth.attr._engine import Block, Chunk, evaluate


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

    def update(self, chunk: Chunk) -> None:
        if chunk.displacements is None:
            raise ValueError("RiemannSum needs blocks with displacements")
        for total, d, g in zip(self.attributions, chunk.displacements, chunk.grads, strict=True):
            total.index_add_(0, chunk.example, (d * g).to(total.dtype))
        weighted = chunk.value_weights * chunk.values.to(chunk.value_weights.dtype)
        self.weighted_values.index_add_(0, chunk.example, weighted.to(self.weighted_values.dtype))


def integrate(
    rule: RiemannSum,
    forward_func: Callable[..., Any],
    blocks: Iterable[Block],
    target: TargetType,
    additional_forward_args: Any,
    internal_batch_size: int | None,
) -> RiemannSum:
    """Push ``blocks`` through the model in chunks and fold the chunks with ``rule``."""
    n_examples = rule.attributions[0].shape[0]
    for chunk in evaluate(
        forward_func, blocks, target, additional_forward_args, n_examples, internal_batch_size
    ):
        rule.update(chunk)
    return rule
