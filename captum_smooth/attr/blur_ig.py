"""Blur Integrated Gradients (Xu et al., CVPR 2020).

The path runs from a heavily blurred image to the input through Gaussian blurs of decreasing σ
(reference: PAIR ``saliency`` BlurIG; docs/reference.md#blur-ig).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import torch
from captum.log import log_usage
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import TargetType, TensorOrTupleOfTensorsGeneric
from captum_smooth.attr._engine import AdaptivePath, Block, Stage, parts_of
from captum_smooth.attr._paths import (
    CAPTUM_HINTS,
    Path,
    PathAttribution,
    Stream,
    checked_call,
    ends,
)
from captum_smooth.attr._placement import Placement, check_placement

# scipy.ndimage.gaussian_filter's default: the kernel reaches 4 σ on each side
_TRUNCATE = 4.0


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Gaussian blur over the last two (spatial) dimensions, on ``x``'s device and dtype.

    Matches ``scipy.ndimage.gaussian_filter(x, sigma=[..., σ, σ], mode="constant")`` as PAIR
    uses it: zero padding, kernel radius ``int(4 σ + 0.5)``, ``σ = 0`` is the identity. The
    separable filter is applied as two banded matrix products ``K_H · x · K_Wᵀ``, whose cost
    does not grow with σ (PAIR's default σ reaches 50 pixels).

    Example:
        >>> from captum_smooth.attr import gaussian_blur
        >>> x = torch.zeros(1, 1, 9, 9)
        >>> x[0, 0, 4, 4] = 1.0  # one bright pixel, far enough from the zero padding
        >>> blurred = gaussian_blur(x, sigma=1.0)
        >>> round(blurred.sum().item(), 4), round(blurred[0, 0, 4, 4].item(), 4)
        (1.0, 0.1592)
    """
    if sigma == 0:
        return x
    return gaussian_blurs(x, [sigma])[0].contiguous()


def gaussian_blurs(x: Tensor, sigmas: Sequence[float]) -> Tensor:
    """:func:`gaussian_blur` of ``x`` at each of ``sigmas``, stacked: ``(len(sigmas), *x.shape)``.

    Two matrix products for all of them: the blur along the height is one product of every
    level's matrix with every image's columns, the blur along the width one batch of
    products, a level each (a product per image and level is dominated by its call on small
    images). The result is a strided view (levels, height, images, width), permuted.
    """
    tall, columns = _along_height(x, sigmas)
    return _as_levels(tall @ columns.mT, x)


