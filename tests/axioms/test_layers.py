"""The checks on layer methods (issue 13): token ids in, completeness in the layer's space,
sensitivity and the other per-feature axioms on a token's score (its layer attributions summed
over the embedding), clear errors where a check cannot apply."""

import copy
import re
from pathlib import Path

import pytest
import torch
from captum.attr import (
    IntegratedGradients,
    LayerGradientXActivation,
    LayerIntegratedGradients,
    Saliency,
)
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

from captum_smooth import IDGI
from captum_smooth.attr.layer import (
    LayerBlurIntegratedGradients,
    LayerGuidedIntegratedGradients,
    LayerNoiseBaselineIntegratedGradients,
    LayerSmoothTaylor,
)
from captum_smooth.axioms import (
    VARIATION_STEPS,
    AxiomViolation,
    check_completeness,
    check_dummy,
    check_implementation_invariance,
    check_linearity,
    check_sensitivity,
    check_symmetry,
)
from captum_smooth.axioms import strategies as axiom_st
from captum_smooth.axioms.networks import (
    TokenModel,
    permute_hidden_units,
    saturated_relu,
    token_mlp,
)


def on_embedding(layer_method):
    """The factory of ``layer_method`` on a token model's embedding."""
    return lambda m: layer_method(m, m.embedding)


LAYER_IG = on_embedding(LayerIntegratedGradients)
SMOOTH = {"activations": axiom_st.SMOOTH_ACTIVATIONS}
MODEL = token_mlp(3, 5, 2, [4], "tanh", generator=torch.Generator().manual_seed(3))
IDS = torch.tensor([[1, 2, 3], [4, 4, 1]])
ONE_OFF = torch.tensor([[1, 0, 3], [4, 4, 1]])

# (factory, attribute_kwargs, rtol, networks): completeness in the layer's space. Gauss-Legendre
# on smooth heads, with 64 nodes: random embeddings lie a few units apart and a head with a
# hidden layer of width 1 can turn that into a steep tanh, where 24 nodes were seen 2.5e-3 off
# (the "thorough" profile); Guided and Blur IG are left Riemann sums (O(1/n_steps)); IDGI is
# exact on any network.
COMPLETE = {
    "LayerIntegratedGradients": (LAYER_IG, {"n_steps": 64}, 1e-3, SMOOTH),
    "LayerGuidedIntegratedGradients": (
        on_embedding(LayerGuidedIntegratedGradients),
        {"n_steps": 24, "fraction": 0.25, "max_dist": 0.1},
        0.2,
        SMOOTH,
    ),
    "LayerNoiseBaselineIntegratedGradients": (
        on_embedding(LayerNoiseBaselineIntegratedGradients),
        {"n_baselines": 3, "n_steps": 64, "method": "gausslegendre"},
        1e-3,
        SMOOTH,
    ),
    "LayerBlurIntegratedGradients": (
        on_embedding(LayerBlurIntegratedGradients),
        {"n_steps": 24, "max_sigma": 3.0},
        0.1,
        SMOOTH,
    ),
    "IDGI(LayerGuidedIntegratedGradients)": (
        lambda m: IDGI(LayerGuidedIntegratedGradients(m, m.embedding)),
        {"n_steps": 5},
        0.0,
        {},
    ),
    "IDGI(LayerBlurIntegratedGradients)": (
        lambda m: IDGI(LayerBlurIntegratedGradients(m, m.embedding)),
        {"n_steps": 5, "max_sigma": 3.0},
        0.0,
        {},
    ),
}


@pytest.mark.parametrize("name", list(COMPLETE))
def test_layer_methods_are_complete_in_the_layers_space(name):
    factory, kwargs, rtol, networks = COMPLETE[name]

    @given(case=axiom_st.token_cases(**networks))
    def complete(case):
        check_completeness(
            factory, case.model, case.inputs, case.baselines, attribute_kwargs=kwargs, rtol=rtol
        )

    complete()


@given(case=axiom_st.token_cases(), n_steps=st.integers(1, 9))
def test_idgi_on_layer_integrated_gradients_is_complete_for_any_step_count(case, n_steps):
    check_completeness(
        lambda m: IDGI(LayerIntegratedGradients(m, m.embedding)),
        case.model,
        case.inputs,
        case.baselines,
        attribute_kwargs={"n_steps": n_steps},
        rtol=0.0,
    )


def saturated_tokens():
    """``f(ids) = Σ_t 1 - ReLU(1 - e_t)`` with embeddings ``e(0) = 0``, ``e(1) = 2``: the
    saturation example of sensitivity (a) in an embedding's space."""
    embedding = nn.Embedding(2, 1, _weight=torch.tensor([[0.0], [2.0]], dtype=torch.float64))
    return TokenModel(embedding, saturated_relu(), pool="sum").eval()


