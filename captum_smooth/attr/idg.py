"""Integrated Decision Gradients (Walker et al., AAAI 2024).

A rule for integrating along the path of any IG-family method, and the authors' adaptive
sampling of the straight line (docs/reference.md#integrated-decision-gradients).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from captum.attr import GradientAttribution, IntegratedGradients, LayerIntegratedGradients
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import BaselineType
from captum_smooth.attr._captum_paths import RuleOnIGPath
from captum_smooth.attr._engine import AdaptivePath, Block, Evaluated, Stage
from captum_smooth.attr._layer import LayerAttribution
from captum_smooth.attr._paths import Path, PathAttribution, StraightLine, Stream
from captum_smooth.attr._rules import Rule


class IDGRule(Rule):
    r"""IDG's rule: each segment's gradient weighted by the output's slope along it.

    Over the vertices ``x_0 … x_m`` of a path (its polyline), with ``f_j = f(x_j)``,
    ``g_j = ∇f(x_j)``, ``Δx_j = x_{j+1} - x_j``, ``Δf_j = f_{j+1} - f_j`` and the slope
    ``s_j = Δf_j / ||Δx_j||`` (the output's rate of change per unit of distance)::

        R = (f_m - f_0) / D · Σ_{j<m} s_j · g_{j+1} ⊙ Δx_j,    D = Σ_{j<m} s_j · Δf_j

    ``Σ R → f_m - f_0`` as the steps shrink (``g_{j+1} · Δx_j → Δf_j``): complete in the
    limit, as IG is, and the convergence delta measures the discretisation. Where ``f`` is
    flat along the whole path (``D = 0``) the attributions are zero.

    Example:
        >>> from captum_smooth.attr import IDGRule, fold_recorded
        >>> points = [torch.tensor([[0.0, 0.0]]), torch.tensor([[0.5, 0.5]]),
        ...           torch.tensor([[1.0, 1.0]])]  # f = x₁ + x₂² from 0 to (1, 1)
        >>> values = [p[:, 0] + p[:, 1] ** 2 for p in points]
        >>> grads = [torch.stack([torch.ones(1), 2 * p[:, 1]], dim=1) for p in points]
        >>> [round(a, 4) for a in fold_recorded(IDGRule, points, values, grads)[0].tolist()]
        [0.9412, 1.5294]
    """

    complete = True
    view = "polyline"

    def __init__(self, inputs: tuple[Tensor, ...]) -> None:
        """Start from zero attributions shaped like ``inputs``, before the first vertex."""
        super().__init__(inputs)
        total = self.totals[0]
        self._weights = torch.zeros(total.shape[0], dtype=total.dtype, device=total.device)
        self._first: Tensor | None = None
        self._last: Evaluated | None = None

    @staticmethod
    def stream(path: Path, with_delta: bool) -> Stream:
        """The path's polyline: IDG needs no extra rows for a delta."""
        return path.polyline()

    def fold(self, evaluated: Evaluated) -> None:
        """Take the next vertex and add the segment that ends at it.

        Forward-only rows (the first pass of an adaptive sampling) are not vertices.
        """
        if evaluated.block.need != "grad":
            return
        if evaluated.values is None or evaluated.grads is None:
            raise ValueError("IDG needs the value and gradient at every vertex of the path")
        previous, self._last = self._last, evaluated
        if previous is None:
            self._first = evaluated.values
            return
        dtype = self.totals[0].dtype
        rise = (evaluated.values - previous.values).to(dtype)
        steps = tuple(
            e - s for s, e in zip(previous.block.points, evaluated.block.points, strict=True)
        )
        length = (
            torch.stack([s.reshape(s.shape[0], -1).to(dtype).square().sum(dim=1) for s in steps])
            .sum(dim=0)
            .sqrt()
        )
        moved = length > 0
        slope = torch.where(moved, rise / torch.where(moved, length, 1.0), 0.0)
        for total, gradient, step in zip(self.totals, evaluated.grads, steps, strict=True):
            weight = slope.view((-1,) + (1,) * (total.dim() - 1))
            total.addcmul_(gradient, step * weight)
        self._weights.add_(slope * rise)

    def attributions(self) -> tuple[Tensor, ...]:
        """The weighted sum scaled by ``(f_m - f_0) / D`` (zero where ``D = 0``)."""
        if self._last is None:
            return self.totals
        positive = self._weights > 0
        scale = torch.where(
            positive, self.expected_total() / torch.where(positive, self._weights, 1.0), 0.0
        )
        return tuple(t * scale.view((-1,) + (1,) * (t.dim() - 1)) for t in self.totals)

    def expected_total(self) -> Tensor:
        """``f(x_m) - f(x_0)``: what the attributions sum to as the steps shrink."""
        if self._first is None or self._last is None:
            raise ValueError("IDG needs at least two points on the path")
        return (self._last.values - self._first).to(self.totals[0].dtype)


class IntegratedDecisionGradients(RuleOnIGPath):
    r"""Integrated Decision Gradients on top of an IG-family method.

    Reference: Walker et al., "Integrated Decision Gradients: Compute Your Attributions Where
    the Model Makes Its Decision", AAAI 2024.

    IG whose gradient at each point of the path is weighted by how fast the output changes
    there, so that the part of the path where the model makes its decision dominates:

    .. math:: \mathrm{IDG}_i = \frac{f(x) - f(x')}{\int_0^1 f'(\alpha)^2\,d\alpha}
              \int_0^1 \frac{\partial f(\gamma(\alpha))}{\partial x_i}\,\gamma_i'(\alpha)\,
              f'(\alpha)\,d\alpha, \qquad f'(\alpha) = \frac{d f(\gamma(\alpha))}{d\alpha}

    with ``α`` the distance travelled along the path (on the straight line, IG's ``α``). The
    authors leave the map unscaled; the factor makes it complete (``Σ IDG = f(x) - f(x')``)
    and equal to IG wherever ``f`` changes at a constant rate along the path. Over the
    wrapped method's path ``x_0 … x_m`` (:class:`IDGRule`), with ``s_j`` the slope of segment
    ``j``, ``R ∝ Σ_j s_j g_{j+1} ⊙ (x_{j+1} - x_j)``: with uniform steps, the authors' map
    times a constant. Complete as the steps shrink, as IG is: ``return_convergence_delta``
    measures the discretisation.

    ``adaptive_sampling=True`` (the straight line only) places the steps as the authors do: a
    first pass of ``n_steps`` forward-only outputs at ``α = k / (n_steps - 1)`` gives each
    interval's slope, and the ``n_steps`` steps are shared among the intervals in proportion
    to ``slope - min(0, min slope)`` and spread evenly within each: more steps where the output
    changes fastest. It costs ``n_steps`` forward passes more; each pass is evaluated in
    chunks. (``placement=`` is the package's placement, a density with an even floor, for
    any rule on the straight line: :class:`Placement`.)

    ``attribute`` takes the wrapped method's arguments in the wrapped method's order
    (``idg.signature()``), Captum's own for Captum's ``IntegratedGradients`` and
    ``LayerIntegratedGradients``, except ``method`` and ``grad_kwargs``. ``n_steps="auto"``
    (or an :class:`Auto`) chooses the steps per example from the error estimate
    (``return_error=True``). The authors explain the logit (``f`` is what the forward
    function returns for ``target``).

    Example:
        >>> from captum.attr import IntegratedGradients
        >>> from captum_smooth import IntegratedDecisionGradients
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3))
        >>> images = torch.rand(2, 3, 2, 2)
        >>> idg = IntegratedDecisionGradients(IntegratedGradients(model))
        >>> attr, delta = idg.attribute(images, target=1, n_steps=200,
        ...                             return_convergence_delta=True)
        >>> attr.shape, bool(delta.abs().max() < 1e-2)  # complete as the steps shrink
        (torch.Size([2, 3, 2, 2]), True)
        >>> placed = IntegratedDecisionGradients(IntegratedGradients(model),
        ...                                      adaptive_sampling=True)
        >>> placed.attribute(images, target=1, n_steps=50).shape
        torch.Size([2, 3, 2, 2])
    """

    rule = IDGRule
    not_applicable: ClassVar[Mapping[str, str]] = {
        "method": (
            "IDG evaluates the polyline from the baseline to the input (uniform, or placed "
            "with adaptive_sampling=True), not Captum's quadrature nodes; remove `method`"
        ),
        "grad_kwargs": "IDG takes gradients with torch.autograd.grad's defaults",
    }

    def __init__(
        self, attribution_method: GradientAttribution, adaptive_sampling: bool = False
    ) -> None:
        """Wrap ``attribution_method``, whose path IDG integrates along.

        Args:
            attribution_method: Captum's ``IntegratedGradients`` or
                ``LayerIntegratedGradients`` (with ``multiply_by_inputs=True``), or a path
                method of the package (Guided IG, Blur IG and their layer variants).
            adaptive_sampling: place the steps by a first, forward-only pass (the authors'
                adaptive sampling; Captum's IG and Layer IG only).

        Raises:
            TypeError: for a method without a path, or a non-bool ``adaptive_sampling``.
            ValueError: for a wrapped method with ``multiply_by_inputs=False``, or
                ``adaptive_sampling`` on a path other than the straight line.
        """
        check.check_flag("adaptive_sampling", adaptive_sampling)
        self.adaptive_sampling = adaptive_sampling
        if adaptive_sampling:
            self.straight = (_PlacedStraightPath, _LayerPlacedStraightPath)
        super().__init__(attribution_method)

    def path_method(self, attribution_method: GradientAttribution) -> Any:
        """As :class:`RuleOnIGPath`; adaptive sampling needs Captum's IG or Layer IG."""
        path_method = super().path_method(attribution_method)
        if self.adaptive_sampling and not isinstance(
            attribution_method, (IntegratedGradients, LayerIntegratedGradients)
        ):
            raise ValueError(
                "`adaptive_sampling` places the steps on the straight line: wrap Captum's "
                "IntegratedGradients or LayerIntegratedGradients, or set it to False for "
                f"{type(attribution_method).__name__}"
            )
        return path_method


class PlacedLine(StraightLine):
    """The straight line from ``x'`` to ``x`` with its steps placed by the authors' first pass.

    Its polyline: ``n_steps`` forward-only rows at ``α = k / (n_steps - 1)``, then the
    ``n_steps`` placed vertices from ``x'`` (:func:`placed_alphas`) and ``x``, each pass
    evaluated in chunks (a :class:`~captum_smooth.attr._engine.Stage`), as the straight line
    evaluates its :class:`~captum_smooth.attr._placement.Placement`.
    """

    def __init__(
        self, inputs: tuple[Tensor, ...], baselines: tuple[Tensor, ...], n_steps: int
    ) -> None:
        """Validate ``n_steps`` (at least 2: the first pass needs an interval)."""
        super().__init__(inputs, baselines, n_steps)
        if n_steps < 2:
            raise ValueError(f"`n_steps` must be at least 2 with adaptive_sampling, got {n_steps}")

    def polyline(self) -> Stream:
        """The first pass, then the ``n_steps + 1`` vertices from ``x'`` to ``x``."""
        return Stream(self._blocks(), 2 * self.n_steps + 1, adaptive=True)

    def _blocks(self) -> AdaptivePath:
        grid = [k / (self.n_steps - 1) for k in range(self.n_steps)]
        values, _ = yield Stage(Block(points, need="value") for points in self._points(grid))
        alphas = placed_alphas(torch.stack(values, dim=1), self.n_steps)  # type: ignore[arg-type]
        vertices = (Block(points) for points in self._placed(alphas))
        yield Stage(itertools.chain(vertices, [Block(self.inputs)]))


def placed_alphas(outputs: Tensor, n_steps: int) -> Tensor:
    """Where the authors' adaptive sampling puts the steps, ``(n_examples, n_steps)``.

    ``outputs`` are ``f`` at ``K + 1`` evenly spaced ``α`` per example (``K`` intervals).
    Each interval gets ``floor(n_steps · w)`` steps, ``w`` its share of
    ``slope - min(0, min slope)`` (evenly where the output is constant); the steps left go
    one each to the intervals with none, the largest ``w`` first, then to the others. The
    steps of an interval split it evenly; the first step starts at ``α = 0``, and a step
    before intervals without one runs over them.
    """
    intervals = outputs.shape[1] - 1
    slopes = outputs.diff(dim=1).to(torch.float64)
    raised = slopes - slopes.amin(dim=1, keepdim=True).clamp(max=0)
    total = raised.sum(dim=1, keepdim=True)
    shares = torch.where(total > 0, raised / torch.where(total > 0, total, 1.0), 1 / intervals)
    # on a grid of 2⁻³⁰: the same function computed another way (another summation order, an
    # equivalent network) differs in the last bits, which at a tie (equal slopes, a share
    # times n_steps at an integer) would give other counts and another map
    shares = torch.round(shares * 2.0**30) / 2.0**30
    counts = (shares * n_steps).floor().long()
    left = n_steps - counts.sum(dim=1, keepdim=True)
    # those without a step first, each group by decreasing share
    order = torch.argsort((counts == 0) * 2 + shares, dim=1, descending=True, stable=True)
    rank = torch.argsort(order, dim=1)
    counts += (rank < left).long()
    ends = counts.cumsum(dim=1)
    step = torch.arange(n_steps, device=outputs.device).expand(outputs.shape[0], -1)
    interval = torch.searchsorted(ends, step.contiguous(), right=True)
    within = step - (ends - counts).gather(1, interval)
    alphas = (interval + within / counts.gather(1, interval).double()) / intervals
    alphas[:, 0] = 0.0
    return alphas


class _PlacedStraightPath(PathAttribution):
    """Captum's IntegratedGradients with the authors' adaptive sampling."""

    input_settings: ClassVar[frozenset[str]] = frozenset({"baselines"})

    def path(
        self,
        inputs: tuple[Tensor, ...],
        *,
        baselines: BaselineType,
        n_steps: int,
        method: None = None,
        placement: None = None,
    ) -> PlacedLine:
        """The placed line from ``baselines`` to ``inputs`` (``method``: Captum's, only None).

        Raises:
            ValueError: for a ``placement``: the authors' adaptive sampling places the steps.
        """
        if placement is not None:
            raise ValueError(
                "`placement` does not apply with adaptive_sampling=True, which places the "
                "steps as the authors do; pass one or the other"
            )
        return PlacedLine(inputs, check.format_baselines(baselines, inputs), n_steps)


class _LayerPlacedStraightPath(LayerAttribution):
    """Captum's LayerIntegratedGradients with the authors' adaptive sampling."""

    method: ClassVar[type[PathAttribution]] = _PlacedStraightPath
