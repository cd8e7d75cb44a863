"""Performance information curves: SIC and AIC (Kapishnikov et al., 2019; IDGI paper §4.4–4.5).

Reference implementation: PAIR ``saliency.metrics.pic``. The revealed images are built as there
(linear interpolation from the revealed pixels); their information level is either the size of
their lossless WebP encoding or their MS-SSIM to the original (docs/reference.md#sic-and-aic).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor

from captum_smooth._utils import batching
from captum_smooth._utils import validation as check
from captum_smooth._utils.progress import progress_bar
from captum_smooth.metrics import _common as common

#: PAIR's thresholds: the fractions of the most salient pixels revealed.
DEFAULT_THRESHOLDS = (0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.10, 0.13, 0.21, 0.34, 0.5, 0.75)
INFORMATION_LEVELS = ("compression", "msssim")
AGGREGATIONS = ("median", "mean")
Information = Literal["compression", "msssim"]


class NoImageKeptError(ValueError):
    """No image passed PAIR's filters, so there is no curve to aggregate.

    The filters keep an image where the model is confident on the original and the blurred
    image is less informative and scored lower.

    Example:
        >>> from captum_smooth.metrics import NoImageKeptError, sic
        >>> unsure = lambda x: torch.zeros(x.shape[0], 2)  # p = 0.5 for every image
        >>> images = torch.rand(2, 3, 32, 32)
        >>> try:
        ...     sic(unsure, images, images, target=1)
        ... except NoImageKeptError as error:
        ...     print(isinstance(error, ValueError))
        True
    """


class PICResult(NamedTuple):
    """An aggregated performance information curve and the per-image curves behind it.

    Example:
        >>> from captum_smooth.metrics import sic
        >>> def model(x):  # class 1 when the pixels vary, as in noise; class 0 when blurred
        ...     detail = (x - x.mean(dim=(2, 3), keepdim=True)).abs().mean(dim=(1, 2, 3))
        ...     return torch.stack([torch.zeros_like(detail), 40 * (detail - 0.2)], dim=1)
        >>> images = torch.rand(2, 3, 32, 32)
        >>> attributions = (images - 0.5).abs()
        >>> result = sic(model, images, attributions, target=1,
        ...              generator=torch.Generator().manual_seed(0))
        >>> result.kept.tolist(), result.curve_x.shape, result.curve.shape  # 1000 points + 1
        ([True, True], torch.Size([1001]), torch.Size([1001]))
        >>> result.per_example_auc.shape, result.curves.shape
        (torch.Size([2]), torch.Size([2, 1001]))
        >>> result.information.shape  # at each of the 13 default thresholds
        torch.Size([2, 13])
        >>> result.predictions.shape  # the blurred image, the 13 revealed ones, the original
        torch.Size([2, 15])
    """

    auc: Tensor
    """Area under the aggregated curve (trapezoid rule), in [0, 1]; higher is better."""
    curve_x: Tensor
    """``(n_points + 1,)`` information levels 0, 1/n_points, …, 1."""
    curve: Tensor
    """``(n_points + 1,)`` the median (SIC) or mean (AIC) of the kept images' curves."""
    per_example_auc: Tensor
    """``(B,)`` area under each image's curve (0 where the image was skipped)."""
    curves: Tensor
    """``(B, n_points + 1)`` each image's curve (zeros where the image was skipped)."""
    kept: Tensor
    """``(B,)`` whether the image passed the filters (confident model, blurred image less
    informative and less confidently classified than the original)."""
    information: Tensor
    """``(B, len(thresholds))`` normalised information level of each revealed image."""
    predictions: Tensor
    """``(B, len(thresholds) + 2)`` the model's score (softmax probability or top-1
    correctness) on the blurred image, each revealed image and the original."""


