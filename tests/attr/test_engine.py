"""The engine: lazy blocks, chunks of at most internal_batch_size, whole blocks in order,
forward-only rows, values with gradients."""

import itertools

import pytest
import torch
from captum.attr import IntegratedGradients
from torch import nn
from torch.overrides import TorchFunctionMode

from captum_smooth import IDGI, NoiseBaselineIntegratedGradients, SmoothTaylor
from captum_smooth._utils import validation
from captum_smooth._utils.batching import AUTO_CHUNK_ELEMENTS, chunk_rows, set_memory_budget
from captum_smooth.attr._engine import (
    Block,
    ModelCall,
    evaluate,
    joined,
    parts_of,
    stacked,
    value_and_grad,
)


def seeded(seed):
    return torch.Generator().manual_seed(seed)


def model_of(forward, n_examples, target=None, args=None, dtypes=(torch.float64,)):
    return ModelCall(forward, value_and_grad, target, args, n_examples, dtypes)


def blocks_counted(n_blocks, n_examples, produced, need="grad"):
    for j in range(n_blocks):
        produced.append(j)
        yield Block((torch.full((n_examples, 2), float(j), dtype=torch.float64),), need=need)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 12, None])
def test_rows_arrive_in_chunks_of_at_most_internal_batch_size_and_blocks_whole_in_order(size):
    calls = []

    def forward(x):
        calls.append(x.shape[0])
        return (x**2).sum(1)

    produced = []
    evaluated = list(evaluate(model_of(forward, 3), blocks_counted(4, 3, produced), size))
    assert sum(calls) == 12
    if size is None:  # one row measured, then the rest (a tiny model's rows cost little)
        assert calls == [1, 11]
    else:
        assert all(c <= size for c in calls) and all(c == size for c in calls[:-1])
    assert [e.block.points[0][0, 0].item() for e in evaluated] == [0.0, 1.0, 2.0, 3.0]
    for j, e in enumerate(evaluated):
        torch.testing.assert_close(e.values, torch.full((3,), 2.0 * j**2, dtype=torch.float64))
        torch.testing.assert_close(e.grads[0], 2 * e.block.points[0])


def test_blocks_are_drawn_lazily_so_memory_does_not_grow_with_the_number_of_blocks():
    produced, seen = [], []

    def forward(x):
        seen.append(len(produced))
        return x.sum(1)

    for _ in evaluate(model_of(forward, 4), blocks_counted(100, 4, produced), 8):
        pass
    # when the model sees chunk k, only the blocks of that chunk (and one ahead) exist
    assert seen[:3] == [2, 4, 6]
    assert len(seen) == 50


def test_value_rows_get_a_forward_pass_without_gradients_in_chunks_of_their_own():
    calls = []

    def forward(x):
        calls.append((x.shape[0], torch.is_grad_enabled()))
        return (x**2).sum(1)

    blocks = [
        Block((torch.ones(2, 3, dtype=torch.float64),), need="value"),
        *blocks_counted(3, 2, []),
        Block((torch.zeros(2, 3, dtype=torch.float64),), need="point"),
    ]
    evaluated = list(evaluate(model_of(forward, 2), blocks, 4))
    assert [e.block.need for e in evaluated] == ["value", "grad", "grad", "grad", "point"]
    assert evaluated[0].grads is None and evaluated[-1].values is None
    torch.testing.assert_close(evaluated[0].values, torch.full((2,), 3.0, dtype=torch.float64))
    assert (2, False) in calls  # the value rows: forward only, under no_grad
    assert sum(n for n, grad in calls if grad) == 6 and all(n <= 4 for n, _ in calls)


def test_evaluated_blocks_held_back_by_a_waiting_one_stay_bounded():
    # a value block first, then many gradient blocks: the value chunk runs early instead of
    # holding every evaluated block until the end
    produced = []
    blocks = [Block((torch.ones(1, 2, dtype=torch.float64),), need="value")]
    largest_gap = 0
    stream = itertools.chain(blocks, blocks_counted(50, 1, produced))
    for e in evaluate(model_of(lambda x: x.sum(1), 1), stream, 4):
        if e.block.need == "grad":
            largest_gap = max(largest_gap, len(produced) - int(e.block.points[0][0, 0]))
    assert largest_gap <= 8


