"""``captum-smooth explain-text``'s arguments and the checks that need neither torch nor a model.

Only the standard library is imported here, as for ``explain``: ``--help`` and a mistaken
argument answer before torch is imported and the classifier trained.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

from captum_smooth.cli.arguments import UserError, check_writable, parse_methods, png_out
from captum_smooth.cli.registry import TEXT_METHODS

SENTIMENT_CLASSES = ("negative", "positive")
"""The classifier's classes in the order of its logits: ``captum_smooth.examples.SENTIMENTS``,
repeated here because importing the examples imports torch (a test pins them equal)."""
DEFAULT_TEXT_METHODS = ",".join(TEXT_METHODS)


@dataclass(frozen=True)
class TextRequest:
    """The checked arguments of one ``explain-text`` run."""

    sentence: str
    methods: tuple[str, ...]
    target: int | None
    """The class index to explain; ``None``: the predicted class."""
    out: Path | None
    """The figure to write; ``None``: print only."""
    n_steps: int
    n_samples: int
    noise_scale: float
    seed: int
    batch_size: int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``explain-text`` sub-command's arguments."""
    parser.add_argument("sentence", metavar="SENTENCE", help="the sentence to classify")
    parser.add_argument(
        "--method",
        default=DEFAULT_TEXT_METHODS,
        help=f"comma-separated methods, of: {', '.join(TEXT_METHODS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--target",
        help=f"class to explain, by name or index: {', '.join(SENTIMENT_CLASSES)} "
        "(default: the predicted class)",
    )
    parser.add_argument(
        "--out", help="also draw the token scores of each method to this PNG (default: none)"
    )
    parser.add_argument(
        "--n-steps",
        type=int,
        default=32,
        help="path steps of layer-ig and idgi-layer-ig (default: %(default)s)",
    )
    parser.add_argument(
        "--n-samples",
        type=int,
        default=32,
        help="layer-smoothtaylor's noise samples (default: %(default)s)",
    )
    parser.add_argument(
        "--noise-scale",
        type=float,
        default=0.5,
        help="layer-smoothtaylor's noise σ on the token embeddings, whose entries have a "
        "standard deviation of about 0.5 (default: %(default)s, SmoothTaylor's default and "
        "the best of 0.1-1 at ranking the sentiment word first on training sentences)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=64,
        help="at most this many sentences through the model at once (default: %(default)s)",
    )


def check(args: argparse.Namespace) -> TextRequest:
    """The parsed arguments as a :class:`TextRequest`.

    Raises:
        UserError: the first mistake that can be seen without torch or the model.
    """
    if not args.sentence.strip():
        raise UserError("SENTENCE is empty: give the sentence to classify, in quotes")
    methods = parse_methods(args.method, TEXT_METHODS)
    for name in ("n_steps", "n_samples", "batch_size"):
        value = getattr(args, name)
        if value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1; got {value}")
    if not (math.isfinite(args.noise_scale) and args.noise_scale > 0):
        raise UserError(f"--noise-scale must be a positive number; got {args.noise_scale}")
    out = None if args.out is None else png_out(args.out)
    if out is not None:
        check_writable(out)
    return TextRequest(
        sentence=args.sentence,
        methods=methods,
        target=None if args.target is None else _target(args.target),
        out=out,
        n_steps=args.n_steps,
        n_samples=args.n_samples,
        noise_scale=args.noise_scale,
        seed=args.seed,
        batch_size=args.batch_size,
    )


def _target(text: str) -> int:
    """``--target`` as a class index: a class's name or its index."""
    name = text.strip().lower()
    if name in SENTIMENT_CLASSES:
        return SENTIMENT_CLASSES.index(name)
    if name.isdigit() and int(name) < len(SENTIMENT_CLASSES):
        return int(name)
    choices = ", ".join(f"{c} ({i})" for i, c in enumerate(SENTIMENT_CLASSES))
    raise UserError(f"--target must be a class of the sentiment classifier, {choices}; got {text}")