def sic(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    target: Any = None,
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    information: Information = "compression",
    random_mask: Tensor | None = None,
    mask_fraction: float = 0.01,
    min_pred_value: float = 0.8,
    keep_monotonous: bool = True,
    n_points: int = 1000,
    aggregation: Literal["median", "mean"] = "median",
    input_transform: common.InputTransform | None = None,
    channel_reduction: common.ChannelReduction = "sum",
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
    show_progress: bool = False,
    cache: common.Cache | None = None,
) -> PICResult:
    r"""Softmax information curve, SIC (Kapishnikov et al., ICCV 2019; IDGI paper §4.4–4.5).

    References: Kapishnikov et al., "XRAI: Better Attributions Through Regions", ICCV 2019;
    Yang et al., "IDGI", CVPR 2023, §4.4–4.5.

    Each image is blurred (interpolated from a random ``mask_fraction`` of its pixels), then
    the top-``t`` fraction of its pixels by attribution (2-D map, channels summed) is revealed
    for each threshold ``t``, re-interpolating the rest as PAIR does. Each image ``I`` gets an
    information level — its lossless WebP size (``information="compression"``) or its MS-SSIM
    to the original (``"msssim"``, ``pytorch_msssim`` defaults, data range 1) — and a score,
    the softmax probability ``p(I)`` of the target, both normalised between the blurred image
    ``B`` and the original ``X`` and clipped to [0, 1]:

    .. math:: u(I) = \frac{e(I) - e(B)}{e(X) - e(B)}, \qquad
              s(I) = \frac{p(I) - p(B)}{p(X) - p(B)}

    The points ``(u, s)`` (with ``s`` made non-decreasing over the thresholds when
    ``keep_monotonous``), plus ``(0, 0)`` and ``(1, 1)``, are linearly interpolated at
    ``n_points`` levels; SIC is the area (trapezoid rule) under the median curve over the
    images that pass PAIR's filters (``p(X) ≥ min_pred_value``, ``e(B) < e(X)``,
    ``p(B) < p(X)``). Higher is better; in [0, 1].

    Images are quantised to 8 bits (``round(255 x)``) as in PAIR; the model sees the
    quantised images. The masks of the revealed pixels, the model and MS-SSIM run batched on
    the inputs' device; the interpolation (scipy's Delaunay triangulation) and the WebP sizes
    (Pillow) run on the CPU, one image at a time, so the quantised images and the masks go to
    the host once per call and the revealed images come back once.

    Args:
        forward_func: the model: images → logits ``(B, K)``, ``K ≥ 2`` (a model with one
            output is a ``ValueError``: its softmax is always 1, its argmax always 0).
        inputs: ``(B, C, H, W)`` images with values in [0, 1] (C = 1 or 3).
        attributions: ``(B, C, H, W)`` attributions or a ``(B, H, W)`` map; larger is more
            important (pass ``abs`` yourself to rank by magnitude).
        target: the class per example; ``None``: the model's top-1 class on ``inputs``.
        thresholds: ascending fractions of pixels to reveal, each in [0, 1].
        information: ``"compression"`` (XRAI) or ``"msssim"`` (IDGI §4.5; images must be
            larger than 160 pixels per side).
        random_mask: ``(B, H, W)`` bool, the pixels the blurred image keeps (PAIR's
            ``generate_random_mask``); ``None`` draws ``mask_fraction`` of them.
        mask_fraction: the fraction of pixels kept in the blurred image, in [0, 1].
        min_pred_value: images whose score on the original is lower are skipped.
        keep_monotonous: make each curve non-decreasing (the paper's choice).
        n_points: interpolation points of the curves (plus the point 1).
        aggregation: ``"median"`` (SIC) or ``"mean"`` over the kept images.
        input_transform: pixels in [0, 1] → model inputs, applied to every row.
        channel_reduction: ``"sum"`` (signed, default) or ``"abs_sum"`` over channels.
        batch_size: at most this many rows go through the model at once (``None``: as many
            as hold 2.5 million input elements, 16 rows of 3×224×224).
        generator: draws the random mask when none is given.
        show_progress: show a tqdm progress bar.
        cache: a dict shared by calls on the same images (``evaluate_methods`` passes one per
            batch): the interpolated images, their sizes and the model's outputs are computed
            once however many methods and PIC variants (SIC, AIC, MS-SSIM) score them.

    Returns:
        :class:`PICResult`.

    Raises:
        NoImageKeptError: when no image passes the filters (a ``ValueError``).
        ValueError: for bad arguments.

    Example:
        >>> from captum_smooth.metrics import sic
        >>> def model(x):  # class 1 when the pixels vary, as in noise; class 0 when blurred
        ...     detail = (x - x.mean(dim=(2, 3), keepdim=True)).abs().mean(dim=(1, 2, 3))
        ...     return torch.stack([torch.zeros_like(detail), 40 * (detail - 0.2)], dim=1)
        >>> images = torch.rand(2, 3, 32, 32)
        >>> attributions = (images - 0.5).abs()
        >>> result = sic(model, images, attributions, target=1,
        ...              generator=torch.Generator().manual_seed(0))
        >>> result.kept.tolist(), bool(0 <= result.auc <= 1)
        ([True, True], True)
    """
    return _pic(
        "sic",
        forward_func,
        inputs,
        attributions,
        target,
        thresholds=thresholds,
        information=information,
        random_mask=random_mask,
        mask_fraction=mask_fraction,
        min_pred_value=min_pred_value,
        keep_monotonous=keep_monotonous,
        n_points=n_points,
        aggregation=aggregation,
        input_transform=input_transform,
        channel_reduction=channel_reduction,
        batch_size=batch_size,
        generator=generator,
        show_progress=show_progress,
        cache=cache,
    )


