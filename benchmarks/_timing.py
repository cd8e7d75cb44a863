"""Timing helpers shared by the benchmark scripts: best-of-n wall time and the bare-model
"rooflines" every method is divided by."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` wall-clock runs of ``fn``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def roofline(model, images: torch.Tensor, n_rows: int, batch: int, target: int = 0) -> None:
    """Bare forward+backward (input gradients only) of ``n_rows`` copies of the first image,
    in batches of ``batch`` rows: what any gradient method must pay for the same rows."""
    x = images[:1].expand(batch, *images.shape[1:]).clone()
    for start in range(0, n_rows, batch):
        rows = x[: min(batch, n_rows - start)].detach().requires_grad_(True)
        torch.autograd.grad(model(rows)[:, target].sum(), rows)


def bare_forward(model, images: torch.Tensor, n_rows: int, batch: int) -> None:
    """Forward-only passes (``torch.no_grad``) of ``n_rows`` rows in batches of ``batch``."""
    rows = images[:1].expand(batch, *images.shape[1:]).clone()
    with torch.no_grad():
        for start in range(0, n_rows, batch):
            model(rows[: min(batch, n_rows - start)])