def test_smooth_taylor_peak_rows_do_not_depend_on_n_samples():
    live = []

    def forward(x):
        live.append(x.shape[0])
        return x.sum(1)

    x = torch.randn(3, 5, dtype=torch.float64)
    for n_samples in (4, 64):
        live.clear()
        SmoothTaylor(forward).attribute(x, n_samples=n_samples, internal_batch_size=6)
        assert max(live) == 6


def test_gradients_are_taken_with_respect_to_the_inputs_only():
    model = torch.nn.Linear(3, 1).double()
    block = Block((torch.randn(2, 3, dtype=torch.float64),))
    for e in evaluate(model_of(model, 2, target=0), [block], None):
        torch.testing.assert_close(e.grads[0], model.weight.expand(2, 3))
    assert model.weight.grad is None


def test_a_model_constant_in_its_inputs_gets_zero_gradients():
    (e,) = evaluate(
        model_of(lambda x: 0 * x.sum(1) + 1, 2, dtypes=(torch.float32,)),
        [Block((torch.randn(2, 3),))],
        2,
    )
    assert torch.equal(e.grads[0], torch.zeros(2, 3))


def test_an_input_the_model_ignores_gets_zero_gradients_and_the_others_theirs():
    points = (torch.randn(2, 3), torch.randn(2, 4))
    model = model_of(lambda a, b: (a**2).sum(1), 2, dtypes=(torch.float32, torch.float32))
    (e,) = evaluate(model, [Block(points)], None)
    assert torch.equal(e.grads[1], torch.zeros(2, 4))
    torch.testing.assert_close(e.grads[0], 2 * points[0])


@pytest.mark.parametrize(
    "forward",
    [
        lambda x: torch.ones(x.shape[0]),
        lambda x: (x**2).sum(1).detach(),
        torch.no_grad()(lambda x: (x**2).sum(1)),
        lambda x: (x.detach() * torch.ones(3, requires_grad=True)).sum(1),
    ],
    ids=["constant-tensor", "detached", "no-grad", "parameters-only"],
)
def test_an_output_without_a_gradient_path_from_the_inputs_is_an_error(forward):
    with pytest.raises(ValueError, match=r"forward_func.*does not depend differentiably"):
        list(
            evaluate(
                model_of(forward, 2, dtypes=(torch.float32,)), [Block((torch.randn(2, 3),))], None
            )
        )


@pytest.mark.parametrize(
    "forward",
    [lambda x: x.sum(1) * torch.nan, lambda x: x.sqrt().sum(1)],
    ids=["nan-output", "infinite-gradient"],
)
def test_a_non_finite_output_or_gradient_is_an_error(forward):
    with pytest.raises(ValueError, match="forward_func gave a non-finite"):
        list(
            evaluate(
                model_of(forward, 2, dtypes=(torch.float32,)), [Block((torch.zeros(2, 3),))], None
            )
        )


def test_the_metrics_bound_their_chunks_by_input_elements():
    rows = chunk_rows(None, (torch.zeros(1, 3, 224, 224),))
    assert rows * 3 * 224 * 224 <= AUTO_CHUNK_ELEMENTS < (rows + 1) * 3 * 224 * 224
    assert chunk_rows(None, (torch.zeros(1, 10**8),)) == 1
    assert chunk_rows(7, (torch.zeros(1, 10**8),)) == 7


def test_without_internal_batch_size_one_row_is_measured_first():
    sizes = []

    def forward(x):
        sizes.append(x.shape[0])
        return x.sum((1, 2))

    blocks = [Block((torch.zeros(3, 1000, 1000),)) for _ in range(4)]
    list(evaluate(model_of(forward, 3, dtypes=(torch.float32,)), blocks, None))
    assert sizes[0] == 1 and sum(sizes) == 12 and max(sizes) > 1


class Wide(nn.Module):
    """Rows of 8 features whose forward keeps ``width`` activations per row for backward."""

    def __init__(self, width):
        super().__init__()
        torch.manual_seed(0)
        self.up, self.down = nn.Linear(8, width), nn.Linear(width, 1)

    def forward(self, x):
        return self.down(torch.tanh(self.up(x))).squeeze(1)


