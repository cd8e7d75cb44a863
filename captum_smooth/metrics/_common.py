"""What the metrics share.

Argument checks, the 2-D map of an attribution, the model in chunks, and a cache of what
depends on the images only.
"""

from __future__ import annotations

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
"""Results keyed by the content they were computed from (see :func:`fingerprint`), shared by
calls on the same images: model outputs per row, interpolated images, compressed sizes.
:func:`~captum_smooth.evaluation.evaluate_methods` passes one per batch, so that what depends
on the image and not on the method (PIC's blurred start, the unperturbed image, AUPC's
perturbations of windows the maps agree on) is computed once."""
T = TypeVar("T")


def fingerprint(value: Tensor | np.ndarray) -> tuple[Any, ...]:
    """A key for ``value``'s content: shape, dtype and a SHA-1 of its bytes."""
    array = value.detach().cpu().numpy() if isinstance(value, Tensor) else np.asarray(value)
    array = np.ascontiguousarray(array)
    return (array.shape, str(array.dtype), hashlib.sha1(array.tobytes()).digest())


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


def check_target(target: Any, images: Tensor) -> None:
    """Check ``target``: ``None`` or class indices for the batch ``images``.

    An int, a sequence with one int per image, or an integer tensor on the images' device;
    none negative. Checked before any model call; :func:`target_per_example` checks them
    against the number of outputs.
    """
    if target is None:
        return
    if isinstance(target, bool) or not isinstance(target, (int, Sequence, Tensor)):
        raise TypeError(f"`target` must be an int, a sequence or a tensor, got {type(target)}")
    check.check_target(
        list(target) if isinstance(target, Sequence) else target, images.shape[0], images
    )


def target_per_example(target: Any, outputs: Tensor) -> Tensor:
    """``target`` as a ``(B,)`` index tensor on the outputs' device.

    ``None`` takes the model's top-1 class (column 0 for a model with one output).
    """
    n_examples = outputs.shape[0]
    if target is None:
        return outputs.argmax(dim=1)
    check_target(target, outputs)
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
) -> Tensor:
    """The model's outputs ``(n_rows, K)`` for rows built chunk by chunk.

    ``rows(start, stop)`` gives raw rows ``start:stop``, ``input_transform`` maps them to
    model inputs. Forward only, under ``torch.no_grad``, at most ``batch_size`` rows at a time
    (``None``: as many as :func:`~captum_smooth._utils.batching.chunk_rows` allows for one
    row). With a ``cache``, a row seen before (same content, model and transform) is not run
    again.

    A transform or a model that gives NaN or inf, or not one row per image, is a
    ``ValueError`` naming it: its scores would be NaN or made up. With ``classes_for`` (the
    metric's name), a model with one output is refused on the first chunk
    (:func:`check_classes`).
    """
    step = batching.chunk_rows(batch_size, rows(0, 1)) if n_rows else 1
    outputs = []
    with torch.no_grad():
        for start in range(0, n_rows, step):
            raw = rows(start, min(start + step, n_rows))
            if cache is None:
                outputs.append(_run(forward_func, raw, input_transform))
            else:
                outputs.append(_run_cached(forward_func, raw, input_transform, cache))
            if classes_for is not None:
                check_classes(outputs[-1], classes_for)
            if progress is not None:
                progress.update(raw.shape[0])
    return torch.cat(outputs)


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
    forward_func: Callable[..., Any], raw: Tensor, input_transform: InputTransform | None
) -> Tensor:
    model_input = raw if input_transform is None else input_transform(raw)
    if input_transform is not None and not check.is_finite_batch(model_input, raw.shape[0]):
        raise ValueError("`input_transform` must return a finite tensor with one row per image")
    output = forward_func(model_input)
    if not check.is_finite_batch(output, raw.shape[0]):
        raise ValueError(
            "`forward_func` must return a finite tensor with one row of outputs per image "
            "(no NaN or inf)"
        )
    return output.reshape(raw.shape[0], -1)


def _run_cached(
    forward_func: Callable[..., Any],
    raw: Tensor,
    input_transform: InputTransform | None,
    cache: Cache,
) -> Tensor:
    """The outputs of the rows of ``raw``, running only rows the cache has not seen."""
    keys = [("outputs", id(forward_func), id(input_transform), fingerprint(r)) for r in raw]
    missing = [i for i, key in enumerate(keys) if key not in cache]
    # a row repeated within the chunk runs once
    first = list(dict.fromkeys(keys[i] for i in missing))
    if first:
        index = [keys.index(key) for key in first]
        computed = _run(forward_func, raw[index], input_transform)
        for key, output in zip(first, computed, strict=True):
            cache[key] = output
    return torch.stack([cache[key] for key in keys])


def progress_bar(show_progress: bool, total: int, desc: str) -> Any:
    """A tqdm bar counting rows through the model (``None`` when not shown)."""
    if not check.check_flag("show_progress", show_progress):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="rows")


def simpson(curves: Tensor) -> Tensor:
    """Simpson's rule with ``dx = 1`` along the last axis, by ``scipy.integrate.simpson``.

    For an even number of points scipy (≥ 1.11, the only rule since 1.13) applies Simpson's
    1/3 rule to the first ``N - 2`` intervals and Cartwright's correction (a parabola through
    the last three points) to the last one.
    """
    from scipy.integrate import simpson as scipy_simpson

    values = scipy_simpson(curves.detach().cpu().double().numpy(), dx=1.0, axis=-1)
    return torch.as_tensor(values, dtype=curves.dtype, device=curves.device)
