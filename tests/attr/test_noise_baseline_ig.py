"""Integrated Gradients over uniform-noise baselines (docs/reference.md#noise-baseline-ig)
against Captum's IG."""

import pytest
import torch
from captum.attr import IntegratedGradients

from captum_smooth import NoiseBaselineIntegratedGradients


def recorder(store):
    def transform(u):
        store.append(u)
        return u

    return transform


@pytest.mark.parametrize("method", ["riemann_right", "riemann_trapezoid", "gausslegendre"])
@pytest.mark.parametrize("multiply_by_inputs", [True, False])
def test_equals_the_mean_of_captum_ig_runs_with_the_same_baselines(cnn, method, multiply_by_inputs):
    x = torch.rand(3, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    drawn = []
    ours = NoiseBaselineIntegratedGradients(cnn, multiply_by_inputs=multiply_by_inputs).attribute(
        x,
        target=[0, 2, 4],
        n_baselines=4,
        n_steps=7,
        method=method,
        internal_batch_size=10,
        baseline_transform=recorder(drawn),
        generator=torch.Generator().manual_seed(1),
    )
    captum = IntegratedGradients(cnn, multiply_by_inputs=multiply_by_inputs)
    reference = sum(
        captum.attribute(x, baselines=z, target=[0, 2, 4], n_steps=7, method=method) for z in drawn
    ) / len(drawn)
    assert len(drawn) == 4
    if method == "riemann_trapezoid":
        # same points; Captum's weights sum to (n - 1)/n, ours to one
        reference = reference * 7 / 6
    # Captum casts its points to float32: agreement to that precision
    torch.testing.assert_close(ours, reference, rtol=1e-6, atol=1e-9)


def smooth_mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)
    ).double()


def test_the_trapezoid_is_second_order_where_captums_is_first_order():
    model = smooth_mlp()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def gap(n_steps):
        _, delta = NoiseBaselineIntegratedGradients(model).attribute(
            x,
            target=1,
            n_baselines=1,
            baseline_low=0.5,
            baseline_high=0.5,
            n_steps=n_steps,
            method="riemann_trapezoid",
            return_convergence_delta=True,
        )
        return delta.abs().max().item()

    def captum_gap(n_steps):
        _, delta = IntegratedGradients(model).attribute(
            x,
            0.5,
            target=1,
            n_steps=n_steps,
            method="riemann_trapezoid",
            return_convergence_delta=True,
        )
        return delta.abs().max().item()

    # error ∝ 1/n²: 4× the steps, 16× less error (captum's: 1/n, about 4×)
    assert 12 < gap(10) / gap(40) < 20
    assert 3 < captum_gap(10) / captum_gap(40) < 5
    assert gap(40) < captum_gap(40) / 10


def test_convergence_delta_is_against_the_mean_baseline_output():
    torch.manual_seed(0)
    smooth = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)
    ).double()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    drawn = []
    attr, delta = NoiseBaselineIntegratedGradients(smooth).attribute(
        x,
        target=1,
        n_baselines=3,
        n_steps=400,
        method="gausslegendre",
        baseline_transform=recorder(drawn),
        return_convergence_delta=True,
        internal_batch_size=256,
        generator=torch.Generator().manual_seed(2),
    )
    with torch.no_grad():
        gap = smooth(x)[:, 1] - torch.stack([smooth(z)[:, 1] for z in drawn]).mean(0)
    torch.testing.assert_close(delta, attr.sum(dim=(1, 2, 3)) - gap)
    assert delta.shape == (2,)
    # completeness: the delta is the quadrature error only
    assert (delta.abs() < 1e-8).all()
    assert (gap.abs() > 1e-3).all()


def test_one_degenerate_baseline_equals_captum_ig_from_that_constant(cnn):
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ours, delta = NoiseBaselineIntegratedGradients(cnn).attribute(
        x,
        target=3,
        n_baselines=1,
        baseline_low=0.3,
        baseline_high=0.3,
        n_steps=11,
        method="gausslegendre",
        return_convergence_delta=True,
    )
    reference, ref_delta = IntegratedGradients(cnn).attribute(
        x,
        baselines=0.3,
        target=3,
        n_steps=11,
        method="gausslegendre",
        return_convergence_delta=True,
    )
    torch.testing.assert_close(ours, reference, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(delta, ref_delta.to(delta.dtype), rtol=1e-4, atol=1e-7)


def test_baselines_are_drawn_between_the_bounds_then_transformed(cnn):
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    low = torch.tensor([0.0, 0.5, 0.9], dtype=torch.float64).view(1, 3, 1, 1)
    mean, std = 0.5, 0.25
    raw, normalised = [], []

    def normalise(u):
        raw.append(u)
        z = (u - mean) / std
        normalised.append(z)
        return z

    NoiseBaselineIntegratedGradients(cnn).attribute(
        x,
        target=0,
        n_baselines=5,
        n_steps=2,
        baseline_low=low,
        baseline_high=1.0,
        baseline_transform=normalise,
        generator=torch.Generator().manual_seed(0),
    )
    u = torch.stack(raw)
    assert (u >= low).all() and (u < 1.0).all()
    assert u.std() > 0.05  # per-feature draws, not one constant
    torch.testing.assert_close(torch.stack(normalised), (u - mean) / std)


def test_tuple_inputs_take_bounds_per_input(two_input_net):
    x1 = torch.randn(2, 4, dtype=torch.float64)
    x2 = torch.randn(2, 2, 5, 5, dtype=torch.float64)
    drawn = []
    NoiseBaselineIntegratedGradients(two_input_net).attribute(
        (x1, x2),
        target=0,
        n_baselines=2,
        n_steps=2,
        baseline_low=(-1.0, 2.0),
        baseline_high=(-1.0, 3.0),
        baseline_transform=recorder(drawn),
    )
    for z1, z2 in drawn:
        assert (z1 == -1.0).all() and (z2 >= 2.0).all() and (z2 < 3.0).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_baselines": 0}, ValueError, "n_baselines"),
        ({"n_steps": 0}, ValueError, "n_steps"),
        ({"baseline_low": 1.0, "baseline_high": 0.0}, ValueError, "baseline_low"),
        ({"baseline_low": (0.0, 0.0)}, ValueError, "baseline_low"),
        ({"baseline_high": float("inf")}, ValueError, "baseline_high"),
        ({"baseline_low": torch.zeros(5)}, ValueError, "baseline_low"),
        ({"baseline_transform": 3}, TypeError, "baseline_transform"),
        ({"baseline_transform": lambda u: u[:, :1]}, ValueError, "baseline_transform"),
        ({"method": "simpson"}, ValueError, "method"),
    ],
)
def test_bad_settings_name_the_argument(kwargs, error, match):
    model = torch.nn.Linear(3, 2)
    with pytest.raises(error, match=match):
        NoiseBaselineIntegratedGradients(model).attribute(torch.randn(2, 3), target=0, **kwargs)
