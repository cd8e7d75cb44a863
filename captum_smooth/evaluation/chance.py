"""The chance level every evaluation should include: a map that knows nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import TargetType


class RandomMap:
    """Attributions drawn i.i.d. uniform in [0, 1), shaped like the inputs.

    The chance level of any metric: a method that does not beat it on a metric carries no
    signal there.

    Args:
        forward_func: ignored; accepted so that ``Method("random map", RandomMap,
            random=True)`` builds it like any attribution method.

    Example:
        >>> from captum.attr import IntegratedGradients
        >>> from captum_smooth.evaluation import Method, RandomMap
        >>> methods = [Method("IG", IntegratedGradients),
        ...            Method("random map", RandomMap, random=True)]
        >>> maps = RandomMap().attribute(torch.zeros(2, 3, 4, 4),
        ...                              generator=torch.Generator().manual_seed(0))
        >>> maps.shape, bool(((0 <= maps) & (maps < 1)).all())
        (torch.Size([2, 3, 4, 4]), True)
    """

    def __init__(self, forward_func: Callable[..., Any] | None = None) -> None:
        """Keep ``forward_func`` (unused) as attribution methods do."""
        self.forward_func = forward_func

    def attribute(
        self,
        inputs: Tensor,
        target: TargetType = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Uniform noise shaped like ``inputs``, on their device and in their dtype.

        Drawn from ``generator`` (which must live on the same device) for reproducibility.

        ``inputs`` must be a finite floating-point batch (a map of NaN inputs would be made
        up); ``target`` is ignored.
        """
        inputs = check.check_tensor("inputs", inputs)
        generator = check.check_generator(generator, inputs)
        return torch.rand(
            inputs.shape, generator=generator, dtype=inputs.dtype, device=inputs.device
        )