def aic(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    target: Any = None,
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    information: Information = "compression",
    random_mask: Tensor | None = None,
    mask_fraction: float = 0.01,
    min_pred_value: float = 0.8,
    keep_monotonous: bool = True,
    n_points: int = 1000,
    aggregation: Literal["median", "mean"] = "mean",
    input_transform: common.InputTransform | None = None,
    channel_reduction: common.ChannelReduction = "sum",
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
    show_progress: bool = False,
    cache: common.Cache | None = None,
) -> PICResult:
    r"""Accuracy information curve, AIC (Kapishnikov et al., ICCV 2019; IDGI paper §4.4–4.5).

    As :func:`sic`, with the score of an image being its top-1 correctness
    ``[argmax f(I) = target]`` instead of the softmax probability, and the curves averaged
    (``aggregation="mean"``) over the kept images (those the model classifies correctly
    while misclassifying the blurred image). Higher is better; in [0, 1].

    Example:
        >>> from captum_smooth.metrics import aic
        >>> def model(x):  # class 1 when the pixels vary, as in noise; class 0 when blurred
        ...     detail = (x - x.mean(dim=(2, 3), keepdim=True)).abs().mean(dim=(1, 2, 3))
        ...     return torch.stack([torch.zeros_like(detail), 40 * (detail - 0.2)], dim=1)
        >>> images = torch.rand(2, 3, 32, 32)
        >>> attributions = (images - 0.5).abs()
        >>> result = aic(model, images, attributions, target=1,
        ...              generator=torch.Generator().manual_seed(0))
        >>> result.kept.tolist(), bool(0 <= result.auc <= 1)
        ([True, True], True)
        >>> result.predictions[:, [0, -1]].tolist()  # wrong on the blurred image, right on x
        [[0.0, 1.0], [0.0, 1.0]]
    """
    return _pic(
        "aic",
        forward_func,
        inputs,
        attributions,
        target,
        thresholds=thresholds,
        information=information,
        random_mask=random_mask,
        mask_fraction=mask_fraction,
        min_pred_value=min_pred_value,
        keep_monotonous=keep_monotonous,
        n_points=n_points,
        aggregation=aggregation,
        input_transform=input_transform,
        channel_reduction=channel_reduction,
        batch_size=batch_size,
        generator=generator,
        show_progress=show_progress,
        cache=cache,
    )


