"""What the metrics share.

Argument checks, the 2-D map of an attribution, the model in chunks, and a cache of what
depends on the images only.

Written for the GPU: the model's outputs, the checks of what the model and the transform
return and the cache's keys stay on the device, and each call of :func:`model_outputs` reads
the device once or twice (the checks' verdict, the keys), however many chunks it runs.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from torch import Tensor

from captum_smooth._utils import batching
from captum_smooth._utils import validation as check

ChannelReduction = Literal["sum", "abs_sum"]
InputTransform = Callable[[Tensor], Tensor]
Cache = MutableMapping[Any, Any]
"""Results keyed by the content they were computed from, shared by calls on the same images:
model outputs per row (keyed by :func:`row_keys`, on the device), PIC's interpolated images
and their information levels (keyed by :func:`fingerprint`, on the host where they are built).
:func:`~captum_smooth.evaluation.evaluate_methods` passes one per batch, so that what depends
on the image and not on the method (PIC's blurred start, the unperturbed image, the rows of an
insertion curve another metric ran) is computed once."""
T = TypeVar("T")

HASH_SEED = 0x5EED_CAC4E
"""Seeds the weights of :func:`row_keys`: fixed, so that keys agree across calls."""


def fingerprint(array: np.ndarray) -> tuple[Any, ...]:
    """A key for a host array's content: shape, dtype and a SHA-1 of its bytes."""
    array = np.ascontiguousarray(array)
    return (array.shape, str(array.dtype), hashlib.sha1(array.tobytes()).digest())


def row_keys(rows: Tensor) -> Tensor:
    """``(N, 2)`` int64 keys of the rows of ``rows``, computed on their device.

    Each row's bits, read as 16-bit words ``x`` (bytes for a one-byte dtype), are hashed by
    two dot products ``Σ w_i x_i mod 2⁶⁴`` with fixed random int64 weights ``w``. Equal rows
    give equal keys in every dtype (bfloat16 included) and whatever the chunk; integer sums
    wrap exactly, so the order of the reduction does not matter. Two rows that differ give the
    same key with probability at most ``2⁻⁴⁹`` per weight vector (a difference of 16-bit words
    has at most 15 trailing zero bits; about ``2⁻⁶⁴`` for most differences), ``2⁻⁹⁸`` for
    both. Shape and dtype are not in the key: the caller adds them.

    Memory: the words as int64 and one product, eight times the rows' bytes, on top of the
    rows (one chunk of ``batch_size`` rows at a time).
    """
    flat = rows.detach().reshape(rows.shape[0], -1).contiguous()
    words = flat.view(torch.int16 if flat.element_size() % 2 == 0 else torch.uint8).long()
    first, second = _hash_weights(words.shape[1], words.device)
    keys = torch.stack([(words * first).sum(dim=1), words.mul_(second).sum(dim=1)], dim=1)
    return keys


