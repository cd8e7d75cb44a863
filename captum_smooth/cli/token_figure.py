"""``explain-text``'s figure: one row of token scores per method, the tokens along the top.

Each row is divided by its own largest ``|score|``, so one colour bar reads every method
whatever its total (layer IG's adds up to the logit's change, SmoothTaylor's does not); each
cell is labelled with the score itself.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from captum_smooth import examples

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CELL_WIDTH = 0.9
"""Inches per token."""
CELL_HEIGHT = 0.55
"""Inches per method."""
LABELS_WIDTH = 3.2
"""Inches left of the cells, for the methods' names and settings."""
TITLE_LINE = 0.2
"""Inches per line of the title."""
TOKENS = 0.45
"""Inches between the title and the cells, for the tokens."""
BOTTOM = 1.0
"""Inches below the cells, for the colour bar and its label."""
MIN_WIDTH = 6.0
"""Inches: a short sentence still has room for its title."""
TITLE_CHARS_PER_INCH = 11
"""Characters of the title at ``FONT_SIZE + 1`` per inch of width, to wrap it."""
FONT_SIZE = 9
DPI = 100
COLOURMAP = "bwr"
"""Diverging, white at zero: red where a token speaks for the class, blue against it."""
COLOUR_BAR_LABEL = "token score ÷ the method's largest |token score|"


def normalized_rows(scores: dict[str, Tensor]) -> Tensor:
    """``(methods, T)``: each method's scores divided by its largest ``|score|`` (0 stays 0)."""
    rows = torch.stack([values.detach().cpu().double() for values in scores.values()])
    scale = rows.abs().amax(dim=1, keepdim=True)
    return rows / scale.where(scale > 0, torch.ones_like(scale))


def draw_token_figure(
    tokens: tuple[str, ...], scores: dict[str, Tensor], descriptions: dict[str, str], title: str
) -> Figure:
    """The figure of ``scores`` (method → ``(T,)`` token scores) over ``tokens``, unsaved."""
    examples.require("matplotlib")
    from matplotlib.figure import Figure

    n_methods, n_tokens = len(scores), len(tokens)
    width = max(MIN_WIDTH, LABELS_WIDTH + CELL_WIDTH * n_tokens + 0.3)
    lines = textwrap.wrap(title, int(TITLE_CHARS_PER_INCH * (width - 0.4)))
    height = 0.1 + TITLE_LINE * len(lines) + TOKENS + CELL_HEIGHT * n_methods + BOTTOM
    figure = Figure(figsize=(width, height), dpi=DPI)
    axis = figure.add_axes(
        (
            LABELS_WIDTH / width,
            BOTTOM / height,
            CELL_WIDTH * n_tokens / width,
            CELL_HEIGHT * n_methods / height,
        )
    )
    rows = normalized_rows(scores)
    image = axis.imshow(rows.numpy(), cmap=COLOURMAP, vmin=-1, vmax=1, aspect="auto")
    for row, values in enumerate(scores.values()):
        for column in range(n_tokens):
            dark = abs(float(rows[row, column])) > 0.6  # white on the saturated cells
            axis.text(
                column, row, f"{float(values[column]):+.2f}", ha="center", va="center",
                fontsize=FONT_SIZE - 1, color="white" if dark else "black",
            )  # fmt: skip
    axis.set_xticks(range(n_tokens), tokens, fontsize=FONT_SIZE)
    axis.xaxis.tick_top()
    axis.set_yticks(
        range(n_methods),
        [f"{name}\n{descriptions[name]}" for name in scores],
        fontsize=FONT_SIZE,
    )
    figure.text(
        0.5, 1 - 0.1 / height, "\n".join(lines), ha="center", va="top", fontsize=FONT_SIZE + 1
    )
    bar_axis = figure.add_axes(
        (LABELS_WIDTH / width, 0.55 / height, CELL_WIDTH * n_tokens / width, 0.12 / height)
    )
    bar = figure.colorbar(image, cax=bar_axis, orientation="horizontal")
    bar.set_label(COLOUR_BAR_LABEL, fontsize=FONT_SIZE)
    bar.set_ticks([-1, -0.5, 0, 0.5, 1])
    bar.ax.tick_params(labelsize=FONT_SIZE - 1)
    return figure


def save_token_figure(
    tokens: tuple[str, ...],
    scores: dict[str, Tensor],
    descriptions: dict[str, str],
    title: str,
    out: Path,
) -> None:
    """Draw the figure (:func:`draw_token_figure`) and save it as a PNG at ``out``."""
    draw_token_figure(tokens, scores, descriptions, title).savefig(out, format="png", dpi=DPI)
