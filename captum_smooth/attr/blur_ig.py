"""Blur Integrated Gradients (Xu et al., CVPR 2020): the path from a heavily blurred image to
the input through Gaussian blurs of decreasing σ (reference: PAIR ``saliency`` BlurIG;
docs/reference.md#blur-ig)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from captum.log import log_usage
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import TargetType, TensorOrTupleOfTensorsGeneric
from captum_smooth.attr._engine import Block
from captum_smooth.attr._paths import PathAttribution, value_only

# scipy.ndimage.gaussian_filter's default: the kernel reaches 4 σ on each side
_TRUNCATE = 4.0


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Gaussian blur over the last two (spatial) dimensions, on ``x``'s device and dtype.

    Matches ``scipy.ndimage.gaussian_filter(x, sigma=[..., σ, σ], mode="constant")`` as PAIR
    uses it: zero padding, kernel radius ``int(4 σ + 0.5)``, ``σ = 0`` is the identity. The
    separable filter is applied as two banded matrix products ``K_H · x · K_Wᵀ``, whose cost
    does not grow with σ (PAIR's default σ reaches 50 pixels).
    """
    if sigma == 0:
        return x
    height, width = x.shape[-2:]
    rows = _blur_matrix(height, sigma, x.dtype, x.device)
    columns = _blur_matrix(width, sigma, x.dtype, x.device)
    return rows @ x @ columns.T


def _blur_matrix(n: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``K[i, j] = k(i - j)``: a 1-D Gaussian filter with zero padding, as a matrix."""
    radius = int(_TRUNCATE * sigma + 0.5)
    taps = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    norm = torch.exp(-0.5 * (taps / sigma) ** 2).sum()
    index = torch.arange(n, device=device)
    offsets = (index[:, None] - index[None, :]).to(dtype)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2) / norm
    return torch.where(offsets.abs() <= radius, weights, torch.zeros_like(weights))


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
        >>> big = BlurIntegratedGradients(model)
        >>> attr = big.attribute(images, target=3, max_sigma=50, n_steps=100)
    """

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        super().__init__(forward_func)

    @log_usage()
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
    ) -> TensorOrTupleOfTensorsGeneric | tuple[TensorOrTupleOfTensorsGeneric, Tensor]:
        """Attribute the target output to the inputs along the blur path.

        Args:
            inputs: a tensor or a tuple of tensors, batch first, with two spatial dimensions
                last, floating point.
            target: the output to explain, in any of Captum's forms.
            additional_forward_args: passed to ``forward_func`` after the inputs.
            max_sigma: the blur of the path's start, in pixels, ≥ 0 (PAIR: 50).
            n_steps: m, the number of blur levels (PAIR: 100).
            grad_step: δ of the finite difference in σ, > 0 (PAIR: 0.01).
            sqrt_schedule: space the σ's as ``sqrt(i · max_sigma / m)`` (PAIR's ``sqrt``).
            internal_batch_size: at most this many rows through the model at once; the blur
                levels are batched together.
            return_convergence_delta: also return ``Σ attr - (f(x) - f(blur(x, max_sigma)))``.

        Returns:
            Attributions shaped like ``inputs``; and the convergence delta if asked for.
        """
        return self._integrate(
            "riemann",
            inputs,
            target,
            additional_forward_args,
            internal_batch_size,
            return_convergence_delta,
            max_sigma=max_sigma,
            n_steps=n_steps,
            grad_step=grad_step,
            sqrt_schedule=sqrt_schedule,
        )

    def _path(
        self,
        inputs: tuple[Tensor, ...],
        rule: str,
        with_delta: bool,
        max_sigma: float = 50.0,
        n_steps: int = 100,
        grad_step: float = 0.01,
        sqrt_schedule: bool = False,
    ) -> Iterator[Block]:
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
        if rule == "idgi":
            return _blurred_points(inputs, sigmas[::-1])
        return _blur_riemann(inputs, sigmas, grad_step, with_delta)


def _blurred_points(inputs: tuple[Tensor, ...], sigmas: list[float]) -> Iterator[Block]:
    for sigma in sigmas:
        yield Block(tuple(gaussian_blur(x, sigma) for x in inputs))


def _blur_riemann(
    inputs: tuple[Tensor, ...], sigmas: list[float], grad_step: float, with_delta: bool
) -> Iterator[Block]:
    if with_delta:
        yield value_only(inputs, 1.0)
        yield value_only(tuple(gaussian_blur(x, sigmas[-1]) for x in inputs), -1.0)
    for sigma, following in itertools.pairwise(sigmas):
        points = tuple(gaussian_blur(x, sigma) for x in inputs)
        # -(σ_{i+1} - σ_i) · ∂x/∂σ, the derivative by PAIR's forward difference
        displacements = tuple(
            -(following - sigma) * (gaussian_blur(x, sigma + grad_step) - p) / grad_step
            for x, p in zip(inputs, points, strict=True)
        )
        yield Block(points, displacements)
