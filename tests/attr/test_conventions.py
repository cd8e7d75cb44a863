"""Captum conventions every method of the package follows (docs/reference.md#captum-conventions),
one table of methods."""

import functools
from collections.abc import Callable
from typing import NamedTuple

import pytest
import torch
from captum.attr import IntegratedGradients, NoiseTunnel
from captum.metrics import sensitivity_max

from captum_smooth import (
    IDGI,
    BlurIntegratedGradients,
    ExpectedGradients,
    GuidedIntegratedGradients,
    IntegratedDecisionGradients,
    NoiseBaselineIntegratedGradients,
    Placement,
    SmoothTaylor,
)
from captum_smooth._utils.batching import set_memory_budget
from captum_smooth.attr import _engine as engine
from captum_smooth.attr._engine import value_and_grad


def idgi_of(method):
    return lambda model: IDGI(method(model))


class Case(NamedTuple):
    name: str
    factory: Callable  # model -> attribution method
    kwargs: dict  # keywords that keep the test fast
    random: bool  # takes a `generator`


PLACED = Placement(probes=3)
# Every method of the package, with Captum conventions to keep. Adding a method is one line.
CASES = [
    Case("smooth_taylor", SmoothTaylor, {"n_samples": 6, "noise_scale": 0.3}, True),
    Case(
        "noise_baseline_ig",
        NoiseBaselineIntegratedGradients,
        {"n_baselines": 2, "n_steps": 5},
        True,
    ),
    Case("guided_ig", GuidedIntegratedGradients, {"n_steps": 4, "max_dist": 0.2}, False),
    Case("blur_ig", BlurIntegratedGradients, {"n_steps": 4, "max_sigma": 2.0}, False),
    Case("idgi_ig", idgi_of(IntegratedGradients), {"n_steps": 4}, False),
    Case("idgi_guided_ig", idgi_of(GuidedIntegratedGradients), {"n_steps": 4}, False),
    Case("idgi_blur_ig", idgi_of(BlurIntegratedGradients), {"n_steps": 4, "max_sigma": 2.0}, False),
    Case(
        "idgi_ig_placed",
        idgi_of(IntegratedGradients),
        {"n_steps": 4, "placement": PLACED},
        False,
    ),
    Case(
        "blur_ig_placed",
        BlurIntegratedGradients,
        {"n_steps": 4, "max_sigma": 2.0, "placement": PLACED},
        False,
    ),
]
RANDOM = [c for c in CASES if c.random]
# Methods (and keywords) whose result does not depend on random draws.
DETERMINISTIC = [c for c in CASES if not c.random] + [
    Case(
        "noise_baseline_ig_fixed",
        NoiseBaselineIntegratedGradients,
        {"n_baselines": 1, "n_steps": 5, "baseline_low": 0.25, "baseline_high": 0.25},
        False,
    ),
]


def attribute(case, model, inputs, seed=1, **extra):
    keywords = {**case.kwargs, **extra}
    if case.random:
        keywords.setdefault("generator", seeded(seed))
    return case.factory(model).attribute(inputs, **keywords)


all_cases = pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)


def seeded(seed):
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def images():
    return torch.rand(3, 3, 8, 8, dtype=torch.float64, generator=seeded(5))


@all_cases
def test_every_target_form_selects_the_same_rows(case, cnn, images):
    targets = [0, 4, 2]
    as_list = attribute(case, cnn, images, target=targets)
    as_tensor = attribute(case, cnn, images, target=torch.tensor(targets))
    torch.testing.assert_close(as_list, as_tensor)
    for i, t in enumerate(targets):
        torch.testing.assert_close(as_list[i], attribute(case, cnn, images, target=t)[i])


@pytest.mark.parametrize("case", DETERMINISTIC, ids=lambda c: c.name)
def test_per_example_targets_give_the_rows_of_one_example_calls(case, cnn, images):
    targets = [1, 3, 0]
    together = attribute(case, cnn, images, target=targets)
    for i, t in enumerate(targets):
        alone = attribute(case, cnn, images[i : i + 1], target=t)
        torch.testing.assert_close(together[i : i + 1], alone)


def two_inputs():
    x1 = torch.randn(2, 1, 2, 2, dtype=torch.float64, generator=seeded(2))
    x2 = torch.randn(2, 2, 5, 5, dtype=torch.float64, generator=seeded(3))
    return x1, x2


