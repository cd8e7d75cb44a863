"""The networks behind the strategies: the reparameterisations keep the function, dummy inputs
are ignored, symmetrised networks are symmetric."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from captum_smooth.axioms import networks
from captum_smooth.axioms import strategies as axiom_st


def seeded(seed):
    return torch.Generator().manual_seed(seed)


def swap(x, i, j):
    flat = x.reshape(x.shape[0], -1).clone()
    flat[:, [i, j]] = flat[:, [j, i]]
    return flat.reshape(x.shape)


@given(axiom_st.equivalent_pairs())
def test_equivalent_pairs_compute_the_same_function(case):
    for points in (case.inputs, case.baselines, 3 * case.inputs):
        torch.testing.assert_close(case.model(points), case.equivalent_model(points))


@given(axiom_st.dummy_cases(), st.floats(-5, 5))
def test_dummy_features_do_not_change_the_output(case, value):
    changed = case.inputs.reshape(case.inputs.shape[0], -1).clone()
    changed[:, case.dummy_features] = value
    torch.testing.assert_close(
        case.model(changed.reshape(case.inputs.shape)), case.model(case.inputs)
    )


@given(axiom_st.symmetric_cases(), st.floats(-3, 3))
def test_symmetrised_networks_are_symmetric_in_their_features(case, shift):
    i, j = case.symmetric_features
    x = case.inputs.reshape(case.inputs.shape[0], -1).clone()
    x[:, i] += shift
    x = x.reshape(case.inputs.shape)
    torch.testing.assert_close(case.model(x), case.model(swap(x, i, j)))


@given(axiom_st.one_feature_apart())
def test_one_feature_apart_differs_in_exactly_one_feature(case):
    differs = (case.inputs != case.baselines).reshape(case.inputs.shape[0], -1)
    assert (differs.sum(dim=1) == 1).all()


@pytest.mark.parametrize(
    "strategy",
    [
        axiom_st.cases,
        axiom_st.one_feature_apart,
        axiom_st.equivalent_pairs,
        axiom_st.dummy_cases,
        axiom_st.symmetric_cases,
        axiom_st.linear_cases,
    ],
)
def test_every_strategy_draws_the_batch_size_asked_for(strategy):
    @given(strategy(batch_size=2), strategy())
    def sizes(fixed, drawn):
        assert fixed.inputs.shape[0] == fixed.baselines.shape[0] == 2
        assert 1 <= drawn.inputs.shape[0] <= 3

    sizes()


def test_networks_come_from_the_generator_alone():
    torch.manual_seed(0)
    before = torch.rand(2)
    torch.manual_seed(0)
    first = networks.cnn(2, 4, 3, "relu", max_pool=True, generator=seeded(5))
    torch.testing.assert_close(torch.rand(2), before)
    second = networks.cnn(2, 4, 3, "relu", max_pool=True, generator=seeded(5))
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_splitting_a_convolution_channel_adds_one_and_keeps_the_function():
    model = networks.cnn(1, 4, 2, "tanh", max_pool=True, generator=seeded(1))
    split = networks.split_hidden_unit(model, 0, 1, 0.3)
    assert split[0].out_channels == 3 and split[-1].in_features == 3 * 2 * 2
    x = torch.randn(4, 1, 4, 4, generator=seeded(2), dtype=torch.float64)
    torch.testing.assert_close(split(x), model(x))


def test_rescaling_through_tanh_is_refused():
    model = networks.mlp(2, [3], "tanh", generator=seeded(0))
    with pytest.raises(ValueError, match="positive rescaling"):
        networks.rescale_hidden_unit(model, 0, 0, 2.0)
    relu = networks.mlp(2, [3], "relu", generator=seeded(0))
    with pytest.raises(ValueError, match="`factor`"):
        networks.rescale_hidden_unit(relu, 0, 0, -1.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: networks.permute_hidden_units(m, 0, [0, 0, 1]), "`permutation`"),
        (lambda m: networks.permute_hidden_units(m, 1, [0, 1, 2]), "`layer`"),
        (lambda m: networks.split_hidden_unit(m, 0, 3, 0.5), "`unit`"),
        (lambda m: networks.mlp(2, [3], "gelu"), "`activation`"),
        (lambda m: networks.cnn(1, 3, 2, max_pool=True), "`size`"),
    ],
)
def test_bad_arguments_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call(networks.mlp(2, [3], "relu", generator=seeded(0)))


def test_the_original_network_is_left_untouched():
    model = networks.mlp(2, [3], "relu", generator=seeded(0))
    weights = [p.clone() for p in model.parameters()]
    networks.permute_hidden_units(model, 0, [2, 0, 1])
    networks.rescale_hidden_unit(model, 0, 1, 3.0)
    networks.split_hidden_unit(model, 0, 1, 0.5)
    for before, after in zip(weights, model.parameters(), strict=True):
        torch.testing.assert_close(before, after)
