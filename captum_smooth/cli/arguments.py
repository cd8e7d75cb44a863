"""``captum-smooth explain``'s arguments and the checks that need neither torch nor a model.

Only the standard library is imported here: ``--help`` and a mistaken argument answer at once,
before torch is imported and a model loaded.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from captum_smooth.cli.registry import METHODS

DEFAULT_PHOTO = "coffee"
DEFAULT_METHODS = "ig,smoothtaylor,idgi-ig"
TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts")
EXAMPLE_MODEL = "efficientnet-lite0"
MIN_SIZE = 30
"""The smallest ``--size``: AUTVC's ``min_size``, the side of its pyramid's smallest level
(every panel shows the map's AUTVC)."""


class UserError(Exception):
    """A mistake in the command's arguments or inputs: reported in one line, exit code 2."""


@dataclass(frozen=True)
class Request:
    """The checked arguments of one ``explain`` run."""

    images: tuple[Path, ...]
    """Image files; empty: the default photo."""
    labels: tuple[str, ...]
    """The name each image goes by (its file's stem; the default photo's name)."""
    methods: tuple[str, ...]
    target: int | None
    outs: tuple[Path, ...]
    """One output PNG per image (the default photo counts as one)."""
    n_steps: int
    n_samples: int
    noise_scale: float
    seed: int
    batch_size: int
    model: str
    size: int | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    device: str
    metrics: bool
    progress: bool


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``explain`` sub-command's arguments."""
    parser.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help=f"image files to explain (default: scikit-image's {DEFAULT_PHOTO!r} photo)",
    )
    parser.add_argument(
        "--method",
        default=DEFAULT_METHODS,
        help=f"comma-separated methods, of: {', '.join(METHODS)} (default: %(default)s)",
    )
    parser.add_argument("--target", type=int, help="class index to explain (default: top-1)")
    parser.add_argument(
        "--out",
        default="explanation.png",
        help="output figure (PNG); with several images, IMAGE's stem is appended "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--n-steps",
        type=int,
        default=48,
        help="path steps (default: %(default)s, as many as SmoothTaylor's samples: IG and "
        "SmoothTaylor get the same budget)",
    )
    parser.add_argument(
        "--n-samples",
        type=int,
        default=48,
        help="SmoothTaylor samples / noise baselines (default: %(default)s; ig-noise runs "
        "n-samples × n-steps images through the model)",
    )
    parser.add_argument(
        "--noise-scale",
        type=float,
        default=0.5,
        help="SmoothTaylor's noise σ on the model inputs (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=16,
        help="at most this many model inputs at once (default: %(default)s)",
    )
    parser.add_argument(
        "--model",
        default=EXAMPLE_MODEL,
        help=f"{EXAMPLE_MODEL} (default), a torchvision model name (its default weights, "
        "if cached) or a TorchScript file",
    )
    parser.add_argument("--size", type=int, help="TorchScript model: input side (default 224)")
    parser.add_argument(
        "--mean", type=_floats, help="TorchScript model: channel means (default ImageNet's)"
    )
    parser.add_argument(
        "--std", type=_floats, help="TorchScript model: channel stds (default ImageNet's)"
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="also score each map by insertion (↑) and AUPC (↓), which run the model; "
        "AUTVC (↓, no model runs) is always shown",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def check(args: argparse.Namespace) -> Request:
    """The parsed arguments as a :class:`Request`, checked before anything heavy runs.

    Raises:
        UserError: For the first mistake that can be seen without torch, the images' contents
            or the model.
    """
    methods = parse_methods(args.method, METHODS)
    for name in ("n_steps", "n_samples", "batch_size", "size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1; got {value}")
    if args.size is not None and args.size < MIN_SIZE:
        raise UserError(
            f"--size must be at least {MIN_SIZE} (AUTVC's smallest pyramid level); got {args.size}"
        )
    if not (math.isfinite(args.noise_scale) and args.noise_scale > 0):
        raise UserError(f"--noise-scale must be a positive number; got {args.noise_scale}")
    if args.target is not None and args.target < 0:
        raise UserError(f"--target must be a class index (0 or more); got {args.target}")
    torchscript = is_torchscript(args.model)
    for name in ("size", "mean", "std"):
        if getattr(args, name) is not None and not torchscript:
            raise UserError(f"--{name} applies to TorchScript models only")
    for name in ("mean", "std"):
        values = getattr(args, name)
        if values is not None and len(values) != 3:
            raise UserError(f"--{name} takes 3 numbers (R,G,B); got {len(values)}")
    if args.std is not None and min(args.std) <= 0:
        raise UserError(f"--std must be positive; got {','.join(map(str, args.std))}")
    if torchscript and not Path(args.model).is_file():
        raise UserError(f"no such model file: {args.model}")
    images = tuple(Path(image) for image in args.images)
    for image in images:
        if not image.is_file():
            raise UserError(f"no such file: {image}")
    labels = tuple(image.stem for image in images) or (DEFAULT_PHOTO,)
    return Request(
        images=images,
        labels=labels,
        methods=methods,
        target=args.target,
        outs=_outs(args.out, labels),
        n_steps=args.n_steps,
        n_samples=args.n_samples,
        noise_scale=args.noise_scale,
        seed=args.seed,
        batch_size=args.batch_size,
        model=args.model,
        size=args.size,
        mean=args.mean,
        std=args.std,
        device=args.device,
        metrics=args.metrics,
        progress=not args.no_progress,
    )


def is_torchscript(model: str) -> bool:
    """Whether ``--model`` names a TorchScript file rather than a model by name."""
    return os.path.sep in model or model.endswith(TORCHSCRIPT_SUFFIXES) or Path(model).is_file()


def parse_methods(spec: str, available: Iterable[str]) -> tuple[str, ...]:
    """``--method``'s comma-separated names, each one of ``available``."""
    available = tuple(available)
    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        raise UserError(
            f"unknown method {', '.join(unknown) or repr(spec)}; available: {', '.join(available)}"
        )
    return tuple(names)


def png_out(out: str) -> Path:
    """``--out`` as a path: a ``.png`` file in an existing directory, not a directory."""
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise UserError(f"--out must be a .png file; got {out}")
    if not path.parent.is_dir():
        raise UserError(f"no such directory for --out: {path.parent}")
    if path.is_dir():
        raise UserError(f"--out {path} is a directory")
    return path


def check_writable(path: Path) -> None:
    """Fail now, not after the model has run, if ``path`` cannot be written.

    The file is opened for appending (its content, if any, is kept) and removed again if
    this created it.
    """
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
    except OSError as error:
        raise UserError(f"--out {path} cannot be written: {error.strerror or error}") from None
    if not existed:
        path.unlink()


def _outs(out: str, labels: tuple[str, ...]) -> tuple[Path, ...]:
    path = png_out(out)
    if len(labels) == 1:
        paths = (path,)
    else:
        paths = tuple(path.with_name(f"{path.stem}-{label}{path.suffix}") for label in labels)
    for target in paths:
        if target.is_dir():
            raise UserError(f"--out {target} is a directory")
    if len(set(paths)) < len(paths):
        raise UserError("two images have the same file name: their figures would overwrite")
    for target in paths:
        check_writable(target)
    return paths


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(value) for value in text.split(","))
    except ValueError:
        message = f"expected comma-separated numbers, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
