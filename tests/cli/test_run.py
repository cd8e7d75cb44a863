"""``captum-smooth explain`` in process, with a tiny stand-in for the example model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from captum.attr import IntegratedGradients
from PIL import Image
from torch import nn

from captum_smooth import IDGI, ExpectedGradients, examples, relative_error
from captum_smooth.cli import main
from captum_smooth.cli.figure import DPI, PANEL_WIDTH

PANEL = re.compile(
    r"^  (?P<method>[\w-]+) \((?P<settings>.*); (?P<rows>\d+) rows\): AUTVC (?P<autvc>[\d.]+) ↓"
    r"(?:, est\. error (?P<error>\d+)%)?$",
    re.MULTILINE,
)


def tiny_lite0() -> nn.Module:
    """1000 ImageNet logits from a few parameters: the pipeline without the cost."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 5, stride=4), nn.Softplus(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Linear(32, 1000),
    ).eval()  # fmt: skip


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The example model replaced by :func:`tiny_lite0`; the list counts the loads."""
    loads: list[int] = []

    def load() -> nn.Module:
        loads.append(1)
        return tiny_lite0()

    monkeypatch.setattr(examples, "load_lite0", load)
    return loads


def test_the_default_run_gives_each_method_the_same_budget_and_reports_its_autvc(
    stand_in, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "explanation.png"
    assert main(["explain", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    panels = {m["method"]: m for m in PANEL.finditer(printed)}
    assert list(panels) == ["ig", "smoothtaylor", "idgi-ig"], printed
    rows = {name: int(m["rows"]) for name, m in panels.items()}
    # equal budgets (IDGI needs f at the path's end: one row more), under 160 rows in all
    assert rows == {"ig": 48, "smoothtaylor": 48, "idgi-ig": 49}
    assert panels["smoothtaylor"]["settings"] == "n_samples=48, σ=0.5"
    for m in panels.values():
        assert 0 < float(m["autvc"]) < 10
    # the package's methods print their estimated error (what return_error gives the same
    # call), Captum's IG has none
    assert panels["ig"]["error"] is None
    model, photo = tiny_lite0(), examples.normalize(examples.load_photo("coffee"))
    attr, error = IDGI(IntegratedGradients(model)).attribute(
        photo, examples.normalize(torch.zeros_like(examples.load_photo("coffee"))),
        target=int(model(photo).argmax()), n_steps=48, internal_batch_size=16, return_error=True,
    )  # fmt: skip
    assert int(panels["idgi-ig"]["error"]) == round(100 * float(relative_error(attr, error)[0]))
    assert int(panels["smoothtaylor"]["error"]) > 0
    with Image.open(out) as image:
        assert image.width == 4 * PANEL_WIDTH * DPI


def _unreadable(tmp: Path) -> str:
    path = tmp / "notes.png"
    path.write_text("not an image")
    return str(path)


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda tmp: ["--target", "1000"], "--target 1000 is out of range: the model has 1000"),
        (lambda tmp: ["--device", "no-such-device"], "device 'no-such-device' is not available"),
        (lambda tmp: [_unreadable(tmp)], "cannot read image"),
        (lambda tmp: ["--model", "no-such-net"], "unknown model 'no-such-net'"),
    ],
    ids=["target", "device", "unreadable-image", "unknown-model"],
)
def test_mistakes_found_by_torch_are_reported_before_the_model_loads(
    stand_in, tmp_path: Path, capsys: pytest.CaptureFixture[str], make_args, message
):
    out = tmp_path / "never.png"
    assert main(["explain", "--out", str(out), "--no-progress", *make_args(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert stand_in == [], "the model was loaded before the mistake was reported"
    assert captured.out == ""
    assert not out.exists()


def test_a_map_depends_on_its_settings_and_the_seed_not_on_what_ran_before_it(
    stand_in, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from captum_smooth.cli import explain

    drawn: list[dict[str, torch.Tensor]] = []
    monkeypatch.setattr(
        explain,
        "save_figure",
        lambda pixels, panels, *args: drawn.append({p.name: p.attribution for p in panels}),
    )
    out = str(tmp_path / "x.png")
    small = ["--n-samples", "3", "--n-steps", "3", "--no-progress", "--out", out]
    assert main(["explain", "--method", "smoothtaylor", *small]) == 0
    # noise-baseline IG and the metrics draw noise too, before SmoothTaylor does
    assert main(["explain", "--method", "ig-noise,smoothtaylor", "--metrics", *small]) == 0
    assert main(["explain", "--method", "smoothtaylor", "--seed", "1", *small]) == 0
    alone, after_others, other_seed = (maps["smoothtaylor"] for maps in drawn)
    assert torch.equal(alone, after_others)
    assert not torch.equal(alone, other_seed)


def test_expected_gradients_draws_from_the_bundled_photos_and_prints_its_error(
    stand_in, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "eg.png"
    args = ["explain", "--method", "expected-gradients", "--n-samples", "16", "--out", str(out)]
    assert main([*args, "--no-progress"]) == 0
    (panel,) = PANEL.finditer(capsys.readouterr().out)
    assert panel["method"] == "expected-gradients" and int(panel["rows"]) == 16
    assert "references" in panel["settings"] and panel["error"] is not None
    # the map is the method's on the four bundled photos as its reference set
    model = tiny_lite0()
    photo = examples.normalize(examples.load_photo("coffee"))
    references = examples.normalize(
        torch.cat([examples.load_photo(name) for name in examples.PHOTOS])
    )
    attr, error = ExpectedGradients(model).attribute(
        photo, references, n_samples=16, target=int(model(photo).argmax()),
        internal_batch_size=16, generator=torch.Generator().manual_seed(0), return_error=True,
    )  # fmt: skip
    assert int(panel["error"]) == round(100 * float(relative_error(attr, error)[0]))
