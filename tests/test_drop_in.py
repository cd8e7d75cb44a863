"""A drop-in for Captum: calls copied from Captum's docs and tutorials work unchanged.

Signatures are compared with Captum's own (``inspect``), never with a list written here;
every public method of the package is found by walking its public modules.
"""

import inspect

import pytest
import torch
from captum.attr import (
    GradientShap,
    IntegratedGradients,
    LayerGradientShap,
    LayerIntegratedGradients,
    Saliency,
)
from torch import nn

import captum_smooth.attr as attr_module
import captum_smooth.attr.layer as layer_module
from captum_smooth import IDGI, IntegratedDecisionGradients, SmoothGradSquared, SmoothTaylor
from captum_smooth.attr._layer import LayerAttribution
from captum_smooth.attr._paths import PathAttribution, RuleOnPath, public_signature

INPUT_SPACE = [
    getattr(attr_module, name)
    for name in attr_module.__all__
    if inspect.isclass(getattr(attr_module, name))
    and issubclass(getattr(attr_module, name), PathAttribution)
]
LAYER = [
    getattr(layer_module, name)
    for name in layer_module.__all__
    if inspect.isclass(getattr(layer_module, name))
    and issubclass(getattr(layer_module, name), LayerAttribution)
    and getattr(layer_module, name) is not LayerAttribution
]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(12, 4)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        return self.head(torch.tanh(self.conv(x)).mean(dim=(2, 3)))


CAPTUM_TWIN = {"ExpectedGradients": GradientShap, "LayerExpectedGradients": LayerGradientShap}
"""The Captum method each compares with where it is not (Layer)IntegratedGradients."""


def wrapped_methods():
    """Every rule-on-path wrapper over every method it accepts, with Captum's counterpart."""
    model = Net()
    cases = []
    for wrapper in (IDGI, IntegratedDecisionGradients, SmoothGradSquared):
        for inner in [IntegratedGradients(model), *(m(model) for m in INPUT_SPACE)]:
            try:
                twin = CAPTUM_TWIN.get(type(inner).__name__, IntegratedGradients)
                cases.append((wrapper(inner), twin))
            except (TypeError, ValueError):
                continue
        for inner in [
            LayerIntegratedGradients(model, model.conv),
            *(m(model, model.conv) for m in LAYER),
        ]:
            try:
                twin = CAPTUM_TWIN.get(type(inner).__name__, LayerIntegratedGradients)
                cases.append((wrapper(inner), twin))
            except (TypeError, ValueError):
                continue
    return cases


def our_signatures():
    cases = [
        (
            m.__name__,
            public_signature(m.attribute),
            CAPTUM_TWIN.get(m.__name__, IntegratedGradients),
        )
        for m in INPUT_SPACE
    ]
    cases += [
        (
            m.__name__,
            public_signature(m.attribute),
            CAPTUM_TWIN.get(m.__name__, LayerIntegratedGradients),
        )
        for m in LAYER
    ]
    cases += [
        (f"{type(w).__name__}({type(w.attribution_method).__name__})", w.signature(), captum)
        for w, captum in wrapped_methods()
    ]
    return cases


def test_every_public_method_and_wrapper_is_compared():
    names = {name for name, _, _ in our_signatures()}
    assert len(INPUT_SPACE) >= 4 and len(LAYER) >= 4
    assert {"IDGI(IntegratedGradients)", "IDGI(LayerIntegratedGradients)"} <= names
    assert {
        "IntegratedDecisionGradients(IntegratedGradients)",
        "IntegratedDecisionGradients(LayerIntegratedGradients)",
        "IntegratedDecisionGradients(GuidedIntegratedGradients)",
        "IntegratedDecisionGradients(LayerBlurIntegratedGradients)",
    } <= names
    assert "SmoothGradSquared(SmoothTaylor)" in names


@pytest.mark.parametrize(
    ("name", "ours", "captum"), our_signatures(), ids=[c[0] for c in our_signatures()]
)
def test_positional_order_is_captums_where_the_arguments_are_shared(name, ours, captum):
    """A positional call copied from Captum binds every argument to the same name here.

    As far as Captum's leading arguments are all taken (a method without baselines starts
    after ``inputs``), the positions are Captum's; the shared arguments keep Captum's order.
    """
    theirs = list(public_signature(captum.attribute).parameters)
    mine = list(ours.parameters)
    shared = [p for p in theirs if p in mine]
    assert [p for p in mine if p in theirs] == shared, f"{name}: shared arguments out of order"
    for k in range(1, len(theirs) + 1):
        if all(p in mine for p in theirs[:k]):
            assert mine[:k] == theirs[:k], f"{name}: {mine[:k]} where Captum has {theirs[:k]}"


