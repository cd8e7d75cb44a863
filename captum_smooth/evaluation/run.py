"""The evaluation loop: batches of images → attributions of each method → each metric."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from captum_smooth._utils import validation as check
from captum_smooth._utils.method import Method
from captum_smooth._utils.progress import progress_bar
from captum_smooth.evaluation.result import EvaluationResult, MetricResult

Metric = Callable[..., Any]


def evaluate_methods(
    model: nn.Module,
    dataset: Iterable[Any],
    methods: Sequence[Method],
    metrics: Mapping[str, Metric],
    batch_size: int = 8,
    target: Callable[[Tensor], Tensor] | None = None,
    input_transform: Callable[[Tensor], Tensor] | None = None,
    seed: int = 0,
    show_progress: bool = False,
) -> EvaluationResult:
    """Score every method with every metric on every image of ``dataset``.

    Args:
        model: the classifier, in eval mode, on the device the images should go to.
        dataset: an iterable (or ``torch.utils.data.Dataset``) of items, all of one form:
            images (``C×H×W`` floating-point tensors, alone or in a 1-tuple as
            ``TensorDataset`` yields them); ``(image, label)`` pairs with an int
            class label, as torchvision's data sets yield them; ``(image, mask)`` pairs with an
            ``H×W`` (or ``1×H×W``) mask, for localisation metrics; or dicts with the key
            ``"image"`` and optionally ``"label"`` and ``"mask"``. Anything else (a pair whose
            second element is neither, another length, other keys) is a ``ValueError``. The
            images are in raw pixel space when ``input_transform`` is given, else in the
            model's input space.
        methods: the methods to compare. Their ``attribute`` gets the model inputs and the
            targets; it may return the attributions or an object with an ``attributions``
            field (e.g. :class:`~captum_smooth.attr.adaptive.AdaptiveSmoothTaylor`, which also
            gets the raw images as ``objective_inputs``).
        metrics: name → ``metric(model, images, attributions, targets, **extra)`` in the
            convention of :mod:`captum_smooth.metrics`, returning per-example scores (a tensor)
            or an object with a ``score`` tensor and, optionally, a ``curve`` tensor; one
            score (and one curve) per image of the batch, else a ``ValueError`` names the
            metric. A metric may name its curve's axes in a ``curve_labels`` attribute,
            ``(x, y)``.
            ``extra`` holds, where the metric accepts them, ``input_transform``, ``masks``
            (when the data set has them), a ``generator`` seeded per batch and a ``cache``
            (a dict per batch, shared by every method and metric: see the metrics' ``cache``).
        batch_size: images per batch, for the methods and the metrics.
        target: maps the model's outputs to the explained class per image. Default: the
            data set's labels where its items have them, else the model's top-1 prediction
            (like the papers). Given, it decides even where the items have labels (e.g.
            ``target=lambda outputs: outputs.argmax(1)`` explains the predictions of a
            labelled data set).
        input_transform: maps raw images to model inputs (e.g. ImageNet normalisation).
        seed: makes every method's and metric's random draws reproducible.
        show_progress: a tqdm progress bar over batches.

    Under ``torchrun`` (``torch.distributed`` initialised), batch ``b`` goes to rank
    ``b mod world_size``; the result is gathered on every rank and equals the single-process
    result for the same seed.

    Returns:
        An :class:`EvaluationResult` with per-image scores per method and metric.

    Example:
        >>> from captum.attr import IntegratedGradients
        >>> from captum_smooth import SmoothTaylor
        >>> from captum_smooth.evaluation import Method, RandomMap, evaluate_methods
        >>> from captum_smooth.metrics import insertion
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3)).eval()
        >>> dataset = [(torch.rand(3, 8, 8), label) for label in (0, 1, 2, 0)]  # (image, label)
        >>> methods = [Method("SmoothTaylor", SmoothTaylor, {"n_samples": 16}, random=True),
        ...            Method("IG", IntegratedGradients),
        ...            Method("random map", RandomMap, random=True)]
        >>> result = evaluate_methods(model, dataset, methods, {"insertion": insertion},
        ...                           batch_size=2)
        >>> result.scores["IG", "insertion"].shape, result.targets.tolist()  # the labels
        (torch.Size([4]), [0, 1, 2, 0])
        >>> print(result.to_markdown().splitlines()[0])  # mean ± standard error per method
        | method | insertion |
    """
    check.check_callable("model", model)
    check.check_count("batch_size", batch_size)
    _check_methods(methods)
    if not isinstance(metrics, Mapping):
        raise TypeError(f"`metrics` must be a mapping name → metric, got {type(metrics).__name__}")
    if not metrics:
        raise ValueError("`metrics` must name at least one metric")
    for metric in metrics.values():
        check.check_callable("metrics", metric)
    check.check_callable("target", target, optional=True)
    check.check_callable("input_transform", input_transform, optional=True)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"`seed` must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"`seed` must not be negative, got {seed}")
    check.check_flag("show_progress", show_progress)
    rank, world = _rank_and_world()
    device = _device(model)
    batches = list(_batches(dataset, batch_size))
    if not batches:
        raise ValueError("`dataset` holds no images")
    mine = [(b, batch) for b, batch in enumerate(batches) if b % world == rank]
    local: list[tuple[int, dict[tuple[str, str], MetricResult], Tensor]] = []
    progress = progress_bar(show_progress, len(mine), "evaluating", unit="batch")
    for b, batch in mine:
        images, masks = batch.images.to(device), batch.masks
        inputs = images if input_transform is None else input_transform(images)
        if input_transform is not None and not check.is_finite_batch(inputs, images.shape[0]):
            raise ValueError("`input_transform` must return a finite tensor with one row per image")
        with torch.no_grad():
            outputs = model(inputs)
        if target is None and batch.labels is not None:
            targets = _check_labels(batch, outputs)
        else:
            targets = _check_targets((target or _top1)(outputs), outputs)
        batch_results: dict[tuple[str, str], MetricResult] = {}
        # what depends on these images and not on the method is computed once (metrics that
        # take a cache: model outputs per input, PIC's interpolated images and their sizes)
        cache: dict[Any, Any] = {}
        for method in methods:
            extra = {}
            if _accepts(method.factory(model).attribute, "objective_inputs"):
                extra["objective_inputs"] = images
            attributions = method.attribute(
                model, inputs, targets, generator=_generator(seed, b, device), **extra
            )
            attributions = getattr(attributions, "attributions", attributions).detach()
            for metric_name, metric in metrics.items():
                context = {
                    "input_transform": input_transform,
                    "masks": None if masks is None else masks.to(device),
                    "generator": _generator(seed + 1, b, device),
                    "cache": cache,
                }
                extra = {k: v for k, v in context.items() if v is not None and _accepts(metric, k)}
                value = metric(model, images, attributions, targets, **extra)
                batch_results[method.name, metric_name] = _per_image(
                    metric_name, MetricResult.of(value), images.shape[0]
                )
        local.append((b, batch_results, targets.cpu()))
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.close()
    gathered = _gather(local, world)
    gathered.sort(key=lambda item: item[0])
    return EvaluationResult.from_batches(
        [m.name for m in methods],
        list(metrics),
        [r for _, r, _ in gathered],
        torch.cat([t for _, _, t in gathered]) if gathered else torch.empty(0, dtype=torch.long),
        {
            name: labels
            for name, metric in metrics.items()
            if (labels := getattr(metric, "curve_labels", None)) is not None
        },
    )


def _top1(outputs: Tensor) -> Tensor:
    return outputs.argmax(dim=1)


def _check_methods(methods: Any) -> None:
    if isinstance(methods, (str, Method)) or not isinstance(methods, Sequence):
        raise TypeError(f"`methods` must be a sequence of Method, got {type(methods).__name__}")
    if not methods:
        raise ValueError("`methods` must name at least one method")
    for method in methods:
        if not isinstance(method, Method):
            raise TypeError(f"`methods` must hold Method objects, got {type(method).__name__}")
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"`methods` must have unique names, got {names}")


def _device(model: Callable[..., Any]) -> torch.device:
    """The device of the model's first parameter or buffer; the CPU for a model without."""
    if isinstance(model, nn.Module):
        for tensor in itertools.chain(model.parameters(), model.buffers()):
            return tensor.device
    return torch.device("cpu")


