"""The package's metrics in the shape :func:`evaluate_methods` calls.

``metric(model, images, attributions, targets, **extra)`` → per-image ``score`` and ``curve``.

Each adapter names its curve's axes in a ``curve_labels`` attribute, ``(x, y)``, which
:meth:`EvaluationResult.plot_curves` puts on the figure.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor

if TYPE_CHECKING:
    from captum_smooth.metrics._common import Cache, InputTransform


class Scored(NamedTuple):
    """A metric's per-image scores ``(B,)`` and, where it has one, each image's curve."""

    score: Tensor
    curve: Tensor | None = None


def insertion_metric(
    ratio: bool = False, deletion: bool = False, **kwargs: Any
) -> Callable[..., Scored]:
    """Insertion (or deletion) AUC per image, and its curve.

    The curve is the softmax probability, or with ``ratio`` the probability divided by the
    original image's. ``kwargs`` go to the metric.
    """
    from captum_smooth.metrics import deletion as deletion_metric
    from captum_smooth.metrics import insertion

    function = deletion_metric if deletion else insertion

    def metric(
        model: Callable[..., Any],
        images: Tensor,
        attributions: Tensor,
        targets: Tensor,
        input_transform: InputTransform | None = None,
        cache: Cache | None = None,
    ) -> Scored:
        result = function(
            model,
            images,
            attributions,
            targets,
            input_transform=input_transform,
            cache=cache,
            **kwargs,
        )
        if ratio:
            return Scored(result.ratio_score, result.ratio_curve)
        return Scored(result.score, result.curve)

    action = "deleted" if deletion else "inserted"
    probability = "p(class) / p(class | image)" if ratio else "p(class)"
    metric.curve_labels = (f"fraction of pixels {action}", probability)
    return metric


def pic_metric(kind: str = "sic", **kwargs: Any) -> Callable[..., Scored]:
    """SIC or AIC per image: the area under each image's performance information curve.

    With the curve (NaN for images the filters skip); aggregate over a data set with
    :meth:`EvaluationResult.aggregate` (median for SIC, mean for AIC).
    """
    from captum_smooth.metrics import NoImageKeptError, aic, sic

    function = {"sic": sic, "aic": aic}[kind]
    n_points = kwargs.get("n_points", inspect.signature(function).parameters["n_points"].default)

    def metric(
        model: Callable[..., Any],
        images: Tensor,
        attributions: Tensor,
        targets: Tensor,
        input_transform: InputTransform | None = None,
        generator: torch.Generator | None = None,
        cache: Cache | None = None,
    ) -> Scored:
        try:
            result = function(
                model,
                images,
                attributions,
                targets,
                input_transform=input_transform,
                generator=generator,
                cache=cache,
                **kwargs,
            )
        except NoImageKeptError:
            # a batch in which no image passes PAIR's filters contributes no curve
            nan = torch.full((images.shape[0],), float("nan"), dtype=images.dtype,
                             device=images.device)  # fmt: skip
            return Scored(nan, torch.full((images.shape[0], n_points + 1), float("nan"),
                                          dtype=images.dtype, device=images.device))  # fmt: skip
        nan = torch.full_like(result.per_example_auc, float("nan"))
        score = torch.where(result.kept, result.per_example_auc, nan)
        curves = torch.where(result.kept[:, None], result.curves, float("nan"))
        return Scored(score, curves)

    measure = (
        "WebP size" if kwargs.get("information", "compression") == "compression" else "MS-SSIM"
    )
    y = "normalised p(class)" if kind == "sic" else "top-1 correct"
    metric.curve_labels = (f"normalised information ({measure})", y)
    return metric


def aupc_metric(**kwargs: Any) -> Callable[..., Scored]:
    """AUPC per image and its perturbation curve."""
    from captum_smooth.metrics import aupc

    def metric(
        model: Callable[..., Any],
        images: Tensor,
        attributions: Tensor,
        targets: Tensor,
        input_transform: InputTransform | None = None,
        generator: torch.Generator | None = None,
        cache: Cache | None = None,
    ) -> Scored:
        result = aupc(
            model,
            images,
            attributions,
            targets,
            input_transform=input_transform,
            generator=generator,
            cache=cache,
            **kwargs,
        )
        return Scored(result.score, result.curve)

    metric.curve_labels = ("fraction of the windows perturbed", "f(perturbed) / f(image)")
    return metric


def autvc_metric(**kwargs: Any) -> Callable[..., Scored]:
    """AUTVC per image and its per-level total variation curve (needs no model)."""
    from captum_smooth.metrics import autvc

    def metric(
        model: Callable[..., Any], images: Tensor, attributions: Tensor, targets: Tensor
    ) -> Scored:
        result = autvc(attributions, **kwargs)
        return Scored(result.score, result.curve)

    metric.curve_labels = ("pyramid level, finest (0) to coarsest (1)", "total variation")
    return metric
