"""Integrated Gradients averaged over uniform-noise baselines (Goh et al., 2021, eq. 3).

See docs/reference.md#noise-baseline-ig.

IG_noise(x) = 1/N Σ_k IG(x, z_k),   z_k ~ U(low, high) per feature, i.i.d.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
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
    StraightLine,
    Stream,
    checked_call,
)

BaselineTransform = Callable[[Any], Any]


class NoiseBaselineIntegratedGradients(PathAttribution):
    r"""Integrated Gradients averaged over ``N`` uniform-noise baselines.

    SmoothTaylor paper (Goh et al.), eq. 3; docs/reference.md#noise-baseline-ig.

    .. math:: \overline{IG}_{noise}(x) = \frac{1}{N}\sum_{k=1}^{N} IG(x, z_k), \quad
              z_k = T(u_k),\ u_k \sim U(\text{low}, \text{high}) \text{ i.i.d. per feature}

    The authors draw ``u`` in raw pixel space [0, 1) and normalise it like the images:
    pass ``baseline_transform`` (e.g. ``lambda u: (u - mean) / std``) to do the same. Unlike
    Captum's GradientShap (one random α and baseline per sample), every baseline gets the full
    path integral, so completeness holds per baseline:
    ``Σ_i IG_noise_i = f(x) - mean_k f(z_k)``.

    Args:
        forward_func: the model or any function returning its outputs.
        multiply_by_inputs: as in Captum's ``IntegratedGradients``: ``True`` multiplies the
            averaged path gradients by ``x - z_k`` (global attribution).

    Example:
        >>> from captum_smooth import NoiseBaselineIntegratedGradients
        >>> from captum_smooth.examples import normalize
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
        >>> images = normalize(torch.rand(2, 3, 2, 2))  # model inputs, ImageNet-normalised
        >>> ig = NoiseBaselineIntegratedGradients(model)
        >>> attr, delta = ig.attribute(images, target=1, n_baselines=10,
        ...     baseline_transform=normalize, internal_batch_size=64,
        ...     return_convergence_delta=True, generator=torch.Generator().manual_seed(0))
        >>> attr.shape, delta.shape
        (torch.Size([2, 3, 2, 2]), torch.Size([2]))
    """

    argument_hints: ClassVar[Mapping[str, str]] = {
        **CAPTUM_HINTS,
        "baselines": (
            "the baselines are drawn: set n_baselines, baseline_low, baseline_high and "
            "baseline_transform (for one fixed baseline use IntegratedGradients)"
        ),
    }

    def __init__(self, forward_func: Callable[..., Any], multiply_by_inputs: bool = True) -> None:
        """Wrap ``forward_func``; ``multiply_by_inputs`` as in Captum's IG."""
        super().__init__(forward_func)
        self._multiply_by_inputs = multiply_by_inputs

    @log_usage()
    @checked_call
    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_baselines: int = 10,
        baseline_low: float | Tensor | tuple[float | Tensor, ...] = 0.0,
        baseline_high: float | Tensor | tuple[float | Tensor, ...] = 1.0,
        baseline_transform: BaselineTransform | None = None,
        n_steps: int = 50,
        method: str = "riemann_right",
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
        generator: torch.Generator | None = None,
        show_progress: bool = False,
        *,
        return_error: bool = False,
    ) -> TensorOrTupleOfTensorsGeneric | tuple[TensorOrTupleOfTensorsGeneric, Tensor]:
        r"""Attribute the target output to the inputs.

        Args:
            inputs: a tensor or a tuple of tensors, batch first, floating point.
            target: the output to explain, in any of Captum's forms.
            additional_forward_args: passed to ``forward_func`` after the inputs.
            n_baselines: N, the number of noise baselines per example (authors: 1, 5, 10,
                20); ``"auto"`` or an :class:`Auto` chooses it per example.
            baseline_low: the lower bound of the uniform draw, a float or a tensor
                broadcastable to each input, or a tuple with one entry per input tensor.
                Default 0: with ``baseline_high``, [0, 1) is raw pixel space, as the authors.
            baseline_high: the upper bound of the uniform draw, in the same forms (default 1).
            baseline_transform: maps the uniform draw to baselines in the model's input space;
                it receives and returns the form of ``inputs`` (tensor or tuple).
            n_steps: steps of the path integral per baseline (authors: 50).
            method: the quadrature along each path, by Captum's names: ``"riemann_right"``
                (default, as the authors), ``"riemann_left"``, ``"riemann_middle"``,
                ``"riemann_trapezoid"`` or ``"gausslegendre"``. Unlike Captum's, the trapezoid
                rule's weights sum to one (second order; docs/reference.md, "Quadrature").
            internal_batch_size: at most this many rows (baselines × steps × examples, all
                batched together) go through the model at once (``None``: as many as the
                memory budget holds at what a row costs, :func:`set_memory_budget`).
            return_convergence_delta: also return, per example,
                ``Σ attributions - (f(x) - mean_k f(z_k))``.
            generator: the source of the uniform draws, for reproducible attributions. Draws
                are made baseline by baseline, input by input, with ``torch.rand``.
            show_progress: show a progress bar over the rows evaluated.
            return_error: also return an estimate of each attribution's error, shaped like
                the attributions (after the delta, if any; :func:`relative_error`).

        Returns:
            Attributions shaped like ``inputs``; and the convergence delta if asked for.
        """
        baseline_transform = _in_users_form(baseline_transform, isinstance(inputs, tuple))
        return self._attribute_from(locals())

    def path(
        self,
        inputs: tuple[Tensor, ...],
        *,
        n_baselines: int,
        baseline_low: Any,
        baseline_high: Any,
        baseline_transform: BaselineTransform | None,
        n_steps: int,
        method: str,
        generator: torch.Generator | None,
    ) -> NoiseBaselines:
        """The ``n_baselines`` straight lines for the settings of :meth:`attribute`, validated.

        Raises:
            TypeError: for a ``baseline_transform`` that is not callable.
            ValueError: for bounds with ``baseline_low > baseline_high`` or that do not
                broadcast to the inputs, or an unknown ``method``.
        """
        check.check_count("n_baselines", n_baselines)
        check.check_count("n_steps", n_steps)
        generator = check.check_generator(generator, inputs)
        if baseline_transform is not None and not callable(baseline_transform):
            raise TypeError("`baseline_transform` must be callable")
        n = len(inputs)
        bounds = []
        for x, low, high in zip(
            inputs,
            check.per_input("baseline_low", baseline_low, n),
            check.per_input("baseline_high", baseline_high, n),
            strict=True,
        ):
            low_t = check.as_tensor_like("baseline_low", low, x)
            high_t = check.as_tensor_like("baseline_high", high, x)
            if (low_t > high_t).any():
                raise ValueError("`baseline_low` must not exceed `baseline_high`")
            bounds.append((low_t, high_t))
        draw = _UniformBaselines(inputs, bounds, baseline_transform, generator)
        # validated now: a bad method or n_steps fails before any draw or model call; each
        # baseline's line is this one from its baseline
        line = StraightLine(
            inputs, inputs, n_steps, method, 1.0 / n_baselines, self._multiply_by_inputs
        )
        return NoiseBaselines(inputs, draw, n_baselines, line)

    def has_convergence_delta(self) -> bool:
        """Always: completeness holds against the mean output at the baselines."""
        return True

    @property
    def multiplies_by_inputs(self) -> bool:
        """Whether the path gradients are multiplied by ``x - z_k`` (global attribution)."""
        return self._multiply_by_inputs


