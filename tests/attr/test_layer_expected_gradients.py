"""LayerExpectedGradients: a reference set mapped to the layer, Captum's LayerGradientShap."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest
import torch
from captum.attr import LayerGradientShap
from torch import nn

from captum_smooth import ExpectedGradients
from captum_smooth.attr.layer import LayerExpectedGradients


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).double()


def text_model(hidden: bool = True) -> nn.Sequential:
    torch.manual_seed(1)
    head = [nn.Linear(20, 8), nn.Tanh(), nn.Linear(8, 2)] if hidden else [nn.Linear(20, 2)]
    return nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), *head).double()


def data(n: int = 30) -> torch.Tensor:
    return torch.randn(n, 6, dtype=torch.float64, generator=seeded(7))


def ids(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 10, (n, 5), generator=seeded(seed))


def test_equal_in_expectation_to_captums_layer_gradient_shap():
    # the layer (the first linear one) is affine in the inputs, so Captum's line in the input
    # space is ours in the layer's: a z-test per activation on the difference of two
    # independent estimates, each with the standard error ours reports, at 0.001 over all 48
    # activations (Bonferroni)
    model = mlp()
    x, references = data()[:3], data()[3:]
    ours, error = LayerExpectedGradients(model, model[0]).attribute(
        x, references, n_samples=4000, target=1, return_error=True, generator=seeded(0)
    )
    torch.manual_seed(1)  # Captum draws from torch's global generator
    theirs = LayerGradientShap(model, model[0]).attribute(x, references, 4000, target=1)
    bound = NormalDist().inv_cdf(1 - 0.001 / (2 * ours.numel()))
    z = (ours - theirs) / (math.sqrt(2) * error)
    assert z.abs().max() < bound, z
    assert not torch.allclose(ours, theirs)  # two estimates, not one computation


def test_a_captum_layer_gradient_shap_call_runs_unchanged():
    # LayerGradientShap's positional order: inputs, baselines, n_samples, stdevs, target,
    # forward arguments, return_convergence_delta, attribute_to_layer_input
    model = mlp()
    x, references = data()[:2], data()[2:]
    attr, delta = LayerExpectedGradients(model, model[2]).attribute(
        x, references, 8, 0.0, 1, None, True, True
    )
    assert attr.shape == (2, 16) and delta.shape == (2,)


def test_a_reference_set_of_token_ids_is_expected_gradients_on_its_embeddings():
    # 7 references for 3 examples: mapped through the layer once, then drawn as the input
    # method draws them (the same generator gives the same draws)
    model = text_model()
    x, references = ids(3, 2), ids(7, 3)
    ours = LayerExpectedGradients(model, model[0]).attribute(
        x, references, n_samples=32, target=1, generator=seeded(4)
    )
    embed, head = model[0], model[1:]
    with torch.no_grad():
        a, a_refs = embed(x), embed(references)
    theirs = ExpectedGradients(head).attribute(
        a, a_refs, n_samples=32, target=1, generator=seeded(4)
    )
    torch.testing.assert_close(ours, theirs)


def test_the_delta_is_zero_where_the_model_is_linear_in_the_layer():
    # g(a) = w·a + b: every draw gives (a - a')·w = g(a) - g(a'), so the layer's
    # completeness delta vanishes for any draws
    model = text_model(hidden=False)
    attr, delta = LayerExpectedGradients(model, model[0]).attribute(
        ids(4, 5), ids(6, 6), n_samples=5, target=0, return_convergence_delta=True,
        generator=seeded(),
    )  # fmt: skip
    assert attr.shape == (4, 5, 4)
    torch.testing.assert_close(delta, torch.zeros(4, dtype=torch.float64))


def test_the_delta_shrinks_with_the_draws():
    model = text_model()
    x, references = ids(4, 7), ids(16, 8)
    method = LayerExpectedGradients(model, model[0])

    def mean_gap(n: int) -> float:
        gaps = [
            method.attribute(
                x, references, n_samples=n, target=1, return_convergence_delta=True,
                generator=seeded(seed),
            )[1].abs().mean()
            for seed in range(8)
        ]  # fmt: skip
        return float(torch.stack(gaps).mean())

    assert mean_gap(512) < mean_gap(8) / 3


def test_return_error_follows_the_delta_and_matches_the_spread():
    model = text_model()
    x, references = ids(2, 9), ids(12, 10)
    method = LayerExpectedGradients(model, model[0])
    attr, delta, error = method.attribute(
        x, references, n_samples=64, target=1, return_convergence_delta=True,
        return_error=True, generator=seeded(0),
    )  # fmt: skip
    assert attr.shape == error.shape == (2, 5, 4) and delta.shape == (2,)
    runs = torch.stack([
        method.attribute(x, references, n_samples=64, target=1, generator=seeded(s))
        for s in range(1, 41)
    ])  # fmt: skip
    ratio = runs.std(0).mean() / error.mean()
    assert 0.7 < ratio < 1.4, ratio


@pytest.mark.parametrize(
    ("references", "error", "match"),
    [
        (torch.rand(4, 5, dtype=torch.float64), TypeError, r"`baselines` must be tensors of "
         r"reference inputs like `inputs` \(torch.int64\)"),
        (torch.zeros(4, 6, dtype=torch.long), ValueError, r"R ≥ 1 references shaped like one "
         r"example \(5,\), got shape \(4, 6\)"),
        (torch.zeros(0, 5, dtype=torch.long), ValueError, "R ≥ 1"),
        ((torch.zeros(4, 5, dtype=torch.long),) * 2, ValueError, "2 entries for 1 inputs"),
        (3, TypeError, "got int"),
    ],
)  # fmt: skip
def test_bad_references_are_named(references, error, match):
    model = text_model()
    with pytest.raises(error, match=match):
        LayerExpectedGradients(model, model[0]).attribute(ids(2, 1), references, n_samples=2)


def test_bad_arguments_are_named():
    model = text_model()
    method = LayerExpectedGradients(model, model[0])
    x, references = ids(2, 1), ids(4, 2)
    with pytest.raises(TypeError, match=r"LayerExpectedGradients\.attribute\(\) missing"):
        method.attribute(x)
    with pytest.raises(TypeError, match="Monte-Carlo average, not a quadrature"):
        method.attribute(x, references, method="riemann_left")
    with pytest.raises(ValueError, match="`stdevs` must be non-negative"):
        method.attribute(x, references, stdevs=-1.0)
    with pytest.raises(ValueError, match="`n_samples`"):
        method.attribute(x, references, n_samples=0)


def test_per_example_forward_arguments_cannot_go_with_a_reference_set():
    torch.manual_seed(2)
    embed, head = nn.Embedding(10, 4), nn.Linear(4, 2)

    def masked(i, mask):
        return head((embed(i) * mask.unsqueeze(-1)).sum(1))

    x, mask = ids(2, 3), torch.ones(2, 5)
    with pytest.raises(ValueError, match="cannot hold per-example tensors"):
        LayerExpectedGradients(masked, embed).attribute(
            x, ids(4, 4), additional_forward_args=(mask,)
        )
