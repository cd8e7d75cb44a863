"""Step placement where the output rises: the straight line and the blur path."""

import pytest
import torch
from captum.attr import IntegratedGradients
from torch import nn

from captum_smooth import (
    IDGI,
    Auto,
    BlurIntegratedGradients,
    GuidedIntegratedGradients,
    IntegratedDecisionGradients,
    Placement,
    relative_error,
)
from captum_smooth.attr._captum_paths import StraightPath
from captum_smooth.attr._placement import cells, check_placement
from captum_smooth.attr._quadrature import quadrature


class Ramp(nn.Module):
    """``f(x) = 10 · relu(w · x - c)``: flat on the line from 0 to x until ``α₀ = c / (w · x)``."""

    def __init__(self, w: torch.Tensor, c: float) -> None:
        super().__init__()
        self.w, self.c = w, c

    def forward(self, x):
        return (10 * torch.relu(x @ self.w - self.c)).unsqueeze(1)


def ig(model, x, baselines=None, **settings):
    """IG on the package's straight line (the quadrature IDGI's adapter builds)."""
    return StraightPath(model)._attribute(
        x, 0, None, None, False, False, baselines=baselines, **settings
    )


def test_an_even_rise_places_the_steps_evenly():
    outputs = torch.linspace(0, 3, 9).expand(2, -1)  # the same rise in every cell
    u = [0.0, 0.1, 0.25, 0.5, 0.9, 1.0]
    assert torch.allclose(Placement(probes=8).place(outputs, u), torch.tensor([u, u]).double())
    flat = torch.zeros(1, 9)  # no rise at all: evenly too
    assert torch.allclose(Placement(probes=8, floor=0.1).place(flat, u), torch.tensor([u]).double())


def test_the_steps_follow_the_rise_with_the_stated_share_spread_evenly():
    probes, floor, n = 8, 0.25, 64
    outputs = torch.zeros(1, probes + 1)
    outputs[0, 6:] = 1.0  # the whole rise in cell 5, [5/8, 6/8)
    t = Placement(probes=probes, floor=floor).place(outputs, [(j + 0.5) / n for j in range(n)])
    inside = ((t >= 5 / 8) & (t < 6 / 8)).sum().item()
    # its mass: the rise's share (1 - floor) plus its share of the even part, floor / P
    assert inside == pytest.approx(n * ((1 - floor) + floor / probes), abs=1)
    assert (t.diff(dim=1) > 0).all()  # every cell keeps steps: none is skipped


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_middle", "riemann_trapezoid"])
def test_placed_weights_are_cell_widths_that_sum_to_one(method):
    rule = quadrature(method, 12)
    outputs = torch.tensor([[0.0, 0.1, 2.0, 2.1, 5.0, 5.0, 5.0, 6.0, 6.5]])
    placement = Placement(probes=8, floor=0.3)
    widths = placement.place(outputs, cells(rule.weights)).diff(dim=1)
    nodes = placement.place(outputs, rule.alphas)
    bounds = placement.place(outputs, cells(rule.weights))
    assert widths.sum().item() == pytest.approx(1.0, abs=1e-12)
    assert (widths > 0).all()
    assert ((nodes >= bounds[:, :-1]) & (nodes <= bounds[:, 1:])).all()  # a node in its cell


def test_placed_ig_integrates_a_linear_model_exactly():
    # the weights sum to one: IG of a linear model is w ⊙ (x - x') whatever the placement
    torch.manual_seed(0)
    model = nn.Linear(5, 2)
    x, baselines = torch.randn(3, 5), torch.randn(3, 5)
    attr = ig(model, x, baselines, n_steps=7, placement=Placement(probes=4, floor=0.2))
    assert torch.allclose(attr, model.weight[0].detach() * (x - baselines), atol=1e-6)


def test_steps_concentrate_where_the_output_rises_and_the_quadrature_stays_exact():
    # flat until α₀ = 0.8, then a constant slope: IG = 10 w ⊙ x (1 - α₀) exactly. With 10
    # probes and a floor of 0.2 the first 8 cells hold 8 · 0.02 = 4/25 of the steps: 4 of 25
    # midpoint cells end at α₀ and the other 21 split [0.8, 1]
    w, x = torch.tensor([1.0, 2.0, -1.0]), torch.tensor([[1.0, 2.0, 1.0]])
    model = Ramp(w, c=0.8 * 4.0)  # w · x = 4
    placement = Placement(probes=10, floor=0.2)
    attr = ig(model, x, n_steps=25, method="riemann_middle", placement=placement)
    assert torch.allclose(attr, 10 * w * x * 0.2, atol=1e-5)
    path = StraightPath(model).path(
        (x,), baselines=None, n_steps=25, method="riemann_middle", placement=placement
    )
    nodes = [b for b in _drive(path.quadrature(False).blocks, model) if b.need == "grad"]
    alphas = torch.cat([b.points[0][:, 0] / x[0, 0] for b in nodes])
    assert (alphas > 0.8).sum() == 21
    widths = torch.cat([b.direction[0][:, 0] / x[0, 0] for b in nodes])
    assert widths.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(widths[4:], torch.full((21,), 0.2 / 21), atol=1e-6)


