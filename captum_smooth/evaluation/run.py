"""The evaluation loop: batches of images → attributions of each method → each metric."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from captum_smooth._utils import validation as check
from captum_smooth._utils.method import Method
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
        dataset: an iterable (or ``torch.utils.data.Dataset``) of images (``C×H×W`` tensors),
            or of ``(image, mask)`` pairs for localisation metrics. The images are in raw
            pixel space when ``input_transform`` is given, else in the model's input space.
        methods: the methods to compare. Their ``attribute`` gets the model inputs and the
            targets; it may return the attributions or an object with an ``attributions``
            field (e.g. :class:`~captum_smooth.attr.adaptive.AdaptiveSmoothTaylor`, which also
            gets the raw images as ``objective_inputs``).
        metrics: name → ``metric(model, images, attributions, targets, **extra)`` in the
            convention of :mod:`captum_smooth.metrics`, returning per-example scores (a tensor)
            or an object with a ``score`` tensor and, optionally, a ``curve`` tensor. A metric
            may name its curve's axes in a ``curve_labels`` attribute, ``(x, y)``.
            ``extra`` holds, where the metric accepts them, ``input_transform``, ``masks``
            (when the data set has them), a ``generator`` seeded per batch and a ``cache``
            (a dict per batch, shared by every method and metric: see the metrics' ``cache``).
        batch_size: images per batch, for the methods and the metrics.
        target: maps the model's outputs to the explained class per image; default its top-1
            prediction, like the papers.
        input_transform: maps raw images to model inputs (e.g. ImageNet normalisation).
        seed: makes every method's and metric's random draws reproducible.
        show_progress: a tqdm progress bar over batches.

    Under ``torchrun`` (``torch.distributed`` initialised), batch ``b`` goes to rank
    ``b mod world_size``; the result is gathered on every rank and equals the single-process
    result for the same seed.

    Returns:
        An :class:`EvaluationResult` with per-image scores per method and metric.
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
    for b, (images, masks) in _progress(mine, show_progress):
        images = images.to(device)
        inputs = images if input_transform is None else input_transform(images)
        if input_transform is not None and not check.is_finite_batch(inputs, images.shape[0]):
            raise ValueError("`input_transform` must return a finite tensor with one row per image")
        with torch.no_grad():
            outputs = model(inputs)
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
                batch_results[method.name, metric_name] = MetricResult.of(value)
        local.append((b, batch_results, targets.cpu()))
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


def _batches(dataset: Any, batch_size: int) -> Iterator[tuple[Tensor, Tensor | None]]:
    """Stacked batches of images, and of masks where the dataset has them.

    Every image must be finite, floating point, of one shape, and either all have masks or
    none.
    """
    items = _items(dataset)
    images: list[Tensor] = []
    masks: list[Tensor] = []
    shapes: set[tuple[tuple[int, ...], tuple[int, ...] | None]] = set()
    for i, item in enumerate(items):
        if isinstance(item, (tuple, list)):
            if len(item) != 2:
                raise ValueError("`dataset` must yield images or (image, mask) pairs")
            image, mask = item
            mask = torch.as_tensor(mask)
            masks.append(mask)
        else:
            image, mask = item, None
        if not isinstance(image, Tensor) or image.dim() != 3:
            raise ValueError("`dataset` must yield C×H×W image tensors or (image, mask) pairs")
        if not image.is_floating_point():
            raise TypeError(
                f"`dataset` item {i}: the image must be floating point, got {image.dtype}"
            )
        if not torch.isfinite(image).all():
            raise ValueError(f"`dataset` item {i}: the image holds NaN or inf")
        shapes.add((tuple(image.shape), None if mask is None else tuple(mask.shape)))
        if len(shapes) > 1:
            raise ValueError(
                f"`dataset` item {i}: every image (and mask) must have one shape, got "
                f"{sorted(shapes, key=str)}"
            )
        images.append(image)
        if len(images) == batch_size:
            yield torch.stack(images), (torch.stack(masks) if masks else None)
            images, masks = [], []
    if images:
        yield torch.stack(images), (torch.stack(masks) if masks else None)


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


def _progress(items: list, show: bool) -> Iterable[Any]:
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc="evaluating", unit="batch")