class NoiseBaselines(Path):
    """Straight lines from ``N`` drawn baselines to the inputs, one after the other.

    Each line is weighted ``1/N``; with a convergence delta, the rows ``+f(x)`` and
    ``-f(z_k)/N`` are added.
    """

    def __init__(
        self,
        inputs: tuple[Tensor, ...],
        draw: _UniformBaselines,
        n_baselines: int,
        line: StraightLine,
    ) -> None:
        """Paths to ``n_baselines`` baselines from ``draw``, each ``line`` from its baseline.

        ``line`` has the quadrature's settings and the weight ``1/N``.
        """
        self.inputs, self.draw, self.n_baselines, self.line = inputs, draw, n_baselines, line

    def quadrature(self, with_delta: bool) -> Stream:
        """Each baseline's line in turn, its baseline drawn when its first block is needed."""
        lines = Stream(
            self._blocks(with_delta),
            self.n_baselines * (with_delta + self.line.n_steps),
            samples=(self.n_baselines, self.line.n_steps),
            budget="n_baselines",
        )
        if not with_delta:
            return lines
        return lines.after([Block(self.inputs, value_weight=1.0, need="value")])

    def _blocks(self, with_delta: bool) -> Iterator[Block]:
        for _ in range(self.n_baselines):
            baselines = self.draw()
            if with_delta:
                yield Block(baselines, value_weight=-1.0 / self.n_baselines, need="value")
            yield from self.line.from_baselines(baselines).quadrature(with_delta=False).blocks


def _in_users_form(
    transform: BaselineTransform | None, is_tuple: bool
) -> Callable[[tuple[Tensor, ...]], Any] | None:
    """``transform`` called with the draws in the form the user passed the inputs."""
    if transform is None or not callable(transform):
        return transform
    return lambda u: transform(u if is_tuple else u[0])


class _UniformBaselines:
    """Draws one baseline per example: uniform between the bounds, then the transform."""

    def __init__(
        self,
        inputs: tuple[Tensor, ...],
        bounds: list[tuple[Tensor, Tensor]],
        transform: Callable[[tuple[Tensor, ...]], Any] | None,
        generator: torch.Generator | None,
    ) -> None:
        self.inputs, self.transform, self.generator = inputs, transform, generator
        # each draw's low + (high - low) · u: the width once
        self.bounds = [(low, high - low) for low, high in bounds]

    def __call__(self) -> tuple[Tensor, ...]:
        u = tuple(
            low + width * check.rand_like(x, self.generator)
            for x, (low, width) in zip(self.inputs, self.bounds, strict=True)
        )
        if self.transform is None:
            return u
        z = self.transform(u)
        z = z if isinstance(z, tuple) else (z,)
        if len(z) != len(u) or any(
            not isinstance(t, Tensor) or t.shape != x.shape for t, x in zip(z, u, strict=False)
        ):
            raise ValueError("`baseline_transform` must return tensors shaped like `inputs`")
        check.require_finite(z, "`baseline_transform` must return finite baselines (no NaN or inf)")
        return tuple(t.to(x.dtype) for t, x in zip(z, self.inputs, strict=True))
