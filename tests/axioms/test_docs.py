"""docs/axioms.md stays true: its table is the table's data, its CI file runs and catches."""

import re
import sys
import types
from pathlib import Path

import pytest
import torch
from captum.attr import Saliency
from torch import nn

from captum_smooth.axioms import AxiomViolation
from tests.axioms.table import markdown_table

DOCS = (Path(__file__).parents[2] / "docs" / "axioms.md").read_text()


def test_docs_table_matches_the_data():
    assert markdown_table() in DOCS, "regenerate with `python -m tests.axioms.table`"


@pytest.fixture
def ci_file(monkeypatch):
    """The copyable pytest file of the docs, run against a stand-in `my_project`."""
    section = DOCS.split("## Check the axioms in your CI", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.Softplus(), nn.Flatten(), nn.Linear(32, 10)
    )
    images = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    project = types.ModuleType("my_project")
    project.load_model, project.load_images = lambda: model, lambda: images
    monkeypatch.setitem(sys.modules, "my_project", project)
    namespace: dict = {}
    exec(compile(code, "docs/axioms.md", "exec"), namespace)
    return namespace


def test_the_ci_file_of_the_docs_passes_for_integrated_gradients(ci_file):
    ci_file["test_attribution_axioms"]()


def test_the_ci_file_of_the_docs_catches_saliency(ci_file):
    ci_file["METHOD"], ci_file["KWARGS"] = Saliency, {}
    test = ci_file["test_attribution_axioms"]
    with pytest.raises(AxiomViolation, match="completeness violated"):
        test.hypothesis.inner_test(i=0, pixel=5, scale=0.5, target=3)
