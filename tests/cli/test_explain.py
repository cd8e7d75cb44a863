"""``captum-smooth explain`` run as a real command (``python -m captum_smooth``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import efficientnet_lite_pytorch  # noqa: F401
import pytest
import torch
from PIL import Image
from skimage import data as skimage_data
from torch import nn

from captum_smooth.cli.figure import DPI, PANEL_WIDTH

SMALL = ["--n-samples", "4", "--n-steps", "4", "--batch-size", "8", "--no-progress"]


def explain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "captum_smooth", "explain", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def png_width(path: Path) -> int:
    with Image.open(path) as image:
        return image.width


PANEL = int(PANEL_WIDTH * DPI)


def test_default_run_prints_espresso_and_writes_the_photo_and_three_heatmaps(tmp_path: Path):
    out = tmp_path / "explanation.png"
    result = explain("--out", str(out), *SMALL)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "  1. espresso (967)" in result.stdout
    assert "explaining espresso (967)" in result.stdout
    # Captum's IG has no error estimate; the package's methods print theirs
    assert re.search(r"^  ig \(.*rows\): AUTVC [\d.]+ ↓$", result.stdout, re.M)
    for method in ("smoothtaylor", "idgi-ig"):
        line = rf"^  {method} \(.*rows\): AUTVC [\d.]+ ↓, est\. error \d+%$"
        assert re.search(line, result.stdout, re.M)
    assert png_width(out) == 4 * PANEL


def test_an_image_file_is_classified_and_the_target_explained_by_each_method(tmp_path: Path):
    image = tmp_path / "cat.png"
    Image.fromarray(skimage_data.chelsea()).save(image)
    out = tmp_path / "cat-explained.png"
    methods = "ig-noise,idgi-blur"
    result = explain(str(image), "--method", methods, "--target", "281", "--out", str(out), *SMALL)
    assert result.returncode == 0, result.stderr
    assert "  1. Egyptian cat (285)" in result.stdout
    assert "explaining tabby (281)" in result.stdout
    assert png_width(out) == 3 * PANEL


SCORES = re.compile(
    r"^  (?P<method>[\w-]+) \(.*; \d+ rows\): insertion (?P<insertion>[\d.]+) ↑, "
    r"AUPC (?P<aupc>-?[\d.]+) ↓ \(10 windows × 4\), AUTVC (?P<autvc>[\d.]+) ↓"
    r"(?:, est\. error (?P<error>\d+)%)?$",
    re.MULTILINE,
)


# TorchScript is deprecated in torch ≥ 2.10 but is what `--model FILE` loads
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_a_torchscript_model_with_metrics_prints_each_methods_scores(tmp_path: Path):
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(4, 7),
    ).eval()  # fmt: skip
    model = tmp_path / "tiny.pt"
    torch.jit.script(net).save(str(model))
    image = tmp_path / "cat.png"
    Image.fromarray(skimage_data.chelsea()).save(image)
    out = tmp_path / "tiny.png"
    result = explain(
        str(image), "--model", str(model), "--size", "32", "--method", "ig,smoothtaylor",
        "--metrics", "--out", str(out), *SMALL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.search(r"explaining class \d \(\d\)", result.stdout), result.stdout
    scores = {m["method"]: m for m in SCORES.finditer(result.stdout)}
    assert set(scores) == {"ig", "smoothtaylor"}, result.stdout
    for m in scores.values():
        assert 0.0 <= float(m["insertion"]) <= 1.0
        assert float(m["autvc"]) >= 0.0
    assert png_width(out) == 3 * PANEL


def _not_an_image(tmp_path: Path) -> str:
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    return str(path)


# The other mistakes are checked cheaply: before torch in test_arguments, before the model
# loads in test_run. These two go through the real command: one found by argparse, one after
# torch is imported.
@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda tmp: [_not_an_image(tmp)], "cannot read image"),
        (lambda tmp: ["--n-steps", "many"], "invalid int value"),
    ],
    ids=["unreadable-image", "bad-number"],
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
