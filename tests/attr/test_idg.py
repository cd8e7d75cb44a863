"""Integrated Decision Gradients as a rule over the package's paths
(docs/reference.md#integrated-decision-gradients): check values, completeness as the steps
shrink, agreement with the authors' code, adaptive sampling, layer variants, bad arguments."""

import pytest
import torch
from captum.attr import IntegratedGradients, LayerIntegratedGradients, NoiseTunnel, Saliency
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from captum_smooth import (
    Auto,
    BlurIntegratedGradients,
    GuidedIntegratedGradients,
    IntegratedDecisionGradients,
    relative_error,
)
from captum_smooth.attr import IDGRule, fold_recorded
from captum_smooth.attr.layer import LayerBlurIntegratedGradients, LayerGuidedIntegratedGradients
from tests.attr.test_layer import Front


def idg(method, **options):
    return IntegratedDecisionGradients(method, **options)


def x1_plus_x2_squared(x):
    return x[:, 0] + x[:, 1] ** 2


# f = x₁ + x₂² from 0 to (1, 1): f(α) = α + α², f' = 1 + 2α, ∫f'² = 13/3, and the integrals
# of f' times each feature's path gradient are 2 and 7/3, so IDG = 2 · (2, 7/3) / (13/3).
LIMIT = (12 / 13, 14 / 13)


@pytest.mark.parametrize(
    ("n_steps", "expected"), [(1, (1.0, 2.0)), (2, (16 / 17, 26 / 17)), (3, (27 / 29, 40 / 29))]
)
def test_check_values_for_few_steps(n_steps, expected):
    # one step: the segment's slope times g(x) ⊙ x; two: rises (3/4, 5/4) weight g(½,½), g(1,1)
    x = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    attr, delta = idg(IntegratedGradients(x1_plus_x2_squared)).attribute(
        x, baselines=0.0, n_steps=n_steps, return_convergence_delta=True
    )
    torch.testing.assert_close(attr, torch.tensor([expected], dtype=torch.float64))
    torch.testing.assert_close(delta, attr.sum(dim=1) - 2.0)


def test_the_check_value_is_the_limit_and_the_error_falls_as_one_over_n():
    x = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    limit = torch.tensor([LIMIT], dtype=torch.float64)
    errors = []
    for n_steps in (256, 1024, 4096):
        attr, delta = idg(IntegratedGradients(x1_plus_x2_squared)).attribute(
            x, baselines=0.0, n_steps=n_steps, return_convergence_delta=True
        )
        errors.append((attr - limit).abs().max().item())
        assert abs(delta.item()) < 1.0 / n_steps  # complete as the steps shrink
    assert errors[-1] < 3e-4
    assert 3.5 < errors[0] / errors[1] < 4.5 and 3.5 < errors[1] / errors[2] < 4.5


def test_the_rule_folds_a_recorded_path_like_the_method():
    points = [torch.tensor([[0.5 * j, 0.5 * j]], dtype=torch.float64) for j in range(3)]
    values = [x1_plus_x2_squared(p) for p in points]
    grads = [torch.stack([torch.ones(1, dtype=torch.float64), 2 * p[:, 1]], dim=1) for p in points]
    torch.testing.assert_close(
        fold_recorded(IDGRule, points, values, grads),
        torch.tensor([[16 / 17, 26 / 17]], dtype=torch.float64),
    )


@given(
    seed=st.integers(0, 2**16),
    n_steps=st.integers(1, 12),
    bias=st.floats(-3, 3),
    adaptive_sampling=st.booleans(),
)
def test_idg_equals_ig_where_the_output_changes_at_a_constant_rate(
    seed, n_steps, bias, adaptive_sampling
):
    generator = torch.Generator().manual_seed(seed)
    w = torch.randn(5, dtype=torch.float64, generator=generator)
    x, baseline = torch.randn(2, 2, 5, dtype=torch.float64, generator=generator)

    def linear(t):
        return t @ w + bias

    attr, delta = idg(IntegratedGradients(linear), adaptive_sampling=adaptive_sampling).attribute(
        x, baselines=baseline, n_steps=max(n_steps, 2), return_convergence_delta=True
    )
    torch.testing.assert_close(attr, w * (x - baseline), rtol=1e-9, atol=1e-9)
    assert delta.abs().max() < 1e-9


