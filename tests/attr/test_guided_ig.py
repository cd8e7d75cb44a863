"""Guided IG against PAIR's analytic tests and its reference implementation."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from saliency.core import guided_ig as pair_guided_ig
from saliency.core.guided_ig import GuidedIG

from captum_smooth import GuidedIntegratedGradients
from captum_smooth.attr import guided_ig
from tests.attr.reference import pair_call_model


def linear(x):
    return 2 * x[:, 0] + x[:, 1]


def independent_quadratic(x):
    return 2 * x[:, 0] ** 2 + x[:, 1] ** 2


def dependent_quadratic(x):
    return (2 * x[:, 0] + x[:, 1]) ** 2


def point(*values):
    return torch.tensor([values], dtype=torch.float64)


@pytest.mark.parametrize(
    ("function", "x", "baseline", "kwargs", "expected", "rtol"),
    [
        (linear, (10, 5), (0, 0), {"n_steps": 10}, (20, 5), 1e-9),
        (linear, (10, 5), (-1, -3), {"n_steps": 10}, (22, 8), 1e-9),
        (independent_quadratic, (3, 3), (0, 0), {"n_steps": 1000}, (18, 9), 0.01),
        (independent_quadratic, (0, 0), (3, 3), {"n_steps": 1000}, (-18, -9), 0.01),
        (dependent_quadratic, (3, 3), (0, 0), {"n_steps": 1000, "max_dist": 0.0}, (54, 27), 0.01),
        (dependent_quadratic, (3, 3), (0, 0), {"n_steps": 1000, "fraction": 1.0}, (54, 27), 0.01),
        (
            dependent_quadratic,
            (3, 3),
            (0, 0),
            {"n_steps": 1000, "max_dist": 1.0, "fraction": 0.1},
            (72, 9),
            0.01,
        ),
    ],
)
def test_pair_check_values(function, x, baseline, kwargs, expected, rtol):
    attr = GuidedIntegratedGradients(function).attribute(
        point(*x), baselines=point(*baseline), **kwargs
    )
    torch.testing.assert_close(attr, point(*expected), rtol=rtol, atol=1e-9)


def test_agrees_with_pair_on_a_small_cnn(cnn):
    image = torch.rand(1, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    baseline = torch.rand(
        1, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    baseline[..., :2] = image[..., :2]  # some features equal to the baseline
    settings = {"fraction": 0.25, "max_dist": 0.1}
    ours = GuidedIntegratedGradients(cnn).attribute(
        image, baselines=baseline, target=2, n_steps=15, **settings
    )
    reference = GuidedIG().GetMask(
        image[0].permute(1, 2, 0).numpy(),
        pair_call_model(cnn, 2),
        x_baseline=baseline[0].permute(1, 2, 0).numpy(),
        x_steps=15,
        **settings,
    )
    np.testing.assert_allclose(ours[0].permute(1, 2, 0).numpy(), reference, rtol=1e-5, atol=1e-10)


def test_a_batch_gives_the_rows_of_one_example_calls(cnn):
    images = torch.rand(3, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    together = GuidedIntegratedGradients(cnn).attribute(
        images, target=[0, 1, 2], n_steps=12, internal_batch_size=2
    )
    for i in range(3):
        alone = GuidedIntegratedGradients(cnn).attribute(images[i : i + 1], target=i, n_steps=12)
        torch.testing.assert_close(together[i : i + 1], alone)


def test_features_equal_to_the_baseline_get_nothing_and_the_path_ends_at_the_input(cnn):
    image = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    baseline = image.clone()
    baseline[:, 0] = 0.0
    visited = []

    def forward(x):
        visited.append(x.detach().clone())
        return cnn(x)

    attr, delta = GuidedIntegratedGradients(forward).attribute(
        image, baselines=baseline, target=1, n_steps=10, return_convergence_delta=True
    )
    assert torch.equal(attr[:, 1:], torch.zeros_like(attr[:, 1:]))
    assert attr[:, 0].abs().sum() > 0
    points = torch.cat(visited).view(-1, *image.shape)  # rows in path order, per example
    assert len(points) == 11  # n_steps points, then the input
    torch.testing.assert_close(points[0], baseline)
    torch.testing.assert_close(points[-1], image)
    assert delta.shape == (2,) and torch.isfinite(delta).all()


def test_an_input_equal_to_its_baseline_gets_zero(cnn):
    image = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    attr = GuidedIntegratedGradients(cnn).attribute(image, baselines=image, target=0, n_steps=5)
    assert torch.equal(attr, torch.zeros_like(attr))


def test_float32_terminates_and_is_close_to_float64(cnn):
    image = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    exact = GuidedIntegratedGradients(cnn).attribute(image, target=1, n_steps=20, max_dist=0.3)
    single = GuidedIntegratedGradients(cnn.float()).attribute(
        image.float(), target=1, n_steps=20, max_dist=0.3
    )
    assert single.dtype == torch.float32
    torch.testing.assert_close(single.double(), exact, rtol=1e-3, atol=1e-4)


def test_the_selection_quantile_is_numpys_lower_quantile():
    # PAIR takes np.quantile(|g|, fraction, interpolation="lower"); check the rank we use
    generator = np.random.default_rng(0)
    for n in (2, 3, 10, 97, 1000):
        values = generator.random(n)
        for fraction in (0.1, 0.25, 0.3, 0.5, 0.7, 1.0):
            rank = int(np.floor(n * fraction + (1 - fraction) - 1)) + 1
            expected = np.quantile(values, fraction, method="lower")
            assert torch.tensor(values).kthvalue(rank).values.item() == expected
    assert pair_guided_ig.EPSILON == 1e-9  # the tolerance our path copies


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_steps": 0}, ValueError, "n_steps"),
        ({"fraction": 0.0}, ValueError, "fraction"),
        ({"fraction": 1.5}, ValueError, "fraction"),
        ({"max_dist": -0.1}, ValueError, "max_dist"),
        ({"baselines": torch.zeros(3, 3)}, ValueError, "baselines"),
        ({"baselines": "zero"}, TypeError, "baselines"),
    ],
)
def test_bad_settings_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        GuidedIntegratedGradients(linear).attribute(point(1.0, 2.0), **kwargs)


def test_a_float32_model_gets_pairs_float64_path(cnn):
    # PAIR keeps the path in float64 and calls the model in its own dtype; ours does the same,
    # so on a float32 model the selection (a chaotic choice) is the same and the maps agree
    model = cnn.float()
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(6))
    settings = {"fraction": 0.1, "max_dist": 0.02}
    ours = GuidedIntegratedGradients(model).attribute(images, target=1, n_steps=64, **settings)
    assert ours.dtype == torch.float32
    for image, map_ in zip(images, ours, strict=True):
        reference = GuidedIG().GetMask(
            image.permute(1, 2, 0).double().numpy(),
            pair_call_model(model, 1, dtype=torch.float32),
            x_baseline=np.zeros((8, 8, 3)),
            x_steps=64,
            **settings,
        )
        gap = np.linalg.norm(map_.permute(1, 2, 0).numpy() - reference)
        assert gap / np.linalg.norm(reference) < 1e-5


def _relu_cnn(seed):
    # ReLU and max-pooling give many exactly-zero gradients: ties in PAIR's ranking
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 4 * 4, 3),
    ).double()


@given(
    seed=st.integers(0, 2**16),
    n_steps=st.integers(1, 24),
    fraction=st.sampled_from([0.1, 0.25, 0.3, 0.5, 1.0]),
    max_dist=st.sampled_from([0.0, 0.02, 0.1, 1.0]),
    equal_share=st.sampled_from([0.0, 0.3]),
)
def test_agrees_with_pair_on_random_settings(seed, n_steps, fraction, max_dist, equal_share):
    generator = torch.Generator().manual_seed(seed)
    model = _relu_cnn(seed)
    image = torch.rand(1, 3, 8, 8, dtype=torch.float64, generator=generator)
    baseline = torch.rand(1, 3, 8, 8, dtype=torch.float64, generator=generator)
    equal = torch.rand(1, 3, 8, 8, generator=generator) < equal_share
    baseline = torch.where(equal, image, baseline)  # features with nothing to travel
    settings = {"fraction": fraction, "max_dist": max_dist}
    ours = GuidedIntegratedGradients(model).attribute(
        image, baselines=baseline, target=1, n_steps=n_steps, **settings
    )
    reference = GuidedIG().GetMask(
        image[0].permute(1, 2, 0).numpy(),
        pair_call_model(model, 1),
        x_baseline=baseline[0].permute(1, 2, 0).numpy(),
        x_steps=n_steps,
        **settings,
    )
    np.testing.assert_allclose(ours[0].permute(1, 2, 0).numpy(), reference, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_the_selection_threshold_is_torchs_kthvalue(dtype):
    # the CPU path ranks through numpy; ties, zeros and inf (finished features) included
    generator = torch.Generator().manual_seed(0)
    values = torch.randint(0, 50, (3, 1000), generator=generator).to(dtype) / 7
    values[0, :400] = torch.inf
    values[1, :] = 0.0
    values[2, 100:500] = torch.nan  # on a CPU a zero magnitude leaves the ranking as NaN
    array = values.numpy()
    before, ranked, out = values.clone(), np.empty_like(array), np.empty((3, 1), array.dtype)
    for rank in (1, 250, 600, 999, 1000):
        guided_ig._kth_smallest(array, rank, ranked, out)
        # an excluded feature's inf or NaN becomes the largest finite value
        largest = torch.finfo(dtype).max
        expected = values.kthvalue(rank, dim=1).values.nan_to_num(nan=largest, posinf=largest)
        assert torch.equal(torch.from_numpy(out[:, 0]), expected)
    np.testing.assert_array_equal(array, before.numpy())  # ranked in the scratch, not in place


def test_the_path_yields_points_it_does_not_change_afterwards(cnn):
    # the path updates its state in place: what it yielded must stay as it was
    image = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    steps = guided_ig._guided_steps((image,), (torch.zeros_like(image),), 8, 0.25, 0.1)
    yielded, copies = [], []
    points = next(steps)
    while True:
        yielded.append(points)
        copies.append(points[0].clone())
        x = points[0].detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(cnn(x)[:, 0].sum(), x)
        try:
            points = steps.send((grad,))
        except StopIteration:
            break
    assert len(yielded) == 9
    assert all(torch.equal(p[0], c) for p, c in zip(yielded, copies, strict=True))
    assert len({p[0].data_ptr() for p in yielded}) == len(yielded)
