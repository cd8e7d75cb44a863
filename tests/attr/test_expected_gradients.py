"""Expected Gradients: check values, agreement with Captum's GradientShap, draws and errors."""

from __future__ import annotations

import math

import pytest
import torch
from captum.attr import GradientShap
from torch import nn

from captum_smooth import Auto, ExpectedGradients, NoiseTunnel, relative_error


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).double()


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def data(n: int = 30) -> torch.Tensor:
    return torch.randn(n, 6, dtype=torch.float64, generator=seeded(7))


def test_on_a_linear_model_every_draw_gives_the_check_value():
    # f = w·x: (x - x') ⊙ w whatever α, so the average over one reference is exact
    model = nn.Linear(6, 1, bias=False).double()
    x, reference = data()[:3], data()[3:4]
    attr, delta = ExpectedGradients(model).attribute(
        x, reference, n_samples=5, return_convergence_delta=True, generator=seeded()
    )
    torch.testing.assert_close(attr, (x - reference) * model.weight.detach())
    torch.testing.assert_close(delta, torch.zeros(3, dtype=torch.float64))


def test_on_a_quadratic_the_expectation_is_the_output_difference_per_feature():
    # f = Σ x²: E_α[(x - x') · 2(x' + α(x - x'))] = x² - x'² per feature; the standard
    # error says how close n draws come
    model = lambda z: z.pow(2).sum(1, keepdim=True)  # noqa: E731
    x, reference = data()[:2], data()[2:3]
    attr, error = ExpectedGradients(model).attribute(
        x, reference, n_samples=4000, return_error=True, generator=seeded(1)
    )
    assert torch.all((attr - (x**2 - reference**2)).abs() <= 5 * error)


def test_equal_in_expectation_to_captums_gradient_shap():
    # both average (x - x') ⊙ ∇f(x' + α(x - x')) over a reference and an α drawn uniformly: a
    # z-test per feature on the difference of two independent estimates, each with the
    # standard error ours reports, at 0.001 over all 18 features (Bonferroni: |z| < 4.4)
    model = mlp()
    x, references = data()[:3], data()[3:]
    ours, error = ExpectedGradients(model).attribute(
        x, references, n_samples=4000, target=1, return_error=True, generator=seeded(0)
    )
    torch.manual_seed(1)  # Captum draws from torch's global generator
    theirs = GradientShap(model).attribute(x, references, n_samples=4000, target=1)
    z = (ours - theirs) / (math.sqrt(2) * error)
    assert z.abs().max() < 4.4, z
    assert not torch.allclose(ours, theirs)  # two estimates, not one computation


def test_equal_in_expectation_to_shaps_gradient_explainer():
    # shap's GradientExplainer (local_smoothing=0) is the same estimator: a reference and an α
    # drawn uniformly per sample, (x - x') ⊙ ∇f at the point. A z-test per feature as above,
    # each estimate with its own standard error: ours from return_error, shap's from its
    # return_variances (which is the samples' variance ÷ √n, so the squared standard error of
    # its mean is that ÷ √n), at 0.001 over all 18 features (|z| < 4.4).
    import numpy as np
    import shap

    model = mlp().float()  # shap's sample buffers are float32
    x, references = data()[:3].float(), data()[3:].float()
    ours, error = ExpectedGradients(model).attribute(
        x, references, n_samples=4000, target=1, return_error=True, generator=seeded(0)
    )
    explainer = shap.GradientExplainer(model, references)
    values, variances = explainer.shap_values(x, nsamples=4000, rseed=1, return_variances=True)
    # the values are (examples, features, classes), the variances (classes, examples, features)
    theirs = torch.from_numpy(np.asarray(values, dtype=np.float64)[..., 1])
    their_variance = torch.from_numpy(np.asarray(variances, dtype=np.float64)[1])
    their_error = (their_variance / math.sqrt(4000)).sqrt()
    ours, error = ours.double(), error.double()
    z = (ours - theirs) / (error.square() + their_error.square()).sqrt()
    assert z.abs().max() < 4.4, z
    assert not torch.allclose(ours, theirs)  # two estimates, not one computation
    # and the two standard errors agree: the same estimator's spread
    ratio = (their_error / error).median()
    assert 0.8 < ratio < 1.25, ratio


