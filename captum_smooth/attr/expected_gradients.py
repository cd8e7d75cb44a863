"""Expected Gradients (Erion et al., 2021): IG with the baseline drawn from reference data.

See docs/reference.md#expected-gradients.

EG_i(x) = E_{x' ~ D, α ~ U(0, 1)} [(x_i - x'_i) · ∂f(x' + α (x - x'))/∂x_i]
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
from captum_smooth.attr._paths import CAPTUM_HINTS, Path, PathAttribution, Stream, checked_call


class ExpectedGradients(PathAttribution):
    r"""Expected Gradients: Integrated Gradients averaged over baselines drawn from data.

    Reference: Erion et al., "Improving performance of deep learning models with axiomatic
    attribution priors and expected gradients", Nature Machine Intelligence 2021.

    .. math:: EG_i(x) = \mathbb{E}_{x' \sim D,\ \alpha \sim U(0, 1)}\Big[(x_i - x'_i)
              \frac{\partial f(x' + \alpha (x - x'))}{\partial x_i}\Big]

    estimated with ``n_samples`` draws per example, each a reference ``x'`` drawn uniformly
    (with replacement) from ``baselines`` and an ``α`` drawn uniformly, one gradient per draw.
    It is Captum's ``GradientShap`` (``stdevs=0``, its default here) with Captum's arguments,
    plus ``internal_batch_size``, a ``generator``, ``return_error`` and ``n_samples="auto"``.
    ``stdevs > 0`` adds Gaussian noise to the inputs before each draw, as GradientShap does.

    Completeness holds in expectation: the convergence delta is
    ``Σ_i EG_i - (f(x) - mean_k f(x'_k))`` over the references drawn, a Monte-Carlo error that
    falls as ``1/√n_samples``.

    Args:
        forward_func: the model or any function returning its outputs.
        multiply_by_inputs: as in Captum's ``GradientShap``: ``True`` multiplies each gradient
            by ``x - x'`` (global attribution), ``False`` gives the expected gradient.

    Example:
        >>> from captum_smooth import ExpectedGradients
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
        >>> data = torch.randn(20, 4, generator=torch.Generator().manual_seed(1))
        >>> eg = ExpectedGradients(model)
        >>> attr, delta = eg.attribute(data[:2], data[2:], n_samples=64, target=1,
        ...     return_convergence_delta=True, generator=torch.Generator().manual_seed(0))
        >>> attr.shape, delta.shape
        (torch.Size([2, 4]), torch.Size([2]))
    """

    argument_hints: ClassVar[Mapping[str, str]] = {
        **CAPTUM_HINTS,
        "n_steps": "Expected Gradients draws one α per sample: pass n_samples",
        "method": "Expected Gradients is a Monte-Carlo average, not a quadrature",
    }
    shared_settings: ClassVar[frozenset[str]] = frozenset({"baselines"})
    input_settings: ClassVar[frozenset[str]] = frozenset({"baselines"})

    def __init__(self, forward_func: Callable[..., Any], multiply_by_inputs: bool = True) -> None:
        """Wrap ``forward_func``; ``multiply_by_inputs`` as in Captum's GradientShap."""
        super().__init__(forward_func)
        self._multiply_by_inputs = multiply_by_inputs

    @log_usage()
    @checked_call
    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        baselines: Tensor | tuple[Tensor, ...],
        n_samples: int = 50,
        stdevs: float | tuple[float, ...] = 0.0,
        target: TargetType = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        internal_batch_size: int | None = None,
        generator: torch.Generator | None = None,
        show_progress: bool = False,
        *,
        return_error: bool = False,
    ) -> Any:
        """Attribute the target output to the inputs, over baselines drawn from ``baselines``.

        Args:
            inputs: a tensor or a tuple of tensors, batch first, floating point.
            baselines: the reference data set: a tensor (a tuple for tuple inputs) of ``R ≥ 1``
                rows shaped like one example each, on the inputs' device; each draw picks
                one row uniformly (Captum's GradientShap ``baselines``).
            n_samples: draws per example (Captum's GradientShap: 5; Erion et al. use one per
                training example and epoch); ``"auto"`` or an :class:`Auto` draws until the
                standard error is below a tolerance.
            stdevs: standard deviation of Gaussian noise added to the inputs before each draw
                (per input tensor); 0, the default, is Expected Gradients.
            target: the output to explain, in any of Captum's forms.
            additional_forward_args: passed to ``forward_func`` after the inputs.
            return_convergence_delta: also return ``Σ EG - (f(x) - mean f(x'_k))`` per
                example, over the references drawn.
            internal_batch_size: at most this many rows through the model at once (``None``:
                as many as the memory budget holds, :func:`set_memory_budget`).
            generator: the source of the draws (references, α and noise), for reproducible
                attributions; on the inputs' device.
            show_progress: show a progress bar over the rows evaluated.
            return_error: also return the standard error of each attribution, shaped like
                the attributions (after the delta, if any; :func:`relative_error`).

        Returns:
            Attributions shaped like ``inputs``; then the delta and the error if asked for.
        """
        return self._attribute_from(locals())

    def path(
        self,
        inputs: tuple[Tensor, ...],
        *,
        baselines: Any,
        n_samples: int,
        stdevs: float | tuple[float, ...],
        generator: torch.Generator | None,
    ) -> ReferenceDraws:
        """The draws for the settings of :meth:`attribute`, validated.

        Raises:
            ValueError: for references of another shape or device than the inputs, none,
                non-finite, or a negative ``stdevs``.
            TypeError: for references that are not floating-point tensors.
        """
        check.check_count("n_samples", n_samples)
        references = _references(baselines, inputs)
        deviations = check.per_input("stdevs", stdevs, len(inputs))
        for s in deviations:
            if isinstance(s, bool) or not isinstance(s, (int, float)) or s < 0:
                raise ValueError(f"`stdevs` must be non-negative numbers, got {stdevs!r}")
        generator = check.check_generator(generator, inputs)
        return ReferenceDraws(
            inputs, references, n_samples, tuple(float(s) for s in deviations), generator,
            self._multiply_by_inputs,
        )  # fmt: skip

    @property
    def multiplies_by_inputs(self) -> bool:
        """Whether the gradients are multiplied by ``x - x'``."""
        return self._multiply_by_inputs


def _references(baselines: Any, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """The reference set, one tensor of ``R`` rows per input, checked against the inputs."""
    given = baselines if isinstance(baselines, tuple) else (baselines,)
    if len(given) != len(inputs):
        raise ValueError(f"`baselines` has {len(given)} entries for {len(inputs)} inputs")
    rows = None
    for b, x in zip(given, inputs, strict=True):
        if not isinstance(b, Tensor) or not b.is_floating_point():
            got = b.dtype if isinstance(b, Tensor) else type(b).__name__
            raise TypeError(
                "`baselines` must be floating-point tensors of reference inputs (R rows shaped "
                f"like one example), got {got}"
            )
        if b.dim() != x.dim() or b.shape[1:] != x.shape[1:] or b.shape[0] < 1:
            raise ValueError(
                f"`baselines` must hold R ≥ 1 references shaped like one example "
                f"{tuple(x.shape[1:])}, got shape {tuple(b.shape)}"
            )
        check.check_device("baselines", b.device, x.device)
        if rows is not None and b.shape[0] != rows:
            raise ValueError("`baselines` tensors must have the same number of references")
        rows = b.shape[0]
    check.require_finite(given, "`baselines` must be finite")
    return tuple(b.detach().to(x.dtype) for b, x in zip(given, inputs, strict=True))


class ReferenceDraws(Path):
    """Expected Gradients' draws as blocks: one per sample, one row per example.

    Each block is the point ``x' + α (x̃ - x')`` (``x̃`` the input, with noise if ``stdevs``),
    with weight ``1/n_samples`` and direction ``x̃ - x'``; with a delta, the forward-only rows
    ``+f(x)`` and ``-f(x')/n_samples`` at each drawn reference.
    """

    def __init__(
        self,
        inputs: tuple[Tensor, ...],
        references: tuple[Tensor, ...],
        n_samples: int,
        stdevs: tuple[float, ...],
        generator: torch.Generator | None,
        multiply_by_inputs: bool,
    ) -> None:
        """Draws of ``references`` for ``inputs``."""
        self.inputs, self.references, self.n_samples = inputs, references, n_samples
        self.stdevs, self.generator = stdevs, generator
        self.multiply_by_inputs = multiply_by_inputs

    def quadrature(self, with_delta: bool) -> Stream:
        """The draws, one block each (and their forward-only rows with a delta)."""
        draws = Stream(
            self._draws(with_delta),
            self.n_samples * (1 + with_delta),
            samples=(self.n_samples, 1),
            budget="n_samples",
        )
        if not with_delta:
            return draws
        return draws.after([Block(self.inputs, value_weight=1.0, need="value")])

    def _draws(self, with_delta: bool) -> Iterator[Block]:
        first = self.inputs[0]
        n_examples, device = first.shape[0], first.device
        for _ in range(self.n_samples):
            index = torch.randint(
                self.references[0].shape[0], (n_examples,), generator=self.generator,
                device=device,
            )  # fmt: skip
            alpha = torch.rand(n_examples, generator=self.generator, device=device)
            starts = tuple(r.index_select(0, index) for r in self.references)
            ends = tuple(
                x if s == 0 else x + s * check.randn_like(x, self.generator)
                for x, s in zip(self.inputs, self.stdevs, strict=True)
            )
            points, directions = [], []
            for start, end in zip(starts, ends, strict=True):
                shape = (-1,) + (1,) * (end.dim() - 1)
                step = end - start
                points.append(start + alpha.to(step.dtype).view(shape) * step)
                directions.append(step if self.multiply_by_inputs else torch.ones_like(step))
            if with_delta:
                yield Block(starts, value_weight=-1.0 / self.n_samples, need="value")
            yield Block(tuple(points), 1.0 / self.n_samples, tuple(directions))
