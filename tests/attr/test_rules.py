"""Rules as objects: a recorded path folded by IDGI's rule equals the authors' formula, and
SmoothGrad² (a rule added in one file) equals Captum's NoiseTunnel on the same noise."""

import numpy as np
import pytest
import torch
from captum.attr import NoiseTunnel, Saliency

import captum_smooth._utils.validation as validation
from captum_smooth import SmoothTaylor
from captum_smooth.attr import IDGIRule, RiemannSum, SmoothGradSquared, fold_recorded


def authors_idgi(gradients, predictions):
    """The IDGI authors' ``IDGI(Gradients, Predictions)`` for one example, in numpy."""
    result = np.zeros_like(gradients[0])
    for i in range(len(gradients) - 1):
        d = predictions[i + 1] - predictions[i]
        element_product = gradients[i] ** 2
        result += element_product / np.sum(element_product) * d
    return result


def test_idgi_over_a_recorded_path_is_the_authors_formula():
    generator = torch.Generator().manual_seed(0)
    m, shape = 9, (3, 4, 4)
    points = [torch.randn(2, *shape, dtype=torch.float64, generator=generator) for _ in range(m)]
    values = [torch.randn(2, dtype=torch.float64, generator=generator) for _ in range(m)]
    grads = [torch.randn(2, *shape, dtype=torch.float64, generator=generator) for _ in range(m)]
    ours = fold_recorded(IDGIRule, points, values, grads)
    for i in range(2):
        expected = authors_idgi([g[i].numpy() for g in grads], [v[i].item() for v in values])
        np.testing.assert_allclose(ours[i].numpy(), expected, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(ours.flatten(1).sum(1), values[-1] - values[0])


def test_a_riemann_sum_over_a_recorded_path_takes_each_chord():
    points = [torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 3.0]])]
    grads = [torch.tensor([[1.0, 1.0]]), torch.tensor([[2.0, -1.0]]), torch.tensor([[5.0, 5.0]])]
    values = [torch.zeros(1)] * 3
    attributions = fold_recorded(RiemannSum, points, values, grads)
    # (1, 2) ⊙ (1, 1) + (2, 1) ⊙ (2, -1); the last point's gradient is never used
    torch.testing.assert_close(attributions, torch.tensor([[5.0, 1.0]]))


def test_recorded_paths_of_tuples_give_tuples_and_mismatched_lengths_are_refused():
    points = [(torch.ones(1, 2), torch.ones(1, 3)) for _ in range(3)]
    grads = [(torch.ones(1, 2), torch.ones(1, 3)) for _ in range(3)]
    values = [torch.tensor([float(j)]) for j in range(3)]
    result = fold_recorded(IDGIRule, points, values, grads)
    assert isinstance(result, tuple) and result[1].shape == (1, 3)
    torch.testing.assert_close(sum(r.sum() for r in result), torch.tensor(2.0))
    with pytest.raises(ValueError, match="points"):
        fold_recorded(IDGIRule, points, values[:2], grads)


def test_smoothgrad_squared_equals_captums_noise_tunnel_on_the_same_noise(cnn, monkeypatch):
    images = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sigma, n_samples = 0.3, 5
    drawn = []
    normal = torch.normal

    def recording_normal(*args, **kwargs):
        drawn.append(normal(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(torch, "normal", recording_normal)
    captum = NoiseTunnel(Saliency(cnn)).attribute(
        images, nt_type="smoothgrad_sq", nt_samples=n_samples, stdevs=sigma, target=2, abs=False
    )
    monkeypatch.undo()
    (noise,) = drawn  # (2·R, …), example-major: row i·R + r is example i's root r
    roots = iter(noise.view(2, n_samples, 3, 8, 8).transpose(0, 1) / sigma)
    monkeypatch.setattr(validation, "fill_randn", lambda out, generator: out.copy_(next(roots)))
    ours = SmoothGradSquared(SmoothTaylor(cnn)).attribute(
        images, target=2, n_samples=n_samples, noise_scale=sigma, internal_batch_size=3
    )
    torch.testing.assert_close(ours, captum)
    assert (ours >= 0).all() and ours.abs().sum() > 0


def test_smoothgrad_squared_takes_no_convergence_delta(cnn):
    sg2 = SmoothGradSquared(SmoothTaylor(cnn))
    assert sg2.has_convergence_delta() is False and sg2.multiplies_by_inputs is False