def test_idgi_over_captums_ig_takes_captums_exact_signature():
    idgi = IDGI(IntegratedGradients(Net()))
    theirs = list(public_signature(IntegratedGradients.attribute).parameters)
    assert list(idgi.signature().parameters)[: len(theirs)] == theirs


@pytest.fixture
def images():
    return torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(1))


def test_captums_positional_ig_call_gives_the_keyword_result(images):
    model = Net()
    idgi = IDGI(IntegratedGradients(model))
    reference = torch.rand(1, 3, 6, 6, generator=torch.Generator().manual_seed(2))
    by_position = idgi.attribute(images, reference, 1, None, 12, return_convergence_delta=True)
    by_name = idgi.attribute(
        images, baselines=reference, target=1, n_steps=12, return_convergence_delta=True
    )
    torch.testing.assert_close(by_position, by_name)
    assert not torch.equal(by_position[0], idgi.attribute(images, target=1, n_steps=12))


def test_captums_positional_layer_ig_call_gives_the_keyword_result():
    model = Net()
    ids = torch.randint(1, 12, (2, 5), generator=torch.Generator().manual_seed(3))

    def text(i):
        return model.head(model.embed(i).mean(1))

    idgi = IDGI(LayerIntegratedGradients(text, model.embed))
    refs = torch.zeros_like(ids)
    by_position = idgi.attribute(ids, refs, 2, None, 9)
    by_name = idgi.attribute(ids, baselines=refs, target=2, n_steps=9)
    torch.testing.assert_close(by_position, by_name)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m, x: IDGI(IntegratedGradients(m)).attribute(x, 0.0, 1, None, 8, "gausslegendre"),
         r"IDGI\(IntegratedGradients\)\.attribute\(\): `method` does not apply"),
        (lambda m, x: IDGI(IntegratedGradients(m)).attribute(x, 0.0, 1, None, 8, None, 4, False,
                                                             False, 3),
         r"IDGI\(IntegratedGradients\)\.attribute\(\) too many positional"),
        (lambda m, x: IDGI(attr_module.BlurIntegratedGradients(m)).attribute(x, baselines=0.0),
         r"IDGI\(BlurIntegratedGradients\)\.attribute\(\) got an unexpected keyword argument "
         r"'baselines': Blur IG's path starts at blur\(x, max_sigma\)"),
        (lambda m, x: SmoothTaylor(m).attribute(x, baselines=0.0),
         r"SmoothTaylor\.attribute\(\) got an unexpected keyword argument 'baselines': "
         r"SmoothTaylor has no baseline"),
        (lambda m, x: SmoothTaylor(m).attribute(x, nt_samples=4),
         r"'nt_samples': it is an argument of NoiseTunnel"),
        (lambda m, x: IDGI(IntegratedGradients(m)).attribute(x, target=1, target_layer=3),
         r"It takes \(inputs, baselines, target, additional_forward_args, n_steps"),
    ],
)  # fmt: skip
def test_refused_arguments_are_named_in_the_public_call_with_what_to_do(images, call, match):
    with pytest.raises(TypeError, match=match) as raised:
        call(Net(), images)
    for internal in ("path()", "_attribute", "StraightPath", "RuleOnPath"):
        assert internal not in str(raised.value)


def test_a_one_example_target_of_the_wrong_size_reads_as_english(images):
    with pytest.raises(ValueError, match=r"must have 1 element \(one index per example"):
        IDGI(IntegratedGradients(Net())).attribute(images[:1], target=torch.tensor([[1, 2]]))


@pytest.mark.parametrize("layer", [False, True])
def test_idgi_refuses_a_wrapped_ig_without_multiply_by_inputs(layer):
    model = Net()
    method = (
        LayerIntegratedGradients(model, model.conv, multiply_by_inputs=False)
        if layer
        else IntegratedGradients(model, multiply_by_inputs=False)
    )
    with pytest.raises(ValueError, match="multiply_by_inputs=False"):
        IDGI(method)


def test_idgi_over_a_method_without_a_path_names_what_it_takes():
    with pytest.raises(TypeError, match="IG-family"):
        IDGI(Saliency(Net()))


