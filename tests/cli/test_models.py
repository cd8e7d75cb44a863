"""``--model``: a torchvision model is used only when its weights are already on this machine."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision import models

from captum_smooth.cli import main
from captum_smooth.cli.models import find_model, weights_file


def _never(*args, **kwargs):
    raise AssertionError("torchvision was asked for the weights (a download when offline)")


def test_resnet18_without_cached_weights_fails_in_one_line_without_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(models, "get_model", _never)
    out = tmp_path / "never.png"
    assert main(["explain", "--model", "resnet18", "--out", str(out), "--no-progress"]) == 2
    captured = capfd.readouterr()
    assert "Downloading" not in captured.out + captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "the weights of resnet18 are not on this machine" in lines[0]
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in lines[0]
    assert not out.exists()


def test_cached_torchvision_weights_are_found_where_torchvision_keeps_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = models.ResNet18_Weights.DEFAULT
    path = weights_file(weights.url)
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    state = models.resnet18().state_dict()
    torch.save(state, path)

    model = find_model("resnet18", None, None, None)
    assert (model.size, model.n_classes, model.category(207)) == (224, 1000, "golden retriever")
    module = model.load()
    assert not module.training
    # our random weights, not a download of the pretrained ones
    torch.testing.assert_close(module.state_dict()["fc.weight"], state["fc.weight"])
