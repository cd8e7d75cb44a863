"""The package's NoiseTunnel: Captum's, with its noise drawn from the ``generator`` it is given."""

import pytest
import torch
from captum.attr import IntegratedGradients
from captum.attr import NoiseTunnel as CaptumNoiseTunnel

from captum_smooth import NoiseTunnel, SmoothGradSquared, SmoothTaylor
from captum_smooth.attr.layer import LayerSmoothTaylor


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def images():
    return torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=seeded(5))


def smooth(cnn, images, generator, method=SmoothTaylor, **kwargs):
    return NoiseTunnel(method(cnn)).attribute(
        images, nt_samples=3, stdevs=0.2, target=[0, 1], generator=generator, **kwargs
    )


def test_a_seeded_generator_makes_noise_tunnel_over_smooth_taylor_reproducible(cnn, images):
    first = smooth(cnn, images, seeded(), n_samples=4)
    torch.manual_seed(123)  # the global RNG plays no part
    second = smooth(cnn, images, seeded(), n_samples=4)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert not torch.equal(first, smooth(cnn, images, seeded(1), n_samples=4))


def test_captums_noise_tunnel_over_smooth_taylor_is_not_reproducible_with_a_generator_alone(
    cnn, images
):
    """The issue's example: Captum's NoiseTunnel draws its noise from the global RNG."""
    runs = [
        CaptumNoiseTunnel(SmoothTaylor(cnn)).attribute(
            images, nt_samples=3, stdevs=0.2, target=[0, 1], n_samples=4, generator=seeded()
        )
        for _ in range(2)
    ]
    assert not torch.equal(*runs)


def test_the_global_rng_is_neither_read_nor_advanced(cnn, images):
    torch.manual_seed(7)
    state = torch.get_rng_state()
    smooth(cnn, images, seeded(), n_samples=4)
    assert torch.equal(torch.get_rng_state(), state)


def test_without_a_generator_it_is_captums_noise_tunnel_on_the_global_rng(cnn, images):
    """Captum's NoiseTunnel stays reproducible with torch.manual_seed (docs/reference.md)."""
    ig = IntegratedGradients(cnn)
    torch.manual_seed(3)
    captum = CaptumNoiseTunnel(ig).attribute(images, nt_samples=3, stdevs=0.2, target=0, n_steps=4)
    torch.manual_seed(3)
    ours = NoiseTunnel(ig).attribute(images, nt_samples=3, stdevs=0.2, target=0, n_steps=4)
    torch.testing.assert_close(ours, captum, rtol=0, atol=0)


@pytest.mark.parametrize("nt_type", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_a_method_without_a_generator_gets_none_and_the_result_is_reproducible(
    cnn, images, nt_type
):
    """IntegratedGradients takes no generator: the noise tunnel keeps it to itself."""
    runs = [
        smooth(cnn, images, seeded(), method=IntegratedGradients, nt_type=nt_type, n_steps=4)
        for _ in range(2)
    ]
    torch.testing.assert_close(*runs, rtol=0, atol=0)


@pytest.mark.parametrize(
    "make",
    [lambda m: SmoothGradSquared(SmoothTaylor(m)), lambda m: LayerSmoothTaylor(m, m[0])],
    ids=["SmoothGradSquared(SmoothTaylor)", "LayerSmoothTaylor"],
)
def test_wrappers_and_layer_variants_get_the_generator_too(cnn, images, make):
    runs = [smooth(cnn, images, seeded(), method=make, n_samples=3) for _ in range(2)]
    torch.testing.assert_close(*runs, rtol=0, atol=0)


class _ElsewhereGenerator(torch.Generator):
    """A CPU generator that reports the meta device (no accelerator needed)."""

    @property
    def device(self):
        return torch.device("meta")


@pytest.mark.parametrize(
    ("make", "error"), [(lambda: 0, TypeError), (_ElsewhereGenerator, ValueError)]
)
def test_a_bad_generator_is_named(cnn, images, make, error):
    with pytest.raises(error, match="`generator`"):
        smooth(cnn, images, make(), n_samples=2)
