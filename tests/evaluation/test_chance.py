"""The chance-level map."""

from __future__ import annotations

import pytest
import torch

from captum_smooth.evaluation import RandomMap


def test_random_map_is_uniform_noise_shaped_like_the_inputs_and_reproducible():
    inputs = torch.zeros(3, 2, 5, 5, dtype=torch.float64)
    first = RandomMap().attribute(inputs, generator=torch.Generator().manual_seed(7))
    again = RandomMap(lambda x: x).attribute(inputs, generator=torch.Generator().manual_seed(7))
    other = RandomMap().attribute(inputs, generator=torch.Generator().manual_seed(8))
    assert first.shape == inputs.shape and first.dtype == torch.float64
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert 0.0 <= float(first.min()) and float(first.max()) < 1.0


def test_random_map_rejects_integer_inputs_by_name():
    with pytest.raises(TypeError, match="`inputs`"):
        RandomMap().attribute(torch.zeros(2, 3, dtype=torch.int64))
