"""The ``explain`` figure: the image, then one heatmap per method, side by side.

Every heatmap is the attribution summed over the colour channels and divided by its own 99th
percentile of ``|·|`` (clipped to ±1), so that one colour bar reads every panel whatever each
method's total (IG's sums to ``f(x) - f(baseline)``, SmoothTaylor's does not). AUTVC, shown in
each title, also scales ``|map|`` to its 99th percentile before it measures roughness.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from torch import Tensor

from captum_smooth import examples

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PANEL_WIDTH = 4.0
"""Inches per panel (the photo and each heatmap); the figure is this times the panels wide."""
MARGIN = 0.15
LINE = 0.2
"""Inches per line of text at :data:`FONT_SIZE`."""
COLOUR_BAR = 0.55
"""Inches for the colour bar and its ticks; its label's lines come on top."""
FONT_SIZE = 9
TITLE_CHARS = 54
"""The most characters of text at :data:`FONT_SIZE` on one line of one panel's width."""
DPI = 100
PERCENTILE = 99.0
COLOURMAP = "bwr"
"""Diverging, white at zero: red where the attribution is positive, blue where negative."""
CAPTION = (
    "AUTVC: area under the multi-scale total-variation curve of |map| (Goh et al., ICPR 2020), "
    "lower = smoother. est. error: the map's estimated distance to the method's own limit, "
    "÷ its norm (return_error). rows: images through the model to compute the map."
)
COLOUR_BAR_LABEL = (
    "attribution summed over RGB, ÷ each map's own {percentile:g}th percentile of |·|, "
    "clipped to ±1"
)
METRICS_CAPTION = (
    "insertion: area under the class probability as pixels are inserted by rank (higher is "
    "better); AUPC: area under the logit as the top windows are noised (lower is better)."
)


@dataclass(frozen=True)
class Panel:
    """One method's heatmap and the lines of its title."""

    name: str
    settings: str
    """The method's settings and cost, e.g. ``n_steps=48, 48 rows``."""
    scores: tuple[str, ...]
    """One line per group of scores, e.g. ``("AUTVC 1.02 ↓",)``."""
    attribution: Tensor
    """``(1, C, H, W)``."""


def normalized_map(attribution: Tensor) -> Tensor:
    """``(H, W)``: the channel sum divided by its :data:`PERCENTILE` of ``|·|``, clipped to ±1."""
    heatmap = attribution[0].detach().cpu().double().sum(dim=0)
    scale = heatmap.abs().flatten().quantile(PERCENTILE / 100)
    if scale == 0:
        return heatmap.zero_()
    return (heatmap / scale).clamp(-1, 1)


def draw_figure(pixels: Tensor, panels: list[Panel], title: str, metrics: bool) -> Figure:
    """The figure of ``pixels`` (``(1, 3, H, W)`` in [0, 1]) and the ``panels``, unsaved.

    The layout is computed, not searched: a band of titles as tall as the longest title, the
    square images, one colour bar under the heatmaps and the caption, each in its own band;
    long lines are wrapped to the width they have.
    """
    examples.require("matplotlib")
    from matplotlib.figure import Figure

    n = len(panels)
    titles = [_wrap([title], 1)] + [_wrap([p.name, p.settings, *p.scores], 1) for p in panels]
    label = _wrap([COLOUR_BAR_LABEL.format(percentile=PERCENTILE)], n)
    caption = _wrap([CAPTION, *([METRICS_CAPTION] if metrics else [])], 1 + n)
    bands = {  # inches, bottom to top
        "caption": LINE * len(caption) + MARGIN,
        "colour bar": COLOUR_BAR + LINE * len(label),
        "image": PANEL_WIDTH - 2 * MARGIN,
        "titles": LINE * max(len(lines) for lines in titles) + MARGIN,
    }
    width, height = PANEL_WIDTH * (1 + n), sum(bands.values())
    figure = Figure(figsize=(width, height), dpi=DPI)
    side = bands["image"]

    def axes(column: int, bottom: float, box_width: float, box_height: float) -> Axes:
        left = column * PANEL_WIDTH + MARGIN
        return figure.add_axes(
            (left / width, bottom / height, box_width / width, box_height / height)
        )

    image_bottom = bands["caption"] + bands["colour bar"]
    photo = axes(0, image_bottom, side, side)
    photo.imshow(pixels[0].permute(1, 2, 0).cpu().numpy())
    photo.set_title("\n".join(titles[0]), fontsize=FONT_SIZE)
    photo.axis("off")
    for column, (panel, lines) in enumerate(zip(panels, titles[1:], strict=True), 1):
        axis = axes(column, image_bottom, side, side)
        image = axis.imshow(
            normalized_map(panel.attribution).numpy(), cmap=COLOURMAP, vmin=-1, vmax=1
        )
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_title("\n".join(lines), fontsize=FONT_SIZE)
    bar_height = 0.12
    bar_axis = axes(
        1, image_bottom - 0.1 - bar_height, width - PANEL_WIDTH - 2 * MARGIN, bar_height
    )
    bar = figure.colorbar(image, cax=bar_axis, orientation="horizontal")
    bar.set_label("\n".join(label), fontsize=FONT_SIZE)
    bar.ax.tick_params(labelsize=FONT_SIZE - 1)
    figure.text(
        0.5, MARGIN / height, "\n".join(caption), ha="center", va="bottom", fontsize=FONT_SIZE
    )
    return figure


def _wrap(lines: list[str], n_panels: int) -> list[str]:
    """``lines`` broken to fit ``n_panels`` panels' width (a long file name, a short figure)."""
    return [
        part
        for line in lines
        for text in line.split("\n")
        for part in textwrap.wrap(text, TITLE_CHARS * n_panels)
    ]


def save_figure(
    pixels: Tensor, panels: list[Panel], title: str, out: Path, metrics: bool = False
) -> None:
    """Draw the figure (:func:`draw_figure`) and save it as a PNG at ``out``."""
    draw_figure(pixels, panels, title, metrics).savefig(out, format="png", dpi=DPI)
