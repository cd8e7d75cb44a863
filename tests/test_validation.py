"""The shared finite check answers exactly as the element-wise test does."""

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

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
