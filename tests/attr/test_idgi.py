"""IDGI as a rule over the straight, guided and blur paths (docs/reference.md#idgi)."""

import pytest
import torch
from captum.attr import IntegratedGradients, NoiseTunnel, Saliency
from hypothesis import given
from hypothesis import strategies as st

from captum_smooth import IDGI, BlurIntegratedGradients, GuidedIntegratedGradients


def independent_quadratic(x):
    return 2 * x[:, 0] ** 2 + x[:, 1] ** 2


def dependent_quadratic(x):
    return (2 * x[:, 0] + x[:, 1]) ** 2


@pytest.mark.parametrize("n_steps", [1, 2, 3, 7, 50])
@pytest.mark.parametrize(
    ("function", "expected"),
    [(independent_quadratic, (21.6, 5.4)), (dependent_quadratic, (64.8, 16.2))],
)
def test_check_values_hold_for_any_step_count(function, expected, n_steps):
    # both functions have a zero gradient at the start: the zero-gradient rule is exercised
    x = torch.tensor([[3.0, 3.0]], dtype=torch.float64)
    attr, delta = IDGI(IntegratedGradients(function)).attribute(
        x, baselines=0.0, n_steps=n_steps, return_convergence_delta=True
    )
    torch.testing.assert_close(attr, torch.tensor([expected], dtype=torch.float64))
    assert delta.abs().item() < 1e-12


def idgi_by_the_formula(function, points, segment_rule="left"):
    """docs/reference.md#idgi written out over recorded path points (all gradients non-zero).

    ``"left"``: each segment's rise along ``g ⊙ g / ||g||²`` at its start; ``"trapezoid"``:
    along the mean of that at its two ends.
    """
    values, directions = [], []
    for p in points:
        p = p.clone().requires_grad_(True)
        out = function(p)
        (g,) = torch.autograd.grad(out.sum(), p)
        values.append(out.detach())
        directions.append(g * g / (g * g).flatten(1).sum(1).view(-1, *([1] * (g.dim() - 1))))
    total = torch.zeros_like(points[0])
    for j in range(len(points) - 1):
        rise = (values[j + 1] - values[j]).view(-1, *([1] * (points[0].dim() - 1)))
        if segment_rule == "left":
            total += directions[j] * rise
        else:
            total += (directions[j] + directions[j + 1]) / 2 * rise
    return total


def smooth_model():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, padding=1),
        torch.nn.Tanh(),
        torch.nn.Flatten(),
        torch.nn.Linear(3 * 6 * 6, 2),
    ).double()
    return lambda x: net(x)[:, 1]


@pytest.mark.parametrize(
    ("method", "kwargs", "n_points"),
    [
        (IntegratedGradients, {"baselines": 0.1, "n_steps": 6}, 7),
        (GuidedIntegratedGradients, {"baselines": 0.1, "n_steps": 6, "max_dist": 0.2}, 7),
        (BlurIntegratedGradients, {"max_sigma": 2.0, "n_steps": 6}, 7),
    ],
    ids=["straight", "guided", "blur"],
)
@pytest.mark.parametrize("segment_rule", ["left", "trapezoid"])
def test_idgi_equals_the_formula_on_the_paths_points(method, kwargs, n_points, segment_rule):
    model = smooth_model()
    x = torch.rand(2, 2, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    rows = []

    def recording(t):
        rows.append(t.detach().clone())
        return model(t)

    attr = IDGI(method(recording), segment_rule=segment_rule).attribute(x, **kwargs)
    points = list(torch.cat(rows).split(x.shape[0]))
    assert len(points) == n_points
    torch.testing.assert_close(points[-1], x)
    torch.testing.assert_close(attr, idgi_by_the_formula(model, points, segment_rule))


def random_relu_net(seed, width):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, width), torch.nn.ReLU(), torch.nn.Linear(width, 3)
    ).double()
    return net


