"""The ``captum-smooth`` command line (console script and ``python -m captum_smooth``).

Its dependencies are the ``examples`` extra: ``pip install 'captum-smooth[examples]'``; for
``explain-text``, the ``text`` extra too: ``pip install 'captum-smooth[text,examples]'``.
Building the parser and checking the arguments import only the standard library, so
``--help`` and a mistaken argument answer at once; torch and the model load afterwards.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from captum_smooth.cli import arguments, text_arguments

PROG = "captum-smooth"


class _Parser(argparse.ArgumentParser):
    """Reports argument errors in one line (exit code 2) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser, with its sub-commands."""
    parser = _Parser(
        prog=PROG,
        description="Explain image and text classifiers with captum_smooth's attribution methods.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    arguments.add_arguments(
        commands.add_parser(
            "explain",
            help="classify an image and draw attribution heatmaps",
            description="Print the model's top-5 classes for each IMAGE, explain the top-1 "
            "(or --target) with each --method and write the heatmaps side by side to --out, "
            "each titled with its settings and its AUTVC (lower = smoother).",
        )
    )
    text_arguments.add_arguments(
        commands.add_parser(
            "explain-text",
            help="classify a sentence's sentiment and score its tokens",
            description="Classify SENTENCE with the example sentiment classifier (pretrained "
            "MiniLM and a linear head trained on templated sentences, offline), explain the "
            "predicted class (or --target) with each --method on MiniLM's token embeddings, "
            "and print each token's score per method (the attribution summed over the "
            "embedding), which token ranks first, and how the scores add up against the "
            "logit's change from the [PAD] baseline (completeness). --out also draws them.",
        )
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; user errors print one line to stderr and return 2.

    User errors are the command's own checks and every ``ValueError`` or ``TypeError`` the
    package raises (a model whose outputs a method or metric cannot use, say).
    """
    args = build_parser().parse_args(argv)
    try:
        if args.command == "explain-text":
            text_request = text_arguments.check(args)
            # Imported only for checked arguments: a mistake is answered before torch loads.
            from captum_smooth.cli import explain_text

            explain_text.run(text_request)
        else:
            request = arguments.check(args)
            from captum_smooth.cli import explain

            explain.run(request)
    except (arguments.UserError, ValueError, TypeError) as error:
        # the package's own errors name what is wrong: one line, never a traceback
        print(f"{PROG}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    return 0
