"""The package's layer methods on Captum's LLM route.

Captum explains a language model's continuation with ``LLMGradientAttribution(attr_method,
tokenizer)``: for each token ``t_j`` of the target, the layer method attributes the
log-probability ``log p(t_j | prompt, t_<j)`` to the layer's activations (the embeddings),
summed over the embedding dimension into one score per prompt token. This subclass admits the
package's layer variants and IDGI on a layer method beside Captum's own layer methods, and
returns Captum's :class:`~captum.attr.LLMAttributionResult`, plots included.

Captum passes the target's token ids as a tensor among the ``additional_forward_args``, which
the package's methods read as one row per example; here they travel as plain ints, read by a
forward function of this module that the wrapped method is given in place of the model.
"""

from __future__ import annotations

from copy import copy
from typing import Any

import torch
from captum.attr import (
    GradientAttribution,
    LayerIntegratedGradients,
    LLMAttributionResult,
    TextTokenInput,
)
from captum.attr import LLMGradientAttribution as CaptumLLMGradientAttribution
from torch import Tensor, nn

from captum_smooth._utils.captum_compat import convert_ids_to_pretty_tokens
from captum_smooth._utils.models import one_training_warning
from captum_smooth.attr._layer import LayerAttribution
from captum_smooth.attr._paths import RuleOnPath

_CAPTUM_METHODS = CaptumLLMGradientAttribution.SUPPORTED_METHODS


