"""SmoothTaylor in a layer's space: Gaussian roots around the activations ``a = L(x)``.

For text, the noise goes on the embeddings, never on the integer token ids.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from captum.log import log_usage
from torch import Tensor

from captum_smooth._utils.captum_compat import TargetType
from captum_smooth.attr._layer import LayerAttribution
from captum_smooth.attr._paths import checked_call
from captum_smooth.attr.smooth_taylor import NoiseScale, SmoothTaylor


class LayerSmoothTaylor(LayerAttribution):
    r"""SmoothTaylor attributed to a layer's activations ``a = L(x)``.

    .. math:: A = \frac{1}{R}\sum_r (a - z_r) \odot \nabla_a g(z_r), \quad z_r = a + \epsilon_r

    with ``g(a) = f`` where ``L``'s output is replaced by ``a``. Its expectation for
    ``g(a) = Σ α a² + γ a³ + β a`` is ``-2 α σ² - 6 γ a σ²``, as SmoothTaylor's in the input space.

    Example:
        >>> from captum_smooth.attr.layer import LayerSmoothTaylor
        >>> embeddings = nn.Embedding(10, 4)
        >>> model = nn.Sequential(embeddings, nn.Flatten(), nn.Linear(5 * 4, 2))
        >>> input_ids = torch.tensor([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]])  # 2 texts of 5 tokens
        >>> lst = LayerSmoothTaylor(model, embeddings)
        >>> attr = lst.attribute(input_ids, target=1, n_samples=64, noise_scale=0.05,
        ...                      generator=torch.Generator().manual_seed(0))
        >>> per_token = attr.sum(-1)
        >>> per_token.shape
        torch.Size([2, 5])
    """

    method = SmoothTaylor

    @log_usage()
    @checked_call
    def attribute(  # type: ignore[override]
        self,
        inputs: Tensor | tuple[Tensor, ...],
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_samples: int = 200,
        noise_scale: NoiseScale | tuple[NoiseScale, ...] = 0.5,
        noise_scale_mode: Literal["absolute", "relative"] = "absolute",
        internal_batch_size: int | None = None,
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
            n_samples: R, Gaussian roots per example, or ``"auto"`` / :class:`Auto`.
            noise_scale: σ in the activations' units (a float, per-example tensor, or a tuple
                with one entry per activation tensor).
            noise_scale_mode: ``"absolute"`` or ``"relative"`` (to each example's range).
            internal_batch_size: at most this many rows through the model at once (``None``:
                as many as the memory budget holds at what a row costs: the whole model's
                activations, :func:`set_memory_budget`).
            generator: the source of the Gaussian noise.
            attribute_to_layer_input: attribute to the layer's input instead of its output.
            show_progress: show a progress bar over the rows evaluated.
            return_error: also return an estimate of each attribution's error, shaped like
                the attributions (after the delta, if any; :func:`relative_error`).

        Returns:
            Attributions shaped like the layer's activations (a tuple for a layer with
            several outputs, a list for a list of layers).
        """
        return self._attribute_from(locals())