def tanh_net(seed, width):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, width), nn.Tanh(), nn.Linear(width, 3)).double()


@given(seed=st.integers(0, 2**16), width=st.integers(1, 8), path=st.sampled_from(["ig", "guided"]))
def test_idg_is_complete_as_the_steps_shrink(seed, width, path):
    # right Riemann sums of smooth functions: the gap falls as 1/n (at most 1% of the
    # output's change, plus 1e-5, at 256 steps over 150 seeds tried)
    net = tanh_net(seed, width)
    generator = torch.Generator().manual_seed(seed)
    x, baseline = torch.randn(2, 3, 4, dtype=torch.float64, generator=generator)
    method = IntegratedGradients(net) if path == "ig" else GuidedIntegratedGradients(net)
    options = {} if path == "ig" else {"max_dist": 0.1}
    attr, delta = idg(method).attribute(
        x, baselines=baseline, target=[0, 1, 2], n_steps=256, return_convergence_delta=True,
        **options,
    )  # fmt: skip
    with torch.no_grad():
        gap = net(x)[range(3), [0, 1, 2]] - net(baseline)[range(3), [0, 1, 2]]
    torch.testing.assert_close(delta, attr.sum(dim=1) - gap)
    assert (delta.abs() <= 0.02 * gap.abs() + 2e-5).all()


@given(seed=st.integers(0, 2**16), scale=st.floats(0.1, 10), shift=st.floats(-5, 5))
def test_scaling_the_output_scales_the_map_and_a_negative_scale_flips_it(seed, scale, shift):
    net = tanh_net(seed, 4)
    x = torch.randn(2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    plain = idg(IntegratedGradients(net)).attribute(x, target=0, n_steps=16)
    for factor in (scale, -scale):
        changed = idg(IntegratedGradients(lambda t, f=factor: f * net(t) + shift)).attribute(
            x, target=0, n_steps=16
        )
        torch.testing.assert_close(changed, factor * plain, rtol=1e-9, atol=1e-12)


def test_a_flat_output_gives_zeros_not_nan():
    x = torch.rand(2, 3, dtype=torch.float64)
    for options in ({}, {"adaptive_sampling": True}):
        attr, delta = idg(IntegratedGradients(lambda t: 0 * t.sum(1) + 1), **options).attribute(
            x, n_steps=6, return_convergence_delta=True
        )
        assert torch.equal(attr, torch.zeros_like(attr)) and torch.equal(delta, torch.zeros(2))


# The authors' code, read and rewritten for the tests (chasewalker26/Integrated-Decision-Gradients,
# util/attribution_methods/saliencyMethods.py): `authors_second_pass` follows `IDG` from the
# interpolation on (the gradients and logits at the α's, each gradient times the logit's slope
# from the previous α and a width, averaged over the steps, times x − x'); `authors_alphas`
# follows `getSlopes` and `getAlphaParameters` (the steps shared by the slopes of a first
# pass, then spread within each interval). Written for one example, in float64.


def outputs_and_gradients(model, points, target):
    points = points.clone().requires_grad_(True)
    outputs = model(points)[:, target]
    (gradients,) = torch.autograd.grad(outputs.sum(), points)
    return outputs.detach(), gradients


def authors_second_pass(model, x, baseline, alphas, widths, target):
    shape = (-1,) + (1,) * (x.dim() - 1)
    logits, gradients = outputs_and_gradients(
        model, baseline + alphas.view(shape) * (x - baseline), target
    )
    slopes = torch.zeros_like(logits)
    slopes[1:] = logits.diff() / alphas.diff()
    weighted = gradients * (slopes * widths).view(shape)
    return weighted.mean(dim=0, keepdim=True) * (x - baseline), logits


def authors_alphas(model, x, baseline, steps, target):
    grid = torch.linspace(0, 1, steps, dtype=torch.float64)
    with torch.no_grad():
        logits = model(baseline + grid.view(-1, *[1] * (x.dim() - 1)) * (x - baseline))[:, target]
    width = float(grid[1] - grid[0])
    slopes = torch.zeros(steps, dtype=torch.float64)
    slopes[1:] = logits.diff() / width  # slopes[0] stays 0, a stand-in before the first α
    normalised = (slopes - slopes.min()) / (slopes.max() - slopes.min())
    normalised[0] = 0
    shares = normalised / normalised.sum() * steps
    counts = shares.to(torch.int)
    left = steps - int(counts.sum())
    shares[counts != 0] = -1  # the steps left go to entries without one, largest share first
    counts[torch.flip(torch.sort(shares)[1], dims=[0])[:left]] = 1
    alphas = torch.zeros(steps, dtype=torch.float64)
    widths = torch.zeros(steps, dtype=torch.float64)
    index, start = 0, 0.0
    for count in counts.tolist():
        if count == 0:
            continue  # (their `start` moves on only past an entry with steps)
        alphas[index : index + count] = torch.linspace(
            start, start + width, count + 1, dtype=torch.float64
        )[:count]
        widths[index : index + count] = width / count
        index, start = index + count, start + width
    return alphas, widths, counts


class Decision(nn.Module):
    """The shared model: a small convolutional net whose outputs saturate along the path."""

    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.Softplus(beta=4),
            nn.Conv2d(8, 4, 3, padding=1),
            nn.Tanh(),
            nn.Flatten(),
            nn.Linear(4 * 6 * 6, 3),
        ).double()

    def forward(self, x):
        return 5 * torch.tanh(3 * (self.net(x) - self.net(torch.zeros_like(x))))


