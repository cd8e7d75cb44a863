"""The ``explain`` figure: the image, then one heatmap per method, side by side."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from captum_smooth import examples

PANEL_INCHES = (4.0, 4.4)
DPI = 100
"""Each panel is 400 × 440 pixels: the PNG is ``400 · (1 + methods)`` wide and 440 high."""


def save_figure(pixels: Tensor, panels: list[tuple[str, Tensor]], title: str, out: Path) -> None:
    """Draw ``pixels`` (``(1, 3, H, W)`` in [0, 1]) and each ``(title, attribution)`` panel
    with Captum's :func:`~captum.attr.visualization.visualize_image_attr` and save a PNG."""
    matplotlib = examples.require("matplotlib")
    matplotlib.use("Agg")
    from captum.attr import visualization
    from matplotlib.figure import Figure

    image = pixels[0].permute(1, 2, 0).cpu().numpy()
    n = 1 + len(panels)
    figure = Figure(figsize=(PANEL_INCHES[0] * n, PANEL_INCHES[1]), dpi=DPI)
    axes = figure.subplots(1, n, squeeze=False)[0]
    axes[0].imshow(image)
    axes[0].set_title(title, fontsize=9)
    axes[0].axis("off")
    for axis, (name, attribution) in zip(axes[1:], panels, strict=True):
        visualization.visualize_image_attr(
            attribution[0].permute(1, 2, 0).cpu().float().numpy(),
            image,
            method="heat_map",
            sign="all",
            show_colorbar=True,
            plt_fig_axis=(figure, axis),
            use_pyplot=False,
            title=name,
        )
        axis.title.set_fontsize(8)
    figure.savefig(out, format="png", dpi=DPI)