@all_cases
def test_tuple_inputs_and_additional_forward_args(case, two_input_net):
    x1, x2 = two_inputs()
    attr = attribute(case, two_input_net, (x1, x2), target=1, additional_forward_args=(2.0,))
    assert isinstance(attr, tuple) and attr[0].shape == x1.shape and attr[1].shape == x2.shape
    half = attribute(case, two_input_net, (x1, x2), target=1, additional_forward_args=(1.0,))
    # The output scales linearly with the extra argument, and so does every attribution.
    for a, h in zip(attr, half, strict=True):
        torch.testing.assert_close(a, 2 * h)


@all_cases
def test_additional_forward_tensors_follow_their_example(case, two_input_net):
    x1, x2 = two_inputs()
    scale = torch.tensor([[1.0], [3.0]], dtype=torch.float64)
    attr = attribute(case, two_input_net, (x1, x2), target=0, additional_forward_args=(scale,))
    ones = attribute(case, two_input_net, (x1, x2), target=0, additional_forward_args=(1.0,))
    torch.testing.assert_close(attr[0][1], 3 * ones[0][1])
    torch.testing.assert_close(attr[0][0], ones[0][0])


@all_cases
def test_no_more_rows_than_internal_batch_size_reach_the_model(case, cnn, images):
    sizes = []

    def forward(x):
        sizes.append(x.shape[0])
        return cnn(x)

    full = attribute(case, forward, images, target=1)
    sizes.clear()
    chunked = attribute(case, forward, images, target=1, internal_batch_size=2)
    assert max(sizes) <= 2 and len(sizes) > 1
    torch.testing.assert_close(chunked, full)


@pytest.mark.parametrize("case", RANDOM, ids=lambda c: c.name)
def test_same_seed_is_bit_identical_and_other_seeds_differ(case, cnn, images):
    a = attribute(case, cnn, images, seed=7, target=1)
    b = attribute(case, cnn, images, seed=7, target=1)
    c = attribute(case, cnn, images, seed=8, target=1)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@all_cases
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_attributions_keep_the_model_dtype(case, cnn, images, dtype):
    attr = attribute(case, cnn.to(dtype), images.to(dtype), target=1)
    assert attr.dtype == dtype and torch.isfinite(attr).all() and attr.abs().sum() > 0


@all_cases
def test_noise_tunnel_passes_the_methods_keywords_through(case, cnn, images):
    nt = NoiseTunnel(case.factory(cnn))
    keywords = {**case.kwargs, **({"generator": seeded(1)} if case.random else {})}
    attr = nt.attribute(images, nt_samples=3, stdevs=0.1, target=2, **keywords)
    assert attr.shape == images.shape and torch.isfinite(attr).all()
    with pytest.raises(ValueError, match="internal_batch_size"):
        nt.attribute(images, nt_samples=2, target=2, internal_batch_size=0, **case.kwargs)


@all_cases
def test_captum_sensitivity_max_accepts_the_method(case, cnn, images):
    keywords = {**case.kwargs, **({"generator": seeded(1)} if case.random else {})}
    score = sensitivity_max(
        case.factory(cnn).attribute, images, target=1, n_perturb_samples=2, **keywords
    )
    assert score.shape == (3,) and (score >= 0).all() and torch.isfinite(score).all()


@all_cases
def test_methods_declare_captum_properties(case, cnn):
    method = case.factory(cnn)
    assert method.multiplies_by_inputs is True
    assert isinstance(method.has_convergence_delta(), bool)


@all_cases
@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        ({"internal_batch_size": 0}, ValueError, "internal_batch_size"),
        ({"internal_batch_size": 2.5}, TypeError, "internal_batch_size"),
        ({"target": [0, 1]}, ValueError, "target"),
    ],
)
def test_bad_common_arguments_name_the_argument(case, cnn, images, bad, error, match):
    with pytest.raises(error, match=match):
        attribute(case, cnn, images, **{"target": 0, **bad})


@pytest.mark.parametrize("case", RANDOM, ids=lambda c: c.name)
def test_a_generator_must_be_a_torch_generator(case, cnn, images):
    with pytest.raises(TypeError, match="generator"):
        attribute(case, cnn, images, target=0, generator=3)


@all_cases
def test_integer_inputs_are_refused(case, cnn):
    with pytest.raises(TypeError, match="inputs"):
        attribute(case, cnn, torch.ones(1, 3, 8, 8, dtype=torch.long), target=0)


@all_cases
def test_an_output_without_target_is_a_clear_error(case, cnn, images):
    with pytest.raises(ValueError, match="target"):
        attribute(case, cnn, images)


