"""Expected Gradients in a layer's space: baselines drawn from references mapped through it."""

from __future__ import annotations

from typing import Any

import torch
from captum.log import log_usage
from torch import Tensor

from captum_smooth._utils.captum_compat import TargetType
from captum_smooth.attr._layer import LayerAttribution
from captum_smooth.attr._paths import checked_call
from captum_smooth.attr.expected_gradients import ExpectedGradients


class LayerExpectedGradients(LayerAttribution):
    r"""Expected Gradients attributed to a layer's activations ``a = L(x)``.

    .. math:: A = \mathbb{E}_{x' \sim D,\ \alpha \sim U(0, 1)}\big[(a - a')
              \odot \nabla_a g(a' + \alpha (a - a'))\big], \quad a' = L(x')

    with ``g(a) = f`` where ``L``'s output is replaced by ``a``, and ``D`` the reference set
    ``baselines``, given as model inputs (token ids too) and mapped through the layer once.
    Captum's ``LayerGradientShap`` call runs unchanged (its positional order); Captum moves
    along ``x' + α (x - x')`` in the input space and takes the gradient at the layer, this
    class moves along the straight line in the layer's space, as ``LayerIntegratedGradients``
    does: the two agree where the layer is affine in the inputs (a first linear layer) and
    ``stdevs=0``. ``stdevs`` adds the noise to the activations, not to the model's inputs.

    Example:
        >>> from captum_smooth.attr.layer import LayerExpectedGradients
        >>> embeddings = nn.Embedding(10, 4)
        >>> model = nn.Sequential(embeddings, nn.Flatten(), nn.Linear(5 * 4, 2))
        >>> input_ids = torch.tensor([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]])  # 2 texts of 5 tokens
        >>> references = torch.randint(0, 10, (8, 5), generator=torch.Generator().manual_seed(1))
        >>> leg = LayerExpectedGradients(model, embeddings)
        >>> attr, delta = leg.attribute(input_ids, references, n_samples=16, target=1,
        ...     return_convergence_delta=True, generator=torch.Generator().manual_seed(0))
        >>> attr.shape, delta.shape
        (torch.Size([2, 5, 4]), torch.Size([2]))
    """

    method = ExpectedGradients
    takes_multiply_by_inputs = True

    @log_usage()
    @checked_call
    def attribute(  # type: ignore[override]
        self,
        inputs: Tensor | tuple[Tensor, ...],
        baselines: Tensor | tuple[Tensor, ...],
        n_samples: int = 50,
        stdevs: float | tuple[float, ...] = 0.0,
        target: TargetType = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        internal_batch_size: int | None = None,
        generator: torch.Generator | None = None,
        show_progress: bool = False,
        *,
        return_error: bool = False,
    ) -> Any:
        """Attribute the target output to the layer's activations, over drawn references.

        Args:
            inputs: the model's inputs (any dtype: token ids too), batch first.
            baselines: the reference set as model inputs: a tensor (a tuple for tuple inputs)
                of ``R ≥ 1`` rows shaped like one example each (Captum's LayerGradientShap
                ``baselines``); mapped through the layer once, so the additional forward
                arguments must not hold per-example tensors.
            n_samples: draws per example, or ``"auto"`` / :class:`Auto`.
            stdevs: standard deviation of Gaussian noise added to the activations before
                each draw (per activation tensor); 0, the default, is Expected Gradients.
            target: the output to explain, in any of Captum's forms.
            additional_forward_args: passed to ``forward_func`` after the inputs.
            return_convergence_delta: also return ``Σ A - (f(x) - mean f(x'_k))`` per
                example, over the references drawn.
            attribute_to_layer_input: attribute to the layer's input instead of its output.
            internal_batch_size: at most this many rows through the model at once.
            generator: the source of the draws (references, α and noise).
            show_progress: show a progress bar over the rows evaluated.
            return_error: also return the standard error of each attribution, shaped like
                the attributions (after the delta, if any; :func:`relative_error`).

        Returns:
            Attributions shaped like the layer's activations; then the delta and the error if
            asked for.
        """
        return self._attribute_from(locals())