def test_noise_on_the_inputs_is_gradient_shaps_stdevs():
    model = mlp()
    x, references = data()[:2], data()[2:]
    ours, error = ExpectedGradients(model).attribute(
        x, references, 3000, 0.5, 2, return_error=True, generator=seeded(2)
    )
    torch.manual_seed(3)
    theirs = GradientShap(model).attribute(x, references, 3000, 0.5, 2)
    assert ((ours - theirs) / (math.sqrt(2) * error)).abs().max() < 4.4


def test_a_captum_gradient_shap_call_runs_unchanged():
    # GradientShap's positional order: inputs, baselines, n_samples, stdevs, target, forward
    # arguments, return_convergence_delta
    model = mlp()
    x, references = data()[:2], data()[2:]
    attr, delta = ExpectedGradients(model).attribute(x, references, 20, 0.0, 1, None, True)
    assert attr.shape == x.shape and delta.shape == (2,)


def test_draws_are_reproducible_and_the_standard_error_matches_the_spread():
    model = mlp()
    x, references = data()[:3], data()[3:]
    eg = ExpectedGradients(model)

    def run(seed):
        return eg.attribute(
            x, references, n_samples=32, target=0, return_error=True, generator=seeded(seed)
        )

    torch.testing.assert_close(run(5), run(5))
    spread = torch.stack([run(100 + s)[0] for s in range(40)]).std(dim=0).norm()
    estimated = torch.stack([run(s)[1].norm() for s in range(10)]).mean()
    assert 0.75 < float(estimated / spread) < 1.33


def test_auto_samples_keep_the_whole_reference_set():
    # as many references as examples: an automatic budget must not cut the reference set to
    # the examples it still runs
    model = mlp()
    x = data()[:4] * torch.tensor([[0.1], [1.0], [3.0], [0.5]], dtype=torch.float64)
    references = data()[10:14]
    seen = []
    eg = ExpectedGradients(model)
    path = eg.path

    def recording(inputs, baselines=None, **settings):
        seen.append(baselines.shape[0])
        return path(inputs, baselines=baselines, **settings)

    eg.path = recording
    with pytest.warns(UserWarning, match="did not reach"):
        attr, error = eg.attribute(
            x, references, n_samples=Auto(0.002, cap=256), target=0, return_error=True,
            generator=seeded(),
        )  # fmt: skip
    assert len(seen) > 1 and set(seen) == {4}
    assert attr.shape == x.shape and torch.all(relative_error(attr, error) > 0)


def test_inside_noise_tunnel_with_a_generator():
    model = mlp()
    x, references = data()[:2], data()[2:]

    def run():
        return NoiseTunnel(ExpectedGradients(model)).attribute(
            x, nt_samples=3, stdevs=0.1, baselines=references, n_samples=8, target=0,
            generator=seeded(9),
        )  # fmt: skip

    torch.testing.assert_close(run(), run())


@pytest.mark.parametrize(
    ("baselines", "error", "match"),
    [
        (lambda x: torch.zeros(0, 6, dtype=torch.float64), ValueError, r"R ≥ 1 references"),
        (lambda x: torch.zeros(3, 5, dtype=torch.float64), ValueError, r"shaped like one"),
        (lambda x: torch.zeros(3, 6, dtype=torch.long), TypeError, "floating-point tensors"),
        (lambda x: [[0.0] * 6], TypeError, "floating-point tensors"),
        (lambda x: torch.full((3, 6), math.nan, dtype=torch.float64), ValueError, "finite"),
        (lambda x: (x, x), ValueError, "`baselines` has 2 entries for 1 inputs"),
    ],
)
def test_bad_references_are_named(baselines, error, match):
    x = data()[:2]
    with pytest.raises(error, match=match):
        ExpectedGradients(mlp()).attribute(x, baselines(x), n_samples=2)


def test_missing_references_and_bad_noise_are_named():
    x = data()[:2]
    eg = ExpectedGradients(mlp())
    with pytest.raises(TypeError, match=r"ExpectedGradients\.attribute\(\).*'baselines'"):
        eg.attribute(x, n_samples=2)
    with pytest.raises(ValueError, match="`stdevs` must be non-negative"):
        eg.attribute(x, data()[2:], n_samples=2, stdevs=-1.0)
