"""The shared finite check answers exactly as the element-wise test does."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from captum_smooth._utils import validation as check
from captum_smooth._utils.validation import all_finite

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
SPECIAL = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-30, 6e4, -6e4, 3e38, -3e38, 1e308]


@given(
    values=st.lists(
        st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True)),
        min_size=0,
        max_size=40,
    ),
    dtype=st.sampled_from(DTYPES),
)
def test_all_finite_is_the_element_wise_test(values, dtype):
    tensor = torch.tensor(values, dtype=torch.float64).to(dtype)
    assert all_finite(tensor) == bool(torch.isfinite(tensor).all())


def test_a_sum_that_overflows_is_still_finite():
    # float16's largest value is 65504: the sum overflows to inf, every element is finite
    tensor = torch.full((4,), 6e4, dtype=torch.float16)
    assert not torch.isfinite(tensor.sum())
    assert all_finite(tensor)
    assert not all_finite(torch.cat([tensor, torch.tensor([math.nan], dtype=torch.float16)]))


def test_a_cpu_generator_seeds_one_on_the_inputs_device_with_one_draw():
    from captum_smooth._utils.validation import follow

    source, copy = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    followed = follow(source, torch.device("cpu"))
    expected_seed = int(torch.randint(0, 2**62, (), generator=copy))
    assert torch.equal(
        torch.rand(5, generator=followed),
        torch.rand(5, generator=torch.Generator().manual_seed(expected_seed)),
    )
    # the source advanced by exactly that one draw
    assert torch.equal(torch.rand(3, generator=source), torch.rand(3, generator=copy))


def test_a_generator_on_the_inputs_device_is_used_as_it_is():
    from captum_smooth._utils.validation import check_generator

    generator = torch.Generator().manual_seed(0)
    assert check_generator(generator, torch.zeros(2)) is generator
    assert check_generator(None, torch.zeros(2)) is None


def test_a_cpu_generator_draws_reproducibly_for_inputs_on_the_test_device():
    """On the suite's device (CUDA under benchmarks/gpu_check.sh) a CPU generator is followed."""
    from captum_smooth import SmoothTaylor

    x = torch.rand(2, 3)

    def attribute(seed):
        generator = torch.Generator(device="cpu").manual_seed(seed)
        return SmoothTaylor(lambda t: (t**3).sum(1)).attribute(x, n_samples=4, generator=generator)

    torch.testing.assert_close(attribute(0), attribute(0), rtol=0, atol=0)
    assert not torch.equal(attribute(0), attribute(1))


def test_checks_in_a_deferred_block_inside_another_are_read_when_the_outer_one_ends():
    ends = []
    with pytest.raises(ValueError, match="noise_scale"):
        with check.deferred_checks():
            with check.deferred_checks():
                check.as_tensor_like("noise_scale", torch.tensor([math.nan]), torch.ones(1))
            ends.append("inner")
    assert ends == ["inner"]
