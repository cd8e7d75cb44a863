"""The checks themselves: what they accept, what they report, how they handle randomness."""

import pytest
import torch
from captum.attr import GradientShap, IntegratedGradients, NoiseTunnel, Saliency

from captum_smooth import IDGI, NoiseBaselineIntegratedGradients, SmoothTaylor
from captum_smooth.axioms import (
    AxiomViolation,
    LinearCombination,
    check_completeness,
    check_dummy,
    check_implementation_invariance,
    check_linearity,
    check_sensitivity,
    check_symmetry,
)
from captum_smooth.axioms.networks import mlp
from tests.axioms.counterexamples import Function, flat, linear


def net(seed=0, n_features=3):
    return mlp(n_features, [4], "tanh", generator=torch.Generator().manual_seed(seed))


X = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], dtype=torch.float64)


def test_axiom_violation_is_an_assertion_error():
    assert issubclass(AxiomViolation, AssertionError)


def test_a_built_method_instead_of_a_factory_is_a_type_error():
    with pytest.raises(TypeError, match="`method` must be a factory"):
        check_completeness(IntegratedGradients(net()), net(), X)


def test_a_factory_returning_something_else_is_a_type_error():
    with pytest.raises(TypeError, match="`method` must return a Captum Attribution"):
        check_completeness(lambda m: m, net(), X)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"atol": -1.0}, ValueError, "`atol`"),
        ({"rtol": float("nan")}, ValueError, "`rtol`"),
        ({"atol": "1"}, TypeError, "`atol`"),
        ({"seed": 1.5}, TypeError, "`seed`"),
        ({"attribute_kwargs": [1]}, TypeError, "`attribute_kwargs`"),
        ({"attribute_kwargs": {"target": 0}}, ValueError, "`attribute_kwargs`"),
        ({"baselines": torch.zeros(2, 4, dtype=torch.float64)}, ValueError, "`baselines`"),
        ({"baselines": "zero"}, TypeError, "`baselines`"),
        ({"target": [0, 0, 0]}, ValueError, "`target`"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        check_completeness(IntegratedGradients, net(), X, **kwargs)


def test_inputs_must_be_a_batched_floating_tensor():
    with pytest.raises(TypeError, match="`inputs`"):
        check_completeness(IntegratedGradients, net(), (X,))
    with pytest.raises(TypeError, match="`inputs`"):
        check_completeness(IntegratedGradients, net(), X.long())
    with pytest.raises(ValueError, match="`inputs`"):
        check_completeness(IntegratedGradients, net(), X[0])


def test_a_model_with_several_outputs_needs_a_target():
    two = flat(torch.nn.Linear(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="one scalar per example"):
        check_completeness(IntegratedGradients, two, X)
    check_completeness(IntegratedGradients, two, X, target=1)


def test_completeness_reports_the_sums_and_the_gap():
    with pytest.raises(AxiomViolation) as error:
        check_completeness(Saliency, Function(lambda x: x[:, :1] ** 2), torch.ones(1, 2).double())
    message = str(error.value)
    assert "sum of attributions 2 != f(x) - f(x') = 1" in message
    assert "gap 1" in message


def test_completeness_uses_the_methods_own_delta_for_noise_baselines():
    # Against a zero baseline the sum is off; against mean_k f(z_k) it is exact.
    square = Function(lambda x: (x**2).sum(dim=1, keepdim=True))
    kwargs = {"n_baselines": 4, "n_steps": 8, "method": "gausslegendre"}
    check_completeness(NoiseBaselineIntegratedGradients, square, X, attribute_kwargs=kwargs)


def test_completeness_is_checked_against_the_baselines_given():
    check_completeness(IntegratedGradients, net(), X, 0.5 * X)
    with pytest.raises(AxiomViolation):
        check_completeness(lambda m: _IgnoringBaselines(m), net(), X, 0.5 * X)


class _IgnoringBaselines(IntegratedGradients):
    """IG that always integrates from zero whatever baseline it is given."""

    def attribute(self, inputs, baselines=None, **kwargs):
        return super().attribute(inputs, baselines=None, **kwargs)


def test_sensitivity_needs_exactly_one_differing_feature():
    with pytest.raises(ValueError, match="at most one feature"):
        check_sensitivity(Saliency, net(), X, X + 1)


def test_sensitivity_holds_trivially_for_identical_pairs_and_equal_outputs():
    assert check_sensitivity(Saliency, net(), X, X.clone()).status == ("holds", "holds")
    constant = flat(linear(0.0, 0.0, 0.0, bias=1.0))
    baselines = X.clone()
    baselines[:, 0] += 1
    result = check_sensitivity(Saliency, constant, X, baselines)
    assert result.status == ("holds", "holds")
    assert result.measured.tolist() == [0.0, 0.0]


def test_dummy_reports_the_feature_and_its_attribution():
    with pytest.raises(AxiomViolation, match="dummy feature 2 gets attribution"):
        check_dummy(IntegratedGradients, net(), X, dummy_features=[2])
    with pytest.raises(ValueError, match="`dummy_features`"):
        check_dummy(IntegratedGradients, net(), X, dummy_features=[3])
    with pytest.raises(TypeError, match="`dummy_features`"):
        check_dummy(IntegratedGradients, net(), X, dummy_features=2)


def test_invariance_refuses_models_that_are_not_equivalent():
    with pytest.raises(ValueError, match="not equivalent"):
        check_implementation_invariance(IntegratedGradients, net(0), net(1), X)


def test_linearity_refuses_the_same_instance_twice():
    model = net()
    with pytest.raises(ValueError, match="distinct"):
        check_linearity(IntegratedGradients, model, model, X)


def test_linear_combination_computes_a_f1_plus_b_f2():
    f1, f2 = net(0), net(1)
    torch.testing.assert_close(LinearCombination(f1, f2, 2.0, -0.5)(X), 2 * f1(X) - 0.5 * f2(X))


def test_symmetry_needs_equal_values_at_the_symmetric_features():
    model = flat(linear(1.0, 1.0, 0.0))
    with pytest.raises(ValueError, match="`inputs` must have equal values"):
        check_symmetry(IntegratedGradients, model, X, symmetric_features=(0, 1))
    with pytest.raises(TypeError, match="`symmetric_features`"):
        check_symmetry(IntegratedGradients, model, X, symmetric_features=[0, 1])


@pytest.mark.parametrize(
    "factory",
    [
        SmoothTaylor,
        GradientShap,
        NoiseBaselineIntegratedGradients,
        lambda m: NoiseTunnel(Saliency(m)),
    ],
    ids=["smooth_taylor", "gradient_shap", "noise_baseline_ig", "noise_tunnel"],
)
def test_sampling_methods_get_common_random_numbers(factory):
    model, copy = net(), net()
    check_implementation_invariance(factory, model, copy, X, 0.0 * X, atol=0, rtol=0)


def test_a_generator_in_the_keywords_is_rewound_for_every_call():
    generator = torch.Generator().manual_seed(3)
    kwargs = {"n_samples": 4, "generator": generator}
    check_implementation_invariance(SmoothTaylor, net(), net(), X, attribute_kwargs=kwargs)
    check_linearity(SmoothTaylor, net(0), net(1), X, attribute_kwargs=kwargs)


def test_the_global_random_state_is_left_as_it_was():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    check_completeness(GradientShap, net(), X, 0.0 * X, rtol=1e9)
    torch.testing.assert_close(torch.rand(3), expected)


def test_baselines_reach_a_wrapped_method_through_keywords():
    # IDGI passes **kwargs to IG: with the baselines the sum is f(x) - f(x'), exactly.
    check_completeness(lambda m: IDGI(IntegratedGradients(m)), net(), X, 0.5 * X, atol=1e-10)


def test_checks_follow_the_dtype_of_the_inputs():
    model = mlp(3, [4], "tanh", generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    inputs = X.float()
    check_completeness(
        IntegratedGradients,
        model,
        inputs,
        0.0,
        rtol=1e-3,
        atol=1e-4,
        attribute_kwargs={"n_steps": 32},
    )
    with pytest.raises(AxiomViolation, match="dummy feature 1"):
        check_dummy(Saliency, model, inputs, dummy_features=[1])
