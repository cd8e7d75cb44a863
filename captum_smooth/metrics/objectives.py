"""The SmoothTaylor paper's metrics as objectives of the adaptive noise search.

For :class:`~captum_smooth.AdaptiveSmoothTaylor`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal

from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import TargetType
from captum_smooth.attr.adaptive import Objective
from captum_smooth.metrics.aupc import aupc
from captum_smooth.metrics.autvc import autvc


def objective(
    name: Literal["aupc", "autvc"],
    forward_func: Callable[..., Any] | None = None,
    **kwargs: Any,
) -> Objective:
    """An objective for :class:`~captum_smooth.AdaptiveSmoothTaylor`: AUPC or AUTVC per example.

    ``objective(inputs, attributions, target) -> (B,)``, lower is better.

    Args:
        name: ``"aupc"`` (:func:`~captum_smooth.metrics.aupc`, needs ``forward_func``) or
            ``"autvc"`` (:func:`~captum_smooth.metrics.autvc`, needs no model).
        forward_func: the model, for AUPC.
        **kwargs: keyword arguments of the metric (e.g. ``input_transform``,
            ``window_size``, ``n_candidates``, ``batch_size`` and a ``generator`` for AUPC;
            ``min_size`` for AUTVC).

    Returns:
        The objective.

    Raises:
        ValueError: for an unknown ``name``, or AUPC without ``forward_func``.
        TypeError: for a keyword the metric does not take.

    Example:
        >>> from captum_smooth import AdaptiveSmoothTaylor
        >>> from captum_smooth.examples import normalize
        >>> from captum_smooth.metrics import objective
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
        >>> images, labels = torch.rand(2, 3, 8, 8), torch.tensor([0, 2])
        >>> aupc = objective("aupc", model, input_transform=normalize, window_size=2,
        ...                  n_steps=4, n_candidates=8, generator=torch.Generator().manual_seed(0))
        >>> aupc(images, torch.randn(2, 3, 8, 8), labels).shape  # lower is better
        torch.Size([2])
        >>> result = AdaptiveSmoothTaylor(model, objective("autvc", min_size=4)).attribute(
        ...     images, target=labels, n_samples=16, max_iterations=3,
        ...     generator=torch.Generator().manual_seed(0))
    """
    check.check_choice("name", name, ("aupc", "autvc"))
    metric = aupc if name == "aupc" else autvc
    fixed = {"forward_func", "inputs", "attributions", "target"}
    accepted = set(inspect.signature(metric).parameters) - fixed
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise TypeError(f"{name} takes no argument {', '.join(unknown)}")
    if name == "autvc":
        if forward_func is not None:
            raise ValueError("`forward_func`: AUTVC scores the maps alone, without the model")
        return lambda inputs, attributions, target: autvc(attributions, **kwargs).score
    if forward_func is None:
        raise ValueError("`forward_func`: AUPC needs the model")
    check.check_callable("forward_func", forward_func)

    def score(inputs: Tensor, attributions: Tensor, target: TargetType) -> Tensor:
        return aupc(forward_func, inputs, attributions, target, **kwargs).score

    return score
