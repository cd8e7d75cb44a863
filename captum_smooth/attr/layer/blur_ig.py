"""Blur IG in a layer's space: Gaussian blurs over the last two dimensions of the activations.

For a layer whose output has spatial dimensions, e.g. a convolution's feature maps.
"""

from __future__ import annotations

from typing import Any

from captum.log import log_usage
from torch import Tensor

from captum_smooth._utils.captum_compat import TargetType
from captum_smooth.attr._layer import LayerAttribution
from captum_smooth.attr._paths import checked_call
from captum_smooth.attr.blur_ig import BlurIntegratedGradients


class LayerBlurIntegratedGradients(LayerAttribution):
    r"""Blur IG attributed to a layer's activations ``L(x)``.

    The path runs from ``blur(L(x), max_sigma)`` to ``L(x)``, blurring the activations' last two
    dimensions (their spatial dimensions, e.g. ``N×C×H×W`` feature maps).

    Example:
        >>> from captum_smooth.attr.layer import LayerBlurIntegratedGradients
        >>> layer1 = nn.Conv2d(3, 4, kernel_size=3, padding=1)
        >>> model = nn.Sequential(layer1, nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
        >>> images = torch.rand(2, 3, 8, 8)
        >>> lbig = LayerBlurIntegratedGradients(model, layer1)
        >>> attr = lbig.attribute(images, target=1, max_sigma=8, n_steps=32)
        >>> attr.shape  # layer1's feature maps
        torch.Size([2, 4, 8, 8])
    """

    method = BlurIntegratedGradients

    @log_usage()
    @checked_call
    def attribute(  # type: ignore[override]
        self,
        inputs: Tensor | tuple[Tensor, ...],
        target: TargetType = None,
        additional_forward_args: Any = None,
        max_sigma: float = 50.0,
        n_steps: int = 100,
        grad_step: float = 0.01,
        sqrt_schedule: bool = False,
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        show_progress: bool = False,
        *,
        return_error: bool = False,
    ) -> Any:
        """Attribute the target output to the layer's activations along the blur path.

        Args:
            inputs: the model's inputs, batch first.
            target: the output to explain, in any of Captum's forms.
            additional_forward_args: passed to ``forward_func`` after the inputs.
            max_sigma: the blur of the path's start, in activation pixels.
            n_steps: the number of blur levels, or ``"auto"`` / :class:`Auto`.
            grad_step: δ of the finite difference in σ.
            sqrt_schedule: space the σ's as square roots.
            internal_batch_size: at most this many rows through the model at once.
            return_convergence_delta: also return ``Σ A - (f(x) - g(blur(L(x), max_sigma)))``.
            attribute_to_layer_input: attribute to the layer's input instead of its output.
            show_progress: show a progress bar over the rows evaluated.
            return_error: also return an estimate of each attribution's error, shaped like
                the attributions (after the delta, if any; :func:`relative_error`).

        Returns:
            Attributions shaped like the layer's activations; and the delta if asked for.
        """
        return self._attribute_from(locals())
