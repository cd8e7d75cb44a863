"""The README's Usage and Set-up sections: runnable as written, and what they promise holds."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import torch
from torch import nn

from captum_smooth import examples

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def usage_code() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Usage") :]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL)[1]


def test_the_usage_targets_the_class_the_example_model_gives_the_coffee_photo():
    targets = {int(t) for t in re.findall(r"target\s*=\s*(\d+)", usage_code())}
    assert targets, "the Usage section names no target"
    # the command's test checks that the example model's top-1 for coffee is espresso (967)
    assert [examples.imagenet_categories()[t] for t in targets] == ["espresso"]


def test_the_usage_runs_as_written(monkeypatch: pytest.MonkeyPatch):
    torch.manual_seed(0)
    tiny = nn.Sequential(
        nn.Conv2d(3, 4, 5, stride=4), nn.Softplus(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(4, 1000),
    ).eval()  # fmt: skip
    # the same code on a cheap model and a 32 × 32 photo
    monkeypatch.setattr(examples, "load_lite0", lambda: tiny)
    load_photo = examples.load_photo
    monkeypatch.setattr(examples, "load_photo", lambda name: load_photo(name, size=32))
    names: dict = {}
    exec(compile(usage_code(), "README.md", "exec"), names)
    for result in ("st", "idgi", "gig", "smooth"):
        assert names[result].shape == (1, 3, 32, 32), result
        assert torch.isfinite(names[result]).all(), result


def test_the_demo_figure_is_git_ignored():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(
        ["git", "check-ignore", "--quiet", "explanation.png"], cwd=ROOT, check=False
    )
    assert result.returncode == 0, "git does not ignore explanation.png"
