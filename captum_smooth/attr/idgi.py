"""IDGI, Important Direction Gradient Integration (Yang et al., CVPR 2023).

A rule for integrating along the path of any IG-family method (docs/reference.md#idgi).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

import torch
from captum.attr import GradientAttribution
from torch import Tensor
from torch.nn import functional

from captum_smooth._utils import validation as check
from captum_smooth.attr._captum_paths import RuleOnIGPath
from captum_smooth.attr._engine import Evaluated, stacked
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
    balance = 0.0
    """The share of a segment's rise taken along its end's direction (0: the paper's rule)."""

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
        """Take the next vertex; segments are added a few at a time, in one pass each.

        Forward-only rows (the first pass of a placement) are not vertices.
        """
        if evaluated.block.need == "value":
            return
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

        The vertices are batched: ``k + 1`` vertices of ``n`` examples are stacked, and each
        segment's share of its rise becomes a coefficient per vertex, so that the segments add
        up as one contraction over the vertices (on tiny inputs a segment's dozen tensor
        operations cost more in calls than in arithmetic; on large ones each pass over the
        stack costs). A vertex's direction ``g ⊙ g / ||g||²`` serves both the segment it
        starts and, where that segment's start has no gradient, the one it ends.
        """
        rise, grads, steps = _segments(vertices, self.totals[0].dtype)
        squares = _squares(grads)
        norms = _norms(squares)
        starts, ends, by_step = _coefficients(
            rise, norms[:-1], norms[1:], _norms(steps), self.balance
        )
        # segment j starts at vertex j and ends at vertex j + 1
        by_vertex = functional.pad(starts, (0, 0, 0, 1)) + functional.pad(ends, (0, 0, 1, 0))
        for total, square, step in zip(self.totals, squares, steps, strict=True):
            total.add_(_contract(by_vertex, square) + _contract(by_step, step))


_SEGMENT_ELEMENTS = 2**20
"""IDGI adds its segments in batches of at most about this many elements per input."""


class MovingIDGIRule(IDGIRule):
    """IDGI's rule with each segment's rise shared among the features that move along it.

    ``g ⊙ g ⊙ 1[x_{j+1} ≠ x_j]``: complete like :class:`IDGIRule`, and a feature that does not
    move along a segment (on a straight path: a feature equal to its baseline) gets none of
    its rise. ``IDGI(method, only_moving=True)``.
    """

    def _add_segments(self, vertices: list[Evaluated]) -> None:
        """Add the segments of consecutive ``vertices``, each masked by where it moves."""
        rise, grads, steps = _segments(vertices, self.totals[0].dtype)
        squares = _squares(grads)
        moving = tuple(step > 0 for step in steps)
        starts = tuple(torch.where(m, s[:-1], 0.0) for m, s in zip(moving, squares, strict=True))
        ends = tuple(torch.where(m, s[1:], 0.0) for m, s in zip(moving, squares, strict=True))
        by_start, by_end, by_step = _coefficients(
            rise, _norms(starts), _norms(ends), _norms(steps), self.balance
        )
        for total, start, end, step in zip(self.totals, starts, ends, steps, strict=True):
            total.add_(
                _contract(by_start, start) + _contract(by_end, end) + _contract(by_step, step)
            )


class TrapezoidIDGIRule(IDGIRule):
    r"""IDGI's rule with each segment's rise shared along the mean of its ends' directions.

    .. math:: R = \sum_{j<m} \frac12\Big(\frac{g_j \odot g_j}{\|g_j\|^2}
              + \frac{g_{j+1} \odot g_{j+1}}{\|g_{j+1}\|^2}\Big) (f_{j+1} - f_j)

    The trapezoid rule for the same integral as :class:`IDGIRule` (the paper's rule, the
    left end's direction), on the same rows: exactly complete as well, and of second order
    where the model is smooth (its error falls four times per doubling of the steps where the
    paper's halves). ``IDGI(method, segment_rule="trapezoid")``.

    Example:
        >>> from captum_smooth.attr import IDGIRule, TrapezoidIDGIRule, fold_recorded
        >>> def line(n):  # f = x₁² + x₂³ on the straight path to x = (1, 1), n steps
        ...     points = [torch.tensor([[1.0, 1.0]], dtype=torch.float64) * j / n
        ...               for j in range(n + 1)]
        ...     values = [p[:, 0] ** 2 + p[:, 1] ** 3 for p in points]
        ...     grads = [torch.stack([2 * p[:, 0], 3 * p[:, 1] ** 2], dim=1) for p in points]
        ...     return points, values, grads
        >>> limit = fold_recorded(IDGIRule, *line(20000))
        >>> for n in (8, 16):
        ...     left = fold_recorded(IDGIRule, *line(n))
        ...     trapezoid = fold_recorded(TrapezoidIDGIRule, *line(n))
        ...     print(n, f"{(left - limit).norm():.0e}", f"{(trapezoid - limit).norm():.0e}")
        8 1e-01 8e-03
        16 6e-02 2e-03
    """

    balance = 0.5


class MovingTrapezoidIDGIRule(MovingIDGIRule):
    """:class:`TrapezoidIDGIRule` shared among the features that move along each segment."""

    balance = 0.5


def _segments(
    vertices: list[Evaluated], dtype: torch.dtype
) -> tuple[Tensor, tuple[Tensor, ...], tuple[Tensor, ...]]:
    """The rise of ``f`` along each segment, ``(k, n)``, and the stacked vertices' terms.

    Per input, the gradients at the ``k + 1`` vertices ``(k + 1, n, ...)`` and the steps
    ``|x_{j+1} - x_j|`` ``(k, n, ...)``, in ``dtype``. Along an adaptive path the engine has
    given each vertex its chord to the next as its direction: the steps are read from it.
    """
    values = stacked([v.values for v in vertices]).to(dtype)
    grads = tuple(stacked(g) for g in zip(*(v.grads for v in vertices), strict=True))
    if all(v.block.direction is not None for v in vertices[:-1]):
        chords = zip(*(v.block.direction for v in vertices[:-1]), strict=True)
        # rounded to `dtype` as they are stacked (Guided IG's chords are float64): one pass
        # over a chord where stacking, taking |·| and rounding took three
        steps = tuple(
            torch.stack(c, out=c[0].new_empty((len(c), *c[0].shape), dtype=dtype)).abs_()
            for c in chords
        )
    else:
        points = (stacked(p) for p in zip(*(v.block.points for v in vertices), strict=True))
        steps = tuple((p[1:] - p[:-1]).abs_().to(dtype) for p in points)
    return values[1:] - values[:-1], grads, steps


def _squares(grads: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """``g ⊙ g`` of stacked gradients ``(k, n, ...)``, divided by ``max |g|²`` per vertex.

    So squaring them neither underflows nor overflows; the direction ``g²/||g||²`` is
    unchanged.
    """
    peaks = [g.flatten(2).abs().amax(dim=2) for g in grads]
    peak = peaks[0] if len(peaks) == 1 else torch.stack(peaks).amax(dim=0)
    safe = torch.where(peak > 0, peak, 1.0)
    return tuple((g / safe.view(*safe.shape, *(1,) * (g.dim() - 2))).square_() for g in grads)


def _norms(parts: tuple[Tensor, ...]) -> Tensor:
    """The total of non-negative stacked ``parts`` ``(k, n, ...)`` per vertex and example."""
    return functools.reduce(torch.add, (p.flatten(2).sum(dim=2) for p in parts))


def _coefficients(
    rise: Tensor, start: Tensor, end: Tensor, step: Tensor, balance: float = 0.0
) -> tuple[Tensor, Tensor, Tensor]:
    """What multiplies each segment's start, end and step direction, ``(k, n)`` each.

    A segment whose two ends have a direction (a positive total) shares ``1 - balance`` of
    its rise along its start direction divided by its total and ``balance`` along its end
    direction (``balance=0``: the paper's rule, ``0.5``: the trapezoid); a segment with one
    of them shares all of it along that one; with neither, along its step. (A quotient by
    zero is computed and not used.)
    """
    has_start, has_end = start > 0, end > 0
    at_start, at_end = rise, rise.masked_fill(has_start, 0.0)
    if balance:
        both = has_start & has_end
        at_start = torch.where(both, rise * (1 - balance), rise)
        at_end = torch.where(both, rise * balance, at_end)
    by_start = torch.where(has_start, at_start / start, 0.0)
    by_end = torch.where(has_end, at_end / end, 0.0)
    rest = rise.masked_fill(has_start | has_end, 0.0)  # segments without a direction
    return by_start, by_end, torch.where(step > 0, rest / step, 0.0)


def _contract(coefficients: Tensor, parts: Tensor) -> Tensor:
    """``Σ_k c[k, i] · parts[k, i, ...]``: stacked ``parts`` summed with their coefficients."""
    k, n = coefficients.shape
    rows = parts.reshape(k, n, -1).transpose(0, 1)  # a matrix of k rows per example
    summed = torch.bmm(coefficients.to(parts.dtype).T.unsqueeze(1), rows)
    return summed.view(parts.shape[1:])


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

    def __init__(
        self,
        attribution_method: GradientAttribution,
        only_moving: bool = False,
        segment_rule: str = "left",
    ) -> None:
        """Wrap ``attribution_method``, whose path IDGI integrates along.

        Args:
            attribution_method: Captum's ``IntegratedGradients`` or
                ``LayerIntegratedGradients`` (with ``multiply_by_inputs=True``), or a path
                method of the package (Guided IG, Blur IG and their layer variants).
            only_moving: share each segment's rise only among the features that move along
                it, so that features equal to the baseline get zero (see the class).
            segment_rule: ``"left"`` (the paper's): each segment's rise along its start's
                direction; ``"trapezoid"``: along the mean of its two ends' directions
                (:class:`~captum_smooth.attr.TrapezoidIDGIRule`), the same limit on the same
                rows, of second order on smooth models (docs/steps.md).

        Raises:
            TypeError: for a method without a path, a non-bool ``only_moving`` or a
                non-string ``segment_rule``.
            ValueError: for a wrapped method with ``multiply_by_inputs=False``, or another
                ``segment_rule``.
        """
        check.check_flag("only_moving", only_moving)
        if not isinstance(segment_rule, str):
            kind = type(segment_rule).__name__
            raise TypeError(f"`segment_rule` must be 'left' or 'trapezoid', got {kind}")
        rules = {
            ("left", False): IDGIRule,
            ("left", True): MovingIDGIRule,
            ("trapezoid", False): TrapezoidIDGIRule,
            ("trapezoid", True): MovingTrapezoidIDGIRule,
        }
        if (segment_rule, only_moving) not in rules:
            raise ValueError(f"`segment_rule` must be 'left' or 'trapezoid', got {segment_rule!r}")
        self.rule = rules[segment_rule, only_moving]
        super().__init__(attribution_method)