def shared_input():
    return 3 * torch.rand(
        1, 3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )


@pytest.mark.parametrize("target", [0, 1, 2])
def test_uniform_steps_give_the_authors_map_times_a_constant(target):
    model, x = Decision(0), shared_input()
    baseline = torch.zeros_like(x)
    steps = 24  # the authors' α's: linspace(0, 1, steps), widths 1/(steps − 1)
    alphas = torch.linspace(0, 1, steps, dtype=torch.float64)
    widths = torch.full((steps,), 1 / (steps - 1), dtype=torch.float64)
    theirs, logits = authors_second_pass(model, x, baseline, alphas, widths, target)
    ours = idg(IntegratedGradients(model)).attribute(x, baseline, target, n_steps=steps - 1)
    # the authors leave the map unscaled; ours sums to f(x) − f(x') as the steps shrink
    constant = steps / (steps - 1) * (logits[-1] - logits[0]) / logits.diff().square().sum()
    torch.testing.assert_close(ours, constant * theirs, rtol=1e-12, atol=1e-15)


def recorded(model, rows):
    def forward(t):
        rows.append(t.detach().clone())
        return model(t)

    return forward


@pytest.mark.parametrize(("seed", "target"), [(0, 1), (2, 0), (3, 2)])
def test_adaptive_sampling_places_the_steps_where_the_authors_do(seed, target):
    model, x = Decision(seed), shared_input()
    baseline = torch.zeros_like(x)
    steps = 24
    alphas, widths, counts = authors_alphas(model, x, baseline, steps, target)
    with_steps = counts[1:].nonzero().flatten()
    # the cases where their `start` is right: every interval up to the last with steps has some
    assert counts[0] == 0 and bool((counts[1 : with_steps[-1] + 2] > 0).all())
    rows = []
    ours = idg(IntegratedGradients(recorded(model, rows)), adaptive_sampling=True).attribute(
        x, baseline, target, n_steps=steps
    )
    first_pass, vertices = torch.cat(rows).split([steps, steps + 1])
    ratio = (vertices - baseline) / (x - baseline)
    placed = ratio.flatten(1)[:, 0]
    torch.testing.assert_close(ratio, placed.view(-1, 1, 1, 1).expand_as(ratio))
    torch.testing.assert_close(first_pass[-1:], x)
    torch.testing.assert_close(placed[:-1], alphas, rtol=0, atol=1e-15)
    assert placed[-1] == 1.0  # then x itself: the last segment runs over the intervals left
    # ours pairs each slope with the width of its own segment, up to x; theirs with the width
    # of the cell starting at the point: the same maps up to a constant where the steps are even
    own = torch.cat([alphas, torch.ones(1, dtype=torch.float64)])
    weighted, logits = authors_second_pass(
        model, x, baseline, own, torch.cat([torch.zeros(1), own.diff()]), target
    )
    constant = (steps + 1) * (logits[-1] - logits[0]) / (logits.diff().square() / own.diff()).sum()
    torch.testing.assert_close(ours, constant * weighted, rtol=1e-12, atol=1e-15)
    theirs, _ = authors_second_pass(model, x, baseline, alphas, widths, target)
    cosine = nn.functional.cosine_similarity(ours.flatten(), theirs.flatten(), dim=0)
    assert abs(cosine) > 0.99


