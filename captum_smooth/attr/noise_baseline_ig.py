"""Integrated Gradients averaged over uniform-noise baselines (Goh et al., 2021, eq. 3).

IG_noise(x) = 1/N Σ_k IG(x, z_k),   z_k ~ U(low, high) per feature, i.i.d.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from captum.attr import GradientAttribution
from captum.log import log_usage
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import (
    TargetType,
    TensorOrTupleOfTensorsGeneric,
    format_output,
    sum_rows,
)
from captum_smooth.attr._engine import Block
from captum_smooth.attr._paths import straight_line, value_only
from captum_smooth.attr._quadrature import Quadrature, quadrature
from captum_smooth.attr._rules import RiemannSum, integrate

BaselineTransform = Callable[[Any], Any]


class NoiseBaselineIntegratedGradients(GradientAttribution):
    r"""Integrated Gradients averaged over ``N`` uniform-noise baselines (SmoothTaylor paper,
    eq. 3; docs/reference.md#noise-baseline-ig).

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
        >>> ig = NoiseBaselineIntegratedGradients(model)
        >>> attr, delta = ig.attribute(images, target=3, n_baselines=10,
        ...     baseline_transform=lambda u: (u - mean) / std, internal_batch_size=64,
        ...     return_convergence_delta=True, generator=torch.Generator().manual_seed(0))
    """

    def __init__(self, forward_func: Callable[..., Any], multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func)
        self._multiply_by_inputs = multiply_by_inputs

    @log_usage()
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
    ) -> TensorOrTupleOfTensorsGeneric | tuple[TensorOrTupleOfTensorsGeneric, Tensor]:
        r"""Attribute the target output to the inputs.

        Args:
            inputs: a tensor or a tuple of tensors, batch first, floating point.
            target: the output to explain, in any of Captum's forms.
            additional_forward_args: passed to ``forward_func`` after the inputs.
            n_baselines: N, the number of noise baselines per example (authors: 1, 5, 10, 20).
            baseline_low, baseline_high: the bounds of the uniform draw, floats or tensors
                broadcastable to each input, or a tuple with one entry per input tensor.
                Default [0, 1): raw pixel space, as the authors.
            baseline_transform: maps the uniform draw to baselines in the model's input space;
                it receives and returns the form of ``inputs`` (tensor or tuple).
            n_steps: steps of the path integral per baseline (authors: 50).
            method: the quadrature along each path, by Captum's names: ``"riemann_right"``
                (default, as the authors), ``"riemann_left"``, ``"riemann_middle"``,
                ``"riemann_trapezoid"`` or ``"gausslegendre"``. Unlike Captum's, the trapezoid
                rule's weights sum to one (second order; docs/reference.md, "Quadrature").
            internal_batch_size: at most this many rows (baselines × steps × examples, all
                batched together) go through the model at once.
            return_convergence_delta: also return, per example,
                ``Σ attributions - (f(x) - mean_k f(z_k))``.
            generator: the source of the uniform draws, for reproducible attributions. Draws
                are made baseline by baseline, input by input, with ``torch.rand``.

        Returns:
            Attributions shaped like ``inputs``; and the convergence delta if asked for.
        """
        inputs_tuple, is_tuple = check.format_inputs(inputs)
        check.check_count("n_baselines", n_baselines)
        check.check_count("n_steps", n_steps)
        nodes = quadrature(method, n_steps)
        check.check_batch_size(internal_batch_size)
        check.check_generator(generator)
        check.check_target(target, inputs_tuple[0].shape[0])
        if baseline_transform is not None and not callable(baseline_transform):
            raise TypeError("`baseline_transform` must be callable")
        n = len(inputs_tuple)
        bounds = []
        for x, low, high in zip(
            inputs_tuple,
            check.per_input("baseline_low", baseline_low, n),
            check.per_input("baseline_high", baseline_high, n),
            strict=True,
        ):
            low_t = check.as_tensor_like("baseline_low", low, x)
            high_t = check.as_tensor_like("baseline_high", high, x)
            if (low_t > high_t).any():
                raise ValueError("`baseline_low` must not exceed `baseline_high`")
            bounds.append((low_t, high_t))

        draw = _UniformBaselines(inputs_tuple, bounds, baseline_transform, is_tuple, generator)
        blocks = self._blocks(inputs_tuple, draw, n_baselines, nodes, return_convergence_delta)
        rule = integrate(
            RiemannSum(inputs_tuple),
            self.forward_func,
            blocks,
            target,
            additional_forward_args,
            internal_batch_size,
        )
        attributions = format_output(is_tuple, rule.attributions)
        if not return_convergence_delta:
            return attributions
        total = sum(sum_rows(a) for a in rule.attributions)
        return attributions, total - rule.weighted_values

    def _blocks(
        self,
        inputs: tuple[Tensor, ...],
        draw: _UniformBaselines,
        n_baselines: int,
        nodes: Quadrature,
        with_endpoints: bool,
    ) -> Iterator[Block]:
        """Straight paths to every baseline; with ``with_endpoints``, also the rows whose
        outputs make the convergence delta: ``+f(x)`` and ``-f(z_k)/N``, which add nothing to
        the attributions (zero displacement)."""
        if with_endpoints:
            yield value_only(inputs, 1.0)
        for _ in range(n_baselines):
            baselines = draw()
            if with_endpoints:
                yield value_only(baselines, -1.0 / n_baselines)
            yield from straight_line(
                inputs,
                baselines,
                nodes.alphas,
                nodes.weights,
                1.0 / n_baselines,
                self._multiply_by_inputs,
            )

    def has_convergence_delta(self) -> bool:
        return True

    @property
    def multiplies_by_inputs(self) -> bool:
        return self._multiply_by_inputs


class _UniformBaselines:
    """Draws one baseline per example: uniform between the bounds, then the transform."""

    def __init__(self, inputs, bounds, transform, is_tuple, generator) -> None:
        self.inputs, self.bounds, self.transform = inputs, bounds, transform
        self.is_tuple, self.generator = is_tuple, generator

    def __call__(self) -> tuple[Tensor, ...]:
        u = tuple(
            low + (high - low) * check.rand_like(x, self.generator)
            for x, (low, high) in zip(self.inputs, self.bounds, strict=True)
        )
        if self.transform is None:
            return u
        z = self.transform(u if self.is_tuple else u[0])
        z = z if isinstance(z, tuple) else (z,)
        if len(z) != len(u) or any(
            not isinstance(t, Tensor) or t.shape != x.shape for t, x in zip(z, u, strict=False)
        ):
            raise ValueError("`baseline_transform` must return tensors shaped like `inputs`")
        return tuple(t.to(x.dtype) for t, x in zip(z, self.inputs, strict=True))
