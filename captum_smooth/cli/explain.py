"""``captum-smooth explain``: classify an image and draw each method's heatmap side by side."""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from captum_smooth import examples
from captum_smooth.cli.figure import save_figure
from captum_smooth.cli.registry import METHODS, Settings

DEFAULT_PHOTO = "coffee"


class UserError(Exception):
    """A mistake in the command's arguments or inputs: reported in one line, exit code 2."""


@dataclass(frozen=True)
class Model:
    """A classifier over normalised inputs, with how to prepare its images."""

    module: nn.Module
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    categories: list[str] | None
    name: str

    def normalize(self, pixels: Tensor) -> Tensor:
        """Raw pixels in [0, 1] → this model's inputs."""
        return examples.normalize(pixels, self.mean, self.std)

    def category(self, index: int) -> str:
        """The name of class ``index``."""
        if self.categories is not None and index < len(self.categories):
            return self.categories[index]
        return f"class {index}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``explain`` sub-command's arguments."""
    parser.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help="image files to explain (default: scikit-image's 'coffee' photo)",
    )
    parser.add_argument(
        "--method",
        default="smoothtaylor,ig",
        help=f"comma-separated methods, of: {', '.join(METHODS)} (default: %(default)s)",
    )
    parser.add_argument("--target", type=int, help="class index to explain (default: top-1)")
    parser.add_argument(
        "--out",
        default="explanation.png",
        help="output figure (PNG); with several images, IMAGE's stem is appended",
    )
    parser.add_argument("--n-steps", type=int, default=16, help="path steps (default: 16)")
    parser.add_argument(
        "--n-samples",
        type=int,
        default=16,
        help="SmoothTaylor samples / noise baselines (default: 16)",
    )
    parser.add_argument(
        "--noise-scale",
        type=float,
        default=0.5,
        help="SmoothTaylor's noise σ on the model inputs (default: 0.5)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=16,
        help="at most this many model inputs at once (default: 16)",
    )
    parser.add_argument(
        "--model",
        default="efficientnet-lite0",
        help="efficientnet-lite0 (default), a torchvision model name (its default weights, "
        "if cached) or a TorchScript file",
    )
    parser.add_argument("--size", type=int, help="TorchScript model: input side (default 224)")
    parser.add_argument(
        "--mean", type=_floats, help="TorchScript model: channel means (default ImageNet's)"
    )
    parser.add_argument(
        "--std", type=_floats, help="TorchScript model: channel stds (default ImageNet's)"
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="score each map by insertion (↑), AUPC (↓) and AUTVC (↓); printed and in its title",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> None:
    """Run ``explain`` with parsed arguments; raises :class:`UserError` for user mistakes."""
    methods = _methods(args.method)
    for name in ("n_steps", "n_samples", "batch_size"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    device = _device(args.device)
    tqdm = examples.require("tqdm").tqdm
    photos = _read_images(args.images)
    model = load_model(args.model, args.size, args.mean, args.std)
    model.module.to(device)
    images = [(label, examples.to_tensor(photo, model.size)) for label, photo in photos]
    n_metrics = 3 if args.metrics else 0
    for label, pixels in images:
        pixels = pixels.to(device)
        inputs = model.normalize(pixels)
        with torch.no_grad():
            logits = model.module(inputs)
        if logits.dim() != 2:
            raise UserError(f"the model must return (batch, classes) logits; got {logits.shape}")
        target = _target(args.target, logits)
        print(f"{label}: top-5 of {model.name}")
        probabilities = logits.softmax(dim=1)[0]
        top = probabilities.topk(min(5, logits.shape[1]))
        for rank, (p, k) in enumerate(zip(top.values, top.indices, strict=True), 1):
            print(f"  {rank}. {model.category(int(k))} ({int(k)}): {float(p):.3f}")
        print(f"explaining {model.category(target)} ({target})", flush=True)
        settings = Settings(
            n_steps=args.n_steps,
            n_samples=args.n_samples,
            noise_scale=args.noise_scale,
            batch_size=args.batch_size,
            generator=_generator(args.seed, device),
            baseline=model.normalize(torch.zeros_like(pixels)),
            normalize=model.normalize,
        )
        panels = []
        start = time.perf_counter()
        with tqdm(
            total=len(methods) * (1 + n_metrics), disable=args.no_progress, unit="step"
        ) as bar:
            for name in methods:
                bar.set_description(name)
                method = METHODS[name]
                attribution = method.build(model.module).attribute(
                    inputs, target=target, **method.kwargs(settings)
                )
                bar.update()
                title = f"{name} ({method.describe(settings)})"
                if args.metrics:
                    scores = _scores(model, pixels, attribution, target, settings, bar)
                    bar.write(f"  {name}: {scores}")
                    title += "\n" + scores
                panels.append((title, attribution.detach()))
        out = _out_path(args.out, label, len(images) > 1)
        save_figure(pixels, panels, f"{label}: {model.category(target)}", out)
        print(f"wrote {out} ({time.perf_counter() - start:.1f} s)")


def load_model(
    name: str, size: int | None, mean: tuple[float, ...] | None, std: tuple[float, ...] | None
) -> Model:
    """The example EfficientNet-Lite0, a torchvision model or a TorchScript file, in eval mode."""
    if name == "efficientnet-lite0":
        module = examples.load_lite0()
        categories = examples.imagenet_categories()
        return Model(module, 224, examples.IMAGENET_MEAN, examples.IMAGENET_STD, categories, name)
    if os.path.sep in name or name.endswith((".pt", ".pth", ".ts")) or Path(name).is_file():
        module = _torchscript(name)
        return Model(
            module,
            size or examples.IMAGE_SIZE,
            mean or examples.IMAGENET_MEAN,
            std or examples.IMAGENET_STD,
            None,
            Path(name).name,
        )
    return _torchvision(name)


def _torchscript(path: str) -> nn.Module:
    if not Path(path).is_file():
        raise UserError(f"no such model file: {path}")
    try:
        return torch.jit.load(path, map_location="cpu").eval()
    except (RuntimeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"cannot load TorchScript model {path}: {first}") from error


def _torchvision(name: str) -> Model:
    models = examples.require("torchvision.models")
    if name not in models.list_models(module=models):
        raise UserError(
            f"unknown model {name!r}: use efficientnet-lite0, a torchvision classification "
            "model name (e.g. resnet18) or a TorchScript file"
        )
    weights = models.get_model_weights(name).DEFAULT
    try:
        module = models.get_model(name, weights=weights).eval()
    except Exception as error:  # torchvision reports a failed download in several ways
        raise UserError(
            f"cannot load the weights of {name} ({type(error).__name__}); they are downloaded "
            "on first use: run once with network access"
        ) from error
    transform = weights.transforms()
    return Model(
        module,
        int(transform.crop_size[0]),
        tuple(transform.mean),
        tuple(transform.std),
        list(weights.meta["categories"]),
        name,
    )


def _methods(spec: str) -> list[str]:
    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in METHODS]
    if unknown or not names:
        raise UserError(
            f"unknown method {', '.join(unknown) or repr(spec)}; available: {', '.join(METHODS)}"
        )
    return names


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as error:
        raise UserError(f"device {name!r} is not available: {error}") from error
    return device


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _read_images(paths: list[str]) -> list[tuple[str, np.ndarray]]:
    if not paths:
        return [(DEFAULT_PHOTO, examples.read_photo(DEFAULT_PHOTO))]
    images = []
    for path in paths:
        try:
            images.append((Path(path).stem, examples.read_image(path)))
        except (FileNotFoundError, ValueError) as error:
            raise UserError(str(error)) from error
    return images


def _target(target: int | None, logits: Tensor) -> int:
    n_classes = logits.shape[1]
    if target is None:
        return int(logits.argmax(dim=1)[0])
    if not 0 <= target < n_classes:
        raise UserError(f"--target {target} is out of range: the model has {n_classes} classes")
    return target


def _out_path(out: str, label: str, several: bool) -> Path:
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise UserError(f"--out must be a .png file; got {out}")
    if several:
        path = path.with_name(f"{path.stem}-{label}{path.suffix}")
    if not path.parent.is_dir():
        raise UserError(f"no such directory for --out: {path.parent}")
    return path


def _scores(
    model: Model, pixels: Tensor, attribution: Tensor, target: int, s: Settings, bar: Any
) -> str:
    metrics = examples.require("captum_smooth.metrics")
    common = {"input_transform": model.normalize, "batch_size": s.batch_size}
    inserted = metrics.insertion(model.module, pixels, attribution, target, **common).score
    bar.update()
    # fewer windows and candidates than the paper's 30 × 50 keep it to seconds on a CPU
    windows, candidates = 10, 4
    perturbed = metrics.aupc(
        model.module,
        pixels,
        attribution,
        target,
        n_steps=windows,
        n_candidates=candidates,
        generator=s.generator,
        **common,
    ).score
    bar.update()
    variation = metrics.autvc(attribution.cpu()).score
    bar.update()
    return (
        f"insertion {float(inserted):.3f} ↑, AUPC {float(perturbed):.2f} ↓ "
        f"({windows} windows × {candidates}), "
        f"AUTVC {float(variation):.2f} ↓"
    )


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(value) for value in text.split(","))
    except ValueError:
        message = f"expected comma-separated numbers, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