def _pic(
    kind: str,
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    target: Any,
    *,
    thresholds: Sequence[float],
    information: str,
    random_mask: Tensor | None,
    mask_fraction: float,
    min_pred_value: float,
    keep_monotonous: bool,
    n_points: int,
    aggregation: str,
    input_transform: common.InputTransform | None,
    channel_reduction: common.ChannelReduction,
    batch_size: int | None,
    generator: torch.Generator | None,
    show_progress: bool,
    cache: common.Cache | None,
) -> PICResult:
    """SIC (``kind="sic"``) or AIC, from the checks to the curves.

    The checks, the revealed images, the model's scores and their information levels, the
    curves.
    """
    images = common.check_images("inputs", inputs)
    common.check_class_indices(target, images)
    heatmap = common.saliency_map(attributions, images.shape, channel_reduction, images.device)
    check.check_callable("forward_func", forward_func)
    check.check_callable("input_transform", input_transform, optional=True)
    levels = _check_thresholds(thresholds)
    check.check_choice("information", information, INFORMATION_LEVELS)
    check.check_choice("aggregation", aggregation, AGGREGATIONS)
    check.check_fraction("mask_fraction", mask_fraction)
    check.check_fraction("min_pred_value", min_pred_value)
    check.check_count("n_points", n_points)
    check.check_batch_size(batch_size, "batch_size")
    generator = check.check_generator(generator, images)
    common.check_cache(cache)
    _check_pic_images(images, information)
    keep = _random_masks(random_mask, mask_fraction, images, generator)
    # The model's classes are checked before the revealed images are built (the slow part),
    # on the quantised originals the curves end with (a cache runs them once).
    common.model_outputs(
        forward_func,
        lambda start, stop: torch.round(images[start:stop] * 255) / 255,
        images.shape[0],
        batch_size,
        input_transform,
        cache=cache,
        classes_for=kind.upper(),
    )

    n_examples, n_channels, height, width = images.shape
    n_rows = len(levels) + 2
    progress = progress_bar(show_progress, 2 * n_examples * n_rows, kind.upper())
    stacked = _revealed_images(images, _reveal_masks(heatmap, keep, levels), progress, cache)
    rows = torch.from_numpy(stacked).to(images.device).permute(0, 1, 4, 2, 3)
    rows = rows.reshape(n_examples * n_rows, n_channels, height, width)

    def scaled(start: int, stop: int) -> Tensor:
        return rows[start:stop].to(images.dtype) / 255

    logits = common.model_outputs(
        forward_func, scaled, n_examples * n_rows, batch_size, input_transform, progress, cache
    ).view(n_examples, n_rows, -1)
    if progress is not None:
        progress.close()
    scores = _scores(kind, logits, common.target_per_example(target, logits[:, -1]))
    if information == "compression":
        sizes = torch.tensor(
            [
                [
                    common.cached(
                        cache, ("webp", common.fingerprint(image)), lambda i=image: _webp_size(i)
                    )
                    for image in per_image
                ]
                for per_image in stacked
            ],
            dtype=torch.float64,
        )
    else:
        sizes = _msssim_to_original(
            rows.view(n_examples, n_rows, n_channels, height, width),
            stacked,
            images.dtype,
            batch_size,
            cache,
        )
    return _curves(
        scores.to(images.dtype),
        sizes.to(device=images.device, dtype=torch.float64),
        min_pred_value,
        keep_monotonous,
        n_points,
        aggregation,
    )


def _check_pic_images(images: Tensor, information: str) -> None:
    """Images PIC can measure: 1 or 3 channels, values in [0, 1], large enough for MS-SSIM."""
    _, n_channels, height, width = images.shape
    if n_channels not in (1, 3):
        raise ValueError(f"`inputs` must have 1 or 3 channels, got {n_channels}")
    if information == "msssim" and min(height, width) <= 160:
        raise ValueError(
            f"`inputs` of {height}×{width} are too small for MS-SSIM (pytorch_msssim's five "
            f"scales need more than 160 pixels per side)"
        )
    if ((images < 0) | (images > 1)).any():
        raise ValueError("`inputs` must have values in [0, 1]")


def _reveal_masks(heatmap: Tensor, keep: Tensor, levels: Sequence[float]) -> Tensor:
    """``(B, T + 1, H, W)`` bool, on the device: the pixels of the blurred and revealed images.

    The ``keep`` pixels, then for each threshold ``t`` also the pixels whose map value reaches
    the map's ``1 - t`` quantile (linear, as ``np.quantile`` in PAIR), per image.
    """
    flat = heatmap.detach().double().flatten(1)
    fractions = torch.tensor([1 - t for t in levels], dtype=torch.float64, device=flat.device)
    # one image at a time: torch.quantile refuses inputs of more than 2²⁴ elements
    cuts = torch.stack([torch.quantile(row, fractions) for row in flat])
    revealed = heatmap.detach().double()[:, None] >= cuts[:, :, None, None]
    return torch.cat([keep[:, None], revealed | keep[:, None]], dim=1)