def _along_height(
    x: Tensor, sigmas: Sequence[float], out: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The blur along the height at every level, and the levels' matrices for the width.

    One product of every level's matrix with every image's columns, ``(levels · height,
    height) @ (height, images · width)`` (into ``out`` if given), viewed as ``(levels,
    height · images, width)``.
    """
    height, width = x.shape[-2:]
    rows = _blur_matrices(height, sigmas, x.dtype, x.device)
    columns = rows if width == height else _blur_matrices(width, sigmas, x.dtype, x.device)
    images = x.reshape(-1, height, width).transpose(0, 1).reshape(height, -1)
    tall = torch.mm(rows.reshape(-1, height), images, out=out)
    return tall.view(len(sigmas), -1, width), columns


def _as_levels(products: Tensor, x: Tensor) -> Tensor:
    """Products ``(levels, height · images, width)`` as blurs of ``x``: a strided view."""
    k, (height, width) = products.shape[0], x.shape[-2:]
    levels = products.view(k, height, -1, width).transpose(1, 2)
    return levels.reshape(k, *x.shape)


def _blurs(x: Tensor, sigmas: Sequence[float], scratch: dict[str, Tensor]) -> Tensor:
    """:func:`gaussian_blurs` of ``x`` at ``sigmas``, as one contiguous ``(levels, *x.shape)``.

    The products go to ``scratch``, buffers kept from one group of levels to the next, and the
    blurs are copied out of them in the inputs' layout: the engine then sends a group's points
    to the model, and a rule stacks them, as views of this tensor (:func:`parts_of`) rather
    than copies, and the products' memory is not held while the model runs.
    """
    height = x.shape[-2]
    tall = _buffer(scratch, "tall", (len(sigmas) * height, x.numel() // height), x)
    tall, columns = _along_height(x, sigmas, out=tall)
    products = torch.bmm(tall, columns.mT, out=_buffer(scratch, "products", tall.shape, x))
    # a copy even where the view is contiguous (one image): the scratch is reused
    return _as_levels(products, x).clone(memory_format=torch.contiguous_format)


def _blurs_and_derivatives(
    x: Tensor, sigmas: Sequence[float], step: float, scratch: dict[str, Tensor]
) -> tuple[Tensor, Tensor]:
    """:func:`_blurs` of ``x`` at ``sigmas``, and ``(blur(x, σ + δ) - blur(x, σ)) / δ``.

    The same two products as :func:`gaussian_blurs`, at the levels and at the levels ``+ δ``
    together, into ``scratch``, a buffer kept from one group of levels to the next. The
    products at the levels go where the derivatives will be, and are copied out as the blurs;
    the products at ``σ + δ`` go where the first half of the products along the height was:
    a call allocates the memory that its points and derivatives keep, and the scratch once (on
    a CPU, every fresh page is a fault). Both are contiguous, in the inputs' layout.
    """
    k = len(sigmas)
    height = x.shape[-2]
    tall = _buffer(scratch, "tall", (2 * k * height, x.numel() // height), x)
    tall, columns = _along_height(x, [*sigmas, *(s + step for s in sigmas)], out=tall)
    difference = x.new_empty((k, *x.shape))
    at = torch.bmm(tall[:k], columns[:k].mT, out=difference.view(k, *tall.shape[1:]))
    # a copy even where the view is contiguous (one image): the derivatives replace `at`
    blurred = _as_levels(at, x).clone(memory_format=torch.contiguous_format)
    # the first half of `tall` has been read: the products at σ + δ take its place
    ahead = torch.bmm(tall[k:], columns[k:].mT, out=tall[:k])
    torch.sub(_as_levels(ahead, x), blurred, out=difference)
    return blurred, difference.div_(step)


def _buffer(scratch: dict[str, Tensor], name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """``scratch[name]``'s first elements as a tensor of ``shape``; a larger one if it is short."""
    size = math.prod(shape)
    held = scratch.get(name)
    if held is None or held.numel() < size:
        held = scratch[name] = like.new_empty(size)
    return held[:size].view(shape)


def _blur_matrices(
    n: int, sigmas: Sequence[float], dtype: torch.dtype, device: torch.device
) -> Tensor:
    """``K[s, i, j] = k_s(i - j)``: 1-D Gaussian filters with zero padding, as matrices.

    Built once per size, levels, dtype and device and kept (:data:`_CACHED_ELEMENTS`): the
    same levels recur on every call of a method, and building them is a dozen small operations
    and a copy of every matrix. The result is shared: never write into it.
    """
    key = (n, tuple(sigmas), dtype, device)
    with _MATRICES_LOCK:
        matrices = _MATRICES.get(key)
        if matrices is not None:
            _MATRICES.move_to_end(key)
            return matrices
    # ordinary tensors even when first built under torch.inference_mode(): autograd may
    # save them for a later call's backward pass
    with torch.inference_mode(False), torch.no_grad():
        matrices = _built_matrices(n, sigmas, dtype, device)
    if matrices.numel() <= _CACHED_ELEMENTS:
        with _MATRICES_LOCK:
            _MATRICES[key] = matrices
            while sum(m.numel() for m in _MATRICES.values()) > _CACHED_ELEMENTS:
                _MATRICES.popitem(last=False)
    return matrices


_CACHED_ELEMENTS = 2**22
"""The blur matrices kept between calls hold at most this many elements in all (the least
recently used go first); larger sets of matrices are built on every call."""

_MATRICES: OrderedDict[tuple[Any, ...], Tensor] = OrderedDict()
_MATRICES_LOCK = threading.Lock()


def _built_matrices(
    n: int, sigmas: Sequence[float], dtype: torch.dtype, device: torch.device
) -> Tensor:
    """The matrices of :func:`_blur_matrices`, computed.

    The ``2n - 1`` values of each ``k_s`` are computed once and laid out as the rows of the
    Toeplitz matrix (windows of the reversed kernel), so a blur matrix costs ``2n``
    exponentials and no index arithmetic rather than ``n²`` of each. ``σ = 0`` gives the
    identity (its radius is 0: the only tap is ``exp(0) = 1``).
    """
    radii = [int(_TRUNCATE * s + 0.5) for s in sigmas]
    reach = max(*radii, n - 1)
    # the radii are integers, exact in the bookkeeping's dtype (float32 at least)
    settings = torch.tensor([sigmas, radii], dtype=dtype, device=device)
    sigma, radius = settings[0, :, None], settings[1, :, None]
    safe = torch.where(sigma > 0, sigma, 1.0)
    taps = torch.arange(-reach, reach + 1, dtype=dtype, device=device)
    inside = taps.abs() <= radius
    # taps beyond the radius get exp(0), then zero: their own exponents, down to -2·10⁸ for
    # σ = δ, underflow through exp's slow path (subnormal results) on a CPU
    weights = torch.exp(torch.where(inside, -0.5 * (taps / safe) ** 2, 0.0))
    weights = torch.where(inside, weights, 0.0)
    # the offsets -(n - 1) … n - 1 of the matrix, normalised over the whole truncated kernel
    kernel = weights[:, reach - n + 1 : reach + n] / weights.sum(-1, True)
    # row i is kernel[n - 1 + i - j] over j: the windows of the reversed kernel, last first
    return kernel.flip(-1).unfold(-1, n, 1).flip(-2)


_GROUP_ELEMENTS = 2**22
"""The blur path computes its levels in groups of at most about this many elements."""


class BlurIntegratedGradients(PathAttribution):
    r"""Blur Integrated Gradients (Xu et al., "Attribution in Scale and Space", CVPR 2020).

    With ``σ_i = i · max_sigma / m`` (or its square root), ``x_i = blur(x, σ_i)`` and the
    finite difference ``∂x/∂σ ≈ (blur(x, σ_i + δ) - x_i) / δ``:

    .. math:: \text{BlurIG} = -\sum_{i=0}^{m-1} (\sigma_{i+1} - \sigma_i)\,
              \frac{\partial x}{\partial \sigma}\Big|_{\sigma_i} \odot \nabla f(x_i)

    Each input must have two trailing spatial dimensions (e.g. ``N×C×H×W``); the blur acts on
    them per channel, with zero padding like PAIR's. No baseline: the path starts at
    ``blur(x, max_sigma)``, so completeness reads ``Σ attr ≈ f(x) - f(blur(x, max_sigma))``.

    Example:
        >>> from captum_smooth import BlurIntegratedGradients
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
        >>> images = torch.rand(2, 3, 8, 8)
        >>> big = BlurIntegratedGradients(model)
        >>> attr = big.attribute(images, target=1, max_sigma=8, n_steps=32)
        >>> attr.shape
        torch.Size([2, 3, 8, 8])
    """

    argument_hints: ClassVar[Mapping[str, str]] = {
        **CAPTUM_HINTS,
        "baselines": "Blur IG's path starts at blur(x, max_sigma): set max_sigma",
        "method": "Blur IG sums over its blur levels with PAIR's left Riemann sum",
    }

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        """Wrap ``forward_func``, the model or any function returning its outputs."""
        super().__init__(forward_func)

    @log_usage()
    @checked_call
    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
        max_sigma: float = 50.0,
        n_steps: int = 100,
        grad_step: float = 0.01,
        sqrt_schedule: bool = False,
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
        show_progress: bool = False,
        *,
        return_error: bool = False,
        placement: Placement | str | None = None,
    ) -> TensorOrTupleOfTensorsGeneric | tuple[TensorOrTupleOfTensorsGeneric, Tensor]:
        """Attribute the target output to the inputs along the blur path.

        Args:
            inputs: a tensor or a tuple of tensors, batch first, with two spatial dimensions
                last, floating point.
            target: the output to explain, in any of Captum's forms.
            additional_forward_args: passed to ``forward_func`` after the inputs.
            max_sigma: the blur of the path's start, in pixels, ≥ 0 (PAIR: 50).
            n_steps: m, the number of blur levels (PAIR: 100); ``"auto"`` or an
                :class:`Auto` chooses it per example from the error estimate.
            grad_step: δ of the finite difference in σ, > 0 (PAIR: 0.01).
            sqrt_schedule: space the σ's as ``sqrt(i · max_sigma / m)`` (PAIR's ``sqrt``).
            internal_batch_size: at most this many rows through the model at once (``None``:
                as many as the memory budget holds, :func:`set_memory_budget`); the blur
                levels are batched together.
            return_convergence_delta: also return ``Σ attr - (f(x) - f(blur(x, max_sigma)))``.
            show_progress: show a progress bar over the rows evaluated.
            return_error: also return an estimate of each attribution's error, shaped like
                the attributions (after the delta, if any; :func:`relative_error`).
            placement: where the blur levels go: ``None`` or ``"uniform"`` (the schedule's
                even steps), ``"rise"`` or a :class:`Placement` (where the output changes,
                from a first pass of forward-only rows; per example).

        Returns:
            Attributions shaped like ``inputs``; and the convergence delta if asked for.
        """
        return self._attribute_from(locals())

    def path(
        self,
        inputs: tuple[Tensor, ...],
        *,
        max_sigma: float,
        n_steps: int,
        grad_step: float,
        sqrt_schedule: bool,
        placement: Placement | str | None = None,  # the layer variant has no placement
    ) -> BlurPath:
        """The blur path of ``inputs`` for the settings of :meth:`attribute`, validated.

        Raises:
            ValueError: for a non-positive ``grad_step``, a negative ``max_sigma`` or inputs
                without two spatial dimensions.
        """
        check.check_count("n_steps", n_steps)
        max_sigma = check.check_scale("max_sigma", max_sigma)
        grad_step = check.check_scale("grad_step", grad_step)
        if grad_step == 0:
            raise ValueError("`grad_step` must be positive")
        if any(x.dim() < 3 for x in inputs):
            raise ValueError(
                "`inputs` must have two spatial dimensions after the batch dimension for "
                "BlurIntegratedGradients (e.g. N×C×H×W or N×H×W)"
            )
        placement = check_placement(placement)

        def schedule(t: float) -> float:
            return math.sqrt(t * max_sigma) if sqrt_schedule else t * max_sigma

        sigmas = [schedule(i / n_steps) for i in range(n_steps + 1)]
        return BlurPath(inputs, sigmas, grad_step, placement, schedule)


