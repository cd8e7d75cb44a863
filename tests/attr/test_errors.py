"""Error estimates (``return_error=True``): check values, their true errors, their forms."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from captum.attr import IntegratedGradients, LayerIntegratedGradients
from torch import nn

from captum_smooth import (
    IDGI,
    BlurIntegratedGradients,
    GuidedIntegratedGradients,
    NoiseBaselineIntegratedGradients,
    NoiseTunnel,
    SmoothGradSquared,
    SmoothTaylor,
    relative_error,
)
from captum_smooth.attr.layer import (
    LayerGuidedIntegratedGradients,
    LayerNoiseBaselineIntegratedGradients,
    LayerSmoothTaylor,
)
from tests.axioms.digits import images, test, train_digits_model


class Cubes(nn.Module):
    """``f(x) = Σ_i x_i³``: IG from zero is ``x_i³``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.pow(3).flatten(1).sum(dim=1, keepdim=True)


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).double()


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_left_riemann_estimate_is_the_halving_difference_of_the_check_value():
    # Guided IG with max_dist=0 is the left Riemann sum on the straight line; for Σ x³:
    # A_n = x³ (n-1)(2n-1)/(2n²), so |A_n - A_{n/2}| = x³ · 3(n-1)/(2n²) exactly
    x = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
    n = 16
    attr, error = GuidedIntegratedGradients(Cubes()).attribute(
        x, n_steps=n, max_dist=0.0, return_error=True
    )
    torch.testing.assert_close(attr, x**3 * (n - 1) * (2 * n - 1) / (2 * n * n))
    torch.testing.assert_close(error, (x**3).abs() * 3 * (n - 1) / (2 * n * n))
    true = (attr - x**3).abs()  # (3n - 1)/(2n²): the estimate is 0.96 of it at n = 16
    assert torch.all(error >= 0.9 * true) and torch.all(error <= true)


def test_smooth_taylor_standard_error_is_the_spread_of_its_roots():
    # f = w·x: each root's term is -ε ⊙ w; the estimate is their standard error of the mean
    w = torch.tensor([[1.0, -2.0, 0.5, 3.0]], dtype=torch.float64)
    model = nn.Linear(4, 1, bias=False).double()
    model.weight.data.copy_(w)
    x = torch.randn(2, 4, dtype=torch.float64, generator=seeded(1))
    n, sigma = 300, 0.7
    attr, error = SmoothTaylor(model).attribute(
        x, n_samples=n, noise_scale=sigma, return_error=True, generator=seeded(2)
    )
    draws = seeded(2)
    terms = torch.stack([-torch.randn(x.shape, generator=draws, dtype=x.dtype) * sigma * w
                         for _ in range(n)])  # fmt: skip
    torch.testing.assert_close(attr, terms.mean(dim=0))
    torch.testing.assert_close(error, terms.std(dim=0) / math.sqrt(n))
    # and its check value: σ |w| / √R, to the sampling error of a standard deviation (4 %)
    expected = sigma * w.abs().expand_as(x) / math.sqrt(n)
    assert torch.allclose(error, expected, rtol=0.2)
    assert (error / expected).mean().sub(1).abs() < 0.08


@pytest.mark.parametrize(
    ("name", "run", "n_steps", "factor"),
    [
        ("IDGI(IG)", lambda m, x, n: IDGI(IntegratedGradients(m)).attribute(
            x, target=0, n_steps=n, return_error=True), 16, 2),
        ("Guided IG", lambda m, x, n: GuidedIntegratedGradients(m).attribute(
            x, target=0, n_steps=n, return_error=True), 16, 2),
        ("IDGI(Guided IG)", lambda m, x, n: IDGI(GuidedIntegratedGradients(m)).attribute(
            x, target=0, n_steps=n, return_error=True), 16, 2),
        # on 8×8 images, blurs beyond σ = 4 change nothing: a larger max_sigma puts the
        # path's whole change inside the first step, where no estimate from the rows sees it
        ("Blur IG", lambda m, x, n: BlurIntegratedGradients(m).attribute(
            x, target=0, n_steps=n, max_sigma=4.0, return_error=True), 16, 2),
        ("IDGI(Blur IG)", lambda m, x, n: IDGI(BlurIntegratedGradients(m)).attribute(
            x, target=0, n_steps=n, max_sigma=4.0, return_error=True), 32, 3),
    ],
)  # fmt: skip
def test_nested_estimate_brackets_the_error_on_a_trained_model(name, run, n_steps, factor):
    # the digits model of tutorial 3 (ReLU: IG's integrand has kinks); the true error: the
    # same method at 32 times the steps. The stated factors are docs/reference.md's.
    model = train_digits_model(0)
    x = images[test[:48]].double()
    attr, error = run(model, x, n_steps)
    reference = run(model, x, 32 * n_steps)[0]
    estimated = relative_error(attr, error)
    true = relative_error(attr, attr - reference)
    # optimistic by more than the factor on at most 10 % of the images; median within 0.5–4
    assert torch.mean((estimated >= true / factor).double()) >= 0.9, (name, estimated, true)
    ratio = torch.median(estimated / true.clamp_min(1e-12))
    assert 0.5 <= ratio <= 4, (name, estimated, true)


