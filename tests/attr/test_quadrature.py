"""Quadrature rules of the straight-line path: weights summing to one, each rule's order."""

import math

import pytest
from captum.attr._utils.approximation_methods import approximation_parameters

from captum_smooth.attr._quadrature import METHODS, quadrature

# the highest polynomial degree each rule integrates exactly over [0, 1]
EXACT_DEGREE = {
    "riemann_left": lambda n: 0,
    "riemann_right": lambda n: 0,
    "riemann_middle": lambda n: 1,
    "riemann_trapezoid": lambda n: 1,
    "gausslegendre": lambda n: 2 * n - 1,
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n_steps", [2, 3, 7, 50])
def test_weights_sum_to_one_and_points_lie_in_the_unit_interval(method, n_steps):
    alphas, weights = quadrature(method, n_steps)
    assert len(alphas) == len(weights) == n_steps
    assert math.isclose(sum(weights), 1.0, rel_tol=1e-12)
    assert all(0.0 <= a <= 1.0 for a in alphas) and all(w > 0 for w in weights)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n_steps", [2, 5])
def test_each_rule_is_exact_up_to_its_degree_and_not_beyond(method, n_steps):
    alphas, weights = quadrature(method, n_steps)
    degree = EXACT_DEGREE[method](n_steps)
    for k in range(degree + 2):
        estimate = sum(w * a**k for a, w in zip(alphas, weights, strict=True))
        exact = 1 / (k + 1)
        if k <= degree:
            assert math.isclose(estimate, exact, rel_tol=1e-12)
        else:
            assert not math.isclose(estimate, exact, rel_tol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_points_are_captums_points(method):
    ours, _ = quadrature(method, 6)
    _, alphas = approximation_parameters(method)
    assert ours == pytest.approx(alphas(6), abs=1e-7)  # Captum rounds through float32


def test_unknown_methods_and_one_point_trapezoids_are_refused():
    with pytest.raises(ValueError, match="method"):
        quadrature("simpson", 4)
    with pytest.raises(ValueError, match="n_steps"):
        quadrature("riemann_trapezoid", 1)