def _drive(generator, model):
    """The blocks of an adaptive path, each stage sent the model's outputs on it."""
    sent, blocks = None, []
    while True:
        try:
            stage = generator.send(sent)
        except StopIteration:
            return blocks
        stage_blocks = list(stage.blocks)
        blocks += stage_blocks
        with torch.no_grad():
            sent = ([model(b.points[0])[:, 0] for b in stage_blocks], None)


def test_placed_idgi_and_blur_ig_stay_exactly_complete():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 8), nn.ReLU(), nn.Linear(8, 2))
    images = torch.rand(3, 3, 4, 4)
    placement = Placement(probes=6, floor=0.3)
    for method, kwargs in (
        (IntegratedGradients(model), {"n_steps": 9}),
        (BlurIntegratedGradients(model), {"n_steps": 9, "max_sigma": 3.0}),
    ):
        _, delta = IDGI(method).attribute(
            images, target=1, return_convergence_delta=True, placement=placement, **kwargs
        )
        assert delta.abs().max() < 1e-5


def test_the_delta_costs_no_row_beyond_the_first_pass():
    calls = []
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))
    model.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape[0]))
    x = torch.randn(2, 4)
    ig(model, x, n_steps=10, placement=Placement(probes=5))
    without = sum(calls)
    calls.clear()
    StraightPath(model)._attribute(x, 0, None, None, True, False, baselines=None, n_steps=10,
                                   placement=Placement(probes=5))  # fmt: skip
    assert sum(calls) == without == 2 * (10 + 6)


def test_on_a_smooth_model_the_trapezoids_delta_is_no_worse_placed_at_equal_gradient_rows():
    # a tanh network whose output changes over part of the line; (Gauss–Legendre, spectrally
    # accurate on such a model, loses to placement: docs/steps.md)
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2))
    with torch.no_grad():
        model[0].weight.mul_(6.0)
    x = torch.randn(4, 6)
    line = StraightPath(model)
    for n in (8, 16, 32):
        settings = {"baselines": None, "n_steps": n, "method": "riemann_trapezoid"}
        _, even = line._attribute(x, 0, None, None, True, False, **settings)
        _, placed = line._attribute(x, 0, None, None, True, False, placement="rise", **settings)
        assert placed.abs().median() <= even.abs().median(), n


def test_placement_is_deterministic_and_per_example():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 8), nn.ReLU(), nn.Linear(8, 3))
    images = torch.rand(4, 3, 4, 4) * 3
    targets = torch.tensor([0, 1, 2, 1])
    for method, kwargs in (
        (IDGI(IntegratedGradients(model)), {"n_steps": 8}),
        (BlurIntegratedGradients(model), {"n_steps": 8, "max_sigma": 2.0}),
    ):
        kwargs["placement"] = Placement(probes=8)
        batch = method.attribute(images, target=targets, **kwargs)
        assert torch.equal(batch, method.attribute(images, target=targets, **kwargs))
        for i in range(4):
            alone = method.attribute(images[i : i + 1], target=targets[i : i + 1], **kwargs)
            assert torch.allclose(alone, batch[i : i + 1], atol=1e-6, rtol=1e-5)


def test_an_even_placement_is_the_default_result():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 8), nn.ReLU(), nn.Linear(8, 3))
    images = torch.rand(2, 3, 4, 4)
    idgi = IDGI(IntegratedGradients(model))
    default = idgi.attribute(images, target=1, n_steps=8)
    assert torch.equal(default, idgi.attribute(images, target=1, n_steps=8, placement="uniform"))
    even = idgi.attribute(images, target=1, n_steps=8, placement=Placement(probes=4, floor=1.0))
    assert torch.allclose(even, default, atol=1e-6)


def test_placement_composes_with_automatic_budgets():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    x = torch.randn(3, 4) * 3
    idgi = IDGI(IntegratedGradients(model))
    attr, error = idgi.attribute(
        x, target=0, n_steps=Auto(tolerance=0.05, cap=512), return_error=True, placement="rise"
    )
    assert (relative_error(attr, error) <= 0.05).all()


def test_bad_placements_name_the_argument():
    with pytest.raises(ValueError, match="`probes`"):
        Placement(probes=1)
    with pytest.raises(TypeError, match="`probes`"):
        Placement(probes=8.0)
    with pytest.raises(ValueError, match="`floor`"):
        Placement(floor=0.0)
    with pytest.raises(TypeError, match="`floor`"):
        Placement(floor="half")
    with pytest.raises(ValueError, match="`placement`"):
        check_placement("even")
    with pytest.raises(TypeError, match="`placement`"):
        check_placement(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 2))
    images = torch.rand(1, 3, 4, 4)
    with pytest.raises(ValueError, match="`placement`"):
        IDGI(IntegratedGradients(model)).attribute(images, target=0, placement="even")
    with pytest.raises(TypeError, match="placement"):
        IDGI(GuidedIntegratedGradients(model)).attribute(images, target=0, placement="rise")
    idg = IntegratedDecisionGradients(IntegratedGradients(model), adaptive_sampling=True)
    with pytest.raises(ValueError, match="`placement`"):
        idg.attribute(images, target=0, placement="rise")