class BlurPath(Path):
    """Gaussian blurs of the inputs, ``σ_0 = 0 < … < σ_m = max_sigma``.

    The quadrature is PAIR's: a node at each ``σ_i``, ``i < m``, with weight
    ``-(σ_{i+1} - σ_i)`` and direction ``∂x/∂σ`` by a forward difference of ``grad_step``; the
    path runs from ``blur(x, max_sigma)`` to ``x``, the polyline through the blurs in that
    order.

    With a :class:`~captum_smooth.attr._placement.Placement`, the levels are
    ``σ_i = schedule(F⁻¹(i/m))`` per example, after a first pass of forward-only rows at
    ``schedule(k/P)``: the same sums over each example's own levels.
    """

    def __init__(
        self,
        inputs: tuple[Tensor, ...],
        sigmas: list[float],
        grad_step: float,
        placement: Placement | None = None,
        schedule: Callable[[float], float] | None = None,
    ) -> None:
        """The blur levels ``sigmas`` (ascending) of ``inputs``.

        With a ``placement``, ``schedule`` maps ``t ∈ [0, 1]`` to ``σ`` (``sigmas`` is then
        only its number of levels).
        """
        self.inputs, self.sigmas, self.grad_step = inputs, sigmas, grad_step
        self.placement, self.schedule = placement, schedule

    def _blurred(self, sigma: float) -> tuple[Tensor, ...]:
        return tuple(gaussian_blur(x, sigma) for x in self.inputs)

    def _levels(
        self, sigmas: Sequence[float], step: float = 0.0
    ) -> Iterator[tuple[tuple[Tensor, ...], tuple[Tensor, ...] | None]]:
        """The inputs blurred at each of ``sigmas``, in order, computed a group at a time.

        With a ``step`` δ, also ``∂x/∂σ`` there by PAIR's forward difference
        ``(blur(x, σ + δ) - blur(x, σ)) / δ``, in the bookkeeping's dtype (float32 at least:
        in a half dtype the quotient would lose ε/δ, 80 % for bfloat16 and δ = 0.01).
        """
        side = max(max(x.shape[-2:]) for x in self.inputs)
        size = max(sum(x.numel() for x in self.inputs), side * side)
        # with a step, two blurs per level (at σ and σ + δ), computed together
        group = max(1, _GROUP_ELEMENTS // (size * (2 if step else 1)))
        scratch: list[dict[str, Tensor]] = [{} for _ in self.inputs]
        for start in range(0, len(sigmas), group):
            part = sigmas[start : start + group]
            if step:
                pairs = [
                    _blurs_and_derivatives(x, part, step, scratch[i])
                    for i, x in enumerate(self.inputs)
                ]
                blurred = [b for b, _ in pairs]
            else:
                blurred = [_blurs(x, part, scratch[i]) for i, x in enumerate(self.inputs)]
            if start + group >= len(sigmas):
                # the model runs while the last group's blocks wait: without the scratch
                scratch = []
            # a group's points, and its derivatives, are one tensor each: the engine and the
            # rules join and stack their blocks' views of it without a copy
            points = zip(*(parts_of(b) for b in blurred), strict=True)
            if not step:
                yield from ((p, None) for p in points)
                continue
            derivatives = zip(*(parts_of(d) for _, d in pairs), strict=True)
            yield from zip(points, derivatives, strict=True)

    def _placed_levels(
        self, sigmas: Tensor, step: float = 0.0
    ) -> Iterator[tuple[tuple[Tensor, ...], tuple[Tensor, ...] | None]]:
        """As :meth:`_levels`, with each example's own ``sigmas`` ``(n_examples, k)``."""
        per_example = sigmas.tolist()  # the blur matrices are built from host numbers
        group = max(1, _GROUP_ELEMENTS // max(1, sum(x[:1].numel() for x in self.inputs)))
        group = max(1, group // (2 if step else 1))
        for start in range(0, sigmas.shape[1], group):
            levels = []  # per example: its levels of this group, per input
            for e, row in enumerate(per_example):
                part = row[start : start + group]
                wanted = [*part, *(s + step for s in part)] if step else part
                levels.append(tuple(gaussian_blurs(x[e : e + 1], wanted) for x in self.inputs))
            k = len(per_example[0][start : start + group])
            for j in range(k):
                points = tuple(
                    torch.cat([lv[i][j] for lv in levels]) for i in range(len(self.inputs))
                )
                if not step:
                    yield points, None
                    continue
                ahead = tuple(
                    torch.cat([lv[i][k + j] for lv in levels]) for i in range(len(self.inputs))
                )
                derivative = tuple((a - p).div_(step) for a, p in zip(ahead, points, strict=True))
                yield points, derivative

    def _probes(self, placement: Placement, with_delta: bool) -> Stage:
        """The first pass at ``schedule(k/P)``; its ends are the delta's rows."""
        grid = [self._schedule(t) for t in placement.grid()]
        sign = 1.0 if with_delta else 0.0
        ends = {0: sign, len(grid) - 1: -sign}  # σ = 0 is the path's end, x itself
        blocks = (
            Block(points, value_weight=ends.get(k, 0.0), need="value")
            for k, (points, _) in enumerate(self._levels(grid))
        )
        return Stage(blocks)

    def _placed_sigmas(self, placement: Placement, values: list[Tensor]) -> Tensor:
        """``schedule(F⁻¹(i/m))``, ``i = 0..m``, per example ``(n_examples, m + 1)``."""
        m = len(self.sigmas) - 1
        t = placement.place(torch.stack(values, dim=1), [i / m for i in range(m + 1)])
        return t.cpu().apply_(self._schedule)

    def _schedule(self, t: float) -> float:
        if self.schedule is None:
            raise ValueError("a placed blur path needs the schedule of its σ's")
        return self.schedule(t)

    def _placed_nodes(self, placement: Placement, with_delta: bool) -> AdaptivePath:
        values, _ = yield self._probes(placement, with_delta)
        sigmas = self._placed_sigmas(placement, values)  # type: ignore[arg-type]
        widths = sigmas.diff(dim=1)
        levels = self._placed_levels(sigmas[:, :-1], self.grad_step)

        def weighted(width: Tensor, derivative: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
            return tuple(
                d * -width.to(d.device, d.dtype).view(-1, *(1,) * (d.dim() - 1)) for d in derivative
            )

        yield Stage(
            Block(points, 1.0, weighted(width, derivative))  # type: ignore[arg-type]
            for width, (points, derivative) in zip(widths.T, levels, strict=True)
        )

    def _placed_polyline(self, placement: Placement) -> AdaptivePath:
        values, _ = yield self._probes(placement, False)
        sigmas = self._placed_sigmas(placement, values).flip(1)  # type: ignore[arg-type]
        yield Stage(Block(points) for points, _ in self._placed_levels(sigmas))

    def quadrature(self, with_delta: bool) -> Stream:
        """PAIR's nodes, ``i < m``; with ``with_delta``, also ``blur(x, max_sigma)`` and ``x``."""
        if self.placement is not None:
            blocks = self.placement.probes + len(self.sigmas)
            return Stream(self._placed_nodes(self.placement, with_delta), blocks, True)
        nodes = Stream(self._nodes(), len(self.sigmas) - 1)
        if not with_delta:
            return nodes
        return nodes.after(ends(self._blurred(self.sigmas[-1]), self.inputs))

    def _nodes(self) -> Iterator[Block]:
        levels = self._levels(self.sigmas[:-1], self.grad_step)
        for (sigma, following), (points, derivative) in zip(
            itertools.pairwise(self.sigmas), levels, strict=True
        ):
            yield Block(points, -(following - sigma), derivative)

    def polyline(self) -> Stream:
        """The blurs from ``σ_m = max_sigma`` down to ``σ_0 = 0`` (the input itself)."""
        if self.placement is not None:
            blocks = self.placement.probes + 1 + len(self.sigmas)
            return Stream(self._placed_polyline(self.placement), blocks, True)
        vertices = (Block(points) for points, _ in self._levels(self.sigmas[::-1]))
        # σ_j = schedule(j / n_steps): the levels at n steps are every other one at 2 n
        return Stream(vertices, len(self.sigmas), nested=True)
