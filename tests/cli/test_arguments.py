"""``captum-smooth``'s parser and argument checks: fast, and before anything heavy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

HEAVY = ("torch", "numpy", "captum")
IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s+(?P<module>\S+)$", re.MULTILINE)


class Command(NamedTuple):
    returncode: int
    stdout: str
    stderr: str
    """Without ``-X importtime``'s lines."""
    imported: set[str]
    """The top-level packages imported."""


def run_command(*args: str) -> Command:
    """``python -X importtime -m captum_smooth ARGS``."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "captum_smooth", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "1000"},  # --help on one line per argument
    )
    imported = {m["module"].split(".")[0] for m in IMPORTED.finditer(result.stderr)}
    assert "captum_smooth" in imported, "python -X importtime printed nothing"
    stderr = "\n".join(line for line in result.stderr.splitlines() if "import time:" not in line)
    return Command(result.returncode, result.stdout, stderr, imported)


@pytest.mark.parametrize(
    "args",
    [["--help"], ["explain", "--help"], ["explain-text", "--help"]],
    ids=["top", "explain", "explain-text"],
)
def test_help_imports_neither_torch_nor_numpy_nor_captum(args):
    result = run_command(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: captum-smooth")
    assert not result.imported & set(HEAVY), sorted(result.imported & set(HEAVY))


def test_explain_help_lists_every_method_and_the_default():
    from captum_smooth.cli.registry import METHODS

    result = run_command("explain", "--help")
    flat = " ".join(result.stdout.split())
    assert f"of: {', '.join(METHODS)}" in flat
    assert "(default: ig,smoothtaylor,idgi-ig)" in flat


def test_the_package_imports_its_public_names_on_first_use():
    code = """
import sys
import captum_smooth
assert "torch" not in sys.modules
names = set(dir(captum_smooth))
from captum_smooth import SmoothTaylor
from captum_smooth.attr import smooth_taylor
assert SmoothTaylor is smooth_taylor.SmoothTaylor
space = {}
exec("from captum_smooth import *", space)
assert set(captum_smooth.__all__) <= names and set(captum_smooth.__all__) <= set(space)
try:
    captum_smooth.NoSuchName
except AttributeError as error:
    assert "NoSuchName" in str(error)
else:
    raise AssertionError("no AttributeError")
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def _directory(tmp: Path) -> str:
    path = tmp / "figure.png"
    path.mkdir()
    return str(path)


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda tmp: ["--out", str(tmp / "x.jpg")], "--out must be a .png file"),
        (lambda tmp: ["--out", str(tmp / "no" / "x.png")], "no such directory for --out"),
        (lambda tmp: ["--out", _directory(tmp)], "is a directory"),
        (lambda tmp: ["--n-samples", "0"], "--n-samples must be at least 1"),
        (lambda tmp: ["--n-steps", "-3"], "--n-steps must be at least 1"),
        (lambda tmp: ["--batch-size", "0"], "--batch-size must be at least 1"),
        (lambda tmp: ["--noise-scale", "-0.5"], "--noise-scale must be a positive number"),
        (lambda tmp: ["--noise-scale", "nan"], "--noise-scale must be a positive number"),
        (lambda tmp: ["--target", "-1"], "--target must be a class index"),
        (lambda tmp: ["--method", "ig,gradcam"], "unknown method gradcam"),
        (lambda tmp: ["--method", ","], "unknown method ','"),
        (lambda tmp: ["--size", "32"], "--size applies to TorchScript models only"),
        (lambda tmp: ["--model", str(tmp / "net.pt")], "no such model file"),
        (lambda tmp: ["--model", str(tmp / "net.pt"), "--mean", "0.5"], "--mean takes 3"),
        (lambda tmp: [str(tmp / "missing.png")], "no such file"),
    ],
    ids=[
        "out-suffix",
        "out-directory-missing",
        "out-is-a-directory",
        "n-samples",
        "n-steps",
        "batch-size",
        "noise-scale-negative",
        "noise-scale-nan",
        "target-negative",
        "unknown-method",
        "no-method",
        "size-without-torchscript",
        "model-file-missing",
        "mean-length",
        "image-missing",
    ],
)
def test_argument_mistakes_are_reported_before_torch_is_imported(tmp_path, make_args, message):
    result = run_command("explain", "--no-progress", *make_args(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("captum-smooth: error: ")
    assert message in lines[0]
    assert not result.imported & set(HEAVY), sorted(result.imported & set(HEAVY))
    assert result.stdout == ""


def test_the_command_line_offers_the_evaluations_method_description():
    # one Method for both: what `explain` runs can be handed to evaluate_methods as it is
    from captum_smooth.cli.registry import METHODS, Settings
    from captum_smooth.evaluation import Method

    settings = Settings(8, 4, 0.5, 16, lambda: None, None, lambda x: x, lambda: None)
    for name, make in METHODS.items():
        method = make(settings)
        assert isinstance(method, Method) and method.name == name and method.description


def test_explain_text_help_lists_every_method_the_classes_and_the_defaults():
    from captum_smooth.cli.registry import TEXT_METHODS

    result = run_command("explain-text", "--help")
    flat = " ".join(result.stdout.split())
    assert f"of: {', '.join(TEXT_METHODS)}" in flat
    assert "(default: layer-ig,idgi-layer-ig,layer-smoothtaylor)" in flat
    assert "negative, positive (default: the predicted class)" in flat


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda tmp: ["  "], "SENTENCE is empty"),
        (lambda tmp: ["ok", "--method", "layer-ig,ig"], "unknown method ig; available: layer-ig"),
        (lambda tmp: ["ok", "--target", "neutral"], "--target must be a class of the sentiment"),
        (lambda tmp: ["ok", "--target", "2"], "negative (0), positive (1); got 2"),
        (lambda tmp: ["ok", "--n-steps", "0"], "--n-steps must be at least 1; got 0"),
        (lambda tmp: ["ok", "--n-samples", "-1"], "--n-samples must be at least 1"),
        (lambda tmp: ["ok", "--batch-size", "0"], "--batch-size must be at least 1"),
        (lambda tmp: ["ok", "--noise-scale", "0"], "--noise-scale must be a positive number"),
        (lambda tmp: ["ok", "--out", str(tmp / "x.svg")], "--out must be a .png file"),
        (lambda tmp: ["ok", "--out", str(tmp / "no" / "x.png")], "no such directory for --out"),
        (lambda tmp: ["ok", "--out", _directory(tmp)], "is a directory"),
        (lambda tmp: [], "the following arguments are required: SENTENCE"),
        (lambda tmp: ["ok", "--n-steps", "many"], "argument --n-steps: invalid int value"),
    ],
    ids=[
        "empty-sentence",
        "unknown-method",
        "unknown-class",
        "class-index-out-of-range",
        "n-steps",
        "n-samples",
        "batch-size",
        "noise-scale",
        "out-suffix",
        "out-directory-missing",
        "out-is-a-directory",
        "no-sentence",
        "bad-number",
    ],
)
def test_explain_text_argument_mistakes_are_reported_before_torch_is_imported(
    tmp_path, make_args, message
):
    result = run_command("explain-text", *make_args(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("captum-smooth")
    assert message in lines[0]
    assert not result.imported & set(HEAVY), sorted(result.imported & set(HEAVY))
    assert result.stdout == ""
