"""``captum-smooth explain``: classify an image and draw each method's heatmap side by side.

Everything that can go wrong without running the model is checked before the model loads:
the arguments (:func:`captum_smooth.cli.arguments.check`), then the device, the images, the
model's weights and the target's range.
"""

from __future__ import annotations

import inspect
import time
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from captum_smooth import examples, relative_error
from captum_smooth.attr._paths import RuleOnPath
from captum_smooth.cli.arguments import DEFAULT_PHOTO, Request, UserError
from captum_smooth.cli.figure import Panel, save_figure
from captum_smooth.cli.models import Model, find_model
from captum_smooth.cli.registry import METHODS, Settings

# Fewer windows and candidates than the paper's 30 × 50: 40 perturbed images per photo instead
# of 1,500, a score a command-line user waits for.
AUPC_WINDOWS, AUPC_CANDIDATES = 10, 4


def run(request: Request) -> None:
    """Run ``explain``; raises :class:`UserError` for the user's mistakes."""
    try:
        _run(request)
    except examples.MissingExtraError as error:
        raise UserError(str(error)) from error


def _run(request: Request) -> None:
    device = _device(request.device)
    tqdm = examples.require("tqdm").tqdm
    metrics = examples.require("captum_smooth.metrics")
    examples.require("matplotlib")  # before the model: a missing extra is found at once
    photos = _read_images(request)
    model = find_model(request.model, request.size, request.mean, request.std)
    if request.target is not None and model.n_classes is not None:
        _check_class_in_range(request.target, model.n_classes)
    module = _RowCounter(model.load().to(device))
    for label, photo, out in zip(request.labels, photos, request.outs, strict=True):
        start = time.perf_counter()
        pixels = examples.to_tensor(photo, model.size).to(device)
        target, score = _classify(module, model, label, pixels, request.target)
        if request.metrics and score.startswith("output"):
            raise UserError(
                "--metrics: insertion compares the classes' softmax probabilities, and the model "
                "has one output (its softmax is always 1): leave out --metrics"
            )
        settings = Settings(
            n_steps=request.n_steps,
            n_samples=request.n_samples,
            noise_scale=request.noise_scale,
            batch_size=request.batch_size,
            generator=lambda: torch.Generator(device=device).manual_seed(request.seed),
            baseline=model.normalize(torch.zeros_like(pixels)),
            normalize=model.normalize,
            references=lambda: model.normalize(_example_photos(model.size).to(device)),
        )
        panels = []
        with tqdm(total=len(request.methods), disable=not request.progress, unit="map") as bar:
            for name in request.methods:
                bar.set_description(name)
                panel = _panel(name, module, model, pixels, target, settings, request, metrics)
                bar.update()
                bar.write(f"  {name} ({panel.settings}): {', '.join(panel.scores)}")
                panels.append(panel)
        title = f"{label}: {model.category(target)} ({target})\n{score}"
        try:
            save_figure(pixels, panels, title, out, request.metrics)
        except OSError as error:
            raise UserError(f"--out {out} cannot be written: {error}") from error
        print(f"wrote {out} ({time.perf_counter() - start:.1f} s)")


def _classify(
    module: nn.Module, model: Model, label: str, pixels: Tensor, target: int | None
) -> tuple[int, str]:
    """Print the top-5 classes of ``pixels``; return the class to explain and its score.

    The score is ``"probability p"``, or ``"output z"`` for a model with one output (whose
    softmax would be 1). This first run of the model is its check: a model that fails on the
    image or returns anything but ``(1, classes)`` logits stops here, before any method runs.
    """
    shape = tuple(pixels.shape)
    try:
        with torch.no_grad():
            logits = module(model.normalize(pixels))
    except Exception as error:  # TorchScript, shape and dtype errors come as many types
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise UserError(
            f"the model fails on a {shape} image ({type(error).__name__}: {first}); it must "
            "take RGB images of --size pixels"
        ) from error
    if not isinstance(logits, Tensor) or logits.dim() != 2 or logits.shape[0] != 1:
        got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise UserError(f"the model must return a (1, classes) tensor of logits; got {got}")
    if not torch.isfinite(logits).all():
        raise UserError("the model's outputs hold NaN or inf")
    if target is None:
        target = int(logits.argmax(dim=1)[0])
    _check_class_in_range(target, logits.shape[1])
    print(f"{label}: top-5 of {model.name}")
    if logits.shape[1] == 1:
        score = f"output {float(logits[0, 0]):.3f}"
        print(f"  1. {model.category(0)} (0): {score}")
    else:
        probabilities = logits.softmax(dim=1)[0]
        top = probabilities.topk(min(5, logits.shape[1]))
        for rank, (p, k) in enumerate(zip(top.values, top.indices, strict=True), 1):
            print(f"  {rank}. {model.category(int(k))} ({int(k)}): {float(p):.3f}")
        score = f"probability {float(probabilities[target]):.3f}"
    print(f"explaining {model.category(target)} ({target})", flush=True)
    return target, score