def _check_targets(targets: Any, outputs: Tensor) -> Tensor:
    """What ``target`` gave: one class index per image, on the outputs' device, in range."""
    if not isinstance(targets, Tensor) or targets.shape != outputs.shape[:1]:
        raise ValueError(
            f"`target` must give a tensor of one class per image, shape {tuple(outputs.shape[:1])}"
        )
    check.check_target(targets, outputs.shape[0], outputs)
    check.check_target_in_output(targets, outputs)
    return targets


def _check_labels(batch: _Batch, outputs: Tensor) -> Tensor:
    """The batch's labels as targets: each one of the model's classes."""
    if outputs.dim() != 2 or outputs.shape[0] != batch.labels.shape[0]:
        raise ValueError(
            "`model` must return (images, classes) outputs to be explained for the data set's "
            f"labels, got shape {tuple(outputs.shape)}"
        )
    out_of_range = (batch.labels >= outputs.shape[1]).nonzero()
    if out_of_range.numel():
        i = int(out_of_range[0, 0])
        raise ValueError(
            f"`dataset` item {batch.first + i}: label {int(batch.labels[i])} is not one of the "
            f"model's {outputs.shape[1]} classes"
        )
    return batch.labels.to(outputs.device)


def _per_image(name: str, result: MetricResult, n_images: int) -> MetricResult:
    """``result``, checked to hold one score (and one curve) per image of the batch."""
    scores, curves = result.scores, result.curves
    if scores.numel() != n_images:
        raise ValueError(
            f"`metrics`: {name!r} must give one score per image, got {scores.numel()} for "
            f"{n_images} images"
        )
    if curves is not None and (curves.dim() == 0 or curves.shape[0] != n_images):
        raise ValueError(
            f"`metrics`: {name!r} must give one curve per image (a first dimension of "
            f"{n_images}), got shape {tuple(curves.shape)}"
        )
    return result


