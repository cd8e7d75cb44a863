"""The rows and options of benchmarks/paper_tables.py that its results depend on, on a tiny
model (the script itself runs EfficientNet-Lite0 for tens of minutes)."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
NEW_ROWS = ["IDG(IG)", "IDG(IG) adaptive", "EG"]


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("paper_tables", BENCHMARKS / "paper_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_settings(tables):
    return {**tables.PRESETS["small"], "path_steps": 4, "internal_batch_size": 8}


def test_the_idgi_table_has_the_idg_and_expected_gradients_rows(tables):
    methods = tables.chosen(tables.idgi_methods(tiny_settings(tables)), ",".join(NEW_ROWS), "-")
    assert [m.name for m in methods] == NEW_ROWS
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 5)).eval()
    images = torch.rand(2, 3, 8, 8)
    references = torch.rand(3, 3, 8, 8)
    for method in methods:
        extra = {"baselines": references} if method.name == "EG" else {}
        generator = torch.Generator().manual_seed(0)
        attributions = method.attribute(model, images, [1, 3], generator=generator, **extra)
        assert attributions.shape == images.shape and torch.isfinite(attributions).all()


def test_only_the_named_rows_and_columns_run_and_unknown_names_are_refused(tables):
    methods = tables.idgi_methods(tiny_settings(tables))
    assert [m.name for m in tables.chosen(methods, "IG,EG", "--methods")] == ["IG", "EG"]
    assert tables.chosen(methods, None, "--methods") == methods
    assert list(tables.chosen({"a": 1, "b": 2}, "b", "--metrics")) == ["b"]
    with pytest.raises(SystemExit, match="--methods: unknown IDG; choose from IG"):
        tables.chosen(methods, "IDG", "--methods")


def test_claims_whose_rows_did_not_run_are_left_out(tables):
    result = SimpleNamespace(methods=["IG", "IDG(IG)"])
    pairs = [("IDG(IG)", "IG"), ("IDG(IG)", "BlurIG"), ("IDG(IG) adaptive", "IG")]
    assert tables.ran(result, pairs) == [("IDG(IG)", "IG")]
