"""The classic examples of Sundararajan et al. and of the lecture, with their numbers."""

import pytest
import torch
from captum.attr import DeepLift, InputXGradient, IntegratedGradients, Saliency
from hypothesis import given

from captum_smooth import IDGI, IntegratedDecisionGradients, SmoothTaylor
from captum_smooth.axioms import (
    AxiomViolation,
    check_completeness,
    check_implementation_invariance,
    check_linearity,
    check_sensitivity,
)
from captum_smooth.axioms import strategies as axiom_st
from captum_smooth.axioms.networks import lecture_networks, saturated_relu
from tests.axioms.counterexamples import Function, flat, image, linear


def tensor(*rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_saturated_relu_is_one_minus_relu_of_one_minus_x():
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)[:, None]
    torch.testing.assert_close(saturated_relu()(x), 1 - torch.relu(1 - x))


@pytest.mark.parametrize("method", [Saliency, InputXGradient])
def test_gradients_and_gradient_times_input_give_zero_at_the_saturated_input(method):
    x, baseline = tensor([2.0]), tensor([0.0])
    assert method(saturated_relu()).attribute(x).item() == 0.0
    with pytest.raises(AxiomViolation, match=r"f\(x\) - f\(x'\) = 1 .* attribution 0"):
        check_sensitivity(method, saturated_relu(), x, baseline)


def test_integrated_gradients_gives_the_saturated_feature_its_output_change():
    x, baseline = tensor([2.0]), tensor([0.0])
    attribution = IntegratedGradients(saturated_relu()).attribute(x, baseline, n_steps=50)
    torch.testing.assert_close(attribution, tensor([1.0]))
    check_sensitivity(IntegratedGradients, saturated_relu(), x, baseline)
    check_completeness(IntegratedGradients, saturated_relu(), x, baseline)


def test_lecture_networks_are_functionally_equivalent():
    f, g = lecture_networks()
    grid = torch.cartesian_prod(*[torch.linspace(-3, 4, 29, dtype=torch.float64)] * 2)
    torch.testing.assert_close(f(grid), g(grid))
    inner = torch.relu(torch.relu(grid[:, :1]) - 1 - torch.relu(grid[:, 1:]))
    torch.testing.assert_close(f(grid), inner)


def test_lecture_networks_have_biases_where_the_formulas_put_them():
    f, g = lecture_networks()
    assert f[2].bias.item() == -1.0 and f[0].bias.abs().sum() == 0
    assert g[0].bias.tolist() == [-1.0, 0.0] and g[2].bias.item() == 0.0


def test_integrated_gradients_gives_the_lecture_numbers_on_both_networks():
    x, baseline = tensor([3.0, 1.0]), tensor([0.0, 0.0])
    for model in lecture_networks():
        attribution = IntegratedGradients(model).attribute(x, baseline, n_steps=50)
        torch.testing.assert_close(attribution, tensor([1.5, -0.5]))
    check_implementation_invariance(IntegratedGradients, *lecture_networks(), x, baseline)


def test_deeplift_gives_different_numbers_on_the_two_lecture_networks():
    x, baseline = tensor([3.0, 1.0]), tensor([0.0, 0.0])
    f, g = lecture_networks()
    torch.testing.assert_close(DeepLift(f).attribute(x, baseline), tensor([1.5, -0.5]))
    torch.testing.assert_close(DeepLift(g).attribute(x, baseline), tensor([2.0, -1.0]))
    with pytest.raises(AxiomViolation, match=r"model gives 1\.5, equivalent_model gives 2 "):
        check_implementation_invariance(DeepLift, f, g, x, baseline)


def test_idg_weights_by_the_slope_and_breaks_linearity():
    # f₁ = (2x₁ + x₂)², f₂ = 12 x₂ at (3, 3) from 0 (`linear_plus_square`): on the line
    # f₁ + f₂ = 81α² + 36α, and the limit (f(x) - f(x')) ∫ g_i γ_i' f' / ∫ f'² is
    # 117 · (24, 25) / 49, not the sum (54, 27) + (0, 36).
    f1 = Function(lambda x: (2 * x[:, :1] + x[:, 1:2]) ** 2)
    f2 = flat(linear(0.0, 12.0))
    both = Function(lambda x: (2 * x[:, :1] + x[:, 1:2]) ** 2 + 12 * x[:, 1:2])
    x, baseline = image(3.0, 3.0), image(0.0, 0.0)

    def idg(model):
        method = IntegratedDecisionGradients(IntegratedGradients(model))
        return method.attribute(x, baseline, target=0, n_steps=4096).flatten()

    torch.testing.assert_close(idg(f1), tensor(54.0, 27.0), rtol=1e-3, atol=0.0)
    torch.testing.assert_close(idg(f2), tensor(0.0, 36.0), rtol=1e-3, atol=1e-9)
    torch.testing.assert_close(idg(both), tensor(2808 / 49, 2925 / 49), rtol=1e-3, atol=0.0)


def test_idgi_splits_a_linear_sum_by_squared_gradients_and_breaks_linearity():
    x1, x2 = flat(linear(1.0, 0.0)), flat(linear(0.0, 2.0))
    both = flat(linear(1.0, 2.0))
    x, baseline = image(1.0, 1.0), image(0.0, 0.0)
    idgi = IDGI(IntegratedGradients(both)).attribute(x, baselines=baseline, n_steps=8)
    torch.testing.assert_close(idgi.flatten(), tensor(0.6, 2.4))
    ig = IntegratedGradients(both).attribute(x, baseline, n_steps=8)
    torch.testing.assert_close(ig.flatten(), tensor(1.0, 2.0))
    # both features are 0.4 off: the one named is the larger gap after rounding
    either = r"feature (0: .* gives 0\.6, .* gives 1|1: .* gives 2\.4, .* gives 2) "
    with pytest.raises(AxiomViolation, match=either):
        check_linearity(
            lambda m: IDGI(IntegratedGradients(m)),
            x1,
            x2,
            x,
            baseline,
            attribute_kwargs={"n_steps": 8},
        )


def test_smooth_taylor_is_not_complete_on_a_quadratic():
    # docs/reference.md#smoothtaylor: for f = a·x², E[ST] = -2aσ², far from f(x) - f(0) = a·x².
    square = Function(lambda x: x**2)
    with pytest.raises(AxiomViolation, match="completeness violated"):
        check_completeness(
            SmoothTaylor,
            square,
            image(1.0),
            image(0.0),
            attribute_kwargs={"n_samples": 50, "noise_scale": 0.3},
        )


@given(axiom_st.equivalent_pairs())
def test_deeplift_is_invariant_to_the_reparameterisations_the_strategies_draw(case):
    # Its violation needs a bias moved through a ReLU, as in the lecture's pair; permuted,
    # split and positively rescaled units keep every rescale multiplier.
    check_implementation_invariance(
        DeepLift, case.model, case.equivalent_model, case.inputs, case.baselines
    )
