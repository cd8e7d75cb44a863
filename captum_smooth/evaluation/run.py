"""The evaluation loop: batches of images → attributions of each method → each metric."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from captum.attr import Attribution
from torch import Tensor, nn

from captum_smooth.evaluation.result import EvaluationResult, MetricResult

Metric = Callable[..., Any]


@dataclass(frozen=True)
class Method:
    """A named attribution method with its settings.

    ``factory`` builds the method from the model (e.g. ``SmoothTaylor`` or
    ``lambda m: IDGI(IntegratedGradients(m))``); ``kwargs`` go to ``attribute``. A method
    that takes a ``generator`` gets one seeded per batch, so results do not depend on how
    batches are spread over processes.
    """

    name: str
    factory: Callable[[nn.Module], Attribution]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    random: bool = False


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
            or an object with a ``score`` tensor and, optionally, a ``curve`` tensor.
            ``extra`` holds, where the metric accepts them, ``input_transform``, ``masks``
            (when the data set has them) and a ``generator`` seeded per batch.
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
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be at least 1, got {batch_size}")
    if not methods:
        raise ValueError("`methods` must name at least one method")
    if not metrics:
        raise ValueError("`metrics` must name at least one metric")
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"method names must be unique, got {names}")
    rank, world = _rank_and_world()
    device = next(model.parameters()).device
    batches = list(_batches(dataset, batch_size))
    mine = [(b, batch) for b, batch in enumerate(batches) if b % world == rank]
    local: list[tuple[int, dict[tuple[str, str], MetricResult], Tensor]] = []
    for b, (images, masks) in _progress(mine, show_progress):
        images = images.to(device)
        inputs = images if input_transform is None else input_transform(images)
        with torch.no_grad():
            outputs = model(inputs)
        targets = (target or _top1)(outputs)
        batch_results: dict[tuple[str, str], MetricResult] = {}
        for method in methods:
            attribution_method = method.factory(model)
            attribute_kwargs = dict(method.kwargs)
            if method.random:
                attribute_kwargs["generator"] = _generator(seed, b, device)
            if _accepts(attribution_method.attribute, "objective_inputs"):
                attribute_kwargs["objective_inputs"] = images
            attributions = attribution_method.attribute(inputs, target=targets, **attribute_kwargs)
            attributions = getattr(attributions, "attributions", attributions).detach()
            for metric_name, metric in metrics.items():
                context = {
                    "input_transform": input_transform,
                    "masks": None if masks is None else masks.to(device),
                    "generator": _generator(seed + 1, b, device),
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
    )


def _top1(outputs: Tensor) -> Tensor:
    return outputs.argmax(dim=1)


def _generator(seed: int, batch: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + batch)


def _accepts(function: Callable[..., Any], name: str) -> bool:
    import inspect

    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters


def _batches(dataset: Iterable[Any], batch_size: int):
    images: list[Tensor] = []
    masks: list[Tensor] = []
    for item in dataset:
        if isinstance(item, (tuple, list)):
            image, mask = item
            masks.append(torch.as_tensor(mask))
        else:
            image = item
        if not isinstance(image, Tensor) or image.dim() != 3:
            raise ValueError("`dataset` must yield C×H×W image tensors or (image, mask) pairs")
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


def _progress(items: list, show: bool):
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc="evaluating", unit="batch")
