"""Budgets chosen per example: ``n_steps="auto"``, ``n_samples=Auto(...)``, ``n_baselines=...``."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from captum.attr import IntegratedGradients
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from captum_smooth import (
    IDGI,
    Auto,
    BlurIntegratedGradients,
    GuidedIntegratedGradients,
    NoiseBaselineIntegratedGradients,
    SmoothGradSquared,
    SmoothTaylor,
    relative_error,
    set_memory_budget,
)
from captum_smooth.attr.layer import LayerGuidedIntegratedGradients


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).double()


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Rows:
    """Counts the rows each call of the model evaluates."""

    def __init__(self, model: nn.Module) -> None:
        self.rows = 0
        model.register_forward_pre_hook(self._count)

    def _count(self, module, args) -> None:
        self.rows += args[0].shape[0]


def examples(n: int = 6) -> torch.Tensor:
    # scaled so the examples need different budgets
    x = torch.randn(n, 6, dtype=torch.float64, generator=seeded(4))
    return x * torch.linspace(0.2, 3.0, n, dtype=torch.float64).view(-1, 1)


@pytest.mark.parametrize(
    "run",
    [
        lambda m, x, n: IDGI(IntegratedGradients(m)).attribute(
            x, target=0, n_steps=n, return_error=True),
        lambda m, x, n: GuidedIntegratedGradients(m).attribute(
            x, target=0, n_steps=n, return_error=True),
        lambda m, x, n: IDGI(GuidedIntegratedGradients(m)).attribute(
            x, target=0, n_steps=n, return_error=True),
    ],
)  # fmt: skip
def test_auto_steps_reach_the_tolerance_and_stop_each_example_on_its_own(run):
    model = mlp()
    x = examples()
    auto = Auto(tolerance=0.01, cap=4096)
    attr, error = run(model, x, auto)
    assert torch.all(relative_error(attr, error) <= 0.01)
    # each example's result is what it gets alone: its rounds depend on its own estimate only
    for i in (0, len(x) - 1):
        alone, alone_error = run(model, x[i : i + 1], auto)
        torch.testing.assert_close(alone, attr[i : i + 1])
        torch.testing.assert_close(alone_error, error[i : i + 1])
    # and it is the map of the budget it stopped at: the same as a fixed call at that budget
    for n in (16, 32, 64, 128, 256, 512, 1024, 2048):
        fixed, fixed_error = run(model, x[:1], n)
        if torch.allclose(fixed, attr[:1]):
            assert torch.allclose(fixed_error, error[:1])
            break
    else:
        pytest.fail("the first example's map is no fixed budget's map")


def test_examples_that_converge_early_spend_fewer_rows():
    model = mlp()
    x = examples()
    counter = Rows(model)
    idgi = IDGI(IntegratedGradients(model))
    idgi.attribute(x, target=0, n_steps=Auto(tolerance=0.01, cap=4096))
    together = counter.rows
    alone = []
    for i in range(len(x)):
        counter.rows = 0
        idgi.attribute(x[i : i + 1], target=0, n_steps=Auto(tolerance=0.01, cap=4096))
        alone.append(counter.rows)
    # the batch spends what its examples spend alone (the one-row first chunk aside)
    assert together <= sum(alone) + len(alone) and len(set(alone)) > 1


@pytest.mark.parametrize(
    ("auto_call", "fixed_call"),
    [
        (lambda m, x: SmoothTaylor(m).attribute(
            x, target=1, n_samples=Auto(1e-6, cap=32, start=8), return_error=True,
            generator=seeded(3)),
         lambda m, x: SmoothTaylor(m).attribute(
            x, target=1, n_samples=32, return_error=True, generator=seeded(3))),
        (lambda m, x: SmoothGradSquared(SmoothTaylor(m)).attribute(
            x, target=1, n_samples=Auto(1e-6, cap=32, start=8), return_error=True,
            generator=seeded(3)),
         lambda m, x: SmoothGradSquared(SmoothTaylor(m)).attribute(
            x, target=1, n_samples=32, return_error=True, generator=seeded(3))),
        (lambda m, x: NoiseBaselineIntegratedGradients(m).attribute(
            x, target=1, n_baselines=Auto(1e-6, cap=32, start=8), n_steps=4,
            return_convergence_delta=True, return_error=True, generator=seeded(3)),
         lambda m, x: NoiseBaselineIntegratedGradients(m).attribute(
            x, target=1, n_baselines=32, n_steps=4, return_convergence_delta=True,
            return_error=True, generator=seeded(3))),
    ],
)  # fmt: skip
def test_sampling_rounds_merge_into_the_average_of_every_sample(auto_call, fixed_call):
    # rounds of 8, 8 and 16 new samples, all examples still running, draw what one call of 32
    # draws: the merged means, deltas and standard errors must be that call's
    model = mlp()
    x = examples(4)
    with pytest.warns(UserWarning, match="did not reach the relative error 1e-06"):
        merged = auto_call(model, x)
    for got, expected in zip(merged, fixed_call(model, x), strict=True):
        torch.testing.assert_close(got, expected)


def test_unconverged_examples_are_named_in_a_warning():
    model = mlp()
    x = examples()
    with pytest.warns(UserWarning, match=r"SmoothTaylor: 6 of 6 examples \(rows \[0, 1, 2"):
        attr = SmoothTaylor(model).attribute(
            x, target=0, n_samples=Auto(0.001, cap=64), generator=seeded()
        )
    assert attr.shape == x.shape


def test_auto_is_the_default_auto():
    model = mlp()
    x = examples(2)
    blur = BlurIntegratedGradients(nn.Sequential(nn.Flatten(), model))
    images = x.view(2, 1, 2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.testing.assert_close(
            blur.attribute(images, target=0, n_steps="auto", max_sigma=2.0),
            blur.attribute(images, target=0, n_steps=Auto(), max_sigma=2.0),
        )


def test_per_example_targets_and_forward_arguments_follow_their_examples():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(7, 16), nn.Tanh(), nn.Linear(16, 3)).double()

    def model(x, scale):
        return net(torch.cat([x, scale], dim=1))

    x = examples()
    scale = torch.linspace(0.5, 2, len(x), dtype=torch.float64).view(-1, 1)
    targets = torch.tensor([0, 1, 2, 0, 1, 2])
    idgi = IDGI(IntegratedGradients(model))
    auto = Auto(tolerance=0.005, cap=2048)
    for target in (targets, targets.tolist()):
        attr = idgi.attribute(x, target=target, additional_forward_args=(scale,), n_steps=auto)
        for i in (1, 4):
            alone = idgi.attribute(
                x[i : i + 1], target=int(targets[i]), additional_forward_args=(scale[i : i + 1],),
                n_steps=auto,
            )  # fmt: skip
            torch.testing.assert_close(alone, attr[i : i + 1])


def test_layer_variants_choose_their_steps_too():
    model = mlp()
    x = examples()
    method = LayerGuidedIntegratedGradients(model, model[0])
    attr, error = method.attribute(
        x, target=0, n_steps=Auto(tolerance=0.02, cap=2048), return_error=True
    )
    assert attr.shape == (6, 16) and torch.all(relative_error(attr, error) <= 0.02)
    alone = method.attribute(x[-1:], target=0, n_steps=Auto(tolerance=0.02, cap=2048))
    torch.testing.assert_close(alone, attr[-1:])


@pytest.mark.parametrize(
    ("settings", "error", "match"),
    [
        ({"tolerance": 0.0}, ValueError, r"`tolerance` must be in \(0, 1\]"),
        ({"tolerance": "1%"}, TypeError, "`tolerance` must be a float"),
        ({"start": 1}, ValueError, "`start` must be at least 2"),
        ({"cap": 8, "start": 16}, ValueError, r"`cap` must be at least `start` \(16\)"),
        ({"cap": 100.0}, TypeError, "`cap` must be an int"),
    ],
)
def test_bad_auto_settings_are_named(settings, error, match):
    with pytest.raises(error, match=match):
        Auto(**settings)


def test_auto_on_the_wrong_budget_or_on_two_is_an_error():
    model = mlp()
    x = examples(2)
    nbig = NoiseBaselineIntegratedGradients(model)
    with pytest.raises(ValueError, match=r"`n_steps='auto'`.*set n_baselines='auto'"):
        nbig.attribute(x, target=0, n_steps="auto")
    with pytest.raises(ValueError, match="only one budget can be 'auto'"):
        nbig.attribute(x, target=0, n_steps="auto", n_baselines="auto")
    with pytest.raises(TypeError, match="`n_steps` must be an int"):
        GuidedIntegratedGradients(model).attribute(x, target=0, n_steps="many")


def steps_of(run, model, x, attr) -> int:
    """The fixed budget whose map ``attr`` is (one example)."""
    for n in (16, 32, 64, 128, 256, 512, 1024, 2048):
        if torch.allclose(run(model, x, n)[0], attr, rtol=1e-10, atol=1e-12):
            return n
    pytest.fail("the map is no fixed budget's map")


NESTED = [
    lambda m, x, n: IDGI(IntegratedGradients(m)).attribute(
        x, target=0, n_steps=n, return_error=True),
    lambda m, x, n: IDGI(IntegratedGradients(m), segment_rule="trapezoid").attribute(
        x, target=0, n_steps=n, return_error=True, internal_batch_size=7),  # kept across chunks
    lambda m, x, n: IDGI(BlurIntegratedGradients(nn.Sequential(nn.Flatten(), m))).attribute(
        x.view(len(x), 1, 2, 3), target=0, n_steps=n, max_sigma=2.0, return_error=True),
]  # fmt: skip


@pytest.mark.parametrize("run", NESTED)
def test_rounds_on_a_nested_grid_evaluate_only_their_new_vertices(run):
    # the vertices at n steps are every other one at 2n (straight line, blur levels): each
    # round evaluates only the new ones, so an example spends its final budget's rows, and
    # its map and estimate are those of a fixed call at that budget
    model = mlp()
    x = examples()
    counter = Rows(model)
    auto = Auto(tolerance=0.01, cap=4096)
    together, together_error = run(model, x, auto)
    batch_rows = counter.rows
    spent, stops = 0, set()
    for i in range(len(x)):
        counter.rows = 0
        attr, error = run(model, x[i : i + 1], auto)
        alone = counter.rows
        n = steps_of(run, model, x[i : i + 1], attr)
        assert alone == n + 1
        torch.testing.assert_close(attr, together[i : i + 1])
        torch.testing.assert_close(error, together_error[i : i + 1])
        torch.testing.assert_close(run(model, x[i : i + 1], n)[1], error)
        spent, stops = spent + alone, stops | {n}
    assert batch_rows == spent and len(stops) > 1  # examples stopped in different rounds


@pytest.mark.parametrize("run", NESTED[:1] + NESTED[2:])
def test_rows_too_large_to_keep_are_evaluated_again_with_the_same_maps(run):
    model = mlp()
    x = examples()
    counter = Rows(model)
    auto = Auto(tolerance=0.01, cap=4096)
    reused = run(model, x, auto)
    reusing = counter.rows
    counter.rows = 0
    previous = set_memory_budget(64)  # no round's vertices fit: every round starts anew
    try:
        again = run(model, x, auto)
    finally:
        set_memory_budget(previous)
    again_rows = counter.rows
    for got, expected in zip(again, reused, strict=True):
        torch.testing.assert_close(got, expected)
    # each example evaluates every round's vertices: (16 + 1) + (32 + 1) + … per example
    rounds = 0
    for i in range(len(x)):
        n = steps_of(run, model, x[i : i + 1], reused[0][i : i + 1])
        rounds += sum(k + 1 for k in (16, 32, 64, 128, 256, 512, 1024) if k <= n)
    assert again_rows == rounds > reusing


def test_a_round_that_reuses_rows_counts_only_its_new_steps_against_the_cap():
    model = mlp()
    x = examples()[-1:]
    counter = Rows(model)
    idgi = IDGI(IntegratedGradients(model))
    with pytest.warns(UserWarning, match="within cap=64"):
        idgi.attribute(x, target=0, n_steps=Auto(tolerance=1e-9, cap=64))
    assert counter.rows == 65  # rounds at 16, 32 and 64 steps: 16 + 16 + 32 new steps
    counter.rows = 0
    previous = set_memory_budget(64)
    try:
        with pytest.warns(UserWarning, match="within cap=64"):
            idgi.attribute(x, target=0, n_steps=Auto(tolerance=1e-9, cap=64))
    finally:
        set_memory_budget(previous)
    assert counter.rows == 17 + 33  # 16 + 32 steps; 64 more would pass the cap


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda m: IDGI(IntegratedGradients(m)), "IDGI(IntegratedGradients)"),
        (lambda m: LayerGuidedIntegratedGradients(m, m[0]), "LayerGuidedIntegratedGradients"),
    ],
)
def test_warnings_and_progress_name_the_method_as_the_user_made_it(make, name, capsys):
    model = mlp()
    with pytest.warns(UserWarning, match=rf"^{re.escape(name)}: 6 of 6 examples"):
        make(model).attribute(
            examples(), target=0, n_steps=Auto(tolerance=1e-9, cap=32), show_progress=True
        )
    assert f"{name}: 100%" in capsys.readouterr().err


@settings(max_examples=10)
@given(
    tolerance=st.floats(0.003, 0.2),
    start=st.sampled_from([2, 4, 8, 16]),
    n=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_reused_rounds_spend_and_return_what_fixed_calls_at_their_stops_do(
    tolerance, start, n, seed
):
    model = mlp()
    x = 3 * torch.randn(n, 6, dtype=torch.float64, generator=seeded(seed))
    counter = Rows(model)
    idgi = IDGI(IntegratedGradients(model), segment_rule="trapezoid")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # examples stopped by the cap
        attr, error = idgi.attribute(
            x, target=1, n_steps=Auto(tolerance, cap=512, start=start), return_error=True
        )
    spent = counter.rows
    stops = []
    for i in range(n):
        steps = start
        while not torch.allclose(
            idgi.attribute(x[i : i + 1], target=1, n_steps=steps), attr[i : i + 1],
            rtol=1e-9, atol=1e-12,
        ):  # fmt: skip
            steps *= 2
            assert steps <= 512, "no fixed budget gives the example's map"
        _, fixed_error = idgi.attribute(x[i : i + 1], target=1, n_steps=steps, return_error=True)
        torch.testing.assert_close(fixed_error, error[i : i + 1])
        stops.append(steps)
    assert spent == sum(steps + 1 for steps in stops)


def test_a_round_whose_vertices_do_not_fit_reuses_the_last_but_keeps_nothing():
    # one example of 6 float64 features: a vertex is 6 * 8 bytes and its output 8; a budget of
    # 1,000 bytes holds the 17 vertices of 16 steps (952), not the 33 of 32 steps (1,848)
    model = mlp()
    x = examples()[-1:]
    counter = Rows(model)
    idgi = IDGI(IntegratedGradients(model))
    previous = set_memory_budget(1000)
    try:
        with pytest.warns(UserWarning, match="within cap=4096"):
            attr = idgi.attribute(x, target=0, n_steps=Auto(tolerance=1e-9, cap=4096))
    finally:
        set_memory_budget(previous)
    # 16 steps (kept), 32 (reusing them: 16 new rows; too many to keep), then each later
    # round anew (k + 1 rows, 2k steps against the cap), as far as the cap allows
    rows, spent, steps = 17 + 16, 32, 32
    while spent + 2 * steps <= 4096:
        spent, steps = spent + 2 * steps, 2 * steps
        rows += steps + 1
    assert counter.rows == rows
    torch.testing.assert_close(attr, idgi.attribute(x, target=0, n_steps=steps))
