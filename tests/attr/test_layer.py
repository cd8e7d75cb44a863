"""Layer variants: the input-space method behind an identity layer, SmoothTaylor's check value
in a layer's space, IDGI exactly complete on layers, and Captum's layer conventions."""

import inspect

import pytest
import torch
from captum.attr import LayerIntegratedGradients
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from captum_smooth import (
    IDGI,
    BlurIntegratedGradients,
    GuidedIntegratedGradients,
    NoiseBaselineIntegratedGradients,
    SmoothTaylor,
)
from captum_smooth.attr._captum_paths import LayerStraightPath
from captum_smooth.attr.layer import (
    LayerBlurIntegratedGradients,
    LayerGuidedIntegratedGradients,
    LayerNoiseBaselineIntegratedGradients,
    LayerSmoothTaylor,
)


def seeded(seed):
    return torch.Generator().manual_seed(seed)


class Front(nn.Module):
    """An identity layer in front of a model: the layer's space is the input space."""

    def __init__(self, model):
        super().__init__()
        self.front, self.model = nn.Identity(), model

    def forward(self, x):
        return self.model(self.front(x))


LAYER_AND_INPUT = [
    (LayerSmoothTaylor, SmoothTaylor, {"n_samples": 5, "noise_scale": 0.3}, True),
    (
        LayerNoiseBaselineIntegratedGradients,
        NoiseBaselineIntegratedGradients,
        {"n_baselines": 2, "n_steps": 4},
        True,
    ),
    (LayerGuidedIntegratedGradients, GuidedIntegratedGradients, {"n_steps": 5}, False),
    (
        LayerBlurIntegratedGradients,
        BlurIntegratedGradients,
        {"n_steps": 4, "max_sigma": 2.0},
        False,
    ),
]