@given(
    seed=st.integers(0, 2**16),
    width=st.integers(1, 8),
    n_steps=st.integers(1, 12),
    path=st.sampled_from(["straight", "guided"]),
    segment_rule=st.sampled_from(["left", "trapezoid"]),
    only_moving=st.booleans(),
)
def test_idgi_is_complete_for_any_step_count(seed, width, n_steps, path, segment_rule, only_moving):
    net = random_relu_net(seed, width)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 4, dtype=torch.float64, generator=generator)
    baseline = torch.randn(3, 4, dtype=torch.float64, generator=generator)
    method = IntegratedGradients(net) if path == "straight" else GuidedIntegratedGradients(net)
    idgi = IDGI(method, only_moving=only_moving, segment_rule=segment_rule)
    attr, delta = idgi.attribute(
        x, baselines=baseline, target=[0, 1, 2], n_steps=n_steps, return_convergence_delta=True
    )
    with torch.no_grad():
        gap = net(x)[range(3), [0, 1, 2]] - net(baseline)[range(3), [0, 1, 2]]
    assert torch.isfinite(attr).all()
    torch.testing.assert_close(attr.sum(dim=1), gap, rtol=1e-9, atol=1e-9)
    assert delta.abs().max() < 1e-9


@given(seed=st.integers(0, 2**16), n_steps=st.integers(1, 8), max_sigma=st.floats(0.5, 4.0))
def test_idgi_on_the_blur_path_is_complete(seed, n_steps, max_sigma):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 4, 1)
    ).double()
    x = torch.rand(2, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    attr, delta = IDGI(BlurIntegratedGradients(net)).attribute(
        x, target=0, n_steps=n_steps, max_sigma=max_sigma, return_convergence_delta=True
    )
    assert torch.isfinite(attr).all()
    assert delta.abs().max() < 1e-9


def test_flat_stretches_give_no_nan_and_keep_completeness():
    # ReLU(x1 - 2): zero gradient for the first part of the path, then not
    def relu_net(x):
        return torch.relu(x[:, 0] - 2.0) + 0.0 * x[:, 1]

    x = torch.tensor([[3.0, 1.0]], dtype=torch.float64)
    attr, delta = IDGI(IntegratedGradients(relu_net)).attribute(
        x, baselines=0.0, n_steps=4, return_convergence_delta=True
    )
    torch.testing.assert_close(attr, torch.tensor([[1.0, 0.0]], dtype=torch.float64))
    assert delta.abs().item() < 1e-12


def test_a_segment_with_no_gradient_at_either_end_is_spread_by_the_step():
    # a step function: zero gradient everywhere, but the value jumps along the path
    def step(x):
        return (x.sum(dim=1) > 1.5).to(x.dtype) + 0.0 * x.sum(dim=1)

    x = torch.tensor([[1.0, 3.0]], dtype=torch.float64)
    attr = IDGI(IntegratedGradients(step)).attribute(x, baselines=0.0, n_steps=4)
    # the jump of 1 is shared in proportion to |x_{j+1} - x_j| = (0.25, 0.75)
    torch.testing.assert_close(attr, torch.tensor([[0.25, 0.75]], dtype=torch.float64))


def test_within_one_step_every_feature_gets_the_sign_of_the_rise():
    net = random_relu_net(3, 6)
    x = torch.randn(1, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    attr = IDGI(IntegratedGradients(net)).attribute(x, baselines=0.0, target=1, n_steps=1)
    with torch.no_grad():
        rise = net(x)[0, 1] - net(torch.zeros_like(x))[0, 1]
    assert ((attr * rise) >= 0).all()


def test_idgi_works_inside_noise_tunnel_with_tuple_inputs():
    def two_inputs(a, b):
        return (torch.tanh(a) * 2).sum(1) + (b**2).sum(1)

    a = torch.randn(2, 3, dtype=torch.float64)
    b = torch.randn(2, 2, dtype=torch.float64)
    attr = NoiseTunnel(IDGI(IntegratedGradients(two_inputs))).attribute(
        (a, b), nt_samples=3, stdevs=0.1, n_steps=5
    )
    assert isinstance(attr, tuple) and attr[0].shape == a.shape and attr[1].shape == b.shape


def test_wrapping_a_method_without_a_path_is_a_type_error():
    with pytest.raises(TypeError, match="IG-family"):
        IDGI(Saliency(lambda x: x.sum(1)))


def test_captums_quadrature_method_does_not_apply():
    with pytest.raises(TypeError, match="`method` does not apply"):
        IDGI(IntegratedGradients(independent_quadratic)).attribute(
            torch.ones(1, 2), method="gausslegendre"
        )
