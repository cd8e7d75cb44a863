"""The engine: lazy blocks, chunks of at most internal_batch_size, values with gradients."""

import pytest
import torch

from captum_smooth import SmoothTaylor
from captum_smooth._utils.batching import AUTO_CHUNK_ELEMENTS, chunk_rows
from captum_smooth.attr._engine import Block, evaluate


def blocks_counted(n_blocks, n_examples, produced):
    for j in range(n_blocks):
        produced.append(j)
        yield Block((torch.full((n_examples, 2), float(j), dtype=torch.float64),))


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 12, None])
def test_rows_arrive_in_order_in_chunks_of_at_most_internal_batch_size(size):
    produced = []
    chunks = list(
        evaluate(lambda x: (x**2).sum(1), blocks_counted(4, 3, produced), None, None, 3, size)
    )
    sizes = [c.values.shape[0] for c in chunks]
    assert sum(sizes) == 12
    assert all(s <= (size or 12) for s in sizes) and all(s == (size or 12) for s in sizes[:-1])
    block = torch.cat([c.block for c in chunks])
    example = torch.cat([c.example for c in chunks])
    assert block.tolist() == [j for j in range(4) for _ in range(3)]
    assert example.tolist() == [0, 1, 2] * 4
    values = torch.cat([c.values for c in chunks])
    torch.testing.assert_close(values, 2 * block.double() ** 2)
    grads = torch.cat([c.grads[0] for c in chunks])
    torch.testing.assert_close(grads, 2 * torch.cat([c.points[0] for c in chunks]))


def test_blocks_are_drawn_lazily_so_memory_does_not_grow_with_the_number_of_blocks():
    produced, seen = [], []

    def forward(x):
        seen.append(len(produced))
        return x.sum(1)

    for _ in evaluate(forward, blocks_counted(100, 4, produced), None, None, 4, 8):
        pass
    # when the model sees chunk k, only the blocks of that chunk (and one ahead) exist
    assert seen[:3] == [2, 4, 6]
    assert len(seen) == 50


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
    for chunk in evaluate(
        model, [Block((torch.randn(2, 3, dtype=torch.float64),))], 0, None, 2, None
    ):
        torch.testing.assert_close(chunk.grads[0], model.weight.expand(2, 3))
    assert model.weight.grad is None


def test_a_model_constant_in_its_inputs_gets_zero_gradients():
    chunk = next(
        evaluate(lambda x: 0 * x.sum(1) + 1, [Block((torch.randn(2, 3),))], None, None, 2, 2)
    )
    assert torch.equal(chunk.grads[0], torch.zeros(2, 3))


def test_an_input_the_model_ignores_gets_zero_gradients_and_the_others_theirs():
    points = (torch.randn(2, 3), torch.randn(2, 4))
    chunk = next(evaluate(lambda a, b: (a**2).sum(1), [Block(points)], None, None, 2, None))
    assert torch.equal(chunk.grads[1], torch.zeros(2, 4))
    torch.testing.assert_close(chunk.grads[0], 2 * points[0])


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
        next(evaluate(forward, [Block((torch.randn(2, 3),))], None, None, 2, None))


@pytest.mark.parametrize(
    "forward",
    [lambda x: x.sum(1) * torch.nan, lambda x: x.sqrt().sum(1)],
    ids=["nan-output", "infinite-gradient"],
)
def test_a_non_finite_output_or_gradient_is_an_error(forward):
    with pytest.raises(ValueError, match="forward_func gave a non-finite"):
        next(evaluate(forward, [Block((torch.zeros(2, 3),))], None, None, 2, None))


def test_without_internal_batch_size_a_chunk_holds_a_bounded_number_of_input_elements():
    rows = chunk_rows(None, (torch.zeros(1, 3, 224, 224),))
    assert rows * 3 * 224 * 224 <= AUTO_CHUNK_ELEMENTS < (rows + 1) * 3 * 224 * 224
    assert chunk_rows(None, (torch.zeros(1, 10**8),)) == 1
    assert chunk_rows(7, (torch.zeros(1, 10**8),)) == 7
    sizes = []

    def forward(x):
        sizes.append(x.shape[0])
        return x.sum((1, 2))

    blocks = [Block((torch.zeros(3, 1000, 1000),)) for _ in range(4)]
    list(evaluate(forward, blocks, None, None, 3, None))
    assert max(sizes) == AUTO_CHUNK_ELEMENTS // 10**6 and sum(sizes) == 12


def test_gradients_are_enabled_under_no_grad():
    with torch.no_grad():
        chunk = next(
            evaluate(lambda x: (x**2).sum(1), [Block((torch.ones(2, 3),))], None, None, 2, None)
        )
    assert torch.equal(chunk.grads[0], 2 * torch.ones(2, 3))
