"""SmoothGrad² (Hooker et al., 2019) as a rule on SmoothTaylor's Gaussian points.

The mean of the squared gradient at the roots ``z_r = x + ε_r``
(docs/reference.md#smoothgrad-squared).

Written as the architecture's example of a new rule: this file adds the rule and names it on
the path of any method of the package, with no edit to a path, a method or the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from captum_smooth.attr._engine import Evaluated
from captum_smooth.attr._paths import RuleOnPath
from captum_smooth.attr._rules import Rule

if TYPE_CHECKING:
    from captum_smooth.attr._paths import Path, Stream


class SquaredGradients(Rule):
    """The weighted sum of squared gradients over a path's quadrature.

    ``A = Σ_nodes w · ∇f ⊙ ∇f``: with SmoothTaylor's weights ``w = 1/R``, the mean squared
    gradient at the roots. Makes no completeness claim.

    The weights must be sample weights, non-negative and summing to one (a mean of squares
    over points: SmoothTaylor's roots, the nodes of noise-baseline IG's lines); a path whose
    quadrature weighs steps of a line integral (Guided IG's chords, Blur IG's negative steps
    in σ) is refused before its next block is evaluated, since its "squares" would be
    neither a mean nor non-negative.

    Example:
        >>> from captum_smooth.attr import SmoothGradSquared, SmoothTaylor, SquaredGradients
        >>> SmoothGradSquared.rule is SquaredGradients  # on SmoothTaylor's roots, say
        True
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
        >>> attr = SmoothGradSquared(SmoothTaylor(model)).attribute(
        ...     torch.rand(2, 3, 2, 2), target=1, n_samples=16,
        ...     generator=torch.Generator().manual_seed(0))
        >>> squared_weights = (model[1].weight[1] ** 2).view(3, 2, 2)  # a linear model's ∇f²
        >>> torch.allclose(attr, squared_weights.expand_as(attr))
        True
    """

    @staticmethod
    def stream(path: Path, with_delta: bool) -> Stream:
        """The path's quadrature (its nodes and weights; directions are not used), checked."""
        stream = path.quadrature(with_delta)
        return stream._replace(blocks=_sample_weights(stream.blocks, stream.adaptive))

    def fold(self, evaluated: Evaluated) -> None:
        """Add ``w · ∇f ⊙ ∇f`` of the block's rows."""
        if evaluated.grads is None:
            return
        for total, g in zip(self.totals, evaluated.grads, strict=True):
            total.add_((evaluated.block.weight * g * g).to(total.dtype))


def _sample_weights(blocks: Any, adaptive: bool) -> Any:
    """``blocks``, each checked before it is evaluated: weights ≥ 0 summing to one.

    An adaptive path's generator is driven through: what the engine sends goes on to it.
    """
    total, sent, started = 0.0, None, False
    blocks = iter(blocks)
    while True:
        try:
            block = blocks.send(sent) if adaptive and started else next(blocks)
        except StopIteration:
            break
        started = True
        if block.need == "grad":
            total += block.weight
            if block.weight < 0 or total > 1 + 1e-6:
                raise _not_samples()
        sent = yield block
    if abs(total - 1) > 1e-6:
        raise _not_samples()


def _not_samples() -> ValueError:
    return ValueError(
        "`attribution_method`: SmoothGradSquared averages squared gradients over samples, but "
        "this method's path weighs its points as steps of an integral (weights negative or "
        "not summing to one: Guided IG, Blur IG): wrap SmoothTaylor, "
        "NoiseBaselineIntegratedGradients or a layer variant of either"
    )


class SmoothGradSquared(RuleOnPath):
    r"""SmoothGrad² on the Gaussian roots of :class:`~captum_smooth.SmoothTaylor`.

    .. math:: A = \frac{1}{R}\sum_{r=1}^{R} \nabla f(z_r) \odot \nabla f(z_r),
              \quad z_r = x + \epsilon_r,\ \epsilon_r \sim \mathcal{N}(0, \sigma^2 I)

    Captum's ``NoiseTunnel(Saliency(model), ...)`` with ``nt_type="smoothgrad_sq"`` and
    ``abs=False`` on the same noise gives the same map; here the roots are batched under
    ``internal_batch_size`` and drawn from a ``generator``.

    Example:
        >>> from captum_smooth import SmoothGradSquared, SmoothTaylor
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3))
        >>> images = torch.rand(2, 3, 2, 2)
        >>> sg2 = SmoothGradSquared(SmoothTaylor(model))
        >>> attr = sg2.attribute(images, target=1, n_samples=50, noise_scale=0.2,
        ...                      generator=torch.Generator().manual_seed(0))
        >>> attr.shape, bool((attr >= 0).all())
        (torch.Size([2, 3, 2, 2]), True)
    """

    rule = SquaredGradients

    @property
    def multiplies_by_inputs(self) -> bool:
        """Squared gradients are not scaled by the inputs."""
        return False
