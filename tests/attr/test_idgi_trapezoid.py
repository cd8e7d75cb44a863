"""IDGI's trapezoid segment rule (``segment_rule="trapezoid"``, docs/reference.md#idgi).

Its formula on three paths and its completeness are tested with the paper's rule in
test_idgi.py."""

import itertools

import pytest
import torch
from captum.attr import IntegratedGradients, LayerIntegratedGradients

from captum_smooth import IDGI, Auto
from captum_smooth.attr import IDGIRule, TrapezoidIDGIRule, fold_recorded

from .test_idgi import smooth_model


def test_a_segment_with_one_direction_takes_it_whole():
    # ReLU(x1 - 2): no gradient until α = 2/3; the segment (0.5, 0.75) has one at its end only
    def relu_net(x):
        return torch.relu(x[:, 0] - 2.0) + 0.0 * x[:, 1]

    x = torch.tensor([[3.0, 1.0]], dtype=torch.float64)
    for segment_rule in ("left", "trapezoid"):
        attr = IDGI(IntegratedGradients(relu_net), segment_rule=segment_rule).attribute(
            x, baselines=0.0, n_steps=4
        )
        torch.testing.assert_close(attr, torch.tensor([[1.0, 0.0]], dtype=torch.float64))


def test_a_segment_with_no_direction_is_spread_by_the_step():
    def step(x):
        return (x.sum(dim=1) > 1.5).to(x.dtype) + 0.0 * x.sum(dim=1)

    x = torch.tensor([[1.0, 3.0]], dtype=torch.float64)
    idgi = IDGI(IntegratedGradients(step), segment_rule="trapezoid")
    attr = idgi.attribute(x, baselines=0.0, n_steps=4)
    torch.testing.assert_close(attr, torch.tensor([[0.25, 0.75]], dtype=torch.float64))


def cubic_line(n):
    """``f = x₁² + x₂³ + x₁x₂`` on the straight path to ``(1, 2)``, ``n`` steps, recorded."""
    points = [torch.tensor([[1.0, 2.0]], dtype=torch.float64) * j / n for j in range(n + 1)]
    values = [p[:, 0] ** 2 + p[:, 1] ** 3 + p[:, 0] * p[:, 1] for p in points]
    grads = [torch.stack([2 * p[:, 0] + p[:, 1], 3 * p[:, 1] ** 2 + p[:, 0]], 1) for p in points]
    return points, values, grads


def test_trapezoid_is_second_order_and_has_the_papers_limit():
    # on a smooth function the paper's rule halves its error per doubling, the trapezoid
    # quarters it; both go to the same limit, which Richardson's extrapolation gives
    limit = fold_recorded(TrapezoidIDGIRule, *cubic_line(4096))
    left_limit = fold_recorded(IDGIRule, *cubic_line(4096))
    assert (left_limit - limit).norm() < 2e-3 * limit.norm()  # first order: 4096 steps
    for rule, factor in ((IDGIRule, 2.0), (TrapezoidIDGIRule, 4.0)):
        errors = [(fold_recorded(rule, *cubic_line(n)) - limit).norm() for n in (16, 32, 64)]
        for coarse, fine in itertools.pairwise(errors):
            assert coarse / fine == pytest.approx(factor, rel=0.1)


def test_auto_reaches_its_tolerance_with_fewer_rows_than_the_papers_rule():
    model = smooth_model()
    x = 4 * torch.rand(3, 2, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    rows = {}
    maps = {}
    for segment_rule in ("left", "trapezoid"):
        count = [0]

        def counted(t, count=count):
            count[0] += t.shape[0]
            return model(t)

        idgi = IDGI(IntegratedGradients(counted), segment_rule=segment_rule)
        maps[segment_rule] = idgi.attribute(x, baselines=0.0, n_steps=Auto(0.01, cap=4096))
        rows[segment_rule] = count[0]
    limit = IDGI(IntegratedGradients(model), segment_rule="trapezoid").attribute(
        x, baselines=0.0, n_steps=1024
    )
    for attr in maps.values():
        error = (attr - limit).flatten(1).norm(dim=1) / limit.flatten(1).norm(dim=1)
        assert (error <= 0.01).all()
    # the trapezoid stops in its first round (17 rows each); the paper's rule needs more
    # rounds (each reusing the last one's rows): 51 rows against 147 here
    assert rows["trapezoid"] * 2 < rows["left"]


def test_the_rule_follows_the_wrapper_to_another_method():
    model = smooth_model()
    idgi = IDGI(IntegratedGradients(model), only_moving=True, segment_rule="trapezoid")
    layer = torch.nn.Identity()
    moved = idgi.on(LayerIntegratedGradients(lambda x: model(layer(x)), layer))
    assert moved.rule is idgi.rule and idgi.rule.balance == 0.5


@pytest.mark.parametrize(
    ("value", "error"), [("mid", ValueError), ("Trapezoid", ValueError), (0.5, TypeError)]
)
def test_an_unknown_segment_rule_is_named(value, error):
    with pytest.raises(error, match="`segment_rule` must be 'left' or 'trapezoid'"):
        IDGI(IntegratedGradients(smooth_model()), segment_rule=value)