def test_the_authors_placement_stops_short_of_x_where_an_interval_gets_no_step():
    # their `start` moves on only past intervals with steps: with an empty interval before
    # the last with steps, the steps shift towards the baseline and never reach x
    model, x = Decision(3), shared_input()
    baseline, steps, target = torch.zeros_like(x), 24, 0
    alphas, widths, counts = authors_alphas(model, x, baseline, steps, target)
    with_steps = counts.nonzero().flatten()
    assert bool((counts[1 : with_steps[-1]] == 0).any())
    assert alphas[-1] + widths[-1] < 1 - 0.1
    theirs, _ = authors_second_pass(model, x, baseline, alphas, widths, target)
    ours = idg(IntegratedGradients(model), adaptive_sampling=True).attribute(
        x, baseline, target, n_steps=steps
    )
    limit = idg(IntegratedGradients(model)).attribute(x, baseline, target, n_steps=4096)

    def cosine(a):
        return nn.functional.cosine_similarity(a.flatten(), limit.flatten(), dim=0).item()

    assert cosine(ours) > 0.99 > 0.9 > cosine(theirs)


def idg_by_the_formula(function, points):
    """docs/reference.md#integrated-decision-gradients over recorded path points."""
    evaluated = [outputs_and_gradients(lambda p: function(p)[:, None], p, 0) for p in points]
    values, grads = zip(*evaluated, strict=True)
    total = torch.zeros_like(points[0])
    weights = torch.zeros(points[0].shape[0], dtype=points[0].dtype)
    shape = (-1,) + (1,) * (points[0].dim() - 1)
    for j in range(len(points) - 1):
        step = points[j + 1] - points[j]
        rise = values[j + 1] - values[j]
        slope = rise / step.flatten(1).norm(dim=1)
        total += slope.view(shape) * grads[j + 1] * step
        weights += slope * rise
    return total * ((values[-1] - values[0]) / weights).view(shape)


def smooth_model():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 6 * 6, 2)
    ).double()
    return lambda x: net(x)[:, 1]


