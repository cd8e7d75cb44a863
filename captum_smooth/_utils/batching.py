"""Rows: how many go through the model at once, and the arguments of a subset of examples.

How many rows go through the model at once when the caller does not say, and the target and
additional forward arguments of a subset of the examples.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from captum_smooth._utils.captum_compat import TargetType

AUTO_CHUNK_ELEMENTS = 2_500_000
"""Without an explicit batch size, a chunk holds at most this many input elements: 16 rows of
a 3×224×224 image (about 2.2 GB peak for EfficientNet-Lite0 forward and backward on a CPU),
many thousands of rows of a small tabular model."""


def chunk_rows(batch_size: int | None, row: Tensor | tuple[Tensor, ...]) -> int:
    """How many rows to send through the model at once.

    ``batch_size`` when given, else as many rows as hold :data:`AUTO_CHUNK_ELEMENTS` input
    elements (at least one), judged from ``row`` (one or more tensors, batch first).

    So memory stays bounded by default whatever the number of steps, samples or examples;
    Captum's ``internal_batch_size=None`` sends every row at once, which here needs an
    explicit large number.
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
    """The entries ``rows`` of ``value`` along its first dimension, on its device."""
    if isinstance(rows, Tensor):
        return value[rows.to(value.device)]
    parts = [value[r.start : r.stop] for r in rows]
    return parts[0] if len(parts) == 1 else torch.cat(parts)
