"""Paths of the Integrated Gradients family: the shared base class, the straight line, and
the rows that only carry an output value (for convergence deltas)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

import torch
from captum.attr import GradientAttribution
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import TargetType, format_output, sum_rows
from captum_smooth.attr._engine import AdaptivePath, Block
from captum_smooth.attr._rules import IDGISum, RiemannSum, integrate


def straight_line(
    inputs: tuple[Tensor, ...],
    baselines: tuple[Tensor, ...],
    alphas: Sequence[float],
    step_sizes: Sequence[float] | None = None,
    scale: float = 1.0,
    multiply_by_inputs: bool = True,
) -> Iterator[Block]:
    """Points ``x' + α (x - x')`` for each α, in order.

    With ``step_sizes`` each block carries the Riemann displacement
    ``scale · w · (x - x')`` (or ``scale · w`` without ``multiply_by_inputs``, Captum's local
    variant); without, the blocks are bare points for rules such as IDGI.
    """
    for j, alpha in enumerate(alphas):
        points = tuple(z + alpha * (x - z) for x, z in zip(inputs, baselines, strict=True))
        displacements = None
        if step_sizes is not None:
            w = scale * step_sizes[j]
            displacements = tuple(
                w * (x - z) if multiply_by_inputs else torch.full_like(x, w)
                for x, z in zip(inputs, baselines, strict=True)
            )
        yield Block(points, displacements)


def value_only(points: tuple[Tensor, ...], value_weight: float) -> Block:
    """A row that adds ``value_weight · f(points)`` to the weighted output sum and nothing to
    the attributions (zero displacement): the endpoints of a convergence delta."""
    return Block(
        points=points,
        displacements=tuple(torch.zeros_like(p) for p in points),
        value_weights=torch.full(
            (points[0].shape[0],), value_weight, dtype=points[0].dtype, device=points[0].device
        ),
    )


class PathAttribution(GradientAttribution):
    """An Integrated-Gradients-family method: a path of points and an integration rule.

    Subclasses supply :meth:`_path`; :meth:`_integrate` runs it through the engine and folds
    it with a rule: the Riemann sum for the method itself, or IDGI's rule when wrapped in
    :class:`~captum_smooth.IDGI`. ``adaptive`` paths choose each point from the gradient at
    the previous one and are evaluated one block at a time.
    """

    adaptive: ClassVar[bool] = False

    def _path(
        self, inputs: tuple[Tensor, ...], rule: str, with_delta: bool, **settings: Any
    ) -> Iterable[Block] | AdaptivePath:
        """Validate ``settings`` eagerly and return the path's blocks in order.

        ``rule`` is ``"riemann"`` (blocks carry displacements; with ``with_delta`` they also
        carry value weights giving ``f(end) - f(start)``) or ``"idgi"`` (bare points from the
        start of the path to its end, both included)."""
        raise NotImplementedError

    def _integrate(
        self,
        rule: str,
        inputs: Any,
        target: TargetType,
        additional_forward_args: Any,
        internal_batch_size: int | None,
        return_convergence_delta: bool,
        **settings: Any,
    ) -> Any:
        inputs_tuple, is_tuple = check.format_inputs(inputs)
        check.check_batch_size(internal_batch_size)
        check.check_target(target, inputs_tuple[0].shape[0])
        path = self._path(inputs_tuple, rule, return_convergence_delta, **settings)
        folder = integrate(
            RiemannSum(inputs_tuple) if rule == "riemann" else IDGISum(inputs_tuple),
            self.forward_func,
            path,
            target,
            additional_forward_args,
            internal_batch_size,
            adaptive=self.adaptive,
        )
        attributions = format_output(is_tuple, folder.attributions)
        if not return_convergence_delta:
            return attributions
        total = sum(sum_rows(a) for a in folder.attributions)
        return attributions, total - folder.expected_total()

    def has_convergence_delta(self) -> bool:
        return True

    @property
    def multiplies_by_inputs(self) -> bool:
        return True