def chunk_sizes(model, n_blocks=40, n_examples=4, size=None):
    sizes = []
    model.register_forward_pre_hook(lambda m, args: sizes.append(args[0].shape[0]))
    blocks = [Block((torch.rand(n_examples, 8, generator=seeded(j)),)) for j in range(n_blocks)]
    evaluated = list(evaluate(model_of(model, n_examples, dtypes=(torch.float32,)), blocks, size))
    return sizes, evaluated


def test_later_chunks_hold_what_the_budget_allows_at_what_a_row_was_measured_to_cost():
    previous = set_memory_budget(4 * 2**20)
    try:
        cheap, _ = chunk_sizes(Wide(16))
        costly, _ = chunk_sizes(Wide(16_384))
    finally:
        set_memory_budget(previous)
    assert cheap[0] == costly[0] == 1
    # the same inputs: a row that keeps 16 384 activations gets far fewer rows per call
    assert max(costly[1:]) * 4 < max(cheap[1:])
    # 16 384 float32 activations kept twice (linear output and tanh): 128 KiB a row at least
    assert max(costly[1:]) <= 4 * 2**20 // (2 * 16_384 * 4)
    assert sum(cheap) == sum(costly) == 160


def test_an_out_of_memory_error_halves_the_chunk_and_gives_the_same_results():
    reference, expected = chunk_sizes(Wide(32), n_blocks=6, size=24)

    class Tight(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = Wide(32)

        def forward(self, x):
            if x.shape[0] > 5:
                raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
            return self.model(x)

    attempts, evaluated = chunk_sizes(Tight(), n_blocks=6, size=24)
    assert reference == [24]
    assert attempts[:3] == [24, 12, 6] and set(attempts[3:]) == {3} and sum(attempts[3:]) == 24
    for got, want in zip(evaluated, expected, strict=True):
        torch.testing.assert_close(got.values, want.values)
        torch.testing.assert_close(got.grads, want.grads)


def test_a_model_that_is_out_of_memory_for_one_row_raises():
    def forward(x):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    with pytest.raises(torch.OutOfMemoryError):
        list(evaluate(model_of(forward, 2), [Block((torch.zeros(2, 3),))], 4))


def test_padded_chunks_have_one_shape_and_the_same_results():
    model = Wide(8)
    _, expected = chunk_sizes(model, n_blocks=5, size=3)
    sizes = []
    model.register_forward_pre_hook(lambda m, args: sizes.append(args[0].shape[0]))
    blocks = [Block((torch.rand(4, 8, generator=seeded(j)),)) for j in range(5)]
    padded = ModelCall(model, value_and_grad, None, None, 4, (torch.float32,), pad_chunks=True)
    evaluated = list(evaluate(padded, blocks, 3))
    assert set(sizes) == {3} and len(sizes) == 7  # 20 rows in 7 calls of 3
    for got, want in zip(evaluated, expected, strict=True):
        torch.testing.assert_close(got.values, want.values)
        torch.testing.assert_close(got.grads, want.grads)


def test_gradients_are_enabled_under_no_grad():
    with torch.no_grad():
        (e,) = evaluate(
            model_of(lambda x: (x**2).sum(1), 2, dtypes=(torch.float32,)),
            [Block((torch.ones(2, 3),))],
            None,
        )
    assert torch.equal(e.grads[0], 2 * torch.ones(2, 3))


def test_the_model_sees_points_in_the_inputs_dtype_whatever_the_paths_dtype():
    seen = []

    def forward(x):
        seen.append(x.dtype)
        return (x**2).sum(1)

    (e,) = evaluate(
        model_of(forward, 2, dtypes=(torch.float32,)),
        [Block((torch.ones(2, 3, dtype=torch.float64),))],
        None,
    )
    assert set(seen) == {torch.float32} and e.grads[0].dtype == torch.float32


def test_parts_of_one_tensor_stack_and_join_back_as_views_of_it():
    group = torch.rand(6, 2, 3)
    blocks = parts_of(group)
    assert stacked(blocks[1:4]).data_ptr() == blocks[1].data_ptr()
    torch.testing.assert_close(stacked(blocks[1:4]), group[1:4], rtol=0, atol=0)
    torch.testing.assert_close(joined(blocks[2:]), group[2:].flatten(0, 1), rtol=0, atol=0)
    rows = parts_of(group.flatten(0, 1), [2, 2, 4, 4])
    assert joined(rows[1:]).data_ptr() == rows[1].data_ptr()
    torch.testing.assert_close(joined(rows), group.flatten(0, 1), rtol=0, atol=0)
    torch.testing.assert_close(stacked(rows[:2]), group.flatten(0, 1)[:4].view(2, 2, 3))
    # out of order, of unequal sizes, or mixed with other tensors: what torch would give
    for shuffled in ([blocks[2], blocks[0]], [blocks[0], torch.rand(2, 3)]):
        torch.testing.assert_close(stacked(shuffled), torch.stack(shuffled), rtol=0, atol=0)
    torch.testing.assert_close(joined(rows[::-1]), torch.cat(rows[::-1]), rtol=0, atol=0)
    with pytest.raises(RuntimeError):
        stacked(rows[1:3])


class CountTorchFunctions(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize(
    "attribute",
    [
        lambda m, x, n: IDGI(IntegratedGradients(m)).attribute(x, target=1, n_steps=n),
        lambda m, x, n: SmoothTaylor(m).attribute(x, target=1, n_samples=n),
        lambda m, x, n: NoiseBaselineIntegratedGradients(m).attribute(
            x, target=1, n_baselines=2, n_steps=n // 2
        ),
    ],
    ids=["IDGI(IG)", "SmoothTaylor", "NoiseBaselineIG"],
)
def test_tensor_operations_per_block_are_a_few_whatever_the_number_of_blocks(attribute):
    # on a fast model each one shows: the engine and the rules stack a chunk's blocks without
    # checking each block (Captum's IG makes three per step)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).eval()
    x = torch.rand(2, 3, 2, 2, generator=seeded(0))
    calls = []
    for n in (20, 60):
        counter = CountTorchFunctions()
        with counter:
            attribute(model, x, n)
        calls.append(counter.calls)
    assert (calls[1] - calls[0]) / 40 <= 8


@pytest.fixture
def checks(monkeypatch) -> list:
    """The targets the engine checks against a chunk's output, one entry per check."""
    checked = []
    check_target = validation._target_in_output
    monkeypatch.setattr(
        validation, "_target_in_output", lambda t, out: checked.append(t) or check_target(t, out)
    )
    return checked


@pytest.mark.parametrize(
    "target",
    [1, [0, 2, 1, 2], torch.tensor([0, 2, 1, 2]), torch.tensor(2)],
    ids=["int", "list", "tensor", "one-element tensor"],
)
def test_the_target_is_checked_against_the_output_once_per_call_not_per_chunk(checks, target):
    # a chunk of four rows holds every example: its check answers for the five chunks after it
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).eval()
    x = torch.rand(4, 3, 2, 2, generator=seeded(0))
    chunked = SmoothTaylor(model).attribute(
        x, target=target, n_samples=6, internal_batch_size=4, generator=seeded(1)
    )
    assert len(checks) == 1
    whole = SmoothTaylor(model).attribute(
        x, target=target, n_samples=6, internal_batch_size=24, generator=seeded(1)
    )
    torch.testing.assert_close(chunked, whole)


def test_chunks_that_hold_some_examples_each_check_their_own_targets(checks):
    # no chunk of three rows holds all four examples: each is checked, and a bad index in the
    # last example's rows is found
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).eval()
    x = torch.rand(4, 3, 2, 2, generator=seeded(0))
    SmoothTaylor(model).attribute(x, target=[0, 1, 2, 0], n_samples=3, internal_batch_size=3)
    assert len(checks) == 4
    with pytest.raises(ValueError, match="`target` holds 5, out of range"):
        SmoothTaylor(model).attribute(x, target=[0, 1, 2, 5], n_samples=3, internal_batch_size=3)
