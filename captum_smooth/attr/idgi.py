"""IDGI, Important Direction Gradient Integration (Yang et al., CVPR 2023): a rule for
integrating along the path of any IG-family method (docs/reference.md#idgi)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from captum.attr import GradientAttribution, IntegratedGradients
from captum.log import log_usage
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import (
    BaselineType,
    TargetType,
    TensorOrTupleOfTensorsGeneric,
)
from captum_smooth.attr._engine import Block
from captum_smooth.attr._paths import PathAttribution, straight_line


class IDGI(GradientAttribution):
    r"""Important Direction Gradient Integration on top of an IG-family method (Yang et al.,
    "IDGI: A Framework to Eliminate Explanation Noise from Integrated Gradients", CVPR 2023).

    Over the ordered points ``x_0 … x_m`` of the wrapped method's path, with values
    ``f_j = f(x_j)`` and gradients ``g_j = ∇f(x_j)`` from the same forward pass:

    .. math:: R = \sum_{j=0}^{m-1} \frac{g_j \odot g_j}{\|g_j\|^2} (f_{j+1} - f_j)

    so ``Σ R = f(x_m) - f(x_0)`` exactly, for any ``n_steps``. Zero gradients never give NaN:
    the direction is then taken from ``g_{j+1}``, or, if that is zero too, from
    ``|x_{j+1} - x_j|`` (completeness is kept). IDGI does not satisfy linearity.

    Paths of the wrapped methods:

    - Captum's :class:`~captum.attr.IntegratedGradients`: the straight line
      ``x' + (j/m)(x - x')``, ``j = 0..m`` (a uniform grid with both ends, whatever
      ``method`` Captum would use; ``multiply_by_inputs`` does not apply);
    - :class:`GuidedIntegratedGradients`: the step-start points, then ``x``;
    - :class:`BlurIntegratedGradients`: from ``blur(x, max_sigma)`` to ``x``.

    ``f`` is whatever the forward function returns for ``target``; the paper uses softmax
    probabilities: wrap the model with a softmax to follow it.

    Example:
        >>> idgi = IDGI(IntegratedGradients(model))
        >>> attr = idgi.attribute(images, baselines=0.0, target=3, n_steps=50)
    """

    def __init__(self, attribution_method: GradientAttribution) -> None:
        if isinstance(attribution_method, IntegratedGradients):
            path_method: PathAttribution = _StraightPath(attribution_method.forward_func)
        elif isinstance(attribution_method, PathAttribution):
            path_method = attribution_method
        else:
            raise TypeError(
                "IDGI integrates along the path of an IG-family method: Captum's "
                "IntegratedGradients, GuidedIntegratedGradients or BlurIntegratedGradients; "
                f"got {type(attribution_method).__name__}"
            )
        super().__init__(attribution_method.forward_func)
        self.attribution_method = attribution_method
        self._path_method = path_method

    @log_usage()
    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
        **kwargs: Any,
    ) -> TensorOrTupleOfTensorsGeneric | tuple[TensorOrTupleOfTensorsGeneric, Tensor]:
        """Attribute the target output to the inputs by IDGI along the wrapped method's path.

        Args:
            inputs, target, additional_forward_args, internal_batch_size: as for the wrapped
                method.
            return_convergence_delta: also return ``Σ attr - (f(x_m) - f(x_0))`` per example
                (zero up to floating-point error).
            **kwargs: the wrapped method's path settings: ``baselines`` and ``n_steps`` for
                IntegratedGradients; ``baselines``, ``n_steps``, ``fraction``, ``max_dist`` for
                Guided IG; ``max_sigma``, ``n_steps``, ``grad_step``, ``sqrt_schedule`` for
                Blur IG.

        Returns:
            Attributions shaped like ``inputs``; and the convergence delta if asked for.
        """
        return self._path_method._integrate(
            "idgi",
            inputs,
            target,
            additional_forward_args,
            internal_batch_size,
            return_convergence_delta,
            **kwargs,
        )

    def has_convergence_delta(self) -> bool:
        return True

    @property
    def multiplies_by_inputs(self) -> bool:
        return True


class _StraightPath(PathAttribution):
    """The straight-line path of Integrated Gradients on a uniform grid with both ends."""

    def _path(
        self,
        inputs: tuple[Tensor, ...],
        rule: str,
        with_delta: bool,
        baselines: BaselineType = None,
        n_steps: int = 50,
        method: str | None = None,
    ) -> Iterator[Block]:
        check.check_count("n_steps", n_steps)
        if method is not None:
            raise ValueError(
                "`method` does not apply: IDGI integrates over the uniform grid of n_steps + 1 "
                "points from the baseline to the input"
            )
        alphas = [j / n_steps for j in range(n_steps + 1)]
        return straight_line(inputs, check.format_baselines(baselines, inputs), alphas)
