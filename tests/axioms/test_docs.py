"""docs/axioms.md and tutorial 3 stay true: the table is the table's data, the CI file is the
package's template, runs, catches Saliency, and passes on the tutorial's model for any
hypothesis seed."""

import ast
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from captum.attr import Saliency
from torch import nn

from captum_smooth.axioms import CI_TEMPLATE, AxiomViolation
from tests.axioms import digits
from tests.axioms.table import markdown_table

ROOT = Path(__file__).parents[2]
DOCS = (ROOT / "docs" / "axioms.md").read_text()
TUTORIAL = json.loads((ROOT / "tutorials" / "3_axioms_in_ci.ipynb").read_text())


def _cells(kind):
    return ["".join(c["source"]) for c in TUTORIAL["cells"] if c["cell_type"] == kind]


def test_docs_table_matches_the_data():
    assert markdown_table() in DOCS, "regenerate with `python -m tests.axioms.table`"


def test_the_tutorial_shows_the_table_of_the_data():
    assert any(markdown_table().strip() in cell for cell in _cells("markdown"))


def test_the_ci_file_of_the_docs_is_the_packaged_template():
    section = DOCS.split("## Check the axioms in your CI", 1)[1]
    assert re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1) == CI_TEMPLATE


@pytest.fixture
def ci_file(monkeypatch):
    """The CI file, run against a stand-in `my_project`."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.Softplus(), nn.Flatten(), nn.Linear(32, 10)
    )
    images = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    project = types.ModuleType("my_project")
    project.load_model, project.load_images = lambda: model, lambda: images
    monkeypatch.setitem(sys.modules, "my_project", project)
    namespace: dict = {}
    exec(compile(CI_TEMPLATE, "test_attribution_axioms.py", "exec"), namespace)
    return namespace


def test_the_ci_file_passes_for_integrated_gradients(ci_file):
    ci_file["test_attribution_axioms"]()


def test_the_ci_file_catches_saliency(ci_file):
    ci_file["METHOD"], ci_file["KWARGS"] = Saliency, {}
    test = ci_file["test_attribution_axioms"]
    with pytest.raises(AxiomViolation, match="completeness violated"):
        test.hypothesis.inner_test(i=0, pixel=5, scale=0.5, target=3)


def test_the_tests_train_the_model_of_the_tutorial():
    (cell,) = [c for c in _cells("code") if "def train_digits_model" in c]
    tutorial = ast.parse(cell).body
    ours = ast.parse(Path(digits.__file__).read_text()).body
    start = next(i for i, s in enumerate(ours) if ast.unparse(s) == "device = 'cpu'") + 1
    shared = ours[start:]
    assert [ast.dump(s) for s in tutorial[: len(shared)]] == [ast.dump(s) for s in shared]


MY_PROJECT = """\
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).parent


def load_model():
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10)
    )
    model.load_state_dict(torch.load(HERE / "digits_weights.pt", weights_only=True))
    return model


def load_images():
    return torch.load(HERE / "digits_images.pt", weights_only=True)
"""


@pytest.fixture(scope="module")
def digits_project(tmp_path_factory):
    """The CI file next to a `my_project` that loads the tutorial's model and its eight test
    digits, with hypothesis's `derandomize` (and its example database) taken away."""
    folder = tmp_path_factory.mktemp("ci")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = digits.train_digits_model(seed=0)
    finally:
        torch.set_num_threads(threads)
    torch.save(model.float().state_dict(), folder / "digits_weights.pt")
    torch.save(digits.images[digits.test[:8]], folder / "digits_images.pt")
    (folder / "my_project.py").write_text(MY_PROJECT)
    assert CI_TEMPLATE.count("derandomize=True") == 1
    random = CI_TEMPLATE.replace("derandomize=True", "derandomize=False, database=None")
    (folder / "test_attribution_axioms.py").write_text(random)
    return folder


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_ci_file_passes_on_the_model_of_the_tutorial_for_any_seed(digits_project, seed):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--hypothesis-seed={seed}",
            "test_attribution_axioms.py",
        ],
        cwd=digits_project,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"\b1 passed\b", done.stdout)


def test_no_stored_output_of_the_tutorial_names_a_file_of_this_machine():
    outputs = json.dumps([c.get("outputs", []) for c in TUTORIAL["cells"]])
    assert not re.search(r"(?<![\w.])/(?:[\w.-]+/)+[\w.-]+\.py\b", outputs)
    assert str(ROOT) not in outputs