def test_layer_gradient_times_activation_breaks_completeness_in_the_layers_space():
    # f(x) - f(x') = 1 but the gradient at e = 2 is 0: every attribution is 0.
    model, ids = saturated_tokens(), torch.tensor([[1, 0]])
    check_completeness(LAYER_IG, model, ids, 0, attribute_kwargs={"n_steps": 64}, rtol=1e-3)
    with pytest.raises(AxiomViolation) as violation:
        check_completeness(on_embedding(LayerGradientXActivation), model, ids, 0)
    assert str(violation.value).startswith(
        "completeness violated for example 0 in the space of the output of layer `embedding` "
        "(Embedding): sum of attributions 0 != f(x) - f(x') = 1"
    )


class _LayerIGFromZeros(LayerIntegratedGradients):
    """Layer IG that integrates from token 0 whatever baseline it is given."""

    def attribute(self, inputs, baselines=None, **kwargs):
        return super().attribute(inputs, baselines=None, **kwargs)


def test_completeness_is_checked_against_the_baseline_token_ids_given():
    pad = torch.ones_like(IDS)  # token 1, whose embedding differs from token 0's
    check_completeness(LAYER_IG, MODEL, IDS, pad, rtol=1e-3)
    with pytest.raises(AxiomViolation, match="completeness violated"):
        check_completeness(on_embedding(_LayerIGFromZeros), MODEL, IDS, pad, rtol=1e-3)


def test_completeness_measures_the_variation_on_the_layers_straight_line():
    model = token_mlp(3, 5, 2, [4], "tanh", generator=torch.Generator().manual_seed(0))
    ids, pad = torch.tensor([[1, 2, 3], [4, 4, 1]]), torch.zeros(2, 3, dtype=torch.long)
    result = check_completeness(LAYER_IG, model, ids, pad, rtol=1.0)
    with torch.no_grad():
        start, end = model.embedding(pad), model.embedding(ids)
        outputs = torch.stack(
            [
                model.head((start + t * (end - start)).flatten(1)).squeeze(1)
                for t in torch.linspace(0, 1, VARIATION_STEPS + 1).tolist()
            ]
        )
        variation = outputs.diff(dim=0).abs().sum(dim=0)
        change = (model(ids) - model(pad)).squeeze(1)
    attributions = LayerIntegratedGradients(model, model.embedding).attribute(ids, pad)
    mass = attributions.abs().flatten(1).sum(1)
    torch.testing.assert_close(result.tolerance, change.abs() + variation + mass, rtol=1e-9, atol=0)


def test_completeness_holds_for_a_layers_input():
    model = token_mlp(3, 5, 2, [4], "softplus", generator=torch.Generator().manual_seed(1))
    ids = torch.tensor([[1, 2, 3], [4, 4, 1]])
    check_completeness(
        lambda m: LayerIntegratedGradients(m, m.head),
        model,
        ids,
        0,
        attribute_kwargs={"attribute_to_layer_input": True},
        rtol=1e-3,
    )


def test_layer_smooth_taylor_is_judged_against_the_baselines_given():
    # no baselines, no convergence delta: x' is `baselines`, and SmoothTaylor is not complete
    model = token_mlp(2, 4, 2, [3], "tanh", generator=torch.Generator().manual_seed(2))
    kwargs = {"n_samples": 8, "noise_scale": 0.5}
    with pytest.raises(AxiomViolation, match="f\\(x\\) - f\\(x'\\)"):
        check_completeness(
            on_embedding(LayerSmoothTaylor),
            model,
            torch.tensor([[1, 3]]),
            0,
            attribute_kwargs=kwargs,
        )