@pytest.mark.parametrize(
    ("name", "run"),
    [
        ("SmoothTaylor", lambda m, x, g: SmoothTaylor(m).attribute(
            x, target=0, n_samples=32, noise_scale=0.3, return_error=True, generator=g)),
        ("NoiseBaselineIG", lambda m, x, g: NoiseBaselineIntegratedGradients(m).attribute(
            x, target=0, n_baselines=8, n_steps=8, return_error=True, generator=g)),
        ("SmoothGrad²", lambda m, x, g: SmoothGradSquared(SmoothTaylor(m)).attribute(
            x, target=0, n_samples=32, noise_scale=0.3, return_error=True, generator=g)),
    ],
)  # fmt: skip
def test_standard_error_matches_the_spread_over_seeds(name, run):
    # the estimate of one call against the spread of the map over 40 independent calls
    model = mlp()
    x = torch.randn(3, 6, dtype=torch.float64, generator=seeded(5))
    maps = torch.stack([run(model, x, seeded(100 + s))[0] for s in range(40)])
    spread = maps.std(dim=0).norm()
    estimates = torch.stack([run(model, x, seeded(s))[1].norm() for s in range(10)])
    assert 0.75 < (estimates.mean() / spread).item() < 1.33, (name, estimates, spread)


def test_estimates_fall_as_the_budget_grows():
    model = mlp()
    x = torch.randn(4, 6, dtype=torch.float64, generator=seeded(3))
    idgi = IDGI(IntegratedGradients(model))
    errors = [relative_error(*idgi.attribute(x, target=1, n_steps=n, return_error=True))
              for n in (8, 32, 128)]  # fmt: skip
    assert torch.all(errors[1] < errors[0]) and torch.all(errors[2] < errors[1])


def test_return_error_leaves_the_attributions_and_the_delta_unchanged():
    model = train_digits_model(0)
    x = images[test[:4]].double()
    blur = BlurIntegratedGradients(model)
    plain, delta = blur.attribute(x, target=2, n_steps=12, return_convergence_delta=True)
    attr, delta_too, error = blur.attribute(
        x, target=2, n_steps=12, return_convergence_delta=True, return_error=True
    )
    assert torch.equal(plain, attr) and torch.equal(delta, delta_too)
    assert error.shape == attr.shape and error.dtype == attr.dtype and torch.all(error >= 0)


def test_tuple_inputs_get_a_tuple_of_errors():
    model = mlp()
    x = torch.randn(2, 6, dtype=torch.float64, generator=seeded(3))

    def forward(a, b):
        return model(torch.cat([a, b], dim=1))

    attr, error = SmoothTaylor(forward).attribute(
        (x[:, :2], x[:, 2:]), target=0, n_samples=8, return_error=True, generator=seeded()
    )
    assert isinstance(error, tuple) and [e.shape for e in error] == [a.shape for a in attr]


@pytest.mark.parametrize(
    "make",
    [
        lambda m: LayerGuidedIntegratedGradients(m, m[0]),
        lambda m: LayerSmoothTaylor(m, m[0]),
        lambda m: LayerNoiseBaselineIntegratedGradients(m, m[0]),
        lambda m: IDGI(LayerIntegratedGradients(m, m[0])),
    ],
)
def test_layer_variants_estimate_in_the_layers_space(make):
    model = mlp()
    x = torch.randn(3, 6, dtype=torch.float64, generator=seeded(3))
    method = make(model)
    takes = inspect.signature(method.attribute).parameters
    settings = {"generator": seeded()} if "generator" in takes else {}
    attr, error = method.attribute(x, target=0, return_error=True, **settings)
    assert attr.shape == error.shape == (3, 16)
    assert torch.all(error >= 0) and torch.all(relative_error(attr, error) > 0)


@pytest.mark.parametrize(
    ("call", "budget"),
    [
        (lambda m, x: SmoothTaylor(m).attribute(x, target=0, n_samples=1, return_error=True),
         "n_samples"),
        (lambda m, x: NoiseBaselineIntegratedGradients(m).attribute(
            x, target=0, n_baselines=1, return_error=True), "n_baselines"),
        (lambda m, x: GuidedIntegratedGradients(m).attribute(
            x, target=0, n_steps=1, return_error=True), "n_steps"),
        (lambda m, x: IDGI(IntegratedGradients(m)).attribute(
            x, target=0, n_steps=1, return_error=True), "n_steps"),
    ],
)  # fmt: skip
def test_too_few_rows_to_compare_is_an_error_naming_the_budget(call, budget):
    model = mlp()
    x = torch.randn(2, 6, dtype=torch.float64, generator=seeded(3))
    with pytest.raises(ValueError, match=f"`return_error`.*`{budget}`"):
        call(model, x)


def test_return_error_is_keyword_only_and_checked():
    model = mlp()
    x = torch.randn(2, 6, dtype=torch.float64)
    idgi = IDGI(IntegratedGradients(model))
    added = idgi.signature().parameters["return_error"]  # after Captum's, as `placement`
    assert (added.kind, added.default) == (added.KEYWORD_ONLY, False)
    with pytest.raises(TypeError, match="`return_error` must be a bool"):
        idgi.attribute(x, target=0, return_error=1)


def test_noise_tunnel_refuses_return_error():
    model = mlp()
    x = torch.randn(2, 6, dtype=torch.float64)
    with pytest.raises(ValueError, match="`return_error`: NoiseTunnel"):
        NoiseTunnel(SmoothTaylor(model)).attribute(
            x, nt_samples=2, target=0, n_samples=4, return_error=True
        )


def test_relative_error_is_per_example_and_refuses_mismatched_forms():
    maps = torch.tensor([[3.0, 4.0], [0.0, 0.0], [0.0, 0.0]])
    errors = torch.tensor([[0.0, 0.5], [0.0, 1.0], [0.0, 0.0]])
    assert torch.equal(relative_error(maps, errors), torch.tensor([0.1, math.inf, 0.0]))
    with pytest.raises(ValueError, match="`error` must have the form"):
        relative_error(maps, errors[:2])
    with pytest.raises(ValueError, match="`error` must have the form"):
        relative_error((maps,), (errors, errors))
