"""``explain-text``'s figure: the tokens in order, one labelled row per method, nothing
overlapping or outside the figure."""

from __future__ import annotations

import itertools

import pytest
import torch

from captum_smooth.cli.token_figure import DPI, draw_token_figure, normalized_rows
from tests.cli.test_figure import extents

DESCRIPTIONS = {
    "layer-ig": "[PAD] baseline, 32 steps",
    "idgi-layer-ig": "[PAD] baseline, 32 steps",
    "layer-smoothtaylor": "32 samples, σ=0.5",
}


def scores(n_tokens: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {name: torch.randn(n_tokens, generator=generator) for name in DESCRIPTIONS}


@pytest.mark.parametrize("n_words", [1, 4, 30])
def test_tokens_rows_title_and_colour_bar_neither_overlap_nor_leave_the_figure(n_words):
    tokens = ("[CLS]", *(f"word{i}" for i in range(n_words)), "[SEP]")
    title = "'" + " ".join(tokens[1:-1]) + "': positive, probability 0.987; explaining positive"
    figure = draw_token_figure(tokens, scores(len(tokens)), DESCRIPTIONS, title)
    axis = figure.axes[0]
    assert [label.get_text() for label in axis.get_xticklabels()] == list(tokens)
    assert [label.get_text() for label in axis.get_yticklabels()] == [
        f"{name}\n{description}" for name, description in DESCRIPTIONS.items()
    ]
    assert "".join(figure.texts[0].get_text().split()) == "".join(title.split())
    boxes = extents(figure)
    inside = figure.bbox.padded(1)
    for name, box in boxes:
        assert inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1), name
    for (first, a), (second, b) in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), f"{first} overlaps {second}"
    assert figure.get_dpi() == DPI


def test_each_cell_shows_its_score_and_each_row_is_scaled_by_its_largest_magnitude():
    values = {"layer-ig": torch.tensor([0.0, 2.0, -4.0]), "idgi-layer-ig": torch.zeros(3)}
    rows = normalized_rows(values)
    torch.testing.assert_close(rows, torch.tensor([[0.0, 0.5, -1.0], [0.0, 0.0, 0.0]]).double())
    figure = draw_token_figure(("a", "b", "c"), values, DESCRIPTIONS, "title")
    cells = [text.get_text() for text in figure.axes[0].texts]
    assert cells == ["+0.00", "+2.00", "-4.00", "+0.00", "+0.00", "+0.00"]
