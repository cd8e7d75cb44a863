"""Captum conventions every method of the package follows (SPEC §6), one table of methods."""

import pytest
import torch
from captum.attr import NoiseTunnel
from captum.metrics import sensitivity_max

from captum_smooth import NoiseBaselineIntegratedGradients, SmoothTaylor

# (name, class, keywords that keep the test fast). Adding a method is one line.
METHODS = [
    ("smooth_taylor", SmoothTaylor, {"n_samples": 6, "noise_scale": 0.3}),
    ("noise_baseline_ig", NoiseBaselineIntegratedGradients, {"n_baselines": 2, "n_steps": 5}),
]
# Methods (and keywords) whose result does not depend on random draws.
DETERMINISTIC = [
    (
        "noise_baseline_ig_fixed",
        NoiseBaselineIntegratedGradients,
        {"n_baselines": 1, "n_steps": 5, "baseline_low": 0.25, "baseline_high": 0.25},
    ),
]
ids = [m[0] for m in METHODS]


def seeded(seed):
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def images():
    return torch.rand(3, 3, 8, 8, dtype=torch.float64, generator=seeded(5))


@pytest.mark.parametrize(("name", "cls", "kwargs"), METHODS, ids=ids)
def test_every_target_form_selects_the_same_rows(name, cls, kwargs, cnn, images):
    targets = [0, 4, 2]
    as_list = cls(cnn).attribute(images, target=targets, generator=seeded(1), **kwargs)
    as_tensor = cls(cnn).attribute(
        images, target=torch.tensor(targets), generator=seeded(1), **kwargs
    )
    torch.testing.assert_close(as_list, as_tensor)
    for i, t in enumerate(targets):
        as_int = cls(cnn).attribute(images, target=t, generator=seeded(1), **kwargs)
        torch.testing.assert_close(as_list[i], as_int[i])


@pytest.mark.parametrize(
    ("name", "cls", "kwargs"), DETERMINISTIC, ids=[m[0] for m in DETERMINISTIC]
)
def test_per_example_targets_give_the_rows_of_one_example_calls(name, cls, kwargs, cnn, images):
    targets = [1, 3, 0]
    together = cls(cnn).attribute(images, target=targets, **kwargs)
    for i, t in enumerate(targets):
        alone = cls(cnn).attribute(images[i : i + 1], target=t, **kwargs)
        torch.testing.assert_close(together[i : i + 1], alone)


@pytest.mark.parametrize(("name", "cls", "kwargs"), METHODS, ids=ids)
def test_tuple_inputs_and_additional_forward_args(name, cls, kwargs, two_input_net):
    x1 = torch.randn(2, 4, dtype=torch.float64, generator=seeded(2))
    x2 = torch.randn(2, 2, 5, 5, dtype=torch.float64, generator=seeded(3))
    attr = cls(two_input_net).attribute(
        (x1, x2), target=1, additional_forward_args=(2.0,), generator=seeded(1), **kwargs
    )
    assert isinstance(attr, tuple) and attr[0].shape == x1.shape and attr[1].shape == x2.shape
    half = cls(two_input_net).attribute(
        (x1, x2), target=1, additional_forward_args=(1.0,), generator=seeded(1), **kwargs
    )
    # The output scales linearly with the extra argument, and so does every attribution.
    for a, h in zip(attr, half, strict=True):
        torch.testing.assert_close(a, 2 * h)


@pytest.mark.parametrize(("name", "cls", "kwargs"), METHODS, ids=ids)
def test_additional_forward_tensors_follow_their_example(name, cls, kwargs, two_input_net):
    x1 = torch.randn(2, 4, dtype=torch.float64, generator=seeded(2))
    x2 = torch.randn(2, 2, 5, 5, dtype=torch.float64, generator=seeded(3))
    scale = torch.tensor([[1.0], [3.0]], dtype=torch.float64)
    attr = cls(two_input_net).attribute(
        (x1, x2), target=0, additional_forward_args=(scale,), generator=seeded(1), **kwargs
    )
    ones = cls(two_input_net).attribute(
        (x1, x2), target=0, additional_forward_args=(1.0,), generator=seeded(1), **kwargs
    )
    torch.testing.assert_close(attr[0][1], 3 * ones[0][1])
    torch.testing.assert_close(attr[0][0], ones[0][0])


