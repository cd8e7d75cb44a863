"""Captum's NoiseTunnel, reproducible with a seeded ``generator``.

Captum's :class:`~captum.attr.NoiseTunnel` draws its noise from torch's global RNG (then
``torch.manual_seed`` makes it reproducible). This subclass takes the same arguments and, given
a ``generator``, draws its noise from it, leaving the global RNG alone; the ``generator`` goes
on to the wrapped method too when that method takes one (SmoothTaylor, noise-baseline IG,
their layer variants, SmoothGradSquared), so one seeded generator fixes the whole result.
"""

from __future__ import annotations

import contextvars
import inspect
from typing import Any

import torch
from captum.attr import NoiseTunnel as CaptumNoiseTunnel
from captum.log import log_usage
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.models import one_training_warning

# the generator of the call in progress, in this thread (an instance attribute would be
# shared by threads using one NoiseTunnel)
_GENERATOR: contextvars.ContextVar[torch.Generator | None] = contextvars.ContextVar(
    "_GENERATOR", default=None
)


class NoiseTunnel(CaptumNoiseTunnel):
    """Captum's ``NoiseTunnel`` whose noise comes from the ``generator`` it is given.

    ``NoiseTunnel(method).attribute(inputs, nt_type=..., nt_samples=..., stdevs=...,
    generator=g, **kwargs)`` is Captum's smoothing (``smoothgrad``, ``smoothgrad_sq``,
    ``vargrad``) with every noise sample ``N(0, stdevs²)`` drawn from ``g``; ``g`` is also
    passed to ``method.attribute`` when that takes a ``generator``. Two calls with generators
    seeded alike give the same attributions, and torch's global RNG is neither read nor
    advanced. Without ``generator`` it is Captum's class (global RNG).

    Example:
        >>> from captum_smooth import NoiseTunnel, SmoothTaylor
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3))
        >>> images = torch.rand(2, 3, 2, 2)
        >>> tunnel = NoiseTunnel(SmoothTaylor(model))
        >>> first, again = (
        ...     tunnel.attribute(images, nt_samples=4, target=1, n_samples=50,
        ...                      generator=torch.Generator().manual_seed(0))
        ...     for _ in range(2)
        ... )
        >>> first.shape, torch.equal(first, again)  # the same seed, the same noise
        (torch.Size([2, 3, 2, 2]), True)
    """

    @log_usage()
    def attribute(  # type: ignore[override]
        self,
        inputs: Tensor | tuple[Tensor, ...],
        nt_type: str = "smoothgrad",
        nt_samples: int = 5,
        nt_samples_batch_size: int | None = None,
        stdevs: float | tuple[float, ...] = 1.0,
        draw_baseline_from_distrib: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Captum's ``NoiseTunnel.attribute``, drawing its noise from ``generator``.

        Args:
            inputs: as Captum's.
            nt_type: as Captum's: ``"smoothgrad"``, ``"smoothgrad_sq"`` or ``"vargrad"``.
            nt_samples: as Captum's, the noisy copies of each example.
            nt_samples_batch_size: as Captum's.
            stdevs: as Captum's, the noise's standard deviation (one per input tensor).
            draw_baseline_from_distrib: as Captum's.
            **kwargs: the wrapped method's arguments, and ``generator``: a
                ``torch.Generator`` for the noise (passed on to the wrapped method when it
                takes one; a CPU generator with inputs on an accelerator seeds one there);
                ``None``: torch's global RNG, as Captum.

        Returns:
            As Captum's: the smoothed attributions (and the delta if asked for).

        Raises:
            TypeError: if ``generator`` is not a ``torch.Generator``.
            ValueError: if ``generator`` is on another accelerator than the inputs, or for
                ``return_error`` (no estimate for the tunnel's average).
        """
        if kwargs.get("return_error"):
            raise ValueError(
                "`return_error`: NoiseTunnel averages the maps of noisy copies and has no "
                "error estimate of its own; ask the wrapped method for its error without "
                "NoiseTunnel"
            )
        generator = kwargs.get("generator")
        on_tensors = isinstance(inputs, Tensor) or (
            isinstance(inputs, tuple) and inputs and all(isinstance(x, Tensor) for x in inputs)
        )
        noise_generator = check.check_generator(generator, inputs if on_tensors else None)
        if "generator" in kwargs and not _takes_generator(self.attribution_method):
            kwargs = {k: v for k, v in kwargs.items() if k != "generator"}
        token = _GENERATOR.set(noise_generator)
        try:
            with one_training_warning(self.attribution_method.forward_func):
                return super().attribute.__wrapped__(  # type: ignore[attr-defined]
                    self,
                    inputs,
                    nt_type=nt_type,
                    nt_samples=nt_samples,
                    nt_samples_batch_size=nt_samples_batch_size,
                    stdevs=stdevs,
                    draw_baseline_from_distrib=draw_baseline_from_distrib,
                    **kwargs,
                )
        finally:
            _GENERATOR.reset(token)

    def _expand_partial(  # type: ignore[override]
        self,
        nt_samples_partition: int,
        kwargs_partial: dict[str, Any],
        inputs: tuple[Tensor, ...],
        draw_baseline_from_distrib: bool,
    ) -> None:
        """Captum's expansion of per-example arguments, except a method's reference data set.

        Expected Gradients' ``baselines`` is a set of references to draw from, not one
        baseline per example: it reaches the method as given.
        """
        shared = getattr(self.attribution_method, "shared_settings", frozenset())
        kept = {name: kwargs_partial.pop(name) for name in shared if name in kwargs_partial}
        CaptumNoiseTunnel._expand_partial(
            nt_samples_partition, kwargs_partial, inputs, draw_baseline_from_distrib
        )
        kwargs_partial.update(kept)

    def _add_noise_to_input(  # type: ignore[override]
        self, input: Tensor, stdev: float, nt_samples_partition: int
    ) -> Tensor:
        """``nt_samples_partition`` noisy copies of each example, the noise from the generator."""
        generator = _GENERATOR.get()
        if generator is None:
            return CaptumNoiseTunnel._add_noise_to_input(input, stdev, nt_samples_partition)
        repeated = input.repeat_interleave(nt_samples_partition, dim=0)
        dtype = input.dtype if input.is_floating_point() else torch.get_default_dtype()
        noise = torch.randn(repeated.shape, generator=generator, dtype=dtype, device=input.device)
        return repeated + stdev * noise


def _takes_generator(method: Any) -> bool:
    """Whether ``method.attribute`` takes a ``generator``, directly or through a wrapper."""
    parameters = inspect.signature(method.attribute).parameters
    if "generator" in parameters:
        return True
    inner = getattr(method, "attribution_method", None)
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    return inner is not None and takes_kwargs and _takes_generator(inner)