def _panel(
    name: str,
    module: _RowCounter,
    model: Model,
    pixels: Tensor,
    target: int,
    settings: Settings,
    request: Request,
    metrics: ModuleType,
) -> Panel:
    """One method's attribution, its cost in model rows and its scores."""
    method = METHODS[name](settings)
    module.rows = 0
    inputs = model.normalize(pixels)
    estimates = _estimates(method.factory(module))
    extra = {"return_error": True} if estimates else {}
    result = method.attribute(module, inputs, target, settings.generator(), **extra)
    attribution, error = result if estimates else (result, None)
    attribution = attribution.detach()
    cost = f"{method.description}; {module.rows} rows"
    # AUTVC needs no model runs: every panel shows how rough its map is, and the package's
    # methods how far it is from their own limit (the estimate folds the same rows again)
    smoothness = f"AUTVC {float(metrics.autvc(attribution.cpu()).score):.2f} ↓"
    if error is not None:
        smoothness += f", est. error {float(relative_error(attribution, error)[0]):.0%}"
    scores: tuple[str, ...] = (smoothness,)
    if request.metrics:
        quality = _scores(metrics, module.module, model, pixels, attribution, target, settings)
        scores = (quality, smoothness)
    return Panel(name, cost, scores, attribution)


def _example_photos(size: int) -> Tensor:
    """The bundled photos as one batch of pixels: Expected Gradients' reference set."""
    return torch.cat([examples.to_tensor(examples.read_photo(n), size) for n in examples.PHOTOS])


def _estimates(method: Any) -> bool:
    """Whether ``method.attribute`` takes ``return_error`` (the package's methods do)."""
    signature = method.signature() if isinstance(method, RuleOnPath) else None
    parameters = (signature or inspect.signature(method.attribute)).parameters
    return "return_error" in parameters


class _RowCounter(nn.Module):
    """The model, counting the images that go through it (the cost shown in each title)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.rows = 0

    def forward(self, inputs: Tensor, *args: Any) -> Tensor:
        self.rows += inputs.shape[0]
        return self.module(inputs, *args)


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"device {name!r} is not available: {first}") from error
    return device


def _read_images(request: Request) -> list[np.ndarray]:
    if not request.images:
        return [examples.read_photo(DEFAULT_PHOTO)]
    images = []
    for path in request.images:
        try:
            images.append(examples.read_image(path))
        except (FileNotFoundError, ValueError) as error:
            raise UserError(str(error)) from error
    return images


def _check_class_in_range(target: int, n_classes: int) -> None:
    if not 0 <= target < n_classes:
        raise UserError(f"--target {target} is out of range: the model has {n_classes} classes")


def _scores(
    metrics: ModuleType,
    module: nn.Module,
    model: Model,
    pixels: Tensor,
    attribution: Tensor,
    target: int,
    s: Settings,
) -> str:
    """Insertion and AUPC of one map, on one line."""
    common = {"input_transform": model.normalize, "batch_size": s.batch_size}
    inserted = metrics.insertion(module, pixels, attribution, target, **common).score
    perturbed = metrics.aupc(
        module,
        pixels,
        attribution,
        target,
        n_steps=AUPC_WINDOWS,
        n_candidates=AUPC_CANDIDATES,
        generator=s.generator(),
        **common,
    ).score
    return (
        f"insertion {float(inserted):.3f} ↑, "
        f"AUPC {float(perturbed):.2f} ↓ ({AUPC_WINDOWS} windows × {AUPC_CANDIDATES})"
    )
