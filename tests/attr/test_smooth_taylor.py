"""SmoothTaylor against its analytic expectation (docs/reference.md#smoothtaylor), and its own
settings."""

import pytest
import torch

from captum_smooth import SmoothTaylor


class Polynomial(torch.nn.Module):
    """f(x) = Σ a_i x_i² + c_i x_i³ + b_i x_i."""

    def __init__(self, a, b, c) -> None:
        super().__init__()
        self.a, self.b, self.c = a, b, c

    def forward(self, x):
        return (self.a * x**2 + self.c * x**3 + self.b * x).sum(dim=1)


def test_mean_attribution_matches_the_taylor_expectation_within_its_standard_error():
    g = torch.Generator().manual_seed(0)
    n, sigma, r = 6, 0.5, 40000
    a, b, c = (torch.randn(n, dtype=torch.float64, generator=g) for _ in range(3))
    x = torch.randn(2, n, dtype=torch.float64, generator=g)
    expected = -2 * a * sigma**2 - 6 * c * x * sigma**2

    # Per-root terms give the standard error of the mean: run R = 1 many times.
    per_root = torch.stack(
        [
            SmoothTaylor(Polynomial(a, b, c)).attribute(
                x, n_samples=1, noise_scale=sigma, generator=torch.Generator().manual_seed(s)
            )
            for s in range(200)
        ]
    )
    attr = SmoothTaylor(Polynomial(a, b, c)).attribute(
        x, n_samples=r, noise_scale=sigma, internal_batch_size=8192, generator=g
    )
    standard_error = per_root.std(dim=0) / r**0.5
    assert ((attr - expected).abs() <= 5 * standard_error).all()
    # and the band is narrow enough to tell the expectation from its neighbours
    assert (standard_error < 0.05).all()


def test_linear_terms_vanish_in_expectation_but_not_per_sample():
    b = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    zeros = torch.zeros(3, dtype=torch.float64)
    model = Polynomial(zeros, b, zeros)
    x = torch.ones(1, 3, dtype=torch.float64)
    one = SmoothTaylor(model).attribute(x, n_samples=1, generator=torch.Generator().manual_seed(0))
    many = SmoothTaylor(model).attribute(
        x, n_samples=20000, internal_batch_size=4096, generator=torch.Generator().manual_seed(0)
    )
    # per root the term is -ε_i b_i; averaged it is -b_i mean(ε_i) with sd |b_i| σ / √R
    assert one.abs().min() > 1e-6
    assert (many.abs() < 5 * b.abs() * 0.5 / 20000**0.5).all()


def test_relative_noise_scale_is_a_fraction_of_each_examples_range():
    a = torch.tensor([1.0, 2.0], dtype=torch.float64)
    model = Polynomial(a, torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    x = torch.tensor([[0.0, 4.0], [1.0, 2.0]], dtype=torch.float64)
    relative = SmoothTaylor(model).attribute(
        x,
        n_samples=8,
        noise_scale=0.1,
        noise_scale_mode="relative",
        generator=torch.Generator().manual_seed(3),
    )
    for i, value_range in enumerate([4.0, 1.0]):
        absolute = SmoothTaylor(model).attribute(
            x,
            n_samples=8,
            noise_scale=0.1 * value_range,
            generator=torch.Generator().manual_seed(3),
        )
        # quadratic model: the attribution scales with σ², the same draws give the same ε/σ
        torch.testing.assert_close(relative[i], absolute[i])


def test_zero_noise_scale_gives_zero_attribution():
    model = torch.nn.Linear(3, 1).double()
    attr = SmoothTaylor(model).attribute(
        torch.randn(2, 3, dtype=torch.float64), target=0, n_samples=3, noise_scale=0.0
    )
    assert torch.equal(attr, torch.zeros_like(attr))


def test_a_tuple_of_noise_scales_sets_each_inputs_scale():
    model = lambda u, v: (u**2).sum(1) + (v**2).sum(1)  # noqa: E731
    u = torch.zeros(1, 2, dtype=torch.float64)
    v = torch.zeros(1, 2, dtype=torch.float64)
    au, av = SmoothTaylor(model).attribute(
        (u, v),
        n_samples=5000,
        noise_scale=(0.1, 1.0),
        internal_batch_size=5000,
        generator=torch.Generator().manual_seed(0),
    )
    # E[ST] = -2σ² for a quadratic
    torch.testing.assert_close(
        au.mean(), torch.tensor(-0.02, dtype=torch.float64), atol=2e-3, rtol=0
    )
    torch.testing.assert_close(av.mean(), torch.tensor(-2.0, dtype=torch.float64), atol=0.2, rtol=0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_samples": 0}, ValueError, "n_samples"),
        ({"n_samples": 1.5}, TypeError, "n_samples"),
        ({"noise_scale": -0.1}, ValueError, "noise_scale"),
        ({"noise_scale": float("nan")}, ValueError, "noise_scale"),
        ({"noise_scale": float("inf")}, ValueError, "noise_scale"),
        ({"noise_scale": (0.1, 0.2)}, ValueError, "noise_scale"),
        ({"noise_scale": "big"}, TypeError, "noise_scale"),
        ({"noise_scale_mode": "percent"}, ValueError, "noise_scale_mode"),
    ],
)
def test_bad_settings_name_the_argument(kwargs, error, match):
    model = torch.nn.Linear(3, 2)
    with pytest.raises(error, match=match):
        SmoothTaylor(model).attribute(torch.randn(2, 3), target=0, **kwargs)