@pytest.mark.parametrize(("name", "cls", "kwargs"), METHODS, ids=ids)
def test_no_more_rows_than_internal_batch_size_reach_the_model(name, cls, kwargs, cnn, images):
    sizes = []

    def forward(x):
        sizes.append(x.shape[0])
        return cnn(x)

    full = cls(forward).attribute(images, target=1, generator=seeded(1), **kwargs)
    sizes.clear()
    chunked = cls(forward).attribute(
        images, target=1, generator=seeded(1), internal_batch_size=4, **kwargs
    )
    assert max(sizes) <= 4 and len(sizes) > 1
    torch.testing.assert_close(chunked, full)


@pytest.mark.parametrize(("name", "cls", "kwargs"), METHODS, ids=ids)
def test_same_seed_is_bit_identical_and_other_seeds_differ(name, cls, kwargs, cnn, images):
    a = cls(cnn).attribute(images, target=1, generator=seeded(7), **kwargs)
    b = cls(cnn).attribute(images, target=1, generator=seeded(7), **kwargs)
    c = cls(cnn).attribute(images, target=1, generator=seeded(8), **kwargs)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize(("name", "cls", "kwargs"), METHODS, ids=ids)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_attributions_keep_the_model_dtype(name, cls, kwargs, cnn, images, dtype):
    attr = cls(cnn.to(dtype)).attribute(images.to(dtype), target=1, generator=seeded(1), **kwargs)
    assert attr.dtype == dtype and torch.isfinite(attr).all() and attr.abs().sum() > 0


@pytest.mark.parametrize(("name", "cls", "kwargs"), METHODS, ids=ids)
def test_noise_tunnel_passes_the_methods_keywords_through(name, cls, kwargs, cnn, images):
    nt = NoiseTunnel(cls(cnn))
    attr = nt.attribute(images, nt_samples=3, stdevs=0.1, target=2, generator=seeded(1), **kwargs)
    assert attr.shape == images.shape and torch.isfinite(attr).all()
    with pytest.raises(ValueError, match="internal_batch_size"):
        nt.attribute(images, nt_samples=2, target=2, internal_batch_size=0, **kwargs)


@pytest.mark.parametrize(("name", "cls", "kwargs"), METHODS, ids=ids)
def test_captum_sensitivity_max_accepts_the_method(name, cls, kwargs, cnn, images):
    method = cls(cnn)
    score = sensitivity_max(
        method.attribute, images, target=1, n_perturb_samples=2, generator=seeded(1), **kwargs
    )
    assert score.shape == (3,) and (score >= 0).all()


@pytest.mark.parametrize(("name", "cls", "kwargs"), METHODS, ids=ids)
def test_methods_declare_captum_properties(name, cls, kwargs, cnn):
    method = cls(cnn)
    assert method.multiplies_by_inputs is True
    assert isinstance(method.has_convergence_delta(), bool)


@pytest.mark.parametrize(("name", "cls", "kwargs"), METHODS, ids=ids)
@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        ({"internal_batch_size": 0}, ValueError, "internal_batch_size"),
        ({"internal_batch_size": 2.5}, TypeError, "internal_batch_size"),
        ({"generator": 3}, TypeError, "generator"),
        ({"target": [0, 1]}, ValueError, "target"),
    ],
)
def test_bad_common_arguments_name_the_argument(name, cls, kwargs, cnn, images, bad, error, match):
    with pytest.raises(error, match=match):
        cls(cnn).attribute(images, **{"target": 0, **kwargs, **bad})


@pytest.mark.parametrize(("name", "cls", "kwargs"), METHODS, ids=ids)
def test_integer_inputs_are_refused(name, cls, kwargs, cnn):
    with pytest.raises(TypeError, match="inputs"):
        cls(cnn).attribute(torch.ones(1, 3, 8, 8, dtype=torch.long), target=0, **kwargs)


@pytest.mark.parametrize(("name", "cls", "kwargs"), METHODS, ids=ids)
def test_an_output_without_target_is_a_clear_error(name, cls, kwargs, cnn, images):
    with pytest.raises(ValueError, match="target"):
        cls(cnn).attribute(images, **kwargs)
