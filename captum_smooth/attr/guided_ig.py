"""Guided Integrated Gradients (Kapishnikov et al., CVPR 2021).

An adaptive path that moves the features with the smallest gradients first (reference: PAIR
``saliency`` GuidedIG; docs/reference.md#guided-ig).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from captum.log import log_usage
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import (
    BaselineType,
    TargetType,
    TensorOrTupleOfTensorsGeneric,
)
from captum_smooth.attr._engine import AdaptivePath, Block
from captum_smooth.attr._paths import CAPTUM_HINTS, Path, PathAttribution, Stream, checked_call

# PAIR's tolerance for "the step has reached its L1 target".
_EPSILON = 1e-9


class GuidedIntegratedGradients(PathAttribution):
    r"""Guided Integrated Gradients (Kapishnikov et al., CVPR 2021).

    Reference: Kapishnikov et al., "Guided Integrated Gradients: an Adaptive Path Method for
    Removing Noise", CVPR 2021.

    At each of ``n_steps`` steps the gradient is taken at the current point ``x_s``; then the
    ``fraction`` of not-yet-finished features with the smallest ``|gradient|`` are moved toward
    the straight-line point at ``α + max_dist`` (clamped), repeatedly, until the L1 distance to
    ``x`` has shrunk to ``L · (1 - (s + 1)/n_steps)``. The attribution is
    ``Σ_s (x_{s+1} - x_s) ⊙ ∇f(x_s)``. Features where ``x == x'`` are finished from the start.

    All examples of a batch move together (masks, no loop over examples); the features of a
    tuple of inputs form one feature vector. The path's bookkeeping (distances, the selection
    of features, the steps) runs in float64 whatever the model's dtype, as PAIR's does; the
    model sees each point in its own dtype.

    Which features move first depends on the input space: the gradients differ between raw
    pixels and ImageNet-normalised inputs, so the path (and the map) differs too. To follow
    PAIR on raw pixels, put the normalisation inside the model and explain the raw pixels
    (docs/reference.md#guided-ig).

    Example:
        >>> from captum_smooth import GuidedIntegratedGradients
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> images = torch.rand(2, 3, 2, 2)
        >>> gig = GuidedIntegratedGradients(model)
        >>> attr = gig.attribute(images, baselines=0.0, target=1, n_steps=25, max_dist=1.0)
        >>> attr.shape
        torch.Size([2, 3, 2, 2])
    """

    argument_hints: ClassVar[Mapping[str, str]] = {
        **CAPTUM_HINTS,
        "method": "Guided IG's adaptive path is summed with PAIR's left Riemann sum",
    }
    input_settings: ClassVar[frozenset[str]] = frozenset({"baselines"})

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        """Wrap ``forward_func``, the model or any function returning its outputs."""
        super().__init__(forward_func)

    @log_usage()
    @checked_call
    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_steps: int = 200,
        fraction: float = 0.25,
        max_dist: float = 0.02,
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
        show_progress: bool = False,
        *,
        return_error: bool = False,
    ) -> TensorOrTupleOfTensorsGeneric | tuple[TensorOrTupleOfTensorsGeneric, Tensor]:
        """Attribute the target output to the inputs along the guided path.

        Args:
            inputs: a tensor or a tuple of tensors, batch first, floating point.
            baselines: the path's start, in Captum's forms (default zeros).
            target: the output to explain, in any of Captum's forms.
            additional_forward_args: passed to ``forward_func`` after the inputs.
            n_steps: gradient evaluations along the path (PAIR's default 200); ``"auto"``
                or an :class:`Auto` chooses it per example from the error estimate.
            fraction: the share of features moved in each inner iteration, in (0, 1].
            max_dist: how far (in α) a feature may run ahead of the straight line, ≥ 0;
                0 stays on the straight line, 1 is unbounded.
            internal_batch_size: at most this many rows through the model at once (``None``:
                as many as the memory budget holds, :func:`set_memory_budget`); the steps
                of the path are sequential, so a call holds at most one row per example.
            return_convergence_delta: also return ``Σ attr - (f(x) - f(x'))`` per example.
            show_progress: show a progress bar over the rows evaluated.
            return_error: also return an estimate of each attribution's error, shaped like
                the attributions (after the delta, if any; :func:`relative_error`).

        Returns:
            Attributions shaped like ``inputs``; and the convergence delta if asked for.
        """
        return self._attribute_from(locals())

    def path(
        self,
        inputs: tuple[Tensor, ...],
        *,
        baselines: BaselineType,
        n_steps: int,
        fraction: float,
        max_dist: float,
    ) -> GuidedPath:
        """The guided path from ``baselines`` to ``inputs`` for the settings of :meth:`attribute`.

        Raises:
            ValueError: for ``fraction`` outside (0, 1], a negative ``max_dist`` or baselines
                that do not match the inputs.
        """
        check.check_count("n_steps", n_steps)
        fraction = check.check_scale("fraction", fraction)
        if not 0 < fraction <= 1:
            raise ValueError(f"`fraction` must be in (0, 1], got {fraction}")
        max_dist = check.check_scale("max_dist", max_dist)
        baselines_tuple = check.format_baselines(baselines, inputs)
        return GuidedPath(inputs, baselines_tuple, n_steps, fraction, max_dist)


class GuidedPath(Path):
    """The guided path from ``x'`` to ``x``.

    ``n_steps`` points chosen one after the other from the gradient at the previous one, then
    ``x``. Both views have the same vertices; the quadrature puts weight 1 on each step's chord
    ``x_{s+1} - x_s`` (the engine's default direction for adaptive paths).
    """

    def __init__(
        self,
        inputs: tuple[Tensor, ...],
        baselines: tuple[Tensor, ...],
        n_steps: int,
        fraction: float,
        max_dist: float,
    ) -> None:
        """The path's settings, validated by :meth:`GuidedIntegratedGradients.path`."""
        self.inputs, self.baselines, self.n_steps = inputs, baselines, n_steps
        self.fraction, self.max_dist = fraction, max_dist

    def quadrature(self, with_delta: bool) -> Stream:
        """Weight 1 on each step's chord; with ``with_delta``, ``f(x')`` and ``f(x)`` too."""
        # x itself only ends the last chord: evaluated (forward only) for the delta alone
        last = Block(self.inputs, value_weight=1.0, need="value") if with_delta else None
        first_weight = -1.0 if with_delta else 0.0
        blocks = self._vertices(1.0, first_weight, last or Block(self.inputs, need="point"))
        return Stream(blocks, self.n_steps + with_delta, adaptive=True)

    def polyline(self) -> Stream:
        """The ``n_steps + 1`` vertices from ``x'`` to ``x``."""
        return Stream(self._vertices(0.0, 0.0, Block(self.inputs)), self.n_steps + 1, True)

    def _vertices(self, weight: float, first_value_weight: float, last: Block) -> AdaptivePath:
        steps = _guided_steps(
            self.inputs, self.baselines, self.n_steps, self.fraction, self.max_dist
        )
        points = next(steps)
        value_weight = first_value_weight
        for step in range(1, self.n_steps + 1):
            _, grads = yield Block(points, weight, value_weight=value_weight)
            value_weight = 0.0
            if step < self.n_steps:  # the path's last point is x, which `last` holds exactly
                points = steps.send(grads)
        yield last


def _guided_steps(
    inputs: tuple[Tensor, ...],
    baselines: tuple[Tensor, ...],
    n_steps: int,
    fraction: float,
    max_dist: float,
) -> Generator[tuple[Tensor, ...], tuple[Tensor, ...], None]:
    """PAIR's loop: yields ``x_0 = x'``, then ``x_{s+1}`` for each gradient sent at ``x_s``.

    The last point is the input ``x`` up to PAIR's tolerance.

    The path is kept as each feature's *remaining share* ``β = 1 - α`` of its distance
    ``d = x - x'``: the point is ``x - d·β``, PAIR's ``x_max`` is ``β_max = 1 - α_max``, the
    L1 distance to ``x`` is ``Σ |d|·β`` and PAIR's ``|x_max - x|`` is ``|d|·(β - β_max)``.
    PAIR keeps the point itself; this takes the same decisions in fewer passes over memory: a
    feature behind ``α_min`` is a clamp, the distances are dot products, and the point is
    computed once per step. All in float64 whatever the model's dtype, as in PAIR: the
    selection compares gradient magnitudes and L1 distances, and float32 rounding there
    changes which features move, a chaotic choice (float32 on Apple's MPS, which has no
    float64).

    On a CPU the per-example scalars are Python floats and the inner loop stops as soon as
    every example has reached its step's L1 target, as PAIR's. On an accelerator reading them
    would synchronise the host with the device several times per step: there they stay on the
    device and the inner loop runs its bound of iterations, which change nothing once every
    example is done (:func:`_move_on_device`; the same points).
    """
    shapes = [x.shape for x in inputs]
    device = inputs[0].device
    on_device = _on_device(device)
    wide = torch.float32 if device.type == "mps" else torch.float64
    end = _flat(inputs).to(wide)
    start = _flat(baselines).to(wide, copy=True)  # yielded: a copy, never written
    distance = end - start
    size = distance.abs()
    # features with x == x' have nothing to travel: finished from the start (PAIR gives them
    # α_max at every step, so that they are never selected)
    remaining = torch.ne(size, 0).to(size.dtype)
    l1_totals = size.sum(dim=1)
    # the selection threshold is PAIR's np.quantile(|g|, fraction, interpolation="lower"):
    # numpy's virtual index n·q + (1 - q) - 1, floored, computed with the same float ops
    rank = math.floor(size.shape[1] * fraction + (1 - fraction) - 1) + 1
    # each inner iteration finishes at least the selected share of the remaining features
    max_iterations = 2 * math.ceil(1 / fraction) + 4
    # Work space, updated in place: on a CPU, a fresh tensor of this size costs more in page
    # faults than the arithmetic done in it. The selection is a 0/1 mask (in the gradients'
    # dtype to rank them, in float64 to move β): multiplying by it is exact and, unlike
    # torch.where, does not branch on each element of a scattered mask.
    gap, gap_size, chosen = (torch.empty_like(size) for _ in range(3))
    work = host = None

    grads = yield _unflat(start, shapes)
    for step in range(n_steps):
        flat = _flat(grads)
        if work is None:
            # the gradients stay in the engine's dtype (the model's, float32 at least, which
            # NumPy ranks): the selection only ranks their magnitudes, which a float64 copy
            # would order the same, at twice the memory traffic
            magnitude, mask = (torch.empty_like(flat) for _ in "mm")
            work = _Work(magnitude, mask, remaining, gap, gap_size, chosen, size)
            host = None if on_device else _Host(work, l1_totals, rank)
        torch.abs(flat, out=work.magnitude)
        alpha = (step + 1.0) / n_steps
        alpha_min, alpha_max = max(alpha - max_dist, 0.0), min(alpha + max_dist, 1.0)
        remaining_max = 1 - alpha_max
        left = 1 - (step + 1) / n_steps
        # features behind α_min jump to it (PAIR checks at every inner iteration, but within a
        # step features only move toward α_max, so none falls behind after the first)
        remaining.clamp_(max=1 - alpha_min)
        # a feature keeps its gap to α_max until the iteration that selects it
        torch.sub(remaining, remaining_max, out=gap)
        torch.mul(gap, size, out=gap_size)
        if host is None:
            # features at α_max (or with nothing to travel) are done for this step
            _exclude(work.magnitude, torch.le(remaining, remaining_max, out=work.mask))
            _move_on_device(work, l1_totals * left, l1_totals > 0, rank, max_iterations)
        else:
            _move_on_host(work, host, remaining_max, left, max_iterations)
        grads = yield _unflat(torch.addcmul(end, distance, remaining, value=-1), shapes)


class _Work(NamedTuple):
    """The per-feature work space of :func:`_guided_steps`, ``(n_examples, n_features)``.

    ``magnitude``: ``|∇f|``, out of the ranking (inf, or on a CPU inf or NaN) where a feature
    is done; ``mask``: a 0/1 mask in ``magnitude``'s dtype; ``remaining``: β, updated in
    place; ``gap``: ``β - β_max``; ``gap_size``: ``|d|·(β - β_max)``; ``chosen``: the
    selection in float64, times each example's share of its move; ``size``: ``|d|``.
    """

    magnitude: Tensor
    mask: Tensor
    remaining: Tensor
    gap: Tensor
    gap_size: Tensor
    chosen: Tensor
    size: Tensor


class _Host:
    """The work space of the inner loop on a CPU, where the per-example scalars are Python's.

    They travel between the tensors and Python through NumPy views of the tensors' memory:
    torch writes the dot products into ``current`` and ``selected``, NumPy writes the
    threshold and each example's share of its move into ``threshold`` and ``column``. So no
    tensor is made, or read with ``tolist``, for a handful of numbers (in a step's dozen
    iterations' worth of them, those calls cost as much as the arithmetic). ``ranked`` is
    the scratch in which NumPy ranks the magnitudes.
    """

    def __init__(self, work: _Work, l1_totals: Tensor, rank: int) -> None:
        n_examples = work.size.shape[0]
        self.rank = rank
        self.l1_totals = l1_totals.tolist()
        self.current, self.selected = (l1_totals.new_empty(n_examples) for _ in "cs")
        self.column = work.size.new_empty(n_examples, 1)
        self.threshold = work.magnitude.new_empty(n_examples, 1)
        self.magnitude = work.magnitude.numpy()
        self.ranked = np.empty_like(self.magnitude)
        self.np_current, self.np_selected = self.current.numpy(), self.selected.numpy()
        self.np_column, self.np_threshold = self.column.numpy(), self.threshold.numpy()


def _move_on_host(
    work: _Work, host: _Host, remaining_max: float, left: float, max_iterations: int
) -> None:
    """The inner loop of a step on a CPU, as PAIR's: it stops once every example is done.

    The same decisions as :func:`_move_on_device` (the same points), with the per-example
    scalars in Python; ``work.remaining`` is updated in place. The selection is made in
    float64 directly (``chosen``), and features leave the ranking by :func:`_keep_only`.
    """
    magnitude, mask, remaining, gap, gap_size, chosen, size = work
    # features at α_max (or with nothing to travel) are done for this step
    _keep_only(magnitude, torch.gt(remaining, remaining_max, out=mask))
    l1_targets = [total * left for total in host.l1_totals]
    moving = [total > 0 for total in host.l1_totals]
    torch.linalg.vecdot(size, remaining, out=host.current)
    l1_current = host.np_current.tolist()
    for _ in range(max_iterations):
        moving = [
            m and not math.isclose(current, goal, rel_tol=_EPSILON, abs_tol=_EPSILON)
            for m, current, goal in zip(moving, l1_current, l1_targets, strict=True)
        ]
        if not any(moving):
            return
        _kth_smallest(host.magnitude, host.rank, host.ranked, host.np_threshold)
        torch.le(magnitude, host.threshold, out=chosen)
        if not all(moving):
            host.np_column[:, 0] = moving
            chosen.mul_(host.column)
        torch.linalg.vecdot(gap_size, chosen, out=host.selected)
        l1_selected = host.np_selected.tolist()
        gamma = [
            (current - goal) / share if share > 0 else math.inf
            for current, goal, share in zip(l1_current, l1_targets, l1_selected, strict=True)
        ]
        finishes = [g > 1 for g in gamma]  # the selected features reach α_max
        # the others move by γ of their gap: β - (β - β_max)·γ
        if not all(finishes):
            host.np_column[:, 0] = [1.0 if f else g for f, g in zip(finishes, gamma, strict=True)]
            chosen.mul_(host.column)
        remaining.addcmul_(gap, chosen, value=-1)
        moving = [m and f for m, f in zip(moving, finishes, strict=True)]
        if not any(moving):
            return
        # the examples still moving took their selected features to α_max: their L1
        # distance fell by what those had left
        l1_current = [c - s for c, s in zip(l1_current, l1_selected, strict=True)]
        # the selected features are at α_max now: out of the ranking too
        _keep_only(magnitude, torch.gt(magnitude, host.threshold, out=mask))


def _on_device(device: torch.device) -> bool:
    """Whether the path keeps its per-example scalars on the device (not on a CPU)."""
    return device.type != "cpu"


def _move_on_device(
    work: _Work, l1_targets: Tensor, moving: Tensor, rank: int, max_iterations: int
) -> None:
    """The inner loop of a step without reading the device: PAIR's decisions as masks.

    ``work.remaining`` is updated in place. Every iteration runs: an example that has reached
    its L1 target selects no feature, so the iterations after the last example is done leave
    ``remaining`` as it is.
    """
    magnitude, mask, remaining, gap, gap_size, chosen, size = work
    l1_current = torch.linalg.vecdot(size, remaining)
    for _ in range(max_iterations):
        moving = moving & ~_isclose(l1_current, l1_targets)
        threshold = magnitude.kthvalue(rank, dim=1).values
        # fewer than `rank` features left to move: the threshold is an excluded one (inf);
        # the largest finite value selects exactly the features still in the ranking
        threshold.clamp_(max=torch.finfo(threshold.dtype).max)
        selected = torch.le(magnitude, threshold[:, None], out=mask)
        selected.mul_(moving[:, None].to(selected.dtype))
        chosen.copy_(selected)
        l1_selected = torch.linalg.vecdot(gap_size, chosen)
        positive = l1_selected > 0
        gamma = torch.where(
            positive,
            (l1_current - l1_targets) / torch.where(positive, l1_selected, 1.0),
            torch.inf,
        )
        finishes = gamma > 1  # the selected features reach α_max
        # the others move by γ of their gap: β - (β - β_max)·γ
        chosen.mul_(torch.where(finishes, 1.0, gamma)[:, None])
        remaining.addcmul_(gap, chosen, value=-1)
        moving = moving & finishes
        # as on the host: what the examples still moving had left of their selected features
        l1_current = l1_current - l1_selected
        # the selected features are at α_max now: out of the ranking too
        _exclude(magnitude, selected)


def _isclose(a: Tensor, b: Tensor) -> Tensor:
    """``math.isclose(a, b, rel_tol=_EPSILON, abs_tol=_EPSILON)`` element by element."""
    scale = torch.maximum(a.abs(), b.abs()).mul_(_EPSILON).clamp_(min=_EPSILON)
    return (a == b) | ((a - b).abs() <= scale)


def _exclude(magnitude: Tensor, mask: Tensor) -> None:
    """Set ``magnitude`` (≥ 0) to inf in place where ``mask`` (0 or 1, same dtype) is 1.

    ``m + s / (1 - s)`` is exactly ``m`` for ``s = 0`` and ``inf`` for ``s = 1``: what
    ``masked_fill_`` does, without its CPU kernel's branch on each element of a scattered
    mask.
    """
    magnitude.addcdiv_(mask, torch.rsub(mask, 1))


def _keep_only(magnitude: Tensor, keep: Tensor) -> None:
    """Take ``magnitude`` (≥ 0) out of the ranking in place where ``keep`` (0 or 1) is 0.

    A division by ``keep``: exactly ``m`` where it is 1; where it is 0, inf, or NaN for a
    zero magnitude. NumPy's partition ranks both after every finite value (NaN last, as
    torch's ``kthvalue``), and neither is at most a finite threshold. One pass, where
    :func:`_exclude` takes two.
    """
    magnitude.div_(keep)


def _kth_smallest(values: np.ndarray, rank: int, ranked: np.ndarray, out: np.ndarray) -> None:
    """Write each row's ``rank``-th smallest value, at most the largest finite one, to ``out``.

    ``torch.kthvalue(values, rank, dim=1)`` clamped, as a column ``(n_rows, 1)``. Through
    NumPy's introselect (the same value, by a partial partition) in ``ranked``, an array like
    ``values`` that is overwritten: on a CPU, torch's ``kthvalue`` takes several times as
    long.
    """
    np.copyto(ranked, values)
    ranked.partition(rank - 1, axis=1)
    # fewer than `rank` features left to move: the threshold is an excluded one (inf or
    # NaN); the largest finite value selects exactly the features still in the ranking
    np.fmin(ranked[:, rank - 1 : rank], np.finfo(ranked.dtype).max, out=out)


def _flat(tensors: tuple[Tensor, ...]) -> Tensor:
    """The features of each example as one row (a view for a single tensor: not written to)."""
    rows = [t.reshape(t.shape[0], -1) for t in tensors]
    return rows[0] if len(rows) == 1 else torch.cat(rows, dim=1)


def _unflat(flat: Tensor, shapes: list[torch.Size]) -> tuple[Tensor, ...]:
    if len(shapes) == 1:
        return (flat.view(shapes[0]),)
    sizes = [math.prod(s[1:]) for s in shapes]
    return tuple(
        part.reshape(shape) for part, shape in zip(flat.split(sizes, dim=1), shapes, strict=True)
    )
