"""Concrete counterexamples, by name: each runs one axiom check on a fixed tiny network.

A "violated" cell of the table names the counterexample that shows it, an "unresolved" cell
the one the check cannot decide. Each returns the check's result. Inputs are shaped as
one-channel images ``(1, 1, H, W)`` so that every method, Blur IG included, can run them.
"""

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from captum_smooth.axioms import (
    CheckResult,
    check_completeness,
    check_dummy,
    check_implementation_invariance,
    check_linearity,
    check_sensitivity,
    check_symmetry,
)
from captum_smooth.axioms.networks import lecture_networks, saturated_relu


def image(*values: float) -> torch.Tensor:
    """One example, one channel, one row of pixels."""
    return torch.tensor(values, dtype=torch.float64).reshape(1, 1, 1, -1)


def flat(model: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), model).eval()


def linear(*weights: float, bias: float = 0.0) -> nn.Linear:
    layer = nn.Linear(len(weights), 1, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([weights], dtype=torch.float64))
        layer.bias.fill_(bias)
    return layer


def relu_above(threshold: float) -> nn.Sequential:
    """``f(x) = ReLU(x - threshold)``: flat below the threshold."""
    return flat(nn.Sequential(linear(1.0, bias=-threshold), nn.ReLU()))


class Function(nn.Module):
    """A model computing ``fn`` of the flattened input."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x.flatten(1))


Counterexample = Callable[[Callable[..., Any], dict[str, Any]], CheckResult]


def saturated_relu_at_2(method, kwargs) -> CheckResult:
    """Sensitivity (a), the classic: ``f(x) = 1 - ReLU(1 - x)``, ``x = 2``, ``x' = 0``."""
    return check_sensitivity(
        method, flat(saturated_relu()), image(2.0), image(0.0), attribute_kwargs=kwargs
    )


def saturated_relu_at_100(method, kwargs) -> CheckResult:
    """Sensitivity (a): ``f(x) = 1 - ReLU(1 - x)``, ``x = 100``, ``x' = 0``: the gradient is
    non-zero only on the first 1 % of the straight path, which a few random points on it (as
    GradientShap's) likely all miss: attribution 0, convergence delta -1."""
    return check_sensitivity(
        method, flat(saturated_relu()), image(100.0), image(0.0), attribute_kwargs=kwargs
    )


def baseline_above_a_dead_input(method, kwargs) -> CheckResult:
    """Sensitivity (a): ``f(x) = ReLU(x - 5)``, ``x = 3``, ``x' = 10``: ``f`` is flat around
    ``x`` (and on the noise baselines in [0, 1), and on the blur path from ``x``)."""
    return check_sensitivity(
        method, relu_above(5.0), image(3.0), image(10.0), attribute_kwargs=kwargs
    )


def ramp_in_the_last_step(method, kwargs) -> CheckResult:
    """Sensitivity (a): ``f(x) = ReLU(x₁ - a) + x₂``, ``x = (1, 0)``, ``x' = (0, 0)``, with the
    ramp ``a = 1 - 1/(2·n_steps)`` inside the last step of the straight path. IDGI takes each
    step's direction from the gradient at its start, ``(0, 1)``: the whole rise goes to ``x₂``,
    which did not change, and ``x₁`` gets exactly 0 (IG's Gauss-Legendre nodes reach the ramp).
    """
    a = 1 - 1 / (2 * kwargs.get("n_steps", 50))
    model = Function(lambda x: torch.relu(x[:, :1] - a) + x[:, 1:2])
    return check_sensitivity(
        method, model, image(1.0, 0.0), image(0.0, 0.0), attribute_kwargs=kwargs
    )


def completeness_of_saturated_relu(method, kwargs) -> CheckResult:
    """Completeness: ``f(x) = 1 - ReLU(1 - x)``, ``x = 2``, ``x' = 0``, ``f(x) - f(x') = 1``."""
    return check_completeness(
        method, flat(saturated_relu()), image(2.0), image(0.0), attribute_kwargs=kwargs
    )


