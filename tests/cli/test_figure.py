"""The ``explain`` figure: labelled, every panel's settings in its title, nothing overlapping."""

from __future__ import annotations

import itertools

import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg

from captum_smooth.cli.figure import DPI, PANEL_WIDTH, Panel, draw_figure, normalized_map

# The longest lines the command writes: ig-noise's settings, --metrics' scores.
SETTINGS = "n_baselines=48, n_steps=48; 2304 rows"
SCORES = ("insertion 0.999 ↑, AUPC -12.34 ↓ (10 windows × 4)", "AUTVC 10.00 ↓")
TITLE = "a-long-image-file-name: Chesapeake Bay retriever (209)\nprobability 0.999"


def panels(n: int, metrics: bool) -> list[Panel]:
    generator = torch.Generator().manual_seed(0)
    scores = SCORES if metrics else SCORES[1:]
    return [
        Panel(f"idgi-guided-{i}", SETTINGS, scores, torch.randn(1, 3, 64, 64, generator=generator))
        for i in range(n)
    ]


def extents(figure):
    """The window extent of every axes with its titles and labels, and of the figure's texts."""
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    boxes = [(f"axes {i}", axis.get_tightbbox(renderer)) for i, axis in enumerate(figure.axes)]
    boxes += [(f"text {text.get_text()[:20]!r}", text.get_window_extent(renderer))
              for text in figure.texts]  # fmt: skip
    return boxes


@pytest.mark.parametrize(("n", "metrics"), [(1, False), (3, False), (3, True), (8, True)])
def test_titles_colour_bar_and_caption_neither_overlap_nor_leave_the_figure(n, metrics):
    figure = draw_figure(torch.rand(1, 3, 64, 64), panels(n, metrics), TITLE, metrics)
    width, _ = figure.get_size_inches() * DPI
    assert width == pytest.approx(PANEL_WIDTH * DPI * (1 + n))
    boxes = extents(figure)
    inside = figure.bbox.padded(1)
    for name, box in boxes:
        assert inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1), name
    for (first, a), (second, b) in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), f"{first} overlaps {second}"


def test_each_panel_is_titled_with_its_name_settings_and_scores_over_a_labelled_colour_bar():
    figure = draw_figure(torch.rand(1, 3, 64, 64), panels(2, True), TITLE, True)
    titles = [axis.get_title() for axis in figure.axes]
    assert titles[0] == TITLE
    for i in (1, 2):
        assert titles[i].splitlines() == [f"idgi-guided-{i - 1}", SETTINGS, *SCORES]
    colour_bar = figure.axes[-1]
    assert "99th percentile of |·|" in colour_bar.get_xlabel()
    ticks = [float(tick.get_text().replace("−", "-")) for tick in colour_bar.get_xticklabels()]
    assert (min(ticks), max(ticks)) == (-1.0, 1.0)
    caption = " ".join(text.get_text() for text in figure.texts)
    assert "AUTVC" in caption and "lower = smoother" in caption
    assert "insertion" in caption and "AUPC" in caption


def test_a_map_is_scaled_by_its_99th_percentile_of_magnitude_and_clipped():
    values = torch.arange(1.0, 101.0)  # |·|'s 99th percentile: 99.01
    attribution = torch.stack([values, -values, values]).reshape(1, 3, 10, 10)
    heatmap = normalized_map(attribution)  # channels sum to the values themselves
    assert heatmap.shape == (10, 10)
    assert float(heatmap.flatten()[49]) == pytest.approx(50 / 99.01)
    assert float(heatmap.max()) == 1.0
    assert float(normalized_map(-attribution).min()) == -1.0
    assert not normalized_map(torch.zeros(1, 3, 4, 4)).any()
