"""Guided IG in a layer's space: the adaptive path from the activations ``L(x')`` to ``L(x)``."""

from __future__ import annotations

from typing import Any

from captum.log import log_usage
from torch import Tensor

from captum_smooth._utils.captum_compat import BaselineType, TargetType
from captum_smooth.attr._layer import LayerAttribution
from captum_smooth.attr._paths import checked_call
from captum_smooth.attr.guided_ig import GuidedIntegratedGradients


class LayerGuidedIntegratedGradients(LayerAttribution):
    r"""Guided IG attributed to a layer's activations ``L(x)``.

    The guided path runs from ``L(x')`` to ``L(x)``, ``x'`` given as model inputs as in Captum's
    ``LayerIntegratedGradients`` (``None``: zeros, e.g. token id 0).

    Example:
        >>> from captum_smooth.attr.layer import LayerGuidedIntegratedGradients
        >>> embeddings = nn.Embedding(10, 4)
        >>> model = nn.Sequential(embeddings, nn.Flatten(), nn.Linear(5 * 4, 2))
        >>> input_ids = torch.tensor([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]])  # 2 texts of 5 tokens
        >>> pad_ids = torch.zeros_like(input_ids)
        >>> lgig = LayerGuidedIntegratedGradients(model, embeddings)
        >>> attr = lgig.attribute(input_ids, baselines=pad_ids, target=1, n_steps=32)
        >>> attr.shape, attr.sum(-1).shape  # per embedding dimension; per token
        (torch.Size([2, 5, 4]), torch.Size([2, 5]))
    """

    method = GuidedIntegratedGradients

    @log_usage()
    @checked_call
    def attribute(  # type: ignore[override]
        self,
        inputs: Tensor | tuple[Tensor, ...],
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_steps: int = 200,
        fraction: float = 0.25,
        max_dist: float = 0.02,
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        show_progress: bool = False,
        *,
        return_error: bool = False,
    ) -> Any:
        """Attribute the target output to the layer's activations along the guided path.

        Args:
            inputs: the model's inputs (any dtype: token ids too), batch first.
            baselines: the path's start as model inputs, mapped through the layer.
            target: the output to explain, in any of Captum's forms.
            additional_forward_args: passed to ``forward_func`` after the inputs.
            n_steps: gradient evaluations along the path, or ``"auto"`` / :class:`Auto`.
            fraction: the share of features moved in each inner iteration, in (0, 1].
            max_dist: how far (in α) a feature may run ahead of the straight line.
            internal_batch_size: at most this many rows through the model at once.
            return_convergence_delta: also return ``Σ A - (f(x) - f(x'))``.
            attribute_to_layer_input: attribute to the layer's input instead of its output.
            show_progress: show a progress bar over the rows evaluated.
            return_error: also return an estimate of each attribution's error, shaped like
                the attributions (after the delta, if any; :func:`relative_error`).

        Returns:
            Attributions shaped like the layer's activations; and the delta if asked for.
        """
        return self._attribute_from(locals())