@functools.lru_cache(maxsize=8)
def _hash_weights(n_words: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Two fixed random int64 weight vectors of ``n_words``, made once per size and device."""
    generator = torch.Generator().manual_seed(HASH_SEED)
    low, high = -(2**63), 2**63 - 1
    weights = torch.randint(low, high, (2, n_words), generator=generator, dtype=torch.int64)
    return weights[0].to(device), weights[1].to(device)


def cached(cache: Cache | None, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """``compute()``, or its value stored under ``key`` in ``cache`` (``None``: no cache)."""
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def check_cache(cache: Any) -> Cache | None:
    """``None`` or a mutable mapping (a dict)."""
    if cache is not None and not isinstance(cache, MutableMapping):
        raise TypeError(f"`cache` must be a dict or None, got {type(cache).__name__}")
    return cache


def check_images(name: str, images: Any) -> Tensor:
    """A finite floating-point batch of images ``(B, C, H, W)``, ``B ≥ 1``."""
    images = check.check_tensor(name, images)
    if images.dim() != 4:
        raise ValueError(f"`{name}` must have shape (B, C, H, W), got {tuple(images.shape)}")
    return images


def saliency_map(
    attributions: Any,
    images_shape: torch.Size,
    channel_reduction: ChannelReduction = "sum",
    device: torch.device | None = None,
    reference: str = "inputs",
) -> Tensor:
    """The 2-D map ``(B, H, W)`` of ``attributions``.

    Channels are summed (signed, the default of docs/reference.md#metrics) or summed in
    absolute value; a ``(B, H, W)`` tensor is taken as the map itself.

    ``attributions`` must be finite, floating point, on ``device`` (that of ``reference``,
    ``None``: any) and match ``images_shape``, the shape of ``reference``.
    """
    attributions = check.check_tensor("attributions", attributions, device, reference)
    check.check_choice("channel_reduction", channel_reduction, ("sum", "abs_sum"))
    batch, _, height, width = images_shape
    shape = tuple(attributions.shape)
    if attributions.dim() == 4 and shape[:1] + shape[2:] == (batch, height, width):
        values = attributions.abs() if channel_reduction == "abs_sum" else attributions
        return values.sum(dim=1)
    if shape == (batch, height, width):
        return attributions
    raise ValueError(
        f"`attributions` of shape {shape} does not match the shape {tuple(images_shape)} of "
        f"`{reference}`: give (B, C, H, W) or a (B, H, W) map"
    )


def check_class_indices(target: Any, examples: Tensor) -> None:
    """Check a metric's ``target``: ``None`` or class indices for the batch ``examples``.

    An int, a sequence (a tuple included) with one int per example, or an integer tensor on
    the examples' device; none negative. Checked before any model call;
    :func:`target_per_example` checks them against the number of outputs. Narrower than
    Captum's target forms (``validation.check_target``), where a tuple indexes one output.
    """
    if target is None:
        return
    if isinstance(target, bool) or not isinstance(target, (int, Sequence, Tensor)):
        raise TypeError(f"`target` must be an int, a sequence or a tensor, got {type(target)}")
    check.check_target(
        list(target) if isinstance(target, Sequence) else target, examples.shape[0], examples
    )


def target_per_example(target: Any, outputs: Tensor) -> Tensor:
    """``target`` as a ``(B,)`` index tensor on the outputs' device.

    ``None`` takes the model's top-1 class (column 0 for a model with one output).
    """
    n_examples = outputs.shape[0]
    if target is None:
        return outputs.argmax(dim=1)
    check_class_indices(target, outputs)
    index = torch.as_tensor(target, device=outputs.device)
    index = index.reshape(-1).long().expand(n_examples)
    if ((index < 0) | (index >= outputs.shape[1])).any():
        raise ValueError(f"`target` must index one of the model's {outputs.shape[1]} outputs")
    return index


def model_outputs(
    forward_func: Callable[..., Any],
    rows: Callable[[int, int], Tensor],
    n_rows: int,
    batch_size: int | None,
    input_transform: InputTransform | None = None,
    progress: Any = None,
    cache: Cache | None = None,
    classes_for: str | None = None,
    checks: FiniteChecks | None = None,
) -> Tensor:
    """The model's outputs ``(n_rows, K)`` for rows built chunk by chunk.

    ``rows(start, stop)`` gives raw rows ``start:stop``, ``input_transform`` maps them to
    model inputs. Forward only, under ``torch.no_grad``, at most ``batch_size`` rows at a time
    (``None``: as many as :func:`~captum_smooth._utils.batching.chunk_rows` allows for one
    row). With a ``cache``, a row seen before (same content, model and transform) is not run
    again: the rows are built and hashed on the device (:func:`row_keys`) and their keys read
    in one transfer, then the chunks holding new rows are built again and run.

    A transform or a model that gives NaN or inf, or not one row per image, is a
    ``ValueError`` naming it: its scores would be NaN or made up. Finiteness is gathered on
    the device and read once, after the last chunk; with ``checks`` and no ``cache`` the caller
    reads it (:meth:`FiniteChecks.raise_if_bad`) once for several calls. With ``classes_for`` (the
    metric's name), a model with one output is refused on the first chunk
    (:func:`check_classes`).
    """
    step = batching.chunk_rows(batch_size, rows(0, 1)) if n_rows else 1
    own_checks = checks is None
    checks = FiniteChecks() if checks is None else checks
    starts = range(0, n_rows, step)
    with torch.no_grad():
        if cache is None:
            outputs = []
            for start in starts:
                raw = rows(start, min(start + step, n_rows))
                outputs.append(_run(forward_func, raw, input_transform, checks, classes_for))
                if progress is not None:
                    progress.update(raw.shape[0])
            result = torch.cat(outputs)
            if own_checks:
                checks.raise_if_bad()
            return result
        return _run_cached(
            forward_func, rows, n_rows, step, input_transform, progress, cache, checks,
            classes_for,
        )  # fmt: skip


class FiniteChecks:
    """Whether what the transform and the model returned was finite, gathered on the device.

    One read for any number of chunks (:meth:`raise_if_bad`), instead of one per chunk.
    """

    def __init__(self) -> None:
        self.flags: list[Tensor] = []

    def add(self, transformed: Tensor | None, output: Tensor) -> None:
        """Record whether ``transformed`` (``None``: no transform) and ``output`` are finite."""
        device = output.device
        self.flags.append(
            torch.stack(
                [
                    torch.ones((), dtype=torch.bool, device=device)
                    if transformed is None
                    else _finite(transformed).to(device),
                    _finite(output),
                ]
            )
        )

    def raise_if_bad(self) -> None:
        """``ValueError`` naming the transform or the model if either gave NaN or inf."""
        if not self.flags:
            return
        transform_ok, model_ok = torch.stack(self.flags).all(dim=0).tolist()
        self.flags = []
        if not transform_ok:
            raise ValueError("`input_transform` must return a finite tensor with one row per image")
        if not model_ok:
            raise ValueError(
                "`forward_func` must return a finite tensor with one row of outputs per image "
                "(no NaN or inf)"
            )


def _finite(tensor: Tensor) -> Tensor:
    """A 0-d bool tensor on ``tensor``'s device: whether every element is finite.

    A float64 sum of narrower floats cannot overflow and is finite only if every term is,
    at the cost of one summing pass; float64 values are tested element by element.
    """
    if tensor.dtype == torch.float64 or not tensor.is_floating_point():
        return torch.isfinite(tensor).all()
    return torch.isfinite(tensor.sum(dtype=torch.float64))


def check_classes(outputs: Tensor, metric: str) -> None:
    """Refuse a model with one output where ``metric`` compares classes (softmax or argmax).

    The softmax of a single logit is 1 and its argmax is always 0: every map would get the same
    score, whatever it shows.
    """
    if outputs.shape[-1] < 2:
        raise ValueError(
            f"`forward_func` returns one output per example, but {metric} compares the model's "
            "classes: the softmax of one logit is always 1 and its argmax always 0, so every map "
            "would score the same. Give one logit per class: for a binary classifier with logit "
            "z, return torch.cat([torch.zeros_like(z), z], dim=1), whose class 1 has the "
            "probability sigmoid(z)"
        )


def _run(
    forward_func: Callable[..., Any],
    raw: Tensor,
    input_transform: InputTransform | None,
    checks: FiniteChecks,
    classes_for: str | None,
) -> Tensor:
    """The outputs ``(rows, K)`` of ``raw``; their finiteness goes to ``checks``, unread."""
    model_input = raw if input_transform is None else input_transform(raw)
    if input_transform is not None and not _is_batch(model_input, raw.shape[0]):
        raise ValueError("`input_transform` must return a finite tensor with one row per image")
    output = forward_func(model_input)
    if not _is_batch(output, raw.shape[0]):
        raise ValueError(
            "`forward_func` must return a finite tensor with one row of outputs per image "
            "(no NaN or inf)"
        )
    checks.add(None if input_transform is None else model_input, output)
    output = output.reshape(raw.shape[0], -1)
    if classes_for is not None:
        check_classes(output, classes_for)
    return output


def _is_batch(value: Any, n_rows: int) -> bool:
    """Whether ``value`` is a tensor with ``n_rows`` rows (its shape only: no device read)."""
    return isinstance(value, Tensor) and value.dim() > 0 and value.shape[0] == n_rows


def _run_cached(
    forward_func: Callable[..., Any],
    rows: Callable[[int, int], Tensor],
    n_rows: int,
    step: int,
    input_transform: InputTransform | None,
    progress: Any,
    cache: Cache,
    checks: FiniteChecks,
    classes_for: str | None,
) -> Tensor:
    """:func:`model_outputs` with a cache: hash every row, read the keys once, run new rows.

    New outputs enter the cache only once they are known to be finite (``checks`` is read
    here, whoever made it).
    """
    tag = ("outputs", id(forward_func), id(input_transform))
    hashed, last = [], None
    for start in range(0, n_rows, step):
        last = (start, rows(start, min(start + step, n_rows)))
        hashed.append(row_keys(last[1]))
    meta = (tuple(last[1].shape[1:]), last[1].dtype, last[1].device)
    keys = [(*tag, *meta, *key) for key in torch.cat(hashed).tolist()]
    new: dict[Any, Tensor] = {}
    for start in range(0, n_rows, step):
        stop = min(start + step, n_rows)
        # a row repeated within the call runs once
        todo = {k: i for i, k in enumerate(keys[start:stop]) if k not in cache and k not in new}
        if todo:
            raw = last[1] if last[0] == start else rows(start, stop)
            local = list(todo.values())
            selected = raw if len(local) == raw.shape[0] else raw[local]
            computed = _run(forward_func, selected, input_transform, checks, classes_for)
            new.update(zip(todo, computed, strict=True))
        if progress is not None:
            progress.update(stop - start)
    checks.raise_if_bad()
    cache.update(new)
    outputs = torch.stack([cache[k] for k in keys])
    if classes_for is not None:
        check_classes(outputs, classes_for)
    return outputs


def simpson(curves: Tensor) -> Tensor:
    """Simpson's rule with ``dx = 1`` along the last axis, as ``scipy.integrate.simpson``.

    On the curves' device, in float64: Simpson's 1/3 rule for an odd number of points; for an
    even number, scipy's (≥ 1.11, the only rule since 1.13): Simpson's 1/3 rule on the first
    ``N - 2`` intervals and Cartwright's correction (a parabola through the last three points)
    on the last one, ``(5 y[-1] + 8 y[-2] - y[-3]) / 12``; the trapezoid for two points.
    """
    n_points = curves.shape[-1]
    # twelve times the weights, integers: a constant curve integrates exactly
    weights = torch.zeros(n_points, dtype=torch.float64)
    if n_points == 2:
        weights += 6.0
    elif n_points > 2:
        odd = n_points if n_points % 2 else n_points - 1
        weights[:odd] = 8.0
        weights[1:odd:2] = 16.0
        weights[[0, odd - 1]] = 4.0
        if odd < n_points:
            weights[-3:] += torch.tensor([-1.0, 8.0, 5.0], dtype=torch.float64)
    values = (curves.detach().double() @ weights.to(curves.device)) / 12
    return values.to(curves.dtype)
