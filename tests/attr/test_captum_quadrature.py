"""Captum's quadrature rules as docs/reference.md#quadrature states them.

The package passes Captum's ``method`` names through (noise-baseline IG) and compares against
Captum's ``IntegratedGradients``; these tests pin the weights and errors the reference
describes, on ``f(x) = x²`` from 0 to 1 where IG is exactly 1 (the integrand ``2α`` is linear).
"""

import pytest
import torch
from captum.attr import IntegratedGradients
from captum.attr._utils.approximation_methods import approximation_parameters


def square(x):
    return (x**2).sum(dim=1)


def ig_of_square(n_steps, method):
    x = torch.ones(1, 1, dtype=torch.float64)
    return IntegratedGradients(square).attribute(x, 0.0, n_steps=n_steps, method=method).item()


@pytest.mark.parametrize("n", [2, 5, 10, 40])
def test_captums_riemann_trapezoid_weights_sum_to_n_minus_one_over_n(n):
    step_sizes, alphas = (f(n) for f in approximation_parameters("riemann_trapezoid"))
    torch.testing.assert_close(
        torch.tensor(alphas, dtype=torch.float64), torch.linspace(0, 1, n, dtype=torch.float64)
    )
    expected = [1 / (2 * n)] + [1 / n] * (n - 2) + [1 / (2 * n)]
    assert step_sizes == pytest.approx(expected)
    assert sum(step_sizes) == pytest.approx((n - 1) / n)


@pytest.mark.parametrize("n", [5, 10, 40])
def test_on_a_linear_integrand_trapezoid_loses_one_over_n_and_gauss_legendre_is_exact(n):
    # Captum's "trapezoid" shrinks IG = 1 to (n - 1)/n: a first-order error
    assert ig_of_square(n, "riemann_trapezoid") == pytest.approx((n - 1) / n, rel=1e-6)
    # right and left Riemann sums over the same n gradients: (n + 1)/n and (n - 1)/n
    assert ig_of_square(n, "riemann_right") == pytest.approx((n + 1) / n, rel=1e-6)
    assert ig_of_square(n, "riemann_left") == pytest.approx((n - 1) / n, rel=1e-6)
    assert ig_of_square(n, "gausslegendre") == pytest.approx(1.0, rel=1e-6)