def ramp_between_steps(method, kwargs) -> CheckResult:
    """Dummy: ``f(x) = ReLU(x₁ - 0.001) - ReLU(x₁ - 0.002)``, ``x = (1, 1)``, ``x' = (0, 0)``;
    ``x₂`` is a dummy. ``f`` rises only between the first two points of any path of fewer than
    500 steps, where its gradient is zero at both ends: IDGI's zero-gradient rule
    (docs/reference.md#zero-gradients) then splits that rise by ``|Δx|``, giving the moving
    dummy a share."""
    ramp = Function(lambda x: torch.relu(x[:, :1] - 0.001) - torch.relu(x[:, :1] - 0.002))
    return check_dummy(
        method, ramp, image(1.0, 1.0), image(0.0, 0.0), dummy_features=[1], attribute_kwargs=kwargs
    )


def lecture_pair(method, kwargs) -> CheckResult:
    """Implementation invariance: the lecture's ``f`` and ``g`` at ``(3, 1)`` from
    ``(0, 0)``."""
    f, g = lecture_networks()
    return check_implementation_invariance(
        method, flat(f), flat(g), image(3.0, 1.0), image(0.0, 0.0), attribute_kwargs=kwargs
    )


def linear_plus_square(method, kwargs) -> CheckResult:
    """Linearity: ``f₁ = (2x₁ + x₂)²``, ``f₂ = 12 x₂`` at ``(3, 3)`` from ``(0, 0)``: the sum
    has other gradient directions than ``f₁``, so gradient-shaped paths and weights change."""
    return check_linearity(
        method,
        Function(lambda x: (2 * x[:, :1] + x[:, 1:2]) ** 2),
        flat(linear(0.0, 12.0)),
        image(3.0, 3.0),
        image(0.0, 0.0),
        attribute_kwargs=kwargs,
    )


def unequal_linear_features(method, kwargs) -> CheckResult:
    """Linearity: ``f₁ = x₁``, ``f₂ = 2 x₂`` at ``(1, 1)`` from ``(0, 0)``. IDGI splits each
    step of ``f₁ + f₂`` as ``g ⊙ g / ‖g‖² = (1/5, 4/5)``: ``(0.6, 2.4)``, not ``(1, 2)``."""
    return check_linearity(
        method,
        flat(linear(1.0, 0.0)),
        flat(linear(0.0, 2.0)),
        image(1.0, 1.0),
        image(0.0, 0.0),
        attribute_kwargs=kwargs,
    )


def negative_coefficient(method, kwargs) -> CheckResult:
    """Linearity: ``f₁ = x₁``, ``f₂ = 2 x₁``, ``a = 1``, ``b = -1`` at ``x = 1`` from 0: the
    combination ``-x₁`` has gradient -1; absolute values give 1, not ``|1| - |2| = -1``."""
    return check_linearity(
        method,
        flat(linear(1.0)),
        flat(linear(2.0)),
        image(1.0),
        image(0.0),
        a=1.0,
        b=-1.0,
        attribute_kwargs=kwargs,
    )


def sum_of_two(method, kwargs) -> CheckResult:
    """Symmetry: ``f = x₁ + x₂`` at ``(1, 1)`` from ``(0, 0)``: per-feature noise treats the
    two features differently."""
    return check_symmetry(
        method,
        flat(linear(1.0, 1.0)),
        image(1.0, 1.0),
        image(0.0, 0.0),
        symmetric_features=(0, 1),
        attribute_kwargs=kwargs,
    )


def symmetric_pixels_with_different_neighbours(method, kwargs) -> CheckResult:
    """Symmetry: ``f = x₁² + x₂²`` on the image ``(1, 1, 5)`` from zero: a blur mixes in the
    neighbours, which differ, so the blurred path leaves the symmetric points."""
    model = Function(lambda x: (x[:, :2] ** 2).sum(dim=1, keepdim=True))
    return check_symmetry(
        method,
        model,
        image(1.0, 1.0, 5.0),
        image(0.0, 0.0, 0.0),
        symmetric_features=(0, 1),
        attribute_kwargs=kwargs,
    )


COUNTEREXAMPLES: dict[str, tuple[str, Counterexample]] = {
    f.__name__: (axiom, f)
    for axiom, f in [
        ("completeness", completeness_of_saturated_relu),
        ("sensitivity", saturated_relu_at_2),
        ("sensitivity", saturated_relu_at_100),
        ("sensitivity", baseline_above_a_dead_input),
        ("implementation_invariance", lecture_pair),
        ("linearity", linear_plus_square),
        ("linearity", unequal_linear_features),
        ("linearity", negative_coefficient),
        ("symmetry", sum_of_two),
        ("symmetry", symmetric_pixels_with_different_neighbours),
    ]
}