def _revealed_images(
    images: Tensor,
    masks: Tensor,
    progress: Any,
    cache: common.Cache | None,
) -> np.ndarray:
    """``(B, T + 2, H, W, C)`` uint8: the blurred, revealed and original images of each image.

    Each image interpolated from the pixels of each of its ``masks`` (the blurred image's
    first), then the original. An image interpolated from the same pixels before (in
    ``cache``) is not interpolated again. scipy interpolates on the host: the quantised images
    and the masks are read from the device once.
    """
    pixels = torch.round(images * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    masks_h = masks.cpu().numpy()
    built = []
    # The triangulation makes many tiny LAPACK calls: a multi-threaded BLAS hands each one
    # between its threads, which thrash on a busy machine; one thread does not.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        for pixel, image_masks in zip(pixels, masks_h, strict=True):
            image = common.fingerprint(pixel)
            revealed = [
                common.cached(
                    cache,
                    ("interpolated", image, common.fingerprint(m)),
                    lambda m=m, pixel=pixel: _interpolated(pixel, m),
                )
                for m in image_masks
            ]
            built.append(np.stack([*revealed, pixel]))
            if progress is not None:
                progress.update(len(image_masks) + 1)
    return np.stack(built)


def _scores(kind: str, logits: Tensor, classes: Tensor) -> Tensor:
    """``(B, rows)``: the model's score of each image's class, for every row.

    The softmax probability of the class (SIC) or whether it is the top-1 class (AIC).
    """
    if kind == "sic":
        scores = logits.softmax(dim=-1)
    else:
        scores = logits.argmax(dim=-1, keepdim=True) == torch.arange(
            logits.shape[-1], device=logits.device
        )
    index = classes.view(-1, 1, 1).expand(-1, logits.shape[1], 1)
    return scores.to(logits.dtype).gather(2, index).squeeze(2)


def _curves(
    scores: Tensor,
    sizes: Tensor,
    min_pred_value: float,
    keep_monotonous: bool,
    n_points: int,
    aggregation: str,
) -> PICResult:
    """PAIR's filters, normalisation, interpolation and aggregation of the curves.

    Applied to the ``(B, T + 2)`` scores and information levels (blurred image first, original
    last).
    """
    predictions = scores.double()
    kept = (
        (predictions[:, -1] >= min_pred_value)
        & (sizes[:, 0] < sizes[:, -1])
        & (predictions[:, 0] < predictions[:, -1])
    )
    info = _normalised(sizes[:, 1:-1], sizes[:, :1], sizes[:, -1:], kept)
    score = _normalised(predictions[:, 1:-1], predictions[:, :1], predictions[:, -1:], kept)
    if keep_monotonous:
        score = score.cummax(dim=1).values
    # the curves are interpolated by NumPy: one read of what they need
    on_host = torch.cat([kept[:, None].double(), info, score], dim=1).cpu().numpy()
    kept_h, info_h, score_h = np.split(on_host, [1, 1 + info.shape[1]], axis=1)
    kept_h = kept_h[:, 0] > 0
    if not kept_h.any():
        raise NoImageKeptError(
            "no image passed the filters (model confident on the original, blurred image "
            "less informative and scored lower): lower `min_pred_value` or check the inputs"
        )
    curve_x = np.append(np.linspace(0.0, 1.0, n_points, endpoint=False), 1.0)
    curves = np.zeros((scores.shape[0], n_points + 1))
    for i in np.flatnonzero(kept_h):
        curves[i] = _interpolate(info_h[i], score_h[i], curve_x)
    # in float64, then in the scores' dtype (torch.quantile refuses half precision)
    curve_x_t = torch.as_tensor(curve_x, device=scores.device)
    curves_t = torch.as_tensor(curves, device=scores.device)
    chosen = curves_t[kept]
    aggregate = chosen.quantile(0.5, dim=0) if aggregation == "median" else chosen.mean(dim=0)
    dtype = scores.dtype
    return PICResult(
        auc=torch.trapezoid(aggregate, curve_x_t).to(dtype),
        curve_x=curve_x_t.to(dtype),
        curve=aggregate.to(dtype),
        per_example_auc=(torch.trapezoid(curves_t, curve_x_t, dim=1) * kept).to(dtype),
        curves=curves_t.to(dtype),
        kept=kept,
        information=info.to(scores.dtype),
        predictions=scores,
    )


def _check_thresholds(thresholds: Any) -> tuple[float, ...]:
    if isinstance(thresholds, (str, bytes)) or not isinstance(thresholds, Sequence):
        raise TypeError(f"`thresholds` must be a sequence of floats, got {type(thresholds)}")
    if len(thresholds) == 0:
        raise ValueError("`thresholds` must hold at least one threshold")
    levels = tuple(check.check_fraction("thresholds", t) for t in thresholds)
    if any(b < a for a, b in pairwise(levels)):
        raise ValueError(f"`thresholds` must be in ascending order, got {list(thresholds)}")
    return levels


def _random_masks(
    masks: Tensor | None,
    fraction: float,
    images: Tensor,
    generator: torch.Generator | None,
) -> Tensor:
    """``(B, H, W)`` bool, on the images' device: the pixels kept for the blurred image.

    The given masks, or ``fraction`` of the pixels drawn per image (a permutation each, from
    ``generator`` on its device).
    """
    n_examples, _, height, width = images.shape
    if masks is not None:
        if not isinstance(masks, Tensor) or masks.dtype != torch.bool:
            raise TypeError("`random_mask` must be a bool tensor")
        check.check_device("random_mask", masks.device, images.device)
        if tuple(masks.shape) != (n_examples, height, width):
            raise ValueError(
                f"`random_mask` must have shape {(n_examples, height, width)}, got "
                f"{tuple(masks.shape)}"
            )
        return masks
    n_kept = int(height * width * fraction)
    device = "cpu" if generator is None else generator.device
    chosen = torch.stack(
        [
            torch.randperm(height * width, generator=generator, device=device)[:n_kept]
            for _ in range(n_examples)
        ]
    ).to(images.device)
    drawn = torch.zeros(n_examples, height * width, dtype=torch.bool, device=images.device)
    drawn.scatter_(1, chosen, True)
    return drawn.view(n_examples, height, width)


def _interpolated(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """PAIR's ``create_blurred_image``: an image interpolated from the pixels of ``mask``.

    The ``(H, W, C)`` uint8 image linearly interpolated from the pixels where ``mask`` is True
    (corners always kept; mean colour outside the hull).
    """
    from scipy.interpolate import LinearNDInterpolator

    mask = mask.copy()
    mask[[0, 0, -1, -1], [0, -1, 0, -1]] = True
    if mask.all():
        return image
    known, unknown = np.argwhere(mask), np.argwhere(~mask)
    values = image[mask].astype(np.float64)
    interpolated = LinearNDInterpolator(known, values)(unknown)
    interpolated = np.where(np.isnan(interpolated), image.mean(axis=(0, 1)), interpolated)
    # PAIR writes into a float32 copy, then rounds.
    result = image.astype(np.float32) * mask[..., None]
    result[~mask] = interpolated
    return np.round(result).astype(np.uint8)


def _webp_size(image: np.ndarray) -> int:
    """Bytes of the lossless WebP encoding, PAIR's ``estimate_image_entropy``."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(
        buffer, format="webp", lossless=True, quality=100
    )
    return buffer.tell()


def _msssim_to_original(
    rows: Tensor,
    stacked: np.ndarray,
    dtype: torch.dtype,
    batch_size: int | None,
    cache: common.Cache | None,
) -> Tensor:
    """``(B, T + 2)`` MS-SSIM of every row to its image's original (the last row).

    ``rows`` are on the device, ``stacked`` the same images on the host, which key the cache:
    a pair measured before is not measured again.
    """
    from pytorch_msssim import ms_ssim

    n_examples, n_rows = rows.shape[:2]
    keys = [
        ("msssim", common.fingerprint(row), common.fingerprint(per_image[-1]), dtype)
        for per_image in stacked
        for row in per_image
    ]
    missing = list(dict.fromkeys(k for k in keys if cache is None or k not in cache))
    found: dict[Any, Tensor] = {}
    if missing:
        first = torch.tensor([keys.index(k) for k in missing], device=rows.device)
        flat = rows.reshape(n_examples * n_rows, *rows.shape[2:])
        images = flat[first].to(dtype) / 255
        originals = flat[(first // n_rows) * n_rows + n_rows - 1].to(dtype) / 255
        step = batching.chunk_rows(batch_size, images[:1])
        similarity = torch.cat(
            [
                ms_ssim(
                    images[k : k + step], originals[k : k + step], data_range=1, size_average=False
                )
                for k in range(0, images.shape[0], step)
            ]
        )
        found = dict(zip(missing, similarity, strict=True))
        if cache is not None:
            cache.update(found)
    return torch.stack([found[k] if k in found else cache[k] for k in keys]).view(
        n_examples, n_rows
    )


def _normalised(values: Tensor, low: Tensor, high: Tensor, kept: Tensor) -> Tensor:
    """``(values - low) / (high - low)`` clipped to [0, 1]; zero for skipped images."""
    spread = torch.where(kept[:, None], high - low, torch.ones_like(high))
    return torch.where(kept[:, None], ((values - low) / spread).clamp(0, 1), 0)


def _interpolate(info: np.ndarray, score: np.ndarray, curve_x: np.ndarray) -> np.ndarray:
    """The curve through ``(0, 0)``, the ``(info, score)`` points and ``(1, 1)``.

    Sampled at ``curve_x`` (the last point is 1 by definition).
    """
    x = np.concatenate([info, [0.0, 1.0]])
    y = np.concatenate([score, [0.0, 1.0]])
    order = np.argsort(x, kind="stable")
    curve = np.interp(curve_x, x[order], y[order])
    curve[-1] = 1.0
    return curve