def _generator(seed: int, batch: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + batch)


def _accepts(function: Callable[..., Any], name: str) -> bool:
    import inspect

    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters


def _items(dataset: Any) -> Iterable[Any]:
    """The dataset's items in order.

    A map-style dataset (``__len__`` and ``__getitem__``, as ``torch.utils.data.Dataset``
    subclasses are) is read by index; anything else must be iterable.
    """
    if isinstance(dataset, (str, bytes, Mapping)):
        raise TypeError(
            f"`dataset` must be a dataset or an iterable of images, got {type(dataset).__name__}"
        )
    if hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__"):
        return (dataset[i] for i in range(len(dataset)))
    if isinstance(dataset, Iterable):
        return dataset
    raise TypeError(
        "`dataset` must be a map-style dataset (with __len__ and __getitem__) or an iterable, "
        f"got {type(dataset).__name__}"
    )


class _Batch(NamedTuple):
    """Stacked images, with the data set's labels and masks where its items have them."""

    images: Tensor
    labels: Tensor | None
    masks: Tensor | None
    first: int
    """The data-set index of the batch's first image (for error messages)."""


ITEM_KEYS = ("image", "label", "mask")


def _batches(dataset: Any, batch_size: int) -> Iterator[_Batch]:
    """Stacked batches of images, and of labels and masks where the dataset has them.

    Every image must be finite, floating point and of one shape; every item must have the
    same fields (a label, a mask, both or neither).
    """
    fields: tuple[bool, bool] | None = None
    shape: tuple[int, ...] | None = None
    parts: list[tuple[Tensor, int | None, Tensor | None]] = []
    first = 0
    for i, item in enumerate(_items(dataset)):
        image, label, mask = _item(i, item)
        if shape is None:
            shape = tuple(image.shape)
        elif tuple(image.shape) != shape:
            raise ValueError(
                f"`dataset` item {i}: every image must have one shape, got {tuple(image.shape)} "
                f"after {shape}"
            )
        if mask is not None:
            mask = _check_mask(i, mask, image)
        these = (label is not None, mask is not None)
        if fields is None:
            fields = these
        elif these != fields:
            raise ValueError(
                f"`dataset` item {i} has {_fields(these)} where the items before it have "
                f"{_fields(fields)}: every item must have the same fields"
            )
        parts.append((image, label, mask))
        if len(parts) == batch_size:
            yield _stack(parts, first)
            first, parts = i + 1, []
    if parts:
        yield _stack(parts, first)


