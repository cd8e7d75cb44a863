"""Our straight-line IG against PAIR's IntegratedGradients.

PAIR weights S points ``linspace(0, 1, S)`` uniformly by ``1/S`` (its own rule, summing to
one but first order); our ``riemann_trapezoid`` weights the same points by ``1/(S-1)``, halved
at both ends. The two differ by a known amount, checked exactly here:

    PAIR(S) = (S-1)/S · trapezoid(S) + (x - x')/(2S) ⊙ (∇f(x') + ∇f(x))
"""

import numpy as np
import torch
from captum.attr import Saliency
from saliency.core.integrated_gradients import IntegratedGradients as PairIG

from captum_smooth import NoiseBaselineIntegratedGradients
from tests.attr.reference import pair_call_model


def test_straight_line_ig_agrees_with_pair_up_to_the_documented_weights(cnn):
    steps, target = 9, 2
    image = torch.rand(1, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    drawn = []
    trapezoid = NoiseBaselineIntegratedGradients(cnn).attribute(
        image,
        target=target,
        n_baselines=1,
        n_steps=steps,
        method="riemann_trapezoid",
        baseline_transform=lambda u: drawn.append(u) or u,
    )
    (baseline,) = drawn  # not a constant image: max-pool ties would make gradients arbitrary
    ends = torch.cat([baseline, image]).requires_grad_(True)
    gradients = Saliency(cnn).attribute(ends, target=target, abs=False)
    ours = trapezoid * (steps - 1) / steps + (image - baseline) / (2 * steps) * gradients.sum(
        0, keepdim=True
    )
    reference = PairIG().GetMask(
        image[0].permute(1, 2, 0).numpy(),
        pair_call_model(cnn, target),
        x_baseline=baseline[0].permute(1, 2, 0).numpy(),
        x_steps=steps,
    )
    # PAIR accumulates its gradients in float32
    np.testing.assert_allclose(ours[0].permute(1, 2, 0).numpy(), reference, rtol=1e-5, atol=1e-7)
