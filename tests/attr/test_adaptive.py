import pytest
import torch

from captum_smooth.attr.adaptive import AdaptiveSmoothTaylor
from captum_smooth.attr.smooth_taylor import SmoothTaylor
from captum_smooth.metrics import aupc, autvc, objective


def square_norm(x: torch.Tensor) -> torch.Tensor:
    """f(z) = Σ z²: SmoothTaylor gives ST_i = -2 x_i ε̄_i - 2 mean(ε_i²), mean ≈ -2σ²."""
    return (x**2).flatten(1).sum(dim=1)


def realised_sigma_objective(inputs, attributions, target):
    """Prefers σ* = 3 · mean|x| per example: |σ̂ - σ*| with σ̂² = -mean(attributions) / 2."""
    sigma_hat = (-attributions.flatten(1).mean(dim=1) / 2).clamp(min=0).sqrt()
    return (sigma_hat - 3 * inputs.abs().flatten(1).mean(dim=1)).abs()


def _inputs():
    signs = torch.where(
        torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.5, -1.0, 1.0
    ).double()
    return signs * torch.tensor([0.2, 0.3], dtype=torch.float64).view(2, 1, 1, 1)


def test_the_search_finds_the_noise_scale_the_objective_prefers():
    search = AdaptiveSmoothTaylor(square_norm, realised_sigma_objective)
    result = search.attribute(_inputs(), n_samples=64, generator=torch.Generator().manual_seed(0))
    # Start at mean|x| (0.2, 0.3), steps of 0.1: σ* = (0.6, 0.9) are reachable.
    torch.testing.assert_close(
        result.noise_scale, torch.tensor([0.6, 0.9], dtype=torch.float64), atol=0.03, rtol=0
    )
    torch.testing.assert_close(
        result.objective, realised_sigma_objective(_inputs(), result.attributions, None)
    )
    assert (result.n_evaluations <= 1 + 2 * 20).all()
    assert result.n_evaluations[1] > result.n_evaluations[0]  # the farther σ* takes longer


def test_the_same_generator_gives_the_same_noise_scale_and_attributions():
    search = AdaptiveSmoothTaylor(square_norm, realised_sigma_objective)
    runs = [
        search.attribute(_inputs(), n_samples=16, generator=torch.Generator().manual_seed(3))
        for _ in range(2)
    ]
    assert torch.equal(runs[0].noise_scale, runs[1].noise_scale)
    assert torch.equal(runs[0].attributions, runs[1].attributions)


def test_without_improvement_each_example_stops_after_patience_failures_at_its_start():
    search = AdaptiveSmoothTaylor(square_norm, lambda x, a, t: torch.zeros(x.shape[0]))
    inputs = torch.full((3, 2, 4, 4), 0.4, dtype=torch.float64)
    result = search.attribute(
        inputs, n_samples=8, patience=2, generator=torch.Generator().manual_seed(1)
    )
    assert result.n_evaluations.tolist() == [5, 5, 5]
    assert result.noise_scale.tolist() == pytest.approx([0.4] * 3)
    # The kept attributions are the first run's: SmoothTaylor at σ₀ with the same noise.
    expected = SmoothTaylor(square_norm).attribute(
        inputs, n_samples=8, noise_scale=0.4, generator=torch.Generator().manual_seed(1)
    )
    torch.testing.assert_close(result.attributions, expected)


def test_show_progress_draws_a_bar_over_the_search_iterations(capsys):
    search = AdaptiveSmoothTaylor(square_norm, lambda x, a, t: torch.zeros(x.shape[0]))
    search.attribute(_inputs(), n_samples=2, patience=2, max_iterations=5, show_progress=True)
    err = capsys.readouterr().err
    assert "AdaptiveSmoothTaylor" in err and "2/5" in err and "iterations" in err  # stopped