def _item(i: int, item: Any) -> tuple[Tensor, int | None, Tensor | None]:
    """One item as ``(image, label, mask)``.

    An image or ``(image,)`` (``TensorDataset``'s items); ``(image, label)`` (torchvision's
    convention) or ``(image, mask)``, told apart by
    the second element (an int class label, or an ``H×W`` mask); or a dict with the keys
    ``image`` and optionally ``label`` and ``mask``.
    """
    label, mask = None, None
    if isinstance(item, Mapping):
        unknown = sorted(map(str, set(item) - set(ITEM_KEYS)))
        if "image" not in item or unknown:
            raise ValueError(
                f"`dataset` item {i}: a dict item must have the key 'image' and may have "
                f"'label' and 'mask', got keys {sorted(map(str, item))}"
            )
        image = item["image"]
        if "label" in item:
            label = _label(i, item["label"])
        if "mask" in item:
            mask = item["mask"]
    elif isinstance(item, (tuple, list)) and len(item) == 1:
        image = item[0]  # TensorDataset's items
    elif isinstance(item, (tuple, list)):
        if len(item) != 2:
            raise ValueError(
                f"`dataset` item {i}: a tuple item must be (image,), (image, label) or "
                f"(image, mask), got {len(item)} elements; for a label and a mask, yield a "
                "dict with the keys 'image', 'label' and 'mask'"
            )
        image, second = item
        if _is_int(second):
            label = _label(i, second)
        elif isinstance(second, (Tensor, np.ndarray)) and np.ndim(second) >= 2:
            mask = second
        else:
            raise ValueError(
                f"`dataset` item {i}: the second element of a pair must be an int class label "
                "(torchvision's (image, label)) or an H×W mask (image, mask), got "
                f"{_describe(second)}"
            )
    else:
        image = item
    if not isinstance(image, Tensor) or image.dim() != 3:
        raise ValueError(
            f"`dataset` item {i}: the image must be a C×H×W tensor, got {_describe(image)}"
        )
    if not image.is_floating_point():
        raise TypeError(f"`dataset` item {i}: the image must be floating point, got {image.dtype}")
    if not torch.isfinite(image).all():
        raise ValueError(f"`dataset` item {i}: the image holds NaN or inf")
    return image, label, mask


def _is_int(value: Any) -> bool:
    """An int class label: a Python or NumPy integer, or an integer tensor of one element."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return (
        isinstance(value, Tensor)
        and value.dim() == 0
        and not (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool)
    )


def _label(i: int, value: Any) -> int:
    if not _is_int(value):
        raise TypeError(f"`dataset` item {i}: the label must be an int, got {_describe(value)}")
    label = int(value)
    if label < 0:
        raise ValueError(f"`dataset` item {i}: the label must be a class index, got {label}")
    return label


def _check_mask(i: int, mask: Any, image: Tensor) -> Tensor:
    """A mask of the image's ``H×W`` (or ``1×H×W``) pixels."""
    if not isinstance(mask, (Tensor, np.ndarray)):
        raise TypeError(f"`dataset` item {i}: the mask must be a tensor, got {_describe(mask)}")
    mask = torch.as_tensor(mask)
    if mask.dim() == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if tuple(mask.shape) != tuple(image.shape[1:]):
        raise ValueError(
            f"`dataset` item {i}: the mask must cover the image's {tuple(image.shape[1:])} "
            f"pixels, got shape {tuple(mask.shape)}"
        )
    return mask


def _fields(fields: tuple[bool, bool]) -> str:
    names = [name for name, present in zip(("a label", "a mask"), fields, strict=True) if present]
    return " and ".join(names) or "neither a label nor a mask"


def _describe(value: Any) -> str:
    if isinstance(value, (Tensor, np.ndarray)):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    return type(value).__name__


def _stack(parts: list[tuple[Tensor, int | None, Tensor | None]], first: int) -> _Batch:
    images, labels, masks = zip(*parts, strict=True)
    return _Batch(
        torch.stack(images),
        None if labels[0] is None else torch.tensor(labels),
        None if masks[0] is None else torch.stack(masks),
        first,
    )


def _rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _gather(local: list, world: int) -> list:
    if world == 1:
        return local
    everything: list[Any] = [None] * world
    torch.distributed.all_gather_object(everything, _to_cpu(local))
    return [item for part in everything for item in part]


def _to_cpu(local: list) -> list:
    return [
        (b, {k: v.to("cpu") for k, v in results.items()}, targets) for b, results, targets in local
    ]