def test_only_moving_gives_features_equal_to_the_baseline_zero_and_stays_complete(images):
    model = Net()
    baselines = torch.zeros_like(images)
    baselines[:, 0] = images[:, 0]  # the first channel is its own baseline
    plain = IDGI(IntegratedGradients(model)).attribute(images, baselines, 1, n_steps=16)
    moving, delta = IDGI(IntegratedGradients(model), only_moving=True).attribute(
        images, baselines, 1, n_steps=16, return_convergence_delta=True
    )
    assert plain[:, 0].abs().sum() > 0  # the paper's rule credits the unmoved channel
    assert torch.equal(moving[:, 0], torch.zeros_like(moving[:, 0]))
    assert delta.abs().max() < 1e-5
    assert torch.isfinite(moving).all()


def test_only_moving_survives_the_llm_routes_rebuild():
    idgi = IDGI(IntegratedGradients(Net()), only_moving=True)
    rebuilt = idgi.on(IntegratedGradients(Net()))
    assert rebuilt.rule is idgi.rule and rebuilt.attribution_method is not idgi.attribution_method


def test_idgi_never_computes_quadrature_nodes(images, monkeypatch):
    import captum_smooth.attr._paths as paths

    def refuse(*args):
        raise AssertionError("quadrature nodes computed for a rule that does not read them")

    monkeypatch.setattr(paths, "quadrature", refuse)
    attributions = IDGI(IntegratedGradients(Net())).attribute(images, target=0, n_steps=4000)
    assert attributions.shape == images.shape


def every_method():
    model = Net()
    kwargs = {
        "SmoothTaylor": {"n_samples": 3},
        "NoiseBaselineIntegratedGradients": {"n_baselines": 2, "n_steps": 3},
        "BlurIntegratedGradients": {"n_steps": 3, "max_sigma": 2.0},
        "GuidedIntegratedGradients": {"n_steps": 3},
        "ExpectedGradients": {
            "baselines": torch.rand(5, 3, 6, 6, generator=torch.Generator().manual_seed(4)),
            "n_samples": 3,
        },
    }
    cases = [pytest.param(m(model), kwargs.get(m.__name__, {}), id=m.__name__) for m in INPUT_SPACE]
    for wrapper, inner in [
        (IDGI, IntegratedGradients(model)),
        (IDGI, attr_module.GuidedIntegratedGradients(model)),
        (IDGI, attr_module.BlurIntegratedGradients(model)),
        (SmoothGradSquared, SmoothTaylor(model)),
    ]:
        name = f"{wrapper.__name__}({type(inner).__name__})"
        settings = kwargs.get(type(inner).__name__, {"n_steps": 3})
        cases.append(pytest.param(wrapper(inner), settings, id=name))
    return cases


@pytest.mark.parametrize(("method", "kwargs"), every_method())
def test_inputs_and_baselines_that_require_grad_as_in_captums_cifar_tutorial(
    method, kwargs, images
):
    """``input.requires_grad = True; baselines = input * 0`` (Captum's CIFAR tutorial).

    Every method gives the result of the same call without gradients, detached from the
    user's graph (docs/reference.md, "From Captum to captum_smooth").
    """
    kwargs = dict(kwargs)
    if "generator" in inspect.signature(method.attribute).parameters or isinstance(
        method, (SmoothTaylor, SmoothGradSquared, attr_module.NoiseBaselineIntegratedGradients)
    ):
        kwargs["generator"] = torch.Generator().manual_seed(0)
    plain = method.attribute(images, target=1, **kwargs)
    x = images.clone().requires_grad_(True)
    if "baselines" in kwargs:  # a reference data set (Expected Gradients)
        kwargs["baselines"] = kwargs["baselines"].clone().requires_grad_(True)
    elif "baselines" in _parameters(method):
        kwargs["baselines"] = x * 0
    if "generator" in kwargs:
        kwargs["generator"] = torch.Generator().manual_seed(0)
    result = method.attribute(x, target=1, **kwargs)
    assert not result.requires_grad
    torch.testing.assert_close(result, plain)
    assert x.grad is None


def _parameters(method):
    if isinstance(method, RuleOnPath):
        return method.signature().parameters
    return inspect.signature(method.attribute).parameters


def test_idgis_delta_is_detached_too(images):
    x = images.clone().requires_grad_(True)
    _, delta = IDGI(IntegratedGradients(Net())).attribute(
        x, x * 0, 1, n_steps=8, return_convergence_delta=True
    )
    assert not delta.requires_grad
