"""Blur Integrated Gradients (Xu et al., CVPR 2020).

The path runs from a heavily blurred image to the input through Gaussian blurs of decreasing σ
(reference: PAIR ``saliency`` BlurIG; docs/reference.md#blur-ig).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import torch
from captum.log import log_usage
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import TargetType, TensorOrTupleOfTensorsGeneric
from captum_smooth.attr._engine import Block
from captum_smooth.attr._paths import (
    CAPTUM_HINTS,
    Path,
    PathAttribution,
    Stream,
    checked_call,
    ends,
)

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
    height, width = x.shape[-2:]
    rows = _blur_matrices(height, sigmas, x.dtype, x.device)
    columns = rows if width == height else _blur_matrices(width, sigmas, x.dtype, x.device)
    images = x.reshape(-1, height, width)
    # (levels · height, height) @ (height, images · width): every column of every image
    tall = rows.reshape(-1, height) @ images.transpose(0, 1).reshape(height, -1)
    blurred = tall.view(len(sigmas), -1, width) @ columns.mT
    levels = blurred.view(len(sigmas), height, images.shape[0], width).transpose(1, 2)
    return levels.reshape(len(sigmas), *x.shape)


def _blur_matrices(
    n: int, sigmas: Sequence[float], dtype: torch.dtype, device: torch.device
) -> Tensor:
    """``K[s, i, j] = k_s(i - j)``: 1-D Gaussian filters with zero padding, as matrices.

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
            return_error=return_error,
            max_sigma=max_sigma,
            n_steps=n_steps,
            grad_step=grad_step,
            sqrt_schedule=sqrt_schedule,
        )

    def path(
        self,
        inputs: tuple[Tensor, ...],
        max_sigma: float = 50.0,
        n_steps: int = 100,
        grad_step: float = 0.01,
        sqrt_schedule: bool = False,
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
        sigmas = [i * max_sigma / n_steps for i in range(n_steps + 1)]
        if sqrt_schedule:
            sigmas = [math.sqrt(s) for s in sigmas]
        return BlurPath(inputs, sigmas, grad_step)


class BlurPath(Path):
    """Gaussian blurs of the inputs, ``σ_0 = 0 < … < σ_m = max_sigma``.

    The quadrature is PAIR's: a node at each ``σ_i``, ``i < m``, with weight
    ``-(σ_{i+1} - σ_i)`` and direction ``∂x/∂σ`` by a forward difference of ``grad_step``; the
    path runs from ``blur(x, max_sigma)`` to ``x``, the polyline through the blurs in that
    order.
    """

    def __init__(self, inputs: tuple[Tensor, ...], sigmas: list[float], grad_step: float) -> None:
        """The blur levels ``sigmas`` (ascending) of ``inputs``."""
        self.inputs, self.sigmas, self.grad_step = inputs, sigmas, grad_step

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
        for start in range(0, len(sigmas), group):
            part = sigmas[start : start + group]
            if not step:
                blurred = tuple(gaussian_blurs(x, part) for x in self.inputs)
                yield from ((points, None) for points in zip(*blurred, strict=True))
                continue
            both = tuple(gaussian_blurs(x, [*part, *(s + step for s in part)]) for x in self.inputs)
            blurred = tuple(b[: len(part)] for b in both)
            derivatives = tuple((b[len(part) :] - b[: len(part)]).div_(step) for b in both)
            yield from zip(zip(*blurred, strict=True), zip(*derivatives, strict=True), strict=True)

    def quadrature(self, with_delta: bool) -> Stream:
        """PAIR's nodes, ``i < m``; with ``with_delta``, also ``blur(x, max_sigma)`` and ``x``."""
        extra = ends(self._blurred(self.sigmas[-1]), self.inputs) if with_delta else []
        nodes = itertools.chain(extra, self._nodes())
        return Stream(nodes, len(extra) + len(self.sigmas) - 1)

    def _nodes(self) -> Iterator[Block]:
        levels = self._levels(self.sigmas[:-1], self.grad_step)
        for (sigma, following), (points, derivative) in zip(
            itertools.pairwise(self.sigmas), levels, strict=True
        ):
            yield Block(points, -(following - sigma), derivative)

    def polyline(self) -> Stream:
        """The blurs from ``σ_m = max_sigma`` down to ``σ_0 = 0`` (the input itself)."""
        vertices = (Block(points) for points, _ in self._levels(self.sigmas[::-1]))
        return Stream(vertices, len(self.sigmas))
