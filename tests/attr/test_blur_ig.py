"""Blur IG: the blur against scipy, the method against PAIR and a linear function."""

import numpy as np
import pytest
import torch
from saliency.core.blur_ig import BlurIG
from scipy import ndimage

from captum_smooth import BlurIntegratedGradients
from captum_smooth.attr import gaussian_blur
from captum_smooth.attr._engine import joined, stacked
from tests.attr.reference import pair_call_model


@pytest.mark.parametrize("sigma", [0.0, 0.01, 0.3, 1.0, 2.5, 7.0])
def test_blur_matches_scipy_with_zero_padding(sigma):
    x = torch.rand(2, 3, 9, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    expected = ndimage.gaussian_filter(x.numpy(), sigma=[0, 0, sigma, sigma], mode="constant")
    np.testing.assert_allclose(gaussian_blur(x, sigma).numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sqrt_schedule", [False, True])
def test_agrees_with_pair_on_a_small_cnn(cnn, sqrt_schedule):
    image = torch.rand(1, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    settings = {"max_sigma": 4.0, "grad_step": 0.01}
    ours = BlurIntegratedGradients(cnn).attribute(
        image, target=3, n_steps=20, sqrt_schedule=sqrt_schedule, internal_batch_size=7, **settings
    )
    reference = BlurIG().GetMask(
        image[0].permute(1, 2, 0).numpy(),
        pair_call_model(cnn, 3),
        steps=20,
        sqrt=sqrt_schedule,
        **settings,
    )
    np.testing.assert_allclose(ours[0].permute(1, 2, 0).numpy(), reference, rtol=1e-5, atol=1e-10)


def test_a_linear_function_gets_its_weights_times_the_blur_difference():
    # for f(x) = Σ w ⊙ x the path integral is exact: w ⊙ (x - blur(x, max_sigma)),
    # up to the finite difference in σ and the Riemann sum
    generator = torch.Generator().manual_seed(1)
    w = torch.randn(1, 2, 12, 12, dtype=torch.float64, generator=generator)
    x = torch.rand(3, 2, 12, 12, dtype=torch.float64, generator=generator)
    attr, delta = BlurIntegratedGradients(lambda t: (w * t).sum(dim=(1, 2, 3))).attribute(
        x, max_sigma=3.0, n_steps=400, grad_step=1e-4, return_convergence_delta=True
    )
    expected = w * (x - gaussian_blur(x, 3.0))
    torch.testing.assert_close(attr, expected, rtol=0, atol=2e-3 * expected.abs().max().item())
    assert (delta.abs() < 1e-2 * expected.sum(dim=(1, 2, 3)).abs()).all()


def test_convergence_delta_is_against_the_most_blurred_image(cnn):
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    attr, delta = BlurIntegratedGradients(cnn).attribute(
        x, target=1, max_sigma=2.0, n_steps=10, return_convergence_delta=True
    )
    with torch.no_grad():
        gap = cnn(x)[:, 1] - cnn(gaussian_blur(x, 2.0))[:, 1]
    torch.testing.assert_close(delta, attr.sum(dim=(1, 2, 3)) - gap)


def test_blur_levels_are_batched_under_internal_batch_size(cnn):
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    sizes = []

    def forward(t):
        sizes.append(t.shape[0])
        return cnn(t)

    whole = BlurIntegratedGradients(forward).attribute(x, target=0, max_sigma=2.0, n_steps=9)
    assert sizes == [1, 17]  # by default one row is measured, then the budget holds the rest
    sizes.clear()
    chunked = BlurIntegratedGradients(forward).attribute(
        x, target=0, max_sigma=2.0, n_steps=9, internal_batch_size=5
    )
    assert sizes == [5, 5, 5, 3]
    torch.testing.assert_close(chunked, whole)


@pytest.mark.parametrize("grad_step", [0.0, 0.05])
@pytest.mark.parametrize("shape", [(2, 3, 8, 6), (1, 1, 8, 6), (2, 3, 1, 6), (1, 1, 1)])
@pytest.mark.parametrize("group", [None, 2])
def test_a_group_of_blur_levels_is_one_tensor_that_the_engine_joins_without_a_copy(
    monkeypatch, grad_step, shape, group
):
    from captum_smooth.attr import blur_ig

    if group is not None:  # levels a few at a time: the scratch serves several groups
        size = max(torch.Size(shape).numel(), max(shape[-2:]) ** 2)
        monkeypatch.setattr(blur_ig, "_GROUP_ELEMENTS", group * 2 * size)
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(6))
    path = BlurIntegratedGradients(lambda t: t.flatten(1).sum(1)).path(
        (x,), max_sigma=2.0, n_steps=5, grad_step=0.01, sqrt_schedule=False
    )
    levels = list(path._levels(path.sigmas, grad_step))
    points = [p for (p,), _ in levels]
    expected = torch.stack([gaussian_blur(x, s) for s in path.sigmas])
    torch.testing.assert_close(torch.stack(points), expected)
    # the rows of a group's levels, as the engine sends them to the model: a view, not a copy
    assert joined(points[:2]).data_ptr() == points[0].data_ptr()
    if grad_step:
        derivatives = [d for _, (d,) in levels]
        ahead = torch.stack([gaussian_blur(x, s + grad_step) for s in path.sigmas])
        torch.testing.assert_close(torch.stack(derivatives), (ahead - expected) / grad_step)
        assert stacked(derivatives[:2]).data_ptr() == derivatives[0].data_ptr()


@pytest.mark.parametrize(
    ("inputs", "kwargs", "error", "match"),
    [
        (torch.rand(2, 5), {}, ValueError, "spatial"),
        (torch.rand(2, 3, 5, 5), {"max_sigma": -1.0}, ValueError, "max_sigma"),
        (torch.rand(2, 3, 5, 5), {"grad_step": 0.0}, ValueError, "grad_step"),
        (torch.rand(2, 3, 5, 5), {"n_steps": 0}, ValueError, "n_steps"),
    ],
)
def test_bad_settings_name_the_argument(inputs, kwargs, error, match):
    with pytest.raises(error, match=match):
        BlurIntegratedGradients(lambda t: t.flatten(1).sum(1)).attribute(inputs, **kwargs)


def test_blur_matrices_are_built_once_per_levels_and_kept_within_their_bound(monkeypatch):
    from captum_smooth.attr import blur_ig

    monkeypatch.setattr(blur_ig, "_MATRICES", type(blur_ig._MATRICES)())
    built = []
    build = blur_ig._built_matrices
    monkeypatch.setattr(blur_ig, "_built_matrices", lambda *a: built.append(a) or build(*a))
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    first = gaussian_blur(x, 1.5)
    assert torch.equal(gaussian_blur(x, 1.5), first) and len(built) == 1
    gaussian_blur(x.double(), 1.5)  # another dtype: other matrices
    assert len(built) == 2
    monkeypatch.setattr(blur_ig, "_CACHED_ELEMENTS", 64 + 10)  # one 8×8 matrix and no more
    gaussian_blur(x, 2.5)
    assert list(blur_ig._MATRICES) == [(8, (2.5,), torch.float32, x.device)]
    gaussian_blur(torch.rand(1, 1, 20, 20), 1.0)  # too large to keep
    assert list(blur_ig._MATRICES) == [(8, (2.5,), torch.float32, x.device)]


def test_blur_matrices_first_built_under_inference_mode_serve_autograd_later(monkeypatch):
    from captum_smooth.attr import blur_ig

    monkeypatch.setattr(blur_ig, "_MATRICES", type(blur_ig._MATRICES)())
    x = torch.rand(1, 1, 6, 6, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        gaussian_blur(x, 0.7)
    leaf = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(gaussian_blur(leaf, 0.7).sum(), leaf)
    assert grad.shape == x.shape
