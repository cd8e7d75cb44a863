"""Timing helpers shared by the benchmark scripts: best-of-n wall time and the bare-model
"rooflines" every method is divided by."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

KEEP_FREED_MEMORY = {"MALLOC_MMAP_THRESHOLD_": str(2**26), "MALLOC_TRIM_THRESHOLD_": str(2**30)}
"""glibc settings under which freed memory stays in the process (a diagnostic): no call pays
page faults for memory an earlier call handed back to the system. Read when a process starts."""


def synchronize(device: torch.device | str | None) -> None:
    """Wait for the device's queued work (a no-op on the CPU): read a timer only after it, as
    CUDA kernels run asynchronously."""
    device = torch.device("cpu" if device is None else device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(
    fn: Callable[[], object], repeats: int, device: torch.device | str | None = None
) -> float:
    """The fastest of ``repeats`` wall-clock runs of ``fn``, in seconds (synchronised with
    ``device`` before and after each run)."""
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
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