@pytest.mark.parametrize(
    ("layer_method", "method", "kwargs", "random"),
    LAYER_AND_INPUT,
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_each_layer_variant_equals_the_input_space_method_behind_an_identity_layer(
    cnn, layer_method, method, kwargs, random
):
    model = Front(cnn)
    images = torch.rand(3, 3, 8, 8, dtype=torch.float64, generator=seeded(0))
    extra = {"generator": seeded(1)} if random else {}
    ours = layer_method(model, model.front).attribute(images, target=[0, 2, 4], **kwargs, **extra)
    extra = {"generator": seeded(1)} if random else {}
    expected = method(cnn).attribute(images, target=[0, 2, 4], **kwargs, **extra)
    torch.testing.assert_close(ours, expected)


class Polynomial(nn.Module):
    """g(e) = Σ α e² + γ e³ + β e over an embedding layer's output."""

    def __init__(self, alpha, beta, gamma, vocabulary):
        super().__init__()
        self.embedding = nn.Embedding(*vocabulary.shape, _weight=vocabulary)
        self.alpha, self.beta, self.gamma = alpha, beta, gamma

    def forward(self, ids):
        e = self.embedding(ids)
        return (self.alpha * e**2 + self.gamma * e**3 + self.beta * e).flatten(1).sum(1)


def test_layer_smooth_taylor_meets_the_taylor_expectation_in_the_embeddings_space():
    g = seeded(0)
    vocabulary = torch.randn(7, 3, dtype=torch.float64, generator=g)
    alpha, beta, gamma = (torch.randn(4, 3, dtype=torch.float64, generator=g) for _ in range(3))
    model = Polynomial(alpha, beta, gamma, vocabulary)
    ids = torch.tensor([[1, 4, 4, 6]])
    sigma, r = 0.4, 40000
    per_root = torch.stack(
        [
            LayerSmoothTaylor(model, model.embedding).attribute(
                ids, n_samples=1, noise_scale=sigma, generator=seeded(s)
            )
            for s in range(200)
        ]
    )
    attr = LayerSmoothTaylor(model, model.embedding).attribute(
        ids, n_samples=r, noise_scale=sigma, internal_batch_size=8192, generator=g
    )
    e = vocabulary[ids]
    expected = -2 * alpha * sigma**2 - 6 * gamma * e * sigma**2
    standard_error = per_root.std(dim=0) / r**0.5
    assert attr.shape == (1, 4, 3)
    assert ((attr - expected).abs() <= 5 * standard_error).all()
    assert (standard_error < 0.05).all()  # narrow enough to tell the expectation apart


class TinyText(nn.Module):
    """Token ids → embeddings → a small non-linear classifier."""

    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.embeddings = nn.Embedding(11, 4)
        self.mix = nn.Linear(4, 5)
        self.head = nn.Linear(5, 3)
        self.double()

    def forward(self, ids, scale=1.0):
        h = torch.relu(self.mix(self.embeddings(ids))).mean(dim=1)
        return self.head(h) * scale


@given(seed=st.integers(0, 2**16), n_steps=st.integers(1, 9))
def test_idgi_on_layer_integrated_gradients_is_exactly_complete_in_the_layers_space(seed, n_steps):
    model = TinyText(seed % 7)
    ids = torch.randint(1, 11, (2, 5), generator=seeded(seed))
    attr, delta = IDGI(LayerIntegratedGradients(model, model.embeddings)).attribute(
        ids, target=[0, 2], n_steps=n_steps, return_convergence_delta=True
    )
    with torch.no_grad():
        gap = model(ids)[[0, 1], [0, 2]] - model(torch.zeros_like(ids))[[0, 1], [0, 2]]
    assert attr.shape == (2, 5, 4)
    torch.testing.assert_close(attr.flatten(1).sum(1), gap, rtol=1e-9, atol=1e-9)
    assert delta.abs().max() < 1e-9


@pytest.mark.parametrize(
    ("layer_method", "kwargs"),
    [
        (LayerGuidedIntegratedGradients, {"n_steps": 3}),
        (LayerBlurIntegratedGradients, {"n_steps": 3, "max_sigma": 1.5}),
    ],
    ids=["guided", "blur"],
)
def test_idgi_over_the_packages_layer_variants_is_exactly_complete(layer_method, kwargs):
    model = TinyText(1)
    ids = torch.randint(1, 11, (2, 6), generator=seeded(3))
    attr, delta = IDGI(layer_method(model, model.embeddings)).attribute(
        ids, target=1, return_convergence_delta=True, **kwargs
    )
    assert attr.shape == (2, 6, 4) and delta.abs().max() < 1e-9


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_right"])
def test_the_layer_straight_line_equals_captums_layer_integrated_gradients(method):
    model = TinyText(2)
    ids = torch.randint(1, 11, (3, 5), generator=seeded(4))
    baselines = torch.full_like(ids, 3)
    kwargs = {"baselines": baselines, "target": [0, 1, 2], "n_steps": 7, "method": method}
    ours, delta = LayerStraightPath(model, model.embeddings)._attribute(
        ids, [0, 1, 2], (2.0,), None, True, False,
        baselines=baselines, n_steps=7, method=method,
    )  # fmt: skip
    captum, captum_delta = LayerIntegratedGradients(model, model.embeddings).attribute(
        ids, additional_forward_args=(2.0,), return_convergence_delta=True, **kwargs
    )
    torch.testing.assert_close(ours, captum)
    torch.testing.assert_close(delta, captum_delta.to(delta.dtype))


class TwoOutputs(nn.Module):
    """A layer with a tuple output, and a second layer after it."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.split = _Split()
        self.after = nn.Linear(3, 3)
        self.double()

    def forward(self, x):
        a, b = self.split(x)
        return self.after(torch.tanh(a) * b)


class _Split(nn.Module):
    def forward(self, x):
        return x[:, :3] * 2, x[:, 3:] + 1


def test_tuple_outputs_lists_of_layers_and_layer_inputs_follow_captum():
    model = TwoOutputs()
    x = torch.randn(2, 6, dtype=torch.float64, generator=seeded(5))
    method = LayerSmoothTaylor(model, model.split)
    attr = method.attribute(x, target=0, n_samples=3, generator=seeded(0))
    assert isinstance(attr, tuple) and [a.shape for a in attr] == [(2, 3), (2, 3)]
    both = LayerSmoothTaylor(model, [model.split, model.after]).attribute(
        x, target=0, n_samples=3, generator=seeded(0)
    )
    assert isinstance(both, list) and isinstance(both[0], tuple) and both[1].shape == (2, 3)
    into = method.attribute(
        x, target=0, n_samples=3, generator=seeded(0), attribute_to_layer_input=True
    )
    assert into.shape == (2, 6)
    # the layer's input is the model's input: the input-space method on the same noise
    torch.testing.assert_close(
        into, SmoothTaylor(model).attribute(x, target=0, n_samples=3, generator=seeded(0))
    )


def test_layer_variants_name_bad_layers_and_captum_only_arguments():
    model = TinyText(0)
    with pytest.raises(TypeError, match="layer"):
        LayerSmoothTaylor(model, "embeddings")
    with pytest.raises(ValueError, match="device_ids"):
        LayerSmoothTaylor(model, model.embeddings, device_ids=[0])
    with pytest.raises(ValueError, match="multiply_by_inputs"):
        LayerSmoothTaylor(model, model.embeddings, multiply_by_inputs=False)
    unused = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="did not run"):
        LayerSmoothTaylor(model, unused).attribute(torch.ones(1, 3, dtype=torch.long), target=0)
    with pytest.raises(TypeError, match="floating point"):
        LayerSmoothTaylor(model, model.embeddings).attribute(
            torch.ones(1, 3, dtype=torch.long), target=0, attribute_to_layer_input=True
        )


@pytest.mark.parametrize(
    ("layer_method", "method"),
    [(layer, method) for layer, method, _, _ in LAYER_AND_INPUT],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_a_layer_variant_has_a_convergence_delta_where_its_method_has_one(layer_method, method):
    model = TinyText(0)
    has_delta = method(model).has_convergence_delta()
    assert layer_method(model, model.embeddings).has_convergence_delta() == has_delta
    assert ("return_convergence_delta" in inspect.signature(layer_method.attribute).parameters) == (
        has_delta
    )