@pytest.mark.parametrize(
    ("method", "kwargs", "options", "n_points"),
    [
        (IntegratedGradients, {"baselines": 0.1, "n_steps": 6}, {}, 7),
        (IntegratedGradients, {"baselines": 0.1, "n_steps": 6}, {"adaptive_sampling": True}, 7),
        (GuidedIntegratedGradients, {"baselines": 0.1, "n_steps": 6, "max_dist": 0.2}, {}, 7),
        (BlurIntegratedGradients, {"max_sigma": 2.0, "n_steps": 6}, {}, 7),
    ],
    ids=["straight", "placed", "guided", "blur"],
)
def test_idg_equals_the_formula_on_the_paths_points(method, kwargs, options, n_points):
    model = smooth_model()
    x = torch.rand(2, 2, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    rows = []
    attr, delta = idg(method(recorded(model, rows)), **options).attribute(
        x, return_convergence_delta=True, **kwargs
    )
    points = list(torch.cat(rows).split(x.shape[0]))[-n_points:]  # after any first pass
    torch.testing.assert_close(points[-1], x)
    expected = idg_by_the_formula(model, points)
    torch.testing.assert_close(attr, expected)
    with torch.no_grad():
        gap = model(points[-1]) - model(points[0])
    torch.testing.assert_close(delta, attr.flatten(1).sum(1) - gap)


@pytest.mark.parametrize("path", ["straight", "placed", "guided", "blur"])
def test_the_error_estimate_and_automatic_steps_work_on_every_path(path):
    net = tanh_net(5, 6)
    x = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    method = {
        "straight": lambda: idg(IntegratedGradients(net)),
        "placed": lambda: idg(IntegratedGradients(net), adaptive_sampling=True),
        "guided": lambda: idg(GuidedIntegratedGradients(net)),
    }.get(path, lambda: idg(BlurIntegratedGradients(lambda t: net(t.flatten(1)))))()
    inputs = x.view(3, 1, 2, 2) if path == "blur" else x
    attr, error = method.attribute(inputs, target=1, n_steps=32, return_error=True)
    assert error.shape == attr.shape and torch.isfinite(error).all() and (error >= 0).all()
    attr, error = method.attribute(
        inputs, target=1, n_steps=Auto(tolerance=0.02, cap=4096), return_error=True
    )
    assert (relative_error(attr, error) <= 0.02).all()


@pytest.mark.parametrize("adaptive_sampling", [False, True])
def test_on_layer_ig_it_equals_the_input_space_map_behind_an_identity_layer(adaptive_sampling):
    model = Front(tanh_net(1, 5))
    x = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    options = {"adaptive_sampling": adaptive_sampling}
    ours, delta = idg(LayerIntegratedGradients(model, model.front), **options).attribute(
        x, 0.5, [0, 1, 2], None, 16, return_convergence_delta=True
    )
    plain, plain_delta = idg(IntegratedGradients(model), **options).attribute(
        x, 0.5, [0, 1, 2], None, 16, return_convergence_delta=True
    )
    torch.testing.assert_close(ours, plain, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(delta, plain_delta, rtol=1e-12, atol=1e-14)


class TinyText(nn.Module):
    """Token ids → embeddings → a small non-linear classifier."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.embeddings = nn.Embedding(11, 4)
        self.head = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
        self.double()

    def forward(self, ids):
        return self.head(self.embeddings(ids)).mean(dim=1)


@pytest.mark.parametrize(
    ("layer_method", "kwargs"),
    [
        (LayerIntegratedGradients, {"baselines": 0}),
        (LayerGuidedIntegratedGradients, {"baselines": 0, "max_dist": 0.1}),
        (LayerBlurIntegratedGradients, {"max_sigma": 1.5}),
    ],
    ids=["ig", "guided", "blur"],
)
def test_on_layer_variants_it_is_complete_in_the_layers_space_as_the_steps_shrink(
    layer_method, kwargs
):
    model = TinyText()
    ids = torch.randint(1, 11, (2, 6), generator=torch.Generator().manual_seed(3))
    attr, delta = idg(layer_method(model, model.embeddings)).attribute(
        ids, target=1, n_steps=256, return_convergence_delta=True, **kwargs
    )
    assert attr.shape == (2, 6, 4)
    assert delta.abs().max() < 1e-2 * attr.flatten(1).sum(1).abs().max()


def test_it_works_inside_noise_tunnel_with_tuple_inputs():
    def two_inputs(a, b):
        return (torch.tanh(a) * 2).sum(1) + (b**2).sum(1)

    a = torch.randn(2, 3, dtype=torch.float64)
    b = torch.randn(2, 2, dtype=torch.float64)
    attr = NoiseTunnel(idg(IntegratedGradients(two_inputs))).attribute(
        (a, b), nt_samples=3, stdevs=0.1, n_steps=5
    )
    assert isinstance(attr, tuple) and attr[0].shape == a.shape and attr[1].shape == b.shape


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda m: idg(Saliency(m)), TypeError, r"IntegratedDecisionGradients integrates along"),
        (
            lambda m: idg(IntegratedGradients(m, multiply_by_inputs=False)),
            ValueError,
            r"multiply_by_inputs=False.*IntegratedDecisionGradients's attributions",
        ),
        (
            lambda m: idg(GuidedIntegratedGradients(m), adaptive_sampling=True),
            ValueError,
            r"`adaptive_sampling` places the steps on the straight line",
        ),
        (lambda m: idg(IntegratedGradients(m), adaptive_sampling=1), TypeError, "adaptive_s"),
        (
            lambda m: idg(IntegratedGradients(m)).attribute(torch.ones(1, 4), method="riemann"),
            TypeError,
            r"IntegratedDecisionGradients\(IntegratedGradients\)\.attribute\(\): `method` does not",
        ),
        (
            lambda m: idg(IntegratedGradients(m), adaptive_sampling=True).attribute(
                torch.ones(1, 4), target=0, n_steps=1
            ),
            ValueError,
            r"`n_steps` must be at least 2 with adaptive_sampling",
        ),
        (
            lambda m: idg(IntegratedGradients(m)).attribute(torch.ones(1, 4), target=0, n_steps=0),
            ValueError,
            "n_steps",
        ),
    ],
    ids=["no-path", "local", "placed-guided", "flag", "method", "one-step", "no-steps"],
)  # fmt: skip
def test_bad_arguments_are_named(make, error, match):
    with pytest.raises(error, match=match):
        make(tanh_net(0, 3))
