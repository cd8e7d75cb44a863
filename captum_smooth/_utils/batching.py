"""Rows: how many go through the model at once, and the arguments of a subset of examples.

How many rows go through the model at once when the caller does not say, and the target and
additional forward arguments of a subset of the examples.
"""

from __future__ import annotations

import math
from typing import Any

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


def select_target(target: TargetType, rows: Tensor, n_examples: int) -> TargetType:
    """The targets of the examples ``rows``.

    Selected when ``target`` is given per example (a list or a tensor of ``n_examples``); a
    target shared by all examples is returned as it is.
    """
    if isinstance(target, list):
        return [target[i] for i in rows.tolist()]
    if isinstance(target, Tensor) and target.numel() > 1:
        return target.reshape(n_examples)[rows.to(target.device)]
    return target


def select_forward_args(args: tuple[Any, ...] | None, rows: Tensor) -> tuple[Any, ...] | None:
    """The additional forward arguments (formatted as a tuple) of the examples ``rows``.

    Tensors are per example (batch first) and are indexed; anything else is shared.
    """
    if args is None:
        return None
    return tuple(a[rows.to(a.device)] if isinstance(a, Tensor) and a.dim() > 0 else a for a in args)