@all_cases
@pytest.mark.parametrize(
    "without_gradients",
    [lambda model: lambda x: model(x).detach(), lambda model: torch.no_grad()(model)],
    ids=["detached", "no_grad"],
)
def test_a_forward_without_gradients_is_an_error_naming_forward_func(
    case, cnn, images, without_gradients
):
    # Captum raises here; a map of zeros (or IDGI's Δf spread over |Δx|) would be made up
    with pytest.raises(ValueError, match="forward_func"):
        attribute(case, without_gradients(cnn), images, target=1)


@all_cases
def test_an_input_the_model_ignores_gets_zeros_and_the_other_input_its_attribution(
    case, two_input_net
):
    x1, x2 = two_inputs()
    attr = attribute(case, lambda a, b: two_input_net(a, torch.zeros_like(b)), (x1, x2), target=0)
    assert torch.equal(attr[1], torch.zeros_like(x2)) and attr[0].abs().sum() > 0


@all_cases
def test_by_default_the_model_sees_a_bounded_number_of_rows(case):
    # 3×400×400 float64 rows (3.8 MB): one row is measured first, the later chunks are
    # bounded by the memory budget at what a row cost (its points and gradients at least)
    images = torch.rand(2, 3, 400, 400, dtype=torch.float64, generator=seeded(0))
    weights = torch.randn(3, 4, dtype=torch.float64, generator=seeded(1))
    sizes = []

    def forward(x):
        sizes.append(x.shape[0])
        return torch.tanh(x.mean(dim=(2, 3))) @ weights

    previous = set_memory_budget(64 * 2**20)
    try:
        attribute(case, forward, images, target=1)
    finally:
        set_memory_budget(previous)
    later = 64 * 2**20 // (3 * images[0].numel() * 8)
    assert later < 2 * 4 <= sum(sizes)  # more rows in all than one call may take
    assert sizes[0] == 1 and max(sizes[1:]) <= later


@all_cases
def test_the_methods_value_and_grad_func_is_the_one_used(case, cnn, images):
    # a replaced gradient source is used: doubling f and ∇f doubles every attribution
    method = case.factory(cnn)
    inner = method._path_method if hasattr(method, "_path_method") else method
    plain = attribute(case, cnn, images, target=1)

    def doubled(forward_func, points, target, args, with_grad):
        values, grads = value_and_grad(forward_func, points, target, args, with_grad)
        return 2 * values, None if grads is None else tuple(2 * g for g in grads)

    inner.value_and_grad_func = doubled
    keywords = {**case.kwargs, **({"generator": seeded(1)} if case.random else {})}
    twice = method.attribute(images, target=1, **keywords)
    torch.testing.assert_close(twice, 2 * plain)

    def refuse(*args):
        raise RuntimeError("the engine asked the replaced function")

    inner.value_and_grad_func = refuse
    with pytest.raises(RuntimeError, match="replaced function"):
        method.attribute(images, target=1, **keywords)


@all_cases
def test_show_progress_draws_one_bar_over_the_rows_evaluated(case, cnn, images, capsys):
    attribute(case, cnn, images, target=1, show_progress=True)
    err = capsys.readouterr().err
    assert "rows" in err and "100%" in err


class CountingBar:
    """A progress bar that keeps its total and the rows it was advanced by."""

    def __init__(self, total):
        self.total, self.rows, self.closed = total, 0, False

    def update(self, n):
        self.rows += n

    def close(self):
        self.closed = True


PROGRESS_CASES = [
    *CASES,
    Case("expected_gradients", lambda m: _with_references(ExpectedGradients(m)), {"n_samples": 5},
         True),
    Case("idg_placed", lambda m: IntegratedDecisionGradients(IntegratedGradients(m), True),
         {"n_steps": 4}, False),
]  # fmt: skip


def _with_references(method):
    references = torch.rand(4, 3, 8, 8, dtype=torch.float64, generator=seeded(6))
    method.attribute = functools.partial(method.attribute, baselines=references)
    return method


@pytest.mark.parametrize(
    ("case", "delta"),
    [
        pytest.param(case, delta, id=case.name + ("-delta" if delta else ""))
        for case in PROGRESS_CASES
        for delta in (False, True)
        if not (delta and case.name == "smooth_taylor")  # SmoothTaylor has no delta
    ],
)
def test_the_path_says_how_many_rows_the_progress_bar_counts(case, delta, cnn, images, monkeypatch):
    bars = []

    def counting(show, total, desc, unit="rows"):
        bars.append(CountingBar(total))
        return bars[-1]

    monkeypatch.setattr(engine, "progress_bar", counting)
    with_delta = {"return_convergence_delta": True} if delta else {}
    attribute(case, cnn, images, target=1, show_progress=True, **with_delta)
    (bar,) = bars
    assert bar.rows == bar.total and bar.closed