class LLMGradientAttribution(CaptumLLMGradientAttribution):
    r"""Captum's ``LLMGradientAttribution`` for the package's layer methods too.

    For a prompt ``x`` (a :class:`~captum.attr.TextTokenInput`) and a target ``t_1 … t_m``,
    row ``j`` of ``token_attr`` is ``attr_method``'s attribution of
    ``log p(t_j | x, t_<j)`` to the layer's activations at the prompt's positions, summed over
    the last (embedding) dimension; ``seq_attr`` is the sum of the rows, the attribution of
    ``log p(t_1 … t_m | x)``. The activations at the positions of ``t_<j`` are attributed to
    but not reported (as Captum). Baselines are the prompt with every interpretable token
    replaced by the input's ``baselines`` token (``TextTokenInput(..., baselines=0)``).

    ``attr_method`` is built on the causal language model itself (a Hugging Face style
    model whose output has ``logits``), with the layer to attribute to, e.g.
    ``model.transformer.wte``:

    - Captum's ``LayerIntegratedGradients``, ``LayerGradientXActivation``,
      ``LayerGradientShap`` (as Captum's class, same numbers);
    - the package's ``LayerSmoothTaylor``, ``LayerNoiseBaselineIntegratedGradients``,
      ``LayerGuidedIntegratedGradients``, ``LayerBlurIntegratedGradients`` (blurring the
      ``tokens × embedding`` plane);
    - a rule on the path of one of these, e.g. ``IDGI(LayerIntegratedGradients(model,
      layer))``, rebuilt on this route's forward function.

    Example:
        A GPT-2 with random weights over MiniLM's installed tokenizer stands in for a trained
        causal language model and its tokenizer:

        >>> import transformers
        >>> from captum.attr import TextTokenInput
        >>> from captum_smooth.attr.layer import LayerSmoothTaylor
        >>> from captum_smooth.attr.llm import LLMGradientAttribution
        >>> from captum_smooth.examples import load_minilm
        >>> _, tokenizer = load_minilm()
        >>> config = transformers.GPT2Config(
        ...     n_layer=2, n_head=2, n_embd=32, vocab_size=len(tokenizer),
        ...     bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id)
        >>> model = transformers.GPT2LMHeadModel(config).eval()
        >>> lst = LayerSmoothTaylor(model, model.transformer.wte)
        >>> llm_attr = LLMGradientAttribution(lst, tokenizer)
        >>> result = llm_attr.attribute(TextTokenInput("the cat sat on", tokenizer),
        ...                             target="the mat", n_samples=32, noise_scale=0.05,
        ...                             generator=torch.Generator().manual_seed(0))
        >>> result.input_tokens, result.output_tokens
        (['[CLS]', 'the', 'cat', 'sat', 'on', '[SEP]'], ['the', 'mat'])
        >>> result.token_attr.shape  # (target tokens, prompt tokens); plot_token_attr() draws it
        torch.Size([2, 6])
    """

    SUPPORTED_METHODS = (*_CAPTUM_METHODS, LayerAttribution, RuleOnPath)

    def __init__(self, attr_method: GradientAttribution, tokenizer: Any) -> None:
        """Wrap ``attr_method``, a layer method on the model, for prompts of ``tokenizer``.

        Args:
            attr_method: one of the supported layer methods (see the class), built on the
                language model itself, not on a function wrapping it.
            tokenizer: the model's Hugging Face tokenizer.

        Raises:
            TypeError: if ``attr_method`` is not a supported layer method or is not built on
                an ``nn.Module``.
        """
        _check_method(attr_method)
        super().__init__(attr_method, tokenizer)
        self.attr_method = _retargeted(attr_method, _TargetLogProb(self.model, self.device))

    def attribute(  # type: ignore[override]
        self,
        inp: TextTokenInput,
        target: str | Tensor | None = None,
        gen_args: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> LLMAttributionResult:
        """Attribute the log-probability of each target token to the prompt's tokens.

        Args:
            inp: the prompt.
            target: the continuation to explain: a string (tokenized without special
                tokens) or a 1-D tensor of token ids; ``None`` generates it from the prompt
                with ``gen_args``.
            gen_args: arguments of ``model.generate`` when ``target`` is ``None`` (Captum's
                default: 25 new tokens, greedy).
            **kwargs: ``attr_method.attribute``'s settings (``n_steps``, ``n_samples``,
                ``generator``, ``internal_batch_size``, ``attribute_to_layer_input``, ...).

        Returns:
            Captum's result: ``token_attr`` ``(n_target_tokens, n_prompt_tokens)``,
            ``seq_attr`` ``(n_prompt_tokens,)``, the prompt's and the target's tokens.

        Raises:
            TypeError: if ``inp`` is not a ``TextTokenInput`` or the layer has several
                output tensors.
            ValueError: for a target that is not a non-empty 1-D tensor of token ids in the
                model's vocabulary, or a setting the route sets itself (``additional_forward_args``,
                ``return_convergence_delta``, ``return_error``).
        """
        if not isinstance(inp, TextTokenInput):
            raise TypeError(f"`inp` must be a TextTokenInput, got {type(inp).__name__}")
        for name in ("additional_forward_args", "return_convergence_delta", "return_error"):
            if kwargs.get(name):
                raise ValueError(
                    f"`{name}`: set by the route (the target's tokens; "
                    "LLMAttributionResult has no place for a convergence delta or an error)"
                )
        target_tokens = self._get_target_tokens(inp, target, gen_args=gen_args)
        if target_tokens.dim() != 1 or not target_tokens.numel():
            raise ValueError(
                f"`target` must give a non-empty 1-D tensor of token ids, got shape "
                f"{tuple(target_tokens.shape)}"
            )
        if target_tokens.is_floating_point() or target_tokens.is_complex():
            raise TypeError(f"`target` must give integer token ids, got {target_tokens.dtype}")
        ids = target_tokens.tolist()
        _check_in_vocabulary(ids, _vocabulary_size(self.model))
        interpretable = inp.to_tensor().to(self.device)
        rows = []
        with one_training_warning(self.model):
            for j, token in enumerate(ids):
                attributions = self.attr_method.attribute(
                    interpretable, additional_forward_args=(inp, tuple(ids[:j]), token), **kwargs
                )
                if not isinstance(attributions, Tensor):
                    raise TypeError(
                        "the layer must have one output tensor (one layer, not a list; "
                        f"got {type(attributions).__name__} of attributions)"
                    )
                per_position = attributions.detach().sum(-1)
                rows.append(per_position[:, : per_position.shape[1] - j])
        token_attr = torch.cat(rows)
        if inp.itp_mask is not None:
            token_attr = token_attr[:, inp.itp_mask[0].to(token_attr.device)]
        return LLMAttributionResult(
            seq_attr=token_attr.sum(0),
            token_attr=token_attr,
            input_tokens=inp.values,
            output_tokens=convert_ids_to_pretty_tokens(target_tokens, self.tokenizer),
        )


class _TargetLogProb:
    """The route's forward function: ``log p(token | prompt, earlier)``.

    One value for each row of interpretable features (1 keeps a prompt token, else the input's
    baseline token); the earlier target tokens are given as ints so that no method reads them
    as rows.
    """

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        self.model, self.device = model, device

    def __call__(
        self,
        interpretable: Tensor,
        inp: TextTokenInput,
        earlier: tuple[int, ...],
        token: int,
    ) -> Tensor:
        """One log-probability per row of ``interpretable``."""
        ids = inp.to_model_input(interpretable).to(self.device)
        if earlier:
            tail = torch.tensor(earlier, dtype=ids.dtype, device=ids.device)
            ids = torch.cat([ids, tail.expand(ids.shape[0], -1)], dim=1)
        logits = self.model(ids).logits[:, -1]
        _check_in_vocabulary([token], logits.shape[-1])
        return torch.log_softmax(logits, dim=-1)[:, token]


def _vocabulary_size(model: nn.Module) -> int | None:
    """The number of token ids ``model`` embeds (``None``: not known before a forward pass)."""
    embeddings = getattr(model, "get_input_embeddings", None)
    table = embeddings() if callable(embeddings) else None
    if isinstance(table, nn.Embedding):
        return table.num_embeddings
    size = getattr(getattr(model, "config", None), "vocab_size", None)
    return size if isinstance(size, int) else None


def _check_in_vocabulary(ids: list[int], size: int | None) -> None:
    outside = [i for i in ids if i < 0 or (size is not None and i >= size)]
    if outside:
        raise ValueError(
            f"`target` has token ids outside the model's vocabulary of {size} tokens: "
            f"{outside[:5]}; tokenize the target with the model's tokenizer"
        )


def _check_method(attr_method: Any) -> None:
    """A supported layer method (or a rule on the path of one), built on a model."""
    if isinstance(attr_method, RuleOnPath):
        inner = attr_method.attribution_method
        supported = isinstance(inner, (LayerAttribution, LayerIntegratedGradients))
    else:
        inner = attr_method
        supported = isinstance(inner, (LayerAttribution, *_CAPTUM_METHODS))
    if not supported:
        raise TypeError(
            "`attr_method` must be a layer method: Captum's LayerIntegratedGradients, "
            "LayerGradientXActivation or LayerGradientShap, a layer variant of captum_smooth "
            "(captum_smooth.attr.layer), or IDGI on LayerIntegratedGradients or on a layer "
            f"variant; got {_describe(attr_method)}"
        )
    if not isinstance(inner.forward_func, nn.Module):
        raise TypeError(
            "`attr_method` must be built on the language model itself (an nn.Module with "
            f"`logits` in its output), got a {type(inner.forward_func).__name__}"
        )


def _describe(attr_method: Any) -> str:
    if isinstance(attr_method, RuleOnPath):
        return f"{type(attr_method).__name__}({type(attr_method.attribution_method).__name__})"
    return type(attr_method).__name__


def _retargeted(attr_method: Any, forward_func: _TargetLogProb) -> Any:
    """A copy of ``attr_method`` on ``forward_func``.

    A rule on a path is rebuilt around a copy of its method, since it fixed its path method on
    the model when it was made.
    """
    if isinstance(attr_method, RuleOnPath):
        return attr_method.on(_retargeted(attr_method.attribution_method, forward_func))
    method = copy(attr_method)
    method.forward_func = forward_func
    return method
