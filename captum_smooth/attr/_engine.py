"""The one place where rows meet the model.

Every method of the package is the same pipeline: a *path* (Gaussian roots, straight lines
towards baselines, a guided or a blurred path) produces blocks of points, one row per example;
this module pushes the rows through the model in chunks of at most ``internal_batch_size``,
returning the target output *and* its input gradient from the same forward pass; a *rule*
(:mod:`captum_smooth.attr._rules`) folds the chunks into attributions.

Blocks are consumed lazily, so peak memory is bounded by the chunk size, not by the number of
steps or samples. Rows keep the index of their block and example so that rules can place them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, NamedTuple

import torch
from torch import Tensor

from captum_smooth._utils.batching import chunk_rows
from captum_smooth._utils.captum_compat import (
    TargetType,
    format_additional_forward_args,
    run_forward,
)


class Block(NamedTuple):
    """One point per example (leading dimension = number of examples).

    ``displacements`` is what a Riemann-type rule multiplies the gradient by (e.g. the step
    size times ``x - x'``); ``value_weights`` weights the model output of each row in a
    weighted sum of outputs (used for convergence deltas; zero when not given). All blocks of
    one stream either have displacements or do not.
    """

    points: tuple[Tensor, ...]
    displacements: tuple[Tensor, ...] | None = None
    value_weights: Tensor | None = None


class Chunk(NamedTuple):
    """Evaluated rows: the block's fields plus where each row belongs, f and ∇f."""

    points: tuple[Tensor, ...]
    displacements: tuple[Tensor, ...] | None
    value_weights: Tensor
    block: Tensor
    example: Tensor
    values: Tensor
    grads: tuple[Tensor, ...]


def evaluate(
    forward_func: Callable[..., Any],
    blocks: Iterable[Block],
    target: TargetType,
    additional_forward_args: Any,
    n_examples: int,
    internal_batch_size: int | None,
) -> Iterator[Chunk]:
    """Yield the model's target values and input gradients for every row of ``blocks``.

    Rows are taken in order (block by block) and regrouped into chunks of at most
    ``internal_batch_size`` rows (``None``: see :func:`chunk_rows`). ``target`` and
    ``additional_forward_args`` are given per example, as the user passed them, and are
    selected for each row by its example index.
    """
    additional_forward_args = format_additional_forward_args(additional_forward_args)
    blocks = iter(blocks)
    first = next(blocks, None)
    if first is None:
        return
    size = chunk_rows(internal_batch_size, first.points)
    stream = (_flatten(b, i, n_examples) for i, b in enumerate(itertools.chain([first], blocks)))
    for flat, layout in _rebatch(stream, size):
        points, displacements, value_weights, block, example = _unflatten(flat, layout)
        values, grads = value_and_grad(
            forward_func,
            points,
            _target_rows(target, example, n_examples),
            _forward_args_rows(additional_forward_args, example, n_examples),
        )
        yield Chunk(points, displacements, value_weights, block, example, values, grads)


def value_and_grad(
    forward_func: Callable[..., Any],
    points: tuple[Tensor, ...],
    target: TargetType,
    additional_forward_args: Any,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One forward and one backward pass: ``f(points)`` (one scalar per row) and ``∇f``.

    Gradients are taken with respect to the points only, never the model's parameters, and
    gradients are enabled even when the caller runs under ``torch.no_grad`` (NoiseTunnel and
    ``captum.metrics.sensitivity_max`` do).
    """
    n_rows = points[0].shape[0]
    with torch.enable_grad():
        rows = tuple(p.detach().requires_grad_(True) for p in points)
        output = run_forward(forward_func, rows, target, additional_forward_args)
        if not isinstance(output, Tensor) or output.numel() != n_rows:
            shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
            raise ValueError(
                f"forward_func must give one scalar per example once `target` is applied; "
                f"got output of shape {shape} for {n_rows} rows. Pass `target` to select "
                f"the output to explain."
            )
        values = output.reshape(n_rows)
        grads = (
            torch.autograd.grad(values.sum(), rows, allow_unused=True)
            if values.requires_grad
            else (None,) * len(rows)
        )
    if all(g is None for g in grads):
        raise ValueError(
            "forward_func's output does not depend differentiably on the inputs: autograd "
            "finds no path from them to it (a forward under torch.no_grad(), a .detach(), or "
            "a non-differentiable step such as argmax or .numpy()). Attributions need "
            "gradients: run the model with autograd enabled."
        )
    # an input the output does not depend on (one of a tuple) gets zero gradients
    grads = tuple(torch.zeros_like(r) if g is None else g for g, r in zip(grads, rows, strict=True))
    values = values.detach()
    if not (torch.isfinite(values).all() and all(torch.isfinite(g).all() for g in grads)):
        raise ValueError(
            "forward_func gave a non-finite output or gradient (NaN or inf) on the "
            "attribution path; the attributions would be NaN"
        )
    return values, grads


def _target_rows(target: TargetType, example: Tensor, n_examples: int) -> TargetType:
    if isinstance(target, list):
        return [target[i] for i in example.tolist()]
    if isinstance(target, Tensor) and target.numel() > 1:
        return target.reshape(n_examples)[example.to(target.device)]
    return target


def _forward_args_rows(args: tuple[Any, ...] | None, example: Tensor, n_examples: int) -> Any:
    if args is None:
        return None
    return tuple(
        a[example.to(a.device)] if isinstance(a, Tensor) and a.dim() > 0 else a for a in args
    )


class _Layout(NamedTuple):
    n_points: int
    n_displacements: int | None


def _flatten(block: Block, index: int, n_examples: int) -> tuple[tuple[Tensor, ...], _Layout]:
    device = block.points[0].device
    rows = torch.arange(n_examples, device=device)
    weights = block.value_weights
    if weights is None:
        weights = torch.zeros(n_examples, dtype=block.points[0].dtype, device=device)
    flat = [*block.points, *(block.displacements or ()), weights]
    flat.extend([torch.full_like(rows, index), rows])
    layout = _Layout(
        len(block.points), None if block.displacements is None else len(block.displacements)
    )
    return tuple(flat), layout


def _unflatten(flat: tuple[Tensor, ...], layout: _Layout):
    n = layout.n_points
    points, rest = flat[:n], flat[n:]
    displacements = None
    if layout.n_displacements is not None:
        displacements, rest = rest[: layout.n_displacements], rest[layout.n_displacements :]
    value_weights, block, example = rest
    return points, displacements, value_weights, block, example


def _rebatch(
    stream: Iterable[tuple[tuple[Tensor, ...], _Layout]], size: int
) -> Iterator[tuple[tuple[Tensor, ...], _Layout]]:
    """Regroup a stream of row-aligned tensor tuples into chunks of exactly ``size`` rows
    (the last one shorter)."""
    pending: list[tuple[Tensor, ...]] = []
    n_pending = 0
    layout = None
    for flat, block_layout in stream:
        if layout is not None and block_layout != layout:
            raise ValueError("all blocks of a stream must have the same fields")
        layout = block_layout
        pending.append(flat)
        n_pending += flat[0].shape[0]
        while n_pending >= size:
            joined = _cat(pending)
            yield tuple(t[:size] for t in joined), layout
            n_pending -= size
            pending = [tuple(t[size:] for t in joined)] if n_pending else []
    if n_pending:
        yield _cat(pending), layout


def _cat(parts: list[tuple[Tensor, ...]]) -> tuple[Tensor, ...]:
    if len(parts) == 1:
        return parts[0]
    return tuple(torch.cat(column) for column in zip(*parts, strict=True))


AdaptivePath = Generator[Block, tuple[Tensor, tuple[Tensor, ...]], None]


def evaluate_adaptive(
    forward_func: Callable[..., Any],
    path: AdaptivePath,
    target: TargetType,
    additional_forward_args: Any,
    n_examples: int,
    internal_batch_size: int | None,
) -> Iterator[Chunk]:
    """Evaluate a path whose next point depends on the gradient at the current one.

    ``path`` is a generator: it yields a block, receives ``(values, grads)`` for it and yields
    the next block. Each block is still split under ``internal_batch_size``. The chunk of
    block ``j`` is yielded once block ``j + 1`` is known, with the polygonal displacement
    ``x_{j+1} - x_j`` (zero for the last block), so that any rule can consume it.
    """
    block = next(path)
    index = 0
    while True:
        parts = list(
            evaluate(
                forward_func,
                [block],
                target,
                additional_forward_args,
                n_examples,
                internal_batch_size,
            )
        )
        values = torch.cat([p.values for p in parts])
        grads = tuple(torch.cat(column) for column in zip(*(p.grads for p in parts), strict=True))
        try:
            following = path.send((values, grads))
        except StopIteration:
            following = None
        ends = block.points if following is None else following.points
        yield Chunk(
            points=block.points,
            displacements=tuple(e - p for e, p in zip(ends, block.points, strict=True)),
            value_weights=torch.cat([p.value_weights for p in parts]),
            block=torch.full((n_examples,), index, device=values.device),
            example=torch.arange(n_examples, device=values.device),
            values=values,
            grads=grads,
        )
        if following is None:
            return
        block, index = following, index + 1
