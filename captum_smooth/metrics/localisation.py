"""Weakly-supervised localisation scores of a map against a binary mask (IDGI paper §4.6).

See docs/reference.md#localisation.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth.metrics import _common as common


class LocalisationResult(NamedTuple):
    """Per-example localisation scores and the threshold curves behind them.

    Example:
        >>> from captum_smooth.metrics import localisation
        >>> masks = torch.zeros(2, 8, 8, dtype=torch.bool)
        >>> masks[:, 2:5, 3:6] = True  # the object's pixels
        >>> result = localisation(masks.float(), masks)  # a map equal to the mask
        >>> result.roc_auc.tolist(), result.best_f1.tolist(), result.best_mae.tolist()
        ([1.0, 1.0], [1.0, 1.0], [0.0, 0.0])
        >>> result.f1.shape, result.mae.shape, result.thresholds.shape  # per threshold
        (torch.Size([2, 101]), torch.Size([2, 101]), torch.Size([101]))
    """

    roc_auc: Tensor
    """``(B,)`` ROC-AUC of the map as a score for the mask, in [0, 1]; higher is better."""
    best_f1: Tensor
    """``(B,)`` the largest F1 over the thresholds, in [0, 1]; higher is better."""
    best_mae: Tensor
    """``(B,)`` the smallest mean absolute error over the thresholds, in [0, 1]; lower is
    better."""
    f1: Tensor
    """``(B, n_thresholds)`` F1 of the binarised map at each threshold."""
    mae: Tensor
    """``(B, n_thresholds)`` MAE of the binarised map at each threshold."""
    thresholds: Tensor
    """``(n_thresholds,)`` thresholds on the normalised map, 0 to 1."""


def localisation(
    attributions: Tensor,
    masks: Tensor,
    *,
    n_thresholds: int = 101,
    channel_reduction: common.ChannelReduction = "sum",
) -> LocalisationResult:
    r"""How well a map locates the object of a binary ground-truth mask.

    Yang et al., "IDGI", CVPR 2023, §4.6; the authors published no code, so the definition is
    ours.

    The 2-D map ``m`` (channels summed, signed; higher means more important) is normalised
    per image to ``m̂ = (m - min m) / (max m - min m)`` (zero for a constant map).

    - **ROC-AUC**: the area under the ROC curve of ``m̂`` as a score for the mask's pixels,
      i.e. the Mann–Whitney probability ``P(m̂_pos > m̂_neg) + ½ P(m̂_pos = m̂_neg)``
      (as ``sklearn.metrics.roc_auc_score``). Higher is better; 0.5 is chance.
    - **F1** at threshold ``t``: the map binarised as ``m̂ ≥ t`` against the mask,
      ``F1 = 2 TP / (2 TP + FP + FN)``; the best F1 is the maximum over
      ``t ∈ linspace(0, 1, n_thresholds)``. Higher is better.
    - **MAE** at ``t``: the mean over pixels of ``|[m̂ ≥ t] - mask|``; the best MAE is the
      minimum over the same thresholds. Lower is better.

    A map equal to the mask scores ROC-AUC 1, best F1 1 and best MAE 0.

    Args:
        attributions: ``(B, C, H, W)`` attributions or a ``(B, H, W)`` map.
        masks: ``(B, H, W)`` or ``(B, 1, H, W)`` binary masks (bool, or 0/1 numbers), each
            with object and background pixels.
        n_thresholds: the number of thresholds for F1 and MAE (≥ 2).
        channel_reduction: ``"sum"`` (signed, default) or ``"abs_sum"`` over channels.

    Returns:
        :class:`LocalisationResult`.

    Example:
        >>> from captum_smooth.metrics import localisation
        >>> masks = torch.zeros(2, 8, 8, dtype=torch.bool)
        >>> masks[:, 2:5, 3:6] = True  # the object's pixels
        >>> attributions = torch.randn(2, 3, 8, 8)
        >>> attributions[:, :, 2:5, 3:6] += 10  # high on the object, all channels
        >>> localisation(attributions, masks).roc_auc.tolist()
        [1.0, 1.0]
    """
    if not isinstance(attributions, Tensor):
        raise TypeError(f"`attributions` must be a tensor, got {type(attributions).__name__}")
    truth = _check_masks(masks, attributions.device)
    heatmap = common.saliency_map(
        attributions,
        torch.Size((truth.shape[0], 1, *truth.shape[1:])),
        channel_reduction,
        reference="masks",
    )
    check.check_count("n_thresholds", n_thresholds)
    if n_thresholds < 2:
        raise ValueError(f"`n_thresholds` must be at least 2, got {n_thresholds}")

    flat = heatmap.reshape(heatmap.shape[0], -1)
    low, high = flat.amin(dim=1, keepdim=True), flat.amax(dim=1, keepdim=True)
    spread = high - low
    normalised = torch.where(spread > 0, (flat - low) / torch.where(spread > 0, spread, 1), 0)
    labels = truth.reshape(truth.shape[0], -1)

    thresholds = torch.linspace(
        0, 1, n_thresholds, dtype=normalised.dtype, device=normalised.device
    )
    f1, mae = [], []
    positives = labels.sum(dim=1)
    for threshold in thresholds:
        predicted = normalised >= threshold
        true_positives = (predicted & labels).sum(dim=1)
        errors = (predicted != labels).sum(dim=1)
        f1.append(2 * true_positives / (2 * true_positives + errors))
        mae.append(errors / labels.shape[1])
    f1_curve = torch.stack(f1, dim=1).to(normalised.dtype)
    mae_curve = torch.stack(mae, dim=1).to(normalised.dtype)
    return LocalisationResult(
        _roc_auc(normalised, labels, positives),
        f1_curve.amax(dim=1),
        mae_curve.amin(dim=1),
        f1_curve,
        mae_curve,
        thresholds,
    )


def _check_masks(masks: Any, device: torch.device) -> Tensor:
    """``(B, H, W)`` bool masks on ``device`` (the attributions'), each with both classes."""
    if not isinstance(masks, Tensor):
        raise TypeError(f"`masks` must be a tensor, got {type(masks).__name__}")
    check.check_device("masks", masks.device, device, "attributions")
    if masks.dim() == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.dim() != 3 or masks.shape[0] == 0:
        raise ValueError(f"`masks` must have shape (B, H, W), got {tuple(masks.shape)}")
    if masks.dtype != torch.bool:
        if not ((masks == 0) | (masks == 1)).all():
            raise ValueError("`masks` must be binary: bool, or numbers that are 0 or 1")
        masks = masks == 1
    counts = masks.reshape(masks.shape[0], -1).sum(dim=1)
    if ((counts == 0) | (counts == masks[0].numel())).any():
        raise ValueError(
            "every mask in `masks` needs both object and background pixels (ROC-AUC is "
            "undefined otherwise)"
        )
    return masks


def _roc_auc(scores: Tensor, labels: Tensor, positives: Tensor) -> Tensor:
    """Mann–Whitney ROC-AUC per row, with tied scores given their mid-rank."""
    ordered = scores.sort(dim=1).values
    first = torch.searchsorted(ordered, scores, side="left")
    last = torch.searchsorted(ordered, scores, side="right")
    ranks = (first + last + 1).double() / 2
    n_positive = positives.double()
    n_negative = labels.shape[1] - n_positive
    rank_sum = (ranks * labels).sum(dim=1)
    auc = (rank_sum - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative)
    return auc.to(scores.dtype)
