"""Noise-baseline IG in a layer's space: straight lines from uniform-noise activations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from captum.log import log_usage
from torch import Tensor

from captum_smooth._utils.captum_compat import TargetType
from captum_smooth.attr._layer import LayerAttribution
from captum_smooth.attr._paths import checked_call
from captum_smooth.attr.noise_baseline_ig import NoiseBaselineIntegratedGradients


class LayerNoiseBaselineIntegratedGradients(LayerAttribution):
    r"""IG attributed to a layer's activations, averaged over ``N`` uniform-noise baselines.

    The baselines are drawn in the layer's activation space (between ``baseline_low`` and
    ``baseline_high``, then ``baseline_transform``) and the attributions go to the activations
    ``a = L(x)``; complete against the mean output at the baselines.

    Example:
        >>> from captum_smooth.attr.layer import LayerNoiseBaselineIntegratedGradients
        >>> embeddings = nn.Embedding(10, 4)
        >>> model = nn.Sequential(embeddings, nn.Flatten(), nn.Linear(5 * 4, 2))
        >>> input_ids = torch.tensor([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]])  # 2 texts of 5 tokens
        >>> lig = LayerNoiseBaselineIntegratedGradients(model, embeddings)
        >>> attr = lig.attribute(input_ids, target=1, n_baselines=4, baseline_low=-0.1,
        ...                      baseline_high=0.1, generator=torch.Generator().manual_seed(0))
        >>> attr.shape
        torch.Size([2, 5, 4])
    """

    method = NoiseBaselineIntegratedGradients
    takes_multiply_by_inputs = True

    @log_usage()
    @checked_call
    def attribute(  # type: ignore[override]
        self,
        inputs: Tensor | tuple[Tensor, ...],
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_baselines: int = 10,
        baseline_low: float | Tensor | tuple[float | Tensor, ...] = 0.0,
        baseline_high: float | Tensor | tuple[float | Tensor, ...] = 1.0,
        baseline_transform: Callable[[Any], Any] | None = None,
        n_steps: int = 50,
        method: str = "riemann_right",
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
        generator: torch.Generator | None = None,
        attribute_to_layer_input: bool = False,
        show_progress: bool = False,
        *,
        return_error: bool = False,
    ) -> Any:
        """Attribute the target output to the layer's activations.

        Args:
            inputs: the model's inputs (any dtype: token ids too), batch first.
            target: the output to explain, in any of Captum's forms.
            additional_forward_args: passed to ``forward_func`` after the inputs.
            n_baselines: N, noise baselines per example, or ``"auto"`` / :class:`Auto`.
            baseline_low: the lower bound of the draw, in the activations' units.
            baseline_high: the upper bound of the draw, in the activations' units.
            baseline_transform: maps the draw to baselines in the activations' space.
            n_steps: steps of each path integral.
            method: the quadrature along each path (Captum's names; a true trapezoid).
            internal_batch_size: at most this many rows through the model at once.
            return_convergence_delta: also return ``Σ A - (f(x) - mean_k g(z_k))``.
            generator: the source of the uniform draws.
            attribute_to_layer_input: attribute to the layer's input instead of its output.
            show_progress: show a progress bar over the rows evaluated.
            return_error: also return an estimate of each attribution's error, shaped like
                the attributions (after the delta, if any; :func:`relative_error`).

        Returns:
            Attributions shaped like the layer's activations; and the delta if asked for.
        """
        return self._attribute_from(locals())