@pytest.mark.parametrize(
    ("name", "factory", "kwargs"),
    [
        ("LayerIntegratedGradients", LAYER_IG, {"n_steps": 24}),
        ("IDGI(LayerIntegratedGradients)", lambda m: IDGI(LAYER_IG(m)), {"n_steps": 24}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_sensitivity_holds_on_the_token_that_differs(name, factory, kwargs):
    @given(case=axiom_st.one_token_apart(**SMOOTH))
    def sensitive(case):
        check_sensitivity(factory, case.model, case.inputs, case.baselines, attribute_kwargs=kwargs)

    sensitive()


def test_layer_gradient_times_activation_breaks_sensitivity_on_a_token():
    model, ids, one_off = saturated_tokens(), torch.tensor([[0, 1]]), torch.tensor([[0, 0]])
    check_sensitivity(LAYER_IG, model, ids, one_off, attribute_kwargs={"n_steps": 64})
    with pytest.raises(AxiomViolation) as violation:
        check_sensitivity(on_embedding(LayerGradientXActivation), model, ids, one_off)
    message = str(violation.value)
    assert message.startswith("sensitivity (a) violated for example 0: f(x) - f(x') = 1 but"), (
        message
    )
    assert (
        "feature 1 (its attributions in the space of the output of layer `embedding` "
        "(Embedding), summed over the trailing dimensions), the only one that differs, gets "
        "attribution 0 (" in message
    )


# Smooth heads: on ReLU heads IDGI's zero-gradient rule hands a share to every token that moves,
# dummies included, when a ramp lies between two of its steps (docs/axioms.md, "What a finite
# number of steps can miss"); seen here at 8 steps with the "thorough" profile.
@given(case=axiom_st.token_cases(pools=("flatten",), **SMOOTH), data=st.data())
def test_a_token_the_model_ignores_gets_nothing(case, data):
    n_tokens, dim = case.inputs.shape[1], case.model.embedding.embedding_dim
    dummies = sorted(data.draw(st.sets(st.integers(0, n_tokens - 1), min_size=1)))
    model = copy.deepcopy(case.model)
    with torch.no_grad():
        first = model.head[0].weight.view(-1, n_tokens, dim)
        first[:, dummies] = 0.0
    for factory, kwargs in [
        (LAYER_IG, {"n_steps": 8}),
        (lambda m: IDGI(LAYER_IG(m)), {"n_steps": 8}),
        (on_embedding(LayerSmoothTaylor), {"n_samples": 4}),
    ]:
        check_dummy(
            factory,
            model,
            case.inputs,
            case.baselines,
            dummy_features=dummies,
            attribute_kwargs=kwargs,
        )


@given(case=axiom_st.token_cases(pools=("sum",)), data=st.data())
def test_two_equal_tokens_of_a_model_symmetric_in_its_tokens_get_equal_scores(case, data):
    n_tokens = case.inputs.shape[1]
    assume(n_tokens >= 2)  # two tokens to swap
    i, j = data.draw(st.lists(st.integers(0, n_tokens - 1), min_size=2, max_size=2, unique=True))
    inputs = case.inputs.clone()
    inputs[:, j] = inputs[:, i]
    check_symmetry(
        LAYER_IG,
        case.model,
        inputs,
        case.baselines,
        symmetric_features=(i, j),
        attribute_kwargs={"n_steps": 8},
    )


@given(case=axiom_st.token_cases(), data=st.data())
def test_layer_ig_is_invariant_to_reparameterising_the_head(case, data):
    n_units = case.model.head[0].weight.shape[0]
    order = data.draw(st.permutations(range(n_units)))
    equivalent = TokenModel(
        copy.deepcopy(case.model.embedding),
        permute_hidden_units(case.model.head, 0, order),
        case.model.pool,
    ).eval()
    check_implementation_invariance(
        LAYER_IG,
        case.model,
        equivalent,
        case.inputs,
        case.baselines,
        attribute_kwargs={"n_steps": 8},
    )


PER_FEATURE_CHECKS = {
    "check_sensitivity": lambda method: check_sensitivity(method, MODEL, IDS, ONE_OFF),
    "check_dummy": lambda method: check_dummy(method, MODEL, IDS, dummy_features=[0]),
    "check_symmetry": lambda method: check_symmetry(
        method, MODEL, torch.tensor([[1, 1, 3]]), symmetric_features=(0, 1)
    ),
    "check_implementation_invariance": lambda method: check_implementation_invariance(
        method, MODEL, copy.deepcopy(MODEL), IDS
    ),
}


@pytest.mark.parametrize("name", list(PER_FEATURE_CHECKS))
def test_a_layer_not_aligned_with_the_tokens_is_refused_by_the_per_feature_checks(name):
    after_the_tokens_mix = lambda m: LayerIntegratedGradients(m, m.head[0])  # noqa: E731
    with pytest.raises(ValueError, match=f"`method` .* {name} needs attributions aligned"):
        PER_FEATURE_CHECKS[name](after_the_tokens_mix)


def test_linearity_refuses_layer_methods():
    other = token_mlp(3, 5, 2, [4], "tanh", generator=torch.Generator().manual_seed(4))
    with pytest.raises(ValueError, match="`method` builds LayerIntegratedGradients, a layer"):
        check_linearity(LAYER_IG, MODEL, other, IDS)


CHECKS = {
    "check_completeness": lambda method: check_completeness(method, MODEL, IDS),
    **PER_FEATURE_CHECKS,
    "check_linearity": lambda method: check_linearity(method, MODEL, copy.deepcopy(MODEL), IDS),
}


@pytest.mark.parametrize("name", list(CHECKS))
@pytest.mark.parametrize("method", [IntegratedGradients, Saliency], ids=["ig", "saliency"])
def test_token_ids_for_an_input_space_method_are_a_type_error(name, method):
    with pytest.raises(TypeError, match=r"`inputs` must be floating point .* need a layer method"):
        CHECKS[name](method)


@pytest.mark.parametrize(
    ("baselines", "error"),
    [
        (0.0, TypeError),
        (torch.zeros(2, 3), TypeError),
        (torch.zeros(2, 4, dtype=torch.long), ValueError),
    ],
    ids=["float", "float-tensor", "wrong-shape"],
)
def test_baselines_of_token_ids_must_be_token_ids_shaped_like_them(baselines, error):
    with pytest.raises(error, match="`baselines`"):
        check_completeness(LAYER_IG, MODEL, IDS, baselines)


DOCS = (Path(__file__).parents[2] / "docs" / "axioms.md").read_text()


def test_the_example_of_the_docs_runs():
    section = DOCS.split("## Layer methods (text models)", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    exec(compile(code, "docs/axioms.md", "exec"), {})
