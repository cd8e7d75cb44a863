"""IDGI, Important Direction Gradient Integration (Yang et al., CVPR 2023).

A rule for integrating along the path of any IG-family method (docs/reference.md#idgi).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

import torch
from captum.attr import GradientAttribution
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth.attr._captum_paths import RuleOnIGPath
from captum_smooth.attr._engine import Evaluated
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

    Example:
        >>> from captum_smooth.attr import IDGI, IDGIRule, fold_recorded
        >>> IDGI.rule is IDGIRule  # IDGI folds the wrapped method's path with it
        True
        >>> points = [torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 2.0]])]  # x_0, x_1
        >>> values = [torch.tensor([0.0]), torch.tensor([3.0])]  # f = x₁ + x₂ at each
        >>> grads = [torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 1.0]])]
        >>> fold_recorded(IDGIRule, points, values, grads).tolist()  # the rise of 3, as g²/‖g‖²
        [[1.5, 1.5]]
    """

    complete = True
    view = "polyline"

    def __init__(self, inputs: tuple[Tensor, ...]) -> None:
        """Start from zero attributions shaped like ``inputs``, before the first vertex."""
        super().__init__(inputs)
        self._first: Evaluated | None = None
        # the last vertex added, then the vertices waiting to be added
        self._vertices: list[Evaluated] = []
        per_vertex = sum(x.numel() for x in inputs)
        self._batch = max(1, _SEGMENT_ELEMENTS // max(1, per_vertex))

    @staticmethod
    def stream(path: Path, with_delta: bool) -> Stream:
        """The path's polyline: IDGI needs no extra rows for a delta."""
        return path.polyline()

    def fold(self, evaluated: Evaluated) -> None:
        """Take the next vertex; segments are added a few at a time, in one pass each."""
        if evaluated.values is None or evaluated.grads is None:
            raise ValueError("IDGI needs the value and gradient at every vertex of the path")
        if self._first is None:
            self._first = evaluated
        self._vertices.append(evaluated)
        if len(self._vertices) > self._batch:
            self._add_waiting()

    def attributions(self) -> tuple[Tensor, ...]:
        """The attributions of the segments folded so far."""
        self._add_waiting()
        return self.totals

    def expected_total(self) -> Tensor:
        """``f(x_m) - f(x_0)``: what the attributions sum to."""
        if self._first is None or self._vertices[-1] is self._first:
            raise ValueError("IDGI needs at least two points on the path")
        rise = self._vertices[-1].values - self._first.values
        return rise.to(self.totals[0].dtype)

    def _add_waiting(self) -> None:
        """Add the segments between the waiting vertices, all at once."""
        if len(self._vertices) > 1:
            self._add_segments(self._vertices)
        self._vertices = self._vertices[-1:]

    def _add_segments(self, vertices: list[Evaluated]) -> None:
        """Add the segments of consecutive ``vertices``.

        The segments are batched as examples: ``k`` segments of ``n`` examples are ``k·n``
        rows of one computation, summed over the segments at the end (on tiny inputs a
        segment's dozen tensor operations cost more in calls than in arithmetic).
        """
        dtype = self.totals[0].dtype
        if len(vertices) == 2:  # one segment: the vertices' own tensors, no copies
            start, end = vertices
            rise = (end.values - start.values).to(dtype)
            starts, ends = start.grads, end.grads
            steps = tuple(
                (e - s).abs() for s, e in zip(start.block.points, end.block.points, strict=True)
            )
        else:
            values = torch.stack([v.values for v in vertices]).to(dtype)
            rise = (values[1:] - values[:-1]).flatten()
            grads = [torch.stack(g) for g in zip(*(v.grads for v in vertices), strict=True)]
            starts = tuple(g[:-1].flatten(0, 1) for g in grads)
            ends = tuple(g[1:].flatten(0, 1) for g in grads)
            steps = tuple(
                (p[1:] - p[:-1]).abs().flatten(0, 1)
                for p in (
                    torch.stack(p) for p in zip(*(v.block.points for v in vertices), strict=True)
                )
            )
        weights_start, has_start = _shares(self._squares(starts, steps))
        weights_end, has_end = _shares(self._squares(ends, steps))
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
            share = weight * rise.view(shape)
            total.add_(share.view(-1, *total.shape).sum(dim=0).to(total.dtype))

    def _squares(self, grads: tuple[Tensor, ...], steps: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """The unnormalised direction ``g ⊙ g`` of a segment whose steps are ``steps``."""
        return tuple(g * g for g in _rescaled(grads))


_SEGMENT_ELEMENTS = 2**20
"""IDGI adds its segments in batches of at most about this many elements per input."""


class MovingIDGIRule(IDGIRule):
    """IDGI's rule with each segment's rise shared among the features that move along it.

    ``g ⊙ g ⊙ 1[x_{j+1} ≠ x_j]``: complete like :class:`IDGIRule`, and a feature that does not
    move along a segment (on a straight path: a feature equal to its baseline) gets none of
    its rise. ``IDGI(method, only_moving=True)``.
    """

    def _squares(self, grads: tuple[Tensor, ...], steps: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """``g ⊙ g`` where the feature moves along the segment, zero elsewhere."""
        return tuple(
            torch.where(step > 0, square, torch.zeros_like(square))
            for square, step in zip(super()._squares(grads, steps), steps, strict=True)
        )


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


class IDGI(RuleOnIGPath):
    r"""Important Direction Gradient Integration on top of an IG-family method.

    Reference: Yang et al., "IDGI: A Framework to Eliminate Explanation Noise from Integrated
    Gradients", CVPR 2023.

    Over the ordered points ``x_0 … x_m`` of the wrapped method's path, with values
    ``f_j = f(x_j)`` and gradients ``g_j = ∇f(x_j)`` from the same forward pass:

    .. math:: R = \sum_{j=0}^{m-1} \frac{g_j \odot g_j}{\|g_j\|^2} (f_{j+1} - f_j)

    so ``Σ R = f(x_m) - f(x_0)`` exactly, for any ``n_steps``. Zero gradients never give NaN:
    the direction is then taken from ``g_{j+1}``, or, if that is zero too, from
    ``|x_{j+1} - x_j|`` (completeness is kept). IDGI does not satisfy linearity.

    ``attribute`` takes the wrapped method's arguments in the wrapped method's order
    (``idgi.signature()``): for Captum's ``IntegratedGradients``, Captum's own
    ``(inputs, baselines, target, additional_forward_args, n_steps, method,
    internal_batch_size, return_convergence_delta)``, plus ``show_progress``; for
    ``LayerIntegratedGradients`` also ``attribute_to_layer_input``. So a call copied from
    Captum works unchanged, except ``method`` (IDGI's grid is uniform; passing it is an error)
    and ``grad_kwargs``.

    Paths of the wrapped methods:

    - Captum's :class:`~captum.attr.IntegratedGradients`: the straight line
      ``x' + (j/m)(x - x')``, ``j = 0..m`` (a uniform grid with both ends);
    - :class:`GuidedIntegratedGradients`: the step-start points, then ``x``;
    - :class:`BlurIntegratedGradients`: from ``blur(x, max_sigma)`` to ``x``.

    A feature equal to its baseline never moves along a straight path, yet IDGI gives it a
    share of every segment's rise in proportion to its squared gradient (on BERT,
    ``[CLS]`` and ``[SEP]`` kept in the baseline get a quarter of the total ``|score|``, where IG
    gives them zero). ``only_moving=True`` shares each segment's rise among the features that
    move along that segment only, ``g_j² ⊙ 1[x_{j+1} ≠ x_j]``: still exactly complete, and
    features equal to their baseline get exactly zero (not in the paper: off by default).

    ``n_steps="auto"`` (or an :class:`Auto`) chooses the steps per example from the error
    estimate (``return_error=True``); IDGI's delta is zero at every step count, so it cannot.

    ``f`` is whatever the forward function returns for ``target``; the paper uses softmax
    probabilities: wrap the model with a softmax to follow it.

    Example:
        >>> from captum.attr import IntegratedGradients
        >>> from captum_smooth import IDGI
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3), nn.Softmax(dim=1))
        >>> images, baselines = torch.rand(2, 3, 2, 2), torch.zeros(2, 3, 2, 2)
        >>> idgi = IDGI(IntegratedGradients(model))
        >>> attr, delta = idgi.attribute(images, baselines, target=1, n_steps=50,
        ...                              return_convergence_delta=True)
        >>> attr.shape, bool(delta.abs().max() < 1e-6)  # complete for any n_steps
        (torch.Size([2, 3, 2, 2]), True)
    """

    rule = IDGIRule
    not_applicable: ClassVar[Mapping[str, str]] = {
        "method": (
            "IDGI evaluates the uniform grid of n_steps + 1 points from the baseline to the "
            "input, not Captum's quadrature nodes; remove `method`"
        ),
        "grad_kwargs": "IDGI takes gradients with torch.autograd.grad's defaults",
    }

    def __init__(self, attribution_method: GradientAttribution, only_moving: bool = False) -> None:
        """Wrap ``attribution_method``, whose path IDGI integrates along.

        Args:
            attribution_method: Captum's ``IntegratedGradients`` or
                ``LayerIntegratedGradients`` (with ``multiply_by_inputs=True``), or a path
                method of the package (Guided IG, Blur IG and their layer variants).
            only_moving: share each segment's rise only among the features that move along
                it, so that features equal to the baseline get zero (see the class).

        Raises:
            TypeError: for a method without a path, or a non-bool ``only_moving``.
            ValueError: for a wrapped method with ``multiply_by_inputs=False``.
        """
        check.check_flag("only_moving", only_moving)
        if only_moving:
            self.rule = MovingIDGIRule
        super().__init__(attribution_method)