def test_the_autvc_objective_reports_the_autvc_of_the_returned_attributions(cnn):
    search = AdaptiveSmoothTaylor(cnn, objective("autvc", min_size=4))
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)).double()
    result = search.attribute(
        images,
        target=[0, 3],
        n_samples=4,
        max_iterations=3,
        generator=torch.Generator().manual_seed(0),
    )
    torch.testing.assert_close(result.objective, autvc(result.attributions, min_size=4).score)


def test_adaptive_search_rejects_bad_arguments():
    with pytest.raises(TypeError, match=r"objective.*captum_smooth.metrics.objective\('aupc'"):
        AdaptiveSmoothTaylor(square_norm, "aupc")
    search = AdaptiveSmoothTaylor(square_norm, lambda x, a, t: torch.zeros(1))
    with pytest.raises(ValueError, match="objective"):
        search.attribute(_inputs(), n_samples=2)
    good = AdaptiveSmoothTaylor(square_norm, realised_sigma_objective)
    with pytest.raises(ValueError, match="step_decay"):
        good.attribute(_inputs(), step_decay=0.0)
    with pytest.raises(ValueError, match="initial_noise_scale"):
        good.attribute(_inputs(), initial_noise_scale=torch.ones(5))
    with pytest.raises(TypeError, match="generator"):
        good.attribute(_inputs(), generator=0)


def test_the_aupc_objective_is_the_aupc_score_under_the_same_noise(cnn):
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)).double()
    maps = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1)).double()
    settings = {"window_size": 2, "n_steps": 3, "n_candidates": 4}
    score = objective("aupc", cnn, generator=torch.Generator().manual_seed(2), **settings)
    expected = aupc(
        cnn, images, maps, [0, 3], generator=torch.Generator().manual_seed(2), **settings
    )
    torch.testing.assert_close(score(images, maps, [0, 3]), expected.score)


def test_named_objectives_reject_what_their_metric_cannot_use(cnn):
    with pytest.raises(ValueError, match="name"):
        objective("accuracy")
    with pytest.raises(ValueError, match="forward_func"):
        objective("aupc")
    with pytest.raises(ValueError, match="forward_func"):
        objective("autvc", cnn)
    with pytest.raises(TypeError, match="n_windows"):
        objective("aupc", cnn, n_windows=3)


def _search_by_boolean_masks(model, score, x, target, n_samples, seed, batch=None, patience=3):
    """The search as first written: SmoothTaylor on the examples still searching, selected
    by boolean masks, its decisions read on the host at every step."""
    generator = torch.Generator().manual_seed(seed)

    def run(rows, sigmas):
        sub_target = target if not isinstance(target, torch.Tensor) else target[rows]
        attributions = SmoothTaylor(model).attribute(
            x[rows], target=sub_target, n_samples=n_samples, noise_scale=sigmas,
            internal_batch_size=batch, generator=generator,
        )  # fmt: skip
        return attributions, score(x[rows], attributions, sub_target)

    everyone = torch.arange(x.shape[0])
    sigma = x.abs().flatten(1).mean(dim=1)
    best_attributions, best_scores = run(everyone, sigma)
    rate = torch.full_like(sigma, 0.1)
    failures = torch.zeros(x.shape[0], dtype=torch.long)
    evaluations = torch.ones(x.shape[0], dtype=torch.long)
    active = torch.ones(x.shape[0], dtype=torch.bool)
    for _ in range(20):
        rows = everyone[active]
        if rows.numel() == 0:
            break
        candidates = sigma[rows] + rate[rows]
        attributions, scores = run(rows, candidates)
        evaluations[rows] += 1
        improved = scores < best_scores[rows]
        retry = rows[~improved]
        if retry.numel() > 0:
            retry_sigma = (sigma[retry] - rate[retry]).abs()
            retry_attributions, retry_scores = run(retry, retry_sigma)
            evaluations[retry] += 1
            candidates[~improved] = retry_sigma
            attributions[~improved] = retry_attributions
            scores[~improved] = retry_scores
            improved = scores < best_scores[rows]
        taken, failed = rows[improved], rows[~improved]
        sigma[taken] = candidates[improved]
        best_scores[taken] = scores[improved]
        best_attributions[taken] = attributions[improved]
        failures[taken] = 0
        rate[failed] *= 0.9
        failures[failed] += 1
        active &= failures < patience
    return best_attributions, sigma, best_scores, evaluations


