"""IDGI, Important Direction Gradient Integration (Yang et al., CVPR 2023).

A rule for integrating along the path of any IG-family method (docs/reference.md#idgi).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from captum.attr import GradientAttribution, IntegratedGradients, LayerIntegratedGradients
from captum.log import log_usage
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import (
    BaselineType,
    TargetType,
    TensorOrTupleOfTensorsGeneric,
)
from captum_smooth.attr._engine import Evaluated
from captum_smooth.attr._layer import LayerAttribution
from captum_smooth.attr._paths import PathAttribution, RuleOnPath, StraightLine
from captum_smooth.attr._rules import Rule

if TYPE_CHECKING:
    from captum_smooth.attr._paths import Path, Stream


class IDGIRule(Rule):
    r"""IDGI's rule: each segment's rise in ``f`` shared along the gradient's direction.

    Over the vertices ``x_0 … x_m`` of a path (its polyline), in order::

        R = Σ_{j<m} (g_j ⊙ g_j) / ||g_j||² · (f_{j+1} - f_j)

    Each segment's weights sum to one, so ``Σ R = f_m - f_0`` exactly, for any number of
    steps. Where ``g_j = 0`` the direction comes from the segment's end gradient ``g_{j+1}``;
    where that is zero too, ``f_{j+1} - f_j`` is spread in proportion to ``|x_{j+1} - x_j|``
    (the authors' code gives NaN there; ports that skip the step lose completeness).
    """

    complete = True

    def __init__(self, inputs: tuple[Tensor, ...]) -> None:
        """Start from zero attributions shaped like ``inputs``, before the first vertex."""
        super().__init__(inputs)
        self._first: Evaluated | None = None
        self._last: Evaluated | None = None

    @staticmethod
    def stream(path: Path, with_delta: bool) -> Stream:
        """The path's polyline: IDGI needs no extra rows for a delta."""
        return path.polyline()

    def fold(self, evaluated: Evaluated) -> None:
        """Take the next vertex, adding the segment from the previous one."""
        if evaluated.values is None or evaluated.grads is None:
            raise ValueError("IDGI needs the value and gradient at every vertex of the path")
        if self._last is None:
            self._first = evaluated
        else:
            self._add_segment(self._last, evaluated)
        self._last = evaluated

    def expected_total(self) -> Tensor:
        """``f(x_m) - f(x_0)``: what the attributions sum to."""
        if self._first is None or self._last is None or self._first is self._last:
            raise ValueError("IDGI needs at least two points on the path")
        rise = self._last.values - self._first.values
        return rise.to(self.totals[0].dtype)

    def _add_segment(self, start: Evaluated, end: Evaluated) -> None:
        rise = (end.values - start.values).to(self.totals[0].dtype)
        steps = tuple(
            (e - s).abs() for s, e in zip(start.block.points, end.block.points, strict=True)
        )
        weights_start, has_start = _shares(tuple(g * g for g in _rescaled(start.grads)))
        weights_end, has_end = _shares(tuple(g * g for g in _rescaled(end.grads)))
        weights_step, _ = _shares(steps)
        for total, w_start, w_end, w_step in zip(
            self.totals, weights_start, weights_end, weights_step, strict=True
        ):
            shape = (-1,) + (1,) * (total.dim() - 1)
            weight = torch.where(
                has_start.view(shape),
                w_start,
                torch.where(has_end.view(shape), w_end, w_step.to(w_end.dtype)),
            )
            total.add_((weight * rise.view(shape)).to(total.dtype))


def _rescaled(grads: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """Gradients divided by their largest magnitude per example.

    So squaring them neither underflows nor overflows; the direction ``g²/||g||²`` is
    unchanged.
    """
    peak = torch.stack([g.reshape(g.shape[0], -1).abs().amax(dim=1) for g in grads]).amax(dim=0)
    safe = torch.where(peak > 0, peak, torch.ones_like(peak))
    return tuple(g / safe.view((-1,) + (1,) * (g.dim() - 1)) for g in grads)


def _shares(parts: tuple[Tensor, ...]) -> tuple[tuple[Tensor, ...], Tensor]:
    """Non-negative ``parts`` divided by their total per example, and where the total is > 0."""
    total = sum(p.reshape(p.shape[0], -1).sum(dim=1) for p in parts)
    positive = total > 0
    safe = torch.where(positive, total, torch.ones_like(total))
    return tuple(p / safe.view((-1,) + (1,) * (p.dim() - 1)) for p in parts), positive


class IDGI(RuleOnPath):
    r"""Important Direction Gradient Integration on top of an IG-family method.

    Reference: Yang et al., "IDGI: A Framework to Eliminate Explanation Noise from Integrated
    Gradients", CVPR 2023.

    Over the ordered points ``x_0 … x_m`` of the wrapped method's path, with values
    ``f_j = f(x_j)`` and gradients ``g_j = ∇f(x_j)`` from the same forward pass:

    .. math:: R = \sum_{j=0}^{m-1} \frac{g_j \odot g_j}{\|g_j\|^2} (f_{j+1} - f_j)

    so ``Σ R = f(x_m) - f(x_0)`` exactly, for any ``n_steps``. Zero gradients never give NaN:
    the direction is then taken from ``g_{j+1}``, or, if that is zero too, from
    ``|x_{j+1} - x_j|`` (completeness is kept). IDGI does not satisfy linearity.

    Paths of the wrapped methods:

    - Captum's :class:`~captum.attr.IntegratedGradients`: the straight line
      ``x' + (j/m)(x - x')``, ``j = 0..m`` (a uniform grid with both ends, whatever
      ``method`` Captum would use; ``multiply_by_inputs`` does not apply);
    - :class:`GuidedIntegratedGradients`: the step-start points, then ``x``;
    - :class:`BlurIntegratedGradients`: from ``blur(x, max_sigma)`` to ``x``.

    ``f`` is whatever the forward function returns for ``target``; the paper uses softmax
    probabilities: wrap the model with a softmax to follow it.

    Example:
        >>> idgi = IDGI(IntegratedGradients(model))
        >>> attr = idgi.attribute(images, baselines=0.0, target=3, n_steps=50)
    """

    rule = IDGIRule

    def path_method(self, attribution_method: GradientAttribution) -> Any:
        """The method whose path IDGI integrates along.

        Captum's IntegratedGradients and LayerIntegratedGradients become the straight line (in
        the input's or the layer's space); the package's methods have their own paths.
        """
        if isinstance(attribution_method, IntegratedGradients):
            return _StraightPath(attribution_method.forward_func)
        if isinstance(attribution_method, LayerIntegratedGradients):
            return _LayerStraightPath(
                attribution_method.forward_func,
                attribution_method.layer,
                attribution_method.device_ids,
            )
        if getattr(attribution_method, "has_path", False):
            return attribution_method
        raise TypeError(
            "IDGI integrates along the path of an IG-family method: Captum's "
            "IntegratedGradients or LayerIntegratedGradients, or the package's "
            "GuidedIntegratedGradients, BlurIntegratedGradients and their layer variants; "
            f"got {type(attribution_method).__name__}"
        )

    @log_usage()
    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> TensorOrTupleOfTensorsGeneric | tuple[TensorOrTupleOfTensorsGeneric, Tensor]:
        """Attribute the target output to the inputs by IDGI along the wrapped method's path.

        Args:
            inputs: as for the wrapped method.
            target: as for the wrapped method.
            additional_forward_args: as for the wrapped method.
            internal_batch_size: as for the wrapped method.
            return_convergence_delta: also return ``Σ attr - (f(x_m) - f(x_0))`` per example
                (zero up to floating-point error).
            show_progress: show a progress bar over the rows evaluated.
            **kwargs: the wrapped method's path settings: ``baselines`` and ``n_steps`` for
                IntegratedGradients; ``baselines``, ``n_steps``, ``fraction``, ``max_dist`` for
                Guided IG; ``max_sigma``, ``n_steps``, ``grad_step``, ``sqrt_schedule`` for
                Blur IG.

        Returns:
            Attributions shaped like ``inputs``; and the convergence delta if asked for.
        """
        return self._attribute(
            inputs,
            target,
            additional_forward_args,
            internal_batch_size,
            return_convergence_delta,
            show_progress,
            **kwargs,
        )

    @property
    def multiplies_by_inputs(self) -> bool:
        """IDGI's attributions sum to the output change: global attributions."""
        return True


class _StraightPath(PathAttribution):
    """The straight line of Captum's IntegratedGradients, for rules other than its own."""

    def path(
        self,
        inputs: tuple[Tensor, ...],
        baselines: BaselineType = None,
        n_steps: int = 50,
        method: str | None = None,
    ) -> StraightLine:
        return StraightLine(inputs, check.format_baselines(baselines, inputs), n_steps, method)


class _LayerStraightPath(LayerAttribution):
    """The straight line of Captum's LayerIntegratedGradients, in the layer's space."""

    method = _StraightPath
