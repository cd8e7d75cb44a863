"""Insertion and deletion curves (Petsiuk et al., 2018; IDGI paper §4.3).

See docs/reference.md#insertion-and-deletion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.progress import progress_bar
from captum_smooth.metrics import _common as common


class InsertionResult(NamedTuple):
    """Per-example insertion (or deletion) scores and the curves behind them.

    Example:
        >>> from captum_smooth.metrics import insertion
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
        >>> images = torch.rand(2, 3, 8, 8)  # raw pixels in [0, 1]
        >>> attributions = torch.randn(2, 3, 8, 8)
        >>> result = insertion(model, images, attributions, target=1, n_steps=4)
        >>> result.fractions.tolist()  # the fraction of the pixels inserted at each point
        [0.0, 0.25, 0.5, 0.75, 1.0]
        >>> result.score.shape, result.curve.shape, result.ratio_curve.shape
        (torch.Size([2]), torch.Size([2, 5]), torch.Size([2, 5]))
    """

    score: Tensor
    """``(B,)`` area under the probability curve over the fraction of pixels, in [0, 1]."""
    ratio_score: Tensor
    """``(B,)`` area under the probability-ratio curve (probability / that of the image)."""
    curve: Tensor
    """``(B, n_steps + 1)`` softmax probability of the target class at each fraction."""
    ratio_curve: Tensor
    """``(B, n_steps + 1)`` the curve divided by the probability on the original image."""
    fractions: Tensor
    """``(n_steps + 1,)`` the fraction of pixels inserted (or deleted): 0, 0.05, …, 1."""


def insertion(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    target: Any = None,
    *,
    baselines: float | Tensor = 0.0,
    n_steps: int = 20,
    input_transform: common.InputTransform | None = None,
    channel_reduction: common.ChannelReduction = "sum",
    batch_size: int | None = None,
    show_progress: bool = False,
    cache: common.Cache | None = None,
) -> InsertionResult:
    r"""Insertion curve and its area (Petsiuk et al., "RISE", BMVC 2018).

    As used by Yang et al., "IDGI", CVPR 2023, §4.3.

    Starting from ``baselines`` (a black image by default), the pixels of ``inputs`` are
    inserted in order of decreasing attribution (channels summed; all channels of a pixel
    together), ``1 / n_steps`` of the pixels at a time (5 % by default: 21 points). At each
    point the softmax probability ``p_t`` of the target class is recorded:

    .. math:: \mathrm{Insertion} = \int_0^1 p_t \, dt \ \text{(trapezoid rule)},\qquad
              \mathrm{ratio} = \int_0^1 p_t / p(x) \, dt

    Higher is better. ``score`` lies in [0, 1]; ``ratio_score`` is positive and unbounded
    (1 when every point equals the image's probability).

    Args:
        forward_func: the model: images → logits ``(B, K)``, ``K ≥ 2`` (softmax is applied
            here; a model with one output is a ``ValueError``: its softmax is always 1).
        inputs: ``(B, C, H, W)`` images in raw pixel space.
        attributions: ``(B, C, H, W)`` attributions or a ``(B, H, W)`` map.
        target: the class per example; ``None``: the model's top-1 class on ``inputs``.
        baselines: the image pixels are inserted into, in raw pixel space: a float or a
            tensor broadcastable to ``inputs`` (default 0, black).
        n_steps: the number of insertion steps (20: 5 % of the pixels per step).
        input_transform: raw pixels → model inputs, applied to every row.
        channel_reduction: ``"sum"`` (signed, default) or ``"abs_sum"`` over channels.
        batch_size: at most this many rows go through the model at once (``None``: as many
            as hold 2.5 million input elements, 16 rows of 3×224×224).
        show_progress: show a tqdm progress bar over the rows.
        cache: a dict shared by calls on the same images (``evaluate_methods`` passes one per
            batch): a model input seen before (the unperturbed image, the same perturbation
            chosen for another map) is not run again.

    Returns:
        :class:`InsertionResult` ``(score, ratio_score, curve, ratio_curve, fractions)``.

    Example:
        >>> from captum_smooth.examples import normalize
        >>> from captum_smooth.metrics import insertion
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
        >>> images = torch.rand(2, 3, 8, 8)  # raw pixels in [0, 1]
        >>> attributions = torch.randn(2, 3, 8, 8)
        >>> labels = torch.tensor([0, 2])
        >>> score = insertion(model, images, attributions, labels, input_transform=normalize).score
        >>> score.shape, bool(((0 <= score) & (score <= 1)).all())
        (torch.Size([2]), True)
    """
    return _curve(
        "insertion",
        forward_func,
        inputs,
        attributions,
        target,
        baselines=baselines,
        n_steps=n_steps,
        input_transform=input_transform,
        channel_reduction=channel_reduction,
        batch_size=batch_size,
        show_progress=show_progress,
        cache=cache,
    )


def deletion(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    target: Any = None,
    *,
    baselines: float | Tensor = 0.0,
    n_steps: int = 20,
    input_transform: common.InputTransform | None = None,
    channel_reduction: common.ChannelReduction = "sum",
    batch_size: int | None = None,
    show_progress: bool = False,
    cache: common.Cache | None = None,
) -> InsertionResult:
    r"""Deletion curve and its area (Petsiuk et al., "RISE", BMVC 2018).

    The mirror image of :func:`insertion`.

    Starting from ``inputs``, the pixels are replaced by ``baselines`` in order of decreasing
    attribution, ``1 / n_steps`` of them at a time; the softmax probability of the target is
    recorded and integrated over the deleted fraction (trapezoid rule). Lower is better;
    ``score`` lies in [0, 1]. Arguments and result as in :func:`insertion` (``fractions`` are
    the fractions deleted).

    Example:
        >>> from captum_smooth.examples import normalize
        >>> from captum_smooth.metrics import deletion
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
        >>> images = torch.rand(2, 3, 8, 8)  # raw pixels in [0, 1]
        >>> attributions = torch.randn(2, 3, 8, 8)
        >>> labels = torch.tensor([0, 2])
        >>> score = deletion(model, images, attributions, labels, input_transform=normalize).score
        >>> score.shape, bool(((0 <= score) & (score <= 1)).all())
        (torch.Size([2]), True)
    """
    return _curve(
        "deletion",
        forward_func,
        inputs,
        attributions,
        target,
        baselines=baselines,
        n_steps=n_steps,
        input_transform=input_transform,
        channel_reduction=channel_reduction,
        batch_size=batch_size,
        show_progress=show_progress,
        cache=cache,
    )


def _curve(
    kind: str,
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    target: Any,
    *,
    baselines: float | Tensor,
    n_steps: int,
    input_transform: common.InputTransform | None,
    channel_reduction: common.ChannelReduction,
    batch_size: int | None,
    show_progress: bool,
    cache: common.Cache | None,
) -> InsertionResult:
    images = common.check_images("inputs", inputs)
    common.check_class_indices(target, images)
    heatmap = common.saliency_map(attributions, images.shape, channel_reduction, images.device)
    check.check_callable("forward_func", forward_func)
    check.check_callable("input_transform", input_transform, optional=True)
    background = check.as_tensor_like("baselines", baselines, images).expand_as(images)
    check.check_count("n_steps", n_steps)
    check.check_batch_size(batch_size, "batch_size")
    n_examples, _, height, width = images.shape

    # rank[b, pixel] = 0 for the most important pixel; ties keep raster order.
    order = heatmap.reshape(n_examples, -1).argsort(dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(height * width, device=order.device).expand_as(order)
    )
    fractions = torch.linspace(0, 1, n_steps + 1, dtype=images.dtype, device=images.device)
    counts = torch.round(fractions.double() * height * width).long().to(rank.device)

    def rows(start: int, stop: int) -> Tensor:
        index = torch.arange(start, stop, device=images.device)
        example, step = index // (n_steps + 1), index % (n_steps + 1)
        changed = (rank[example] < counts[step][:, None]).view(-1, 1, height, width)
        source, fill = (images, background) if kind == "insertion" else (background, images)
        return torch.where(changed, source[example], fill[example])

    n_rows = n_examples * (n_steps + 1)
    progress = progress_bar(show_progress, n_rows, kind.capitalize())
    logits = common.model_outputs(
        forward_func,
        rows,
        n_rows,
        batch_size,
        input_transform,
        progress,
        common.check_cache(cache),
        classes_for=kind,
    )
    if progress is not None:
        progress.close()
    logits = logits.view(n_examples, n_steps + 1, -1)
    full = logits[:, -1] if kind == "insertion" else logits[:, 0]
    classes = common.target_per_example(target, full)
    curve = (
        logits.softmax(dim=-1)
        .gather(2, classes.view(-1, 1, 1).expand(-1, n_steps + 1, 1))
        .squeeze(2)
    )
    original = curve[:, -1] if kind == "insertion" else curve[:, 0]
    # A probability that underflowed to 0 must not turn the ratio into NaN.
    ratio_curve = curve / original.clamp_min(torch.finfo(curve.dtype).tiny)[:, None]
    return InsertionResult(
        torch.trapezoid(curve, fractions, dim=1),
        torch.trapezoid(ratio_curve, fractions, dim=1),
        curve,
        ratio_curve,
        fractions,
    )
