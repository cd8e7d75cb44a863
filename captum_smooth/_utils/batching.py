"""Rows: how many go through the model at once, and the arguments of a subset of examples.

How many rows go through the model at once when the caller does not say (the methods: as many
as the memory budget holds at what a measured row cost, in the engine's ``Chunks``; the metrics:
a bound on input elements), and the target and additional forward arguments of a subset of the
examples.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from captum_smooth._utils.captum_compat import TargetType

AUTO_CHUNK_ELEMENTS = 2_500_000
"""Without an explicit ``batch_size``, a metric's chunk holds at most this many input elements
(16 rows of a 3×224×224 image); the methods size their chunks by :func:`memory_budget`."""

CPU_MEMORY_BUDGET = 2**30
"""The default memory budget of a chunk on a CPU, in bytes: what a chunk's rows cost, their
points and gradients and the activations the model keeps for its backward pass (12 rows of
EfficientNet-Lite0 at 224 px, 85 MB each; 30 of resnet18; peak memory is about twice the
budget, with the forward's transient tensors and the backward's)."""

CUDA_FREE_SHARE = 0.5
"""The default budget on an accelerator: this share of its free memory when a call starts."""

_budget: int | None = None


def set_memory_budget(n_bytes: int | None) -> int | None:
    """Set how much memory a chunk of rows may cost when ``internal_batch_size`` is ``None``.

    Args:
        n_bytes: the budget in bytes, or ``None`` for the default (1 GiB on a CPU; on CUDA
            half the device's free memory when a call starts).

    Returns:
        The previous setting (``None``: the default), so that it can be restored.

    Raises:
        TypeError, ValueError: unless ``n_bytes`` is ``None`` or a positive int.

    Example:
        >>> from captum_smooth import SmoothTaylor, set_memory_budget
        >>> previous = set_memory_budget(64 * 2**20)  # chunks of rows cost at most 64 MiB
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
        >>> attr = SmoothTaylor(model).attribute(torch.rand(2, 3, 2, 2), target=1,
        ...                                      generator=torch.Generator().manual_seed(0))
        >>> set_memory_budget(previous)  # restored; returns the setting it replaces
        67108864
    """
    global _budget
    if n_bytes is not None and (isinstance(n_bytes, bool) or not isinstance(n_bytes, int)):
        raise TypeError(f"`n_bytes` must be an int or None, got {type(n_bytes).__name__}")
    if n_bytes is not None and n_bytes < 1:
        raise ValueError(f"`n_bytes` must be positive, got {n_bytes}")
    previous, _budget = _budget, n_bytes
    return previous


def memory_budget(device: torch.device) -> int:
    """The bytes a chunk may cost on ``device`` (:func:`set_memory_budget`)."""
    if _budget is not None:
        return _budget
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * CUDA_FREE_SHARE)
    return CPU_MEMORY_BUDGET


def chunk_rows(batch_size: int | None, row: Tensor | tuple[Tensor, ...]) -> int:
    """How many rows a metric sends through the model at once.

    ``batch_size`` when given, else as many rows as hold :data:`AUTO_CHUNK_ELEMENTS` input
    elements (at least one), judged from ``row`` (one or more tensors, batch first), so memory
    stays bounded whatever the number of steps or examples.
    """
    if batch_size is not None:
        return batch_size
    tensors = row if isinstance(row, tuple) else (row,)
    elements = sum(math.prod(t.shape[1:]) for t in tensors)
    return max(1, AUTO_CHUNK_ELEMENTS // max(1, elements))


Rows = Tensor | list[range]
"""Which examples a chunk's rows belong to: index ranges the engine keeps on the host (a
chunk is a few runs of consecutive examples), or an index tensor."""


def select_target(target: TargetType, rows: Rows, n_examples: int) -> TargetType:
    """The targets of the examples ``rows``.

    Selected when ``target`` is given per example (a list or a tensor of ``n_examples``); a
    target shared by all examples is returned as it is. With ranges, a list target is read on
    the host and a tensor target sliced on its device: neither reads the device.
    """
    if isinstance(target, list):
        indices = rows.tolist() if isinstance(rows, Tensor) else [i for r in rows for i in r]
        return [target[i] for i in indices]
    if isinstance(target, Tensor) and target.numel() > 1:
        return _take(target.reshape(n_examples), rows)
    return target


def select_forward_args(args: tuple[Any, ...] | None, rows: Rows) -> tuple[Any, ...] | None:
    """The additional forward arguments (formatted as a tuple) of the examples ``rows``.

    Tensors are per example (batch first) and are indexed; anything else is shared.
    """
    if args is None:
        return None
    return tuple(_take(a, rows) if isinstance(a, Tensor) and a.dim() > 0 else a for a in args)


def _take(value: Tensor, rows: Rows) -> Tensor:
    """The entries ``rows`` of ``value`` along its first dimension, a copy on its device."""
    if isinstance(rows, Tensor):
        return value[rows.to(value.device)]
    # a copy, as indexing by a tensor gives: the model may change its arguments in place
    return torch.cat([value[r.start : r.stop] for r in rows])
