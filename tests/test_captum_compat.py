"""What the package relies on from Captum's private helpers (captum_smooth._utils.captum_compat).

A Captum release may change them; these tests say exactly what would break.
"""

import pytest
import torch

from captum_smooth._utils import captum_compat as compat


def model(x, scale=1.0):
    return torch.stack([x.sum(1), 2 * x.sum(1), -x.sum(1)], dim=1) * scale


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (1, [6.0, 14.0]),
        (torch.tensor([0, 2]), [3.0, -7.0]),
        ([2, 1], [-3.0, 14.0]),
        (torch.tensor(1), [6.0, 14.0]),
    ],
    ids=["int", "tensor-per-example", "list-per-example", "scalar-tensor"],
)
def test_run_forward_selects_the_target_and_passes_additional_arguments(target, expected):
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = compat.run_forward(model, (x,), target, (1.0,))
    assert out.tolist() == expected
    doubled = compat.run_forward(model, (x,), target, (2.0,))
    assert doubled.tolist() == [2 * e for e in expected]


def test_run_forward_with_a_tuple_target_indexes_further_dimensions():
    x = torch.ones(2, 2)
    out = compat.run_forward(lambda t: t[:, :, None].expand(2, 2, 3), (x,), (1, 2), None)
    assert out.shape == (2,)


def test_format_output_returns_the_users_form():
    t = torch.zeros(2)
    assert compat.format_output(False, (t,)) is t
    assert compat.format_output(True, (t, t)) == (t, t)


def test_format_additional_forward_args_wraps_a_single_argument_in_a_tuple():
    t = torch.zeros(2)
    assert compat.format_additional_forward_args(None) is None
    assert compat.format_additional_forward_args(t)[0] is t
    assert compat.format_additional_forward_args((t, 3)) == (t, 3)


def test_sum_rows_sums_everything_but_the_first_dimension():
    t = torch.arange(24.0).reshape(2, 3, 4)
    assert compat.sum_rows(t).tolist() == [66.0, 210.0]


def test_the_typing_names_exist():
    assert {"TargetType", "BaselineType", "TensorOrTupleOfTensorsGeneric"} <= set(dir(compat))


def test_noise_tunnel_expands_per_example_arguments_in_one_overridable_hook():
    # captum_smooth.NoiseTunnel overrides _expand_partial (to keep a reference data set whole)
    # and _add_noise_to_input (to draw from a generator); both are called on the instance
    import inspect

    from captum.attr import NoiseTunnel

    parameters = list(inspect.signature(NoiseTunnel._expand_partial).parameters)
    assert parameters == [
        "nt_samples_partition", "kwargs_partial", "inputs", "draw_baseline_from_distrib"
    ]  # fmt: skip
    source = inspect.getsource(NoiseTunnel)
    assert "self._expand_partial(" in source and "self._add_noise_to_input(" in source