def _spread(inputs, attributions, target):
    return (attributions.flatten(1).std(dim=1) - 0.3 * inputs.flatten(1).mean(dim=1)).abs()


def test_the_search_keeps_its_state_on_the_device_and_takes_the_same_steps(cnn):
    """The same σ, attributions, scores and evaluations as the loop over boolean masks."""
    signs = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.5
    scales = torch.tensor([0.2, 0.3, 0.05, 0.5], dtype=torch.float64).view(4, 1, 1, 1)
    squares = torch.where(signs, -scales, scales)
    images = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0)).double()
    cases = [
        (square_norm, realised_sigma_objective, squares, None, 16, 0, None),
        (cnn, _spread, images, torch.tensor([4, 2, 0]), 3, 3, 2),
        (cnn, _spread, images, 2, 2, 5, None),
    ]
    for model, score, x, target, n_samples, seed, batch in cases:
        expected = _search_by_boolean_masks(model, score, x, target, n_samples, seed, batch)
        result = AdaptiveSmoothTaylor(model, score).attribute(
            x, target=target, n_samples=n_samples, internal_batch_size=batch,
            generator=torch.Generator().manual_seed(seed),
        )  # fmt: skip
        assert len(set(result.n_evaluations.tolist())) > 1  # examples stop at different steps
        for got, wanted in zip(result, expected, strict=True):
            assert torch.equal(got, wanted)


def test_return_error_gives_the_standard_error_of_the_run_kept():
    # Nothing improves: the kept map is the first run's, and so is its error estimate.
    search = AdaptiveSmoothTaylor(square_norm, lambda x, a, t: torch.zeros(x.shape[0]))
    inputs = torch.full((3, 2, 4, 4), 0.4, dtype=torch.float64)
    result, error = search.attribute(
        inputs, n_samples=8, patience=2, generator=torch.Generator().manual_seed(1),
        return_error=True,
    )  # fmt: skip
    expected, expected_error = SmoothTaylor(square_norm).attribute(
        inputs, n_samples=8, noise_scale=0.4, generator=torch.Generator().manual_seed(1),
        return_error=True,
    )  # fmt: skip
    torch.testing.assert_close(result.attributions, expected)
    torch.testing.assert_close(error, expected_error)


def test_return_error_follows_the_noise_scale_each_example_ends_at():
    # f = Σ z²: a root's term is -2 x ε - 2 ε², whose variance is 4 x² σ² + 8 σ⁴, so the
    # standard error of R roots, per feature, is √((4 x² σ² + 8 σ⁴) / R) at the σ kept.
    search = AdaptiveSmoothTaylor(square_norm, realised_sigma_objective)
    inputs = _inputs()
    result, error = search.attribute(
        inputs, n_samples=64, generator=torch.Generator().manual_seed(0), return_error=True
    )
    assert error.shape == inputs.shape
    sigma = result.noise_scale.view(-1, 1, 1, 1)
    expected = ((4 * inputs**2 * sigma**2 + 8 * sigma**4) / 64).sqrt()
    # 192 features per example, each a standard deviation of 64 draws: their mean is within 5 %
    ratio = error.flatten(1).mean(dim=1) / expected.flatten(1).mean(dim=1)
    assert ((ratio - 1).abs() < 0.05).all(), ratio


def test_without_return_error_the_result_is_unchanged():
    search = AdaptiveSmoothTaylor(square_norm, realised_sigma_objective)
    plain = search.attribute(_inputs(), n_samples=16, generator=torch.Generator().manual_seed(3))
    with_error, _ = search.attribute(
        _inputs(), n_samples=16, generator=torch.Generator().manual_seed(3), return_error=True
    )
    assert isinstance(plain, type(with_error))
    assert torch.equal(plain.attributions, with_error.attributions)
    assert torch.equal(plain.noise_scale, with_error.noise_scale)
