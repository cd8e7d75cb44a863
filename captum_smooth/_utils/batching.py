"""How many rows go through the model at once, when the caller does not say."""

from __future__ import annotations

import math

from torch import Tensor

AUTO_CHUNK_ELEMENTS = 2_500_000
"""Without an explicit batch size, a chunk holds at most this many input elements: 16 rows of
a 3×224×224 image (about 2.2 GB peak for EfficientNet-Lite0 forward and backward on a CPU),
many thousands of rows of a small tabular model."""


def chunk_rows(batch_size: int | None, row: Tensor | tuple[Tensor, ...]) -> int:
    """``batch_size`` when given, else as many rows as hold :data:`AUTO_CHUNK_ELEMENTS` input
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
