"""``captum-smooth explain`` run as a real command (``python -m captum_smooth``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("efficientnet_lite_pytorch")
PIL = pytest.importorskip("PIL.Image")
skimage_data = pytest.importorskip("skimage.data")

SMALL = ["--n-samples", "4", "--n-steps", "4", "--batch-size", "8", "--no-progress"]
PANEL_WIDTH, PANEL_HEIGHT = 400, 440


def explain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "captum_smooth", "explain", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def png_size(path: Path) -> tuple[int, int]:
    with PIL.open(path) as image:
        return image.size


def test_default_run_prints_espresso_and_writes_the_photo_and_two_heatmaps(tmp_path: Path):
    out = tmp_path / "explanation.png"
    result = explain("--out", str(out), *SMALL)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "  1. espresso (967)" in result.stdout
    assert "explaining espresso (967)" in result.stdout
    assert png_size(out) == (3 * PANEL_WIDTH, PANEL_HEIGHT)


def test_an_image_file_is_classified_and_the_target_explained_by_each_method(tmp_path: Path):
    image = tmp_path / "cat.png"
    PIL.fromarray(skimage_data.chelsea()).save(image)
    out = tmp_path / "cat-explained.png"
    methods = "ig-noise,idgi-blur"
    result = explain(str(image), "--method", methods, "--target", "281", "--out", str(out), *SMALL)
    assert result.returncode == 0, result.stderr
    assert "  1. Egyptian cat (285)" in result.stdout
    assert "explaining tabby (281)" in result.stdout
    assert png_size(out) == (3 * PANEL_WIDTH, PANEL_HEIGHT)


def _not_an_image(tmp_path: Path) -> str:
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    return str(path)


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda tmp: [str(tmp / "missing.png")], "no such file"),
        (lambda tmp: [_not_an_image(tmp)], "cannot read image"),
        (lambda tmp: ["--method", "ig,gradcam"], "unknown method gradcam; available: smooth"),
        (lambda tmp: ["--model", "no-such-net"], "unknown model 'no-such-net'"),
        (lambda tmp: ["--target", "1000"], "--target 1000 is out of range"),
        (lambda tmp: ["--n-steps", "many"], "invalid int value"),
    ],
    ids=[
        "missing-file",
        "unreadable-image",
        "unknown-method",
        "unknown-model",
        "target-out-of-range",
        "bad-number",
    ],
)
def test_user_errors_exit_2_with_one_line_and_no_traceback(tmp_path: Path, make_args, message):
    out = tmp_path / "never.png"
    result = explain("--out", str(out), *SMALL, *make_args(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("captum-smooth"), lines[0]
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()
