"""The helpers behind benchmarks/results/convergence.md: rows to a tolerance, the replay of
``n_steps=auto`` and the standard error against the limit's norm."""

import importlib.util
import math
import sys
import warnings
from pathlib import Path

import pytest
import torch
from captum.attr import IntegratedGradients

from captum_smooth import IDGI, Auto, relative_error

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(
            "bench_convergence", BENCHMARKS / "bench_convergence.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault("bench_convergence", module)  # for its dataclasses
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


STEPS = [8, 16, 32, 64, 128, 256, 512]


def test_rows_to_reach_a_tolerance_on_a_power_law_is_exact(bench):
    errors = [2 / n for n in STEPS]  # 1 % at 200
    sign, rows = bench.rows_to_reach(STEPS, errors, 0.01)
    assert sign == "" and rows == pytest.approx(200)
    sign, rows = bench.rows_to_reach(STEPS[:5], errors[:5], 0.01)  # beyond the last: ≈
    assert sign == "≈" and rows == pytest.approx(200)
    assert bench.rows_to_reach(STEPS, errors, 0.5) == ("≤", 8)


def test_rows_to_reach_ignores_an_early_dip_below_the_tolerance(bench):
    # Gauss–Legendre's error is not monotone: reached means below from there on
    sign, rows = bench.rows_to_reach([1, 2, 4, 8], [0.5, 0.05, 0.2, 0.008], 0.1)
    assert sign == "" and 4 < rows < 8
    assert bench.rows_to_reach([1, 2, 4], [0.5, 0.05, 0.2], 0.1) == (">", 4)


def test_the_replayed_budget_is_the_one_idgi_with_n_steps_auto_spends(bench):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    x = torch.randn(5, 6) * 3
    idgi = IDGI(IntegratedGradients(model))
    fixed = {}
    for n in (16, 32, 64, 128, 256):
        attr, error = idgi.attribute(x, target=0, n_steps=n, return_error=True)
        fixed[n] = (attr, relative_error(attr, error).tolist())
    auto = Auto(tolerance=0.02, cap=300, start=16)
    rows = [0]
    model.register_forward_pre_hook(
        lambda module, args: rows.__setitem__(0, rows[0] + len(args[0]))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        attr, _ = idgi.attribute(x, target=0, n_steps=auto, return_error=True)
    replayed = [bench.replay_auto({n: fixed[n][1][i] for n in fixed}, auto) for i in range(len(x))]
    assert len({r[-1] for r in replayed}) > 1  # the examples stop in different rounds
    for i, rounds in enumerate(replayed):
        torch.testing.assert_close(attr[i], fixed[rounds[-1]][0][i])
    # each round reuses the last one's vertices: an example's rows are its last round's
    assert rows[0] == sum(rounds[-1] + 1 for rounds in replayed)


def test_standard_error_against_the_limit_corrects_a_noise_dominated_mean(bench):
    g = torch.Generator().manual_seed(0)
    limit = torch.randn(20_000, generator=g)
    samples = limit + 16 * torch.randn(64, 20_000, generator=g)  # standard error 2 per feature
    mean = samples.mean(0)
    se = samples.std(0) / math.sqrt(len(samples))
    true = (se.square().sum() / limit.square().sum()).sqrt().item()  # ≈ 2
    q = (se.norm() / mean.norm()).item()  # relative_error's ratio, below the truth
    assert q < 0.5 * true
    assert bench.standard_error(q) == pytest.approx(true, rel=0.05)
    assert bench.samples_to_reach(64, q, true / 2) == ("", pytest.approx(256, rel=0.1))
    assert bench.samples_to_reach(64, 1.2, 0.1)[0] == ">"


def test_the_median_of_censored_rows_stays_a_bound(bench):
    assert bench.censored_value([("", 100), ("", 300), ("", 50)]) == ("", 100)
    assert bench.censored_value([("", 100), ("", 300)]) == ("", 200)
    # the upper middle is only known to be above 400: so is the median above 250
    assert bench.censored_value([(">", 400), ("", 100), (">", 400), ("", 50)]) == (">", 250)


def test_segment_rules_fold_the_vertices_the_methods_evaluate(bench):
    # bench_segment_rules folds a recorded line: evenly spaced, its vertices are the method's
    # own, and its maps equal IDGI(..., segment_rule=...) at those steps; placed, the vertices
    # are the placement's rounded to the line, sorted, with both ends
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(
            "bench_segment_rules", BENCHMARKS / "bench_segment_rules.py"
        )
        rules = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(rules)
    finally:
        sys.path.remove(str(BENCHMARKS))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1))
    net = net.double()
    x = torch.rand(2, 3, dtype=torch.float64) * 3
    start = torch.zeros(2, 3, dtype=torch.float64)

    def gradient(points):
        p = points.detach().requires_grad_(True)
        out = net(p)[:, 0]
        return out, torch.autograd.grad(out.sum(), p)[0]

    line = bench.record_line(gradient, start, x, 64, 1000)
    assert rules.vertices(line, 8, False)[1] == list(range(0, 65, 8))
    for segment_rule, rule in rules.RULES.items():
        method = IDGI(IntegratedGradients(lambda t: net(t)[:, 0]), segment_rule=segment_rule)
        expected = method.attribute(x, start, n_steps=8)
        folded = torch.cat([rules.fold(line, rule, rules.vertices(line, 8, False)[e], e)
                            for e in range(2)])  # fmt: skip
        torch.testing.assert_close(folded, expected)
    for index in rules.vertices(line, 8, True):
        assert index == sorted(set(index)) and index[0] == 0 and index[-1] == 64
