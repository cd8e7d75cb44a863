"""SmoothTaylor (Goh et al., 2021): a Taylor expansion averaged over Gaussian roots.

See docs/reference.md#smoothtaylor.

ST_i(x) = 1/R Σ_r (x_i - z_i^(r)) · ∂f(z^(r))/∂x_i,   z^(r) = x + ε^(r),  ε ~ N(0, σ²I)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Literal

import torch
from captum.log import log_usage
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import TargetType, TensorOrTupleOfTensorsGeneric
from captum_smooth.attr._engine import Block, parts_of
from captum_smooth.attr._paths import (
    CAPTUM_HINTS,
    GROUP_ELEMENTS,
    Path,
    PathAttribution,
    Stream,
    checked_call,
)

NOISE_SCALE_MODES = ("absolute", "relative")
NoiseScale = float | Tensor
"""σ: a float, or a tensor with one value per example (``(n_examples,)``)."""


class SmoothTaylor(PathAttribution):
    r"""SmoothTaylor attribution: a first-order Taylor expansion averaged over Gaussian roots.

    Reference: Goh et al., "Understanding Integrated Gradients with SmoothTaylor for Deep
    Neural Network Attribution", ICPR 2020.

    .. math:: ST_i(x) = \frac{1}{R}\sum_{r=1}^{R} (x_i - z_i^{(r)})
              \frac{\partial f(z^{(r)})}{\partial x_i}, \quad z^{(r)} = x + \epsilon^{(r)},
              \ \epsilon \sim \mathcal{N}(0, \sigma^2 I)

    SmoothTaylor needs no baseline: the roots are Gaussian perturbations of the input. It is
    SmoothGrad applied to the base method ``∇f(x + ε) ⊙ (-ε)``. It is not complete in general.

    Example:
        >>> from captum_smooth import SmoothTaylor
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
        >>> images = torch.rand(2, 3, 2, 2)
        >>> st = SmoothTaylor(model)
        >>> attr = st.attribute(images, target=1, n_samples=150, noise_scale=0.5,
        ...                     internal_batch_size=64, generator=torch.Generator().manual_seed(0))
        >>> attr.shape
        torch.Size([2, 3, 2, 2])
    """

    argument_hints: ClassVar[Mapping[str, str]] = {
        **CAPTUM_HINTS,
        "baselines": (
            "SmoothTaylor has no baseline: its roots are Gaussian perturbations x + ε of the "
            "input (set noise_scale)"
        ),
        "n_steps": "SmoothTaylor averages over n_samples Gaussian roots: pass n_samples",
        "method": "SmoothTaylor is a Monte-Carlo average, not a quadrature",
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
        n_samples: int = 200,
        noise_scale: NoiseScale | tuple[NoiseScale, ...] = 0.5,
        noise_scale_mode: Literal["absolute", "relative"] = "absolute",
        internal_batch_size: int | None = None,
        generator: torch.Generator | None = None,
        show_progress: bool = False,
        *,
        return_error: bool = False,
    ) -> TensorOrTupleOfTensorsGeneric:
        r"""Attribute the target output to the inputs.

        Args:
            inputs: a tensor or a tuple of tensors, batch first, floating point.
            target: the output to explain, in any of Captum's forms (int, tuple, tensor, or a
                list with one entry per example).
            additional_forward_args: passed to ``forward_func`` after the inputs; tensors are
                expanded with the rows like Captum does.
            n_samples: R, the number of Gaussian roots per example. Default 200, with
                ``noise_scale=0.5`` the paper's best fixed setting on ImageNet-normalised
                inputs (its grid: σ ∈ {0.3, 0.5, 0.7}, R ∈ {100, 150, 200}). ``"auto"`` or
                an :class:`Auto` draws more roots per example until its standard error is
                below a tolerance (docs/reference.md, "Budgets chosen per example").
            noise_scale: σ, per input tensor (a tuple with one entry per input): a float, or
                a tensor with one σ per example (as the adaptive search uses).
            noise_scale_mode: ``"absolute"`` — σ is in the model's input units (default);
                ``"relative"`` — σ is a fraction of each example's input range
                ``max(x) - min(x)`` (the authors' "percent" mode).
            internal_batch_size: at most this many rows go through the model at once
                (``None``: as many as the memory budget holds at what a row costs,
                :func:`set_memory_budget`).
            generator: the source of the Gaussian noise, for reproducible attributions; on the
                inputs' device.
            show_progress: show a progress bar over the rows evaluated.
            return_error: also return an estimate of each attribution's error, shaped like
                the attributions (after the delta, if any; :func:`relative_error`).

        Returns:
            Attributions with the shape (and tensor/tuple form) of ``inputs``.
        """
        return self._attribute_from(locals())

    def path(
        self,
        inputs: tuple[Tensor, ...],
        *,
        n_samples: int,
        noise_scale: NoiseScale | tuple[NoiseScale, ...],
        noise_scale_mode: str,
        generator: torch.Generator | None,
    ) -> GaussianRoots:
        """The ``n_samples`` Gaussian roots for the settings of :meth:`attribute`, validated.

        Raises:
            ValueError: for an unknown ``noise_scale_mode``, a negative ``noise_scale`` or one
                that does not give one σ per example.
        """
        check.check_count("n_samples", n_samples)
        check.check_choice("noise_scale_mode", noise_scale_mode, NOISE_SCALE_MODES)
        scales = check.per_input("noise_scale", noise_scale, len(inputs))
        sigmas = tuple(_sigma(x, s, noise_scale_mode) for x, s in zip(inputs, scales, strict=True))
        generator = check.check_generator(generator, inputs)
        return GaussianRoots(inputs, sigmas, n_samples, generator)

    def has_convergence_delta(self) -> bool:
        """SmoothTaylor is not complete: no convergence delta."""
        return False


class GaussianRoots(Path):
    """SmoothTaylor's Monte-Carlo average as a quadrature: R blocks of roots ``z = x + ε``.

    With ``ε ~ N(0, σ²)``, each block has weight ``1/R`` and direction ``x - z = -ε``.
    """

    def __init__(
        self,
        inputs: tuple[Tensor, ...],
        sigmas: tuple[Tensor, ...],
        n_samples: int,
        generator: torch.Generator | None,
    ) -> None:
        """Roots around ``inputs`` with noise scales ``sigmas`` (broadcastable to each)."""
        self.inputs, self.sigmas = inputs, sigmas
        self.n_samples, self.generator = n_samples, generator

    def quadrature(self, with_delta: bool) -> Stream:
        """The R roots, drawn block by block; ``with_delta`` is an error (no ends)."""
        if with_delta:
            raise ValueError("SmoothTaylor's roots have no start and end: no convergence delta")
        return Stream(
            self._roots(), self.n_samples, samples=(self.n_samples, 1), budget="n_samples"
        )

    def _roots(self) -> Iterator[Block]:
        """The roots, drawn one after the other, made a group at a time.

        A group's ``-ε`` and roots are one tensor each per input, so that its blocks are
        consecutive views (the engine and the rule use them without copies).
        """
        group = max(1, GROUP_ELEMENTS // max(1, sum(x.numel() for x in self.inputs)))
        scales = tuple(-s for s in self.sigmas)
        for start in range(0, self.n_samples, group):
            size = min(group, self.n_samples - start)
            steps = tuple(x.new_empty((size, *x.shape)) for x in self.inputs)
            directions = list(zip(*(parts_of(step) for step in steps), strict=True))
            for root in directions:
                # the draws root by root, input by input, each made in its place in the group
                # (the numbers torch.randn would give)
                for out in root:
                    check.fill_randn(out, self.generator)
            for step, scale in zip(steps, scales, strict=True):
                step.mul_(scale)
            roots = zip(
                *(parts_of(torch.sub(x, step)) for x, step in zip(self.inputs, steps, strict=True)),
                strict=True,
            )
            for points, direction in zip(roots, directions, strict=True):
                yield Block(points, 1.0 / self.n_samples, direction)


def _sigma(x: Tensor, scale: Any, mode: str) -> Tensor:
    """σ as a tensor broadcastable to ``x`` (from a float, or one value per example).

    In ``"relative"`` mode it is multiplied by each example's range ``max(x) - min(x)``.
    """
    sigma = check.as_tensor_like("noise_scale", scale, x.new_empty(x.shape[:1]))
    check.require(sigma >= 0, "`noise_scale` must be non-negative")
    sigma = sigma.reshape((-1,) + (1,) * (x.dim() - 1))
    if mode == "relative":
        flat = x.reshape(x.shape[0], -1)
        value_range = flat.amax(dim=1) - flat.amin(dim=1)
        sigma = sigma * value_range.reshape((-1,) + (1,) * (x.dim() - 1))
    return sigma
