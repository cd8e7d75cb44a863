"""Token-level metrics for text models (docs/reference.md#metrics).

Attributions summed per token against a token mask, and deletion and insertion curves over
tokens.

Attributions to an embedding layer are ``(B, T, D)``: one ``D``-vector per token; the score of
a token is their sum over ``D`` (:func:`token_scores`), as Captum's text tutorials take it.
``positions`` says which tokens count: those of the sentence itself, say, without ``[CLS]``,
``[SEP]`` and padding. The other tokens are never ranked, scored or replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor

from captum_smooth._utils import batching
from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import format_additional_forward_args
from captum_smooth.metrics import _common as common
from captum_smooth.metrics.localisation import LocalisationResult, localisation

EmbeddingReduction = Literal["sum", "abs_sum"]


def token_scores(
    attributions: Tensor,
    embedding_reduction: EmbeddingReduction = "sum",
    *,
    shape: tuple[int, int] | None = None,
    device: torch.device | None = None,
    reference: str = "input_ids",
) -> Tensor:
    """One score per token: ``(B, T, D)`` attributions summed over ``D``.

    Args:
        attributions: ``(B, T, D)`` attributions to an embedding layer, or a ``(B, T)`` map
            taken as the scores themselves.
        embedding_reduction: ``"sum"`` (signed, default) or ``"abs_sum"`` over ``D``.
        shape: the ``(B, T)`` the scores must have (that of ``reference``; ``None``: any).
        device: the device they must be on (that of ``reference``; ``None``: any).
        reference: the name of the argument ``shape`` and ``device`` come from, for errors.

    Returns:
        ``(B, T)`` scores.

    Raises:
        TypeError: not a floating-point tensor.
        ValueError: NaN or inf, no examples, another device, or a shape that is neither
            ``(B, T)`` nor ``(B, T, D)``.

    Example:
        >>> from captum_smooth.metrics import token_scores
        >>> attributions = torch.tensor([[[1.0, -2.0], [0.5, 0.5], [0.0, 3.0]]])  # (1, 3, 2)
        >>> token_scores(attributions).tolist(), token_scores(attributions, "abs_sum").tolist()
        ([[-1.0, 1.0, 3.0]], [[3.0, 1.0, 3.0]])
    """
    attributions = check.check_tensor("attributions", attributions, device, reference)
    check.check_choice("embedding_reduction", embedding_reduction, ("sum", "abs_sum"))
    if attributions.dim() not in (2, 3) or (
        shape is not None and tuple(attributions.shape[:2]) != tuple(shape)
    ):
        expected = "(B, T)" if shape is None else tuple(shape)
        raise ValueError(
            f"`attributions` of shape {tuple(attributions.shape)} does not match {expected} of "
            f"`{reference}`: give (B, T, D) attributions or a (B, T) map"
        )
    if attributions.dim() == 2:
        return attributions
    values = attributions.abs() if embedding_reduction == "abs_sum" else attributions
    return values.sum(dim=2)


class TokenPointingResult(NamedTuple):
    """Per-example pointing-game hits of the top token, with their chance level.

    Example:
        >>> from captum_smooth.metrics import token_pointing_game
        >>> scores = torch.tensor([[0.1, 0.9, 0.2, 0.0], [0.5, 0.1, 0.2, 0.3]])  # (B, T) maps
        >>> masks = torch.tensor([[0, 1, 0, 0], [0, 0, 1, 0]], dtype=torch.bool)
        >>> result = token_pointing_game(scores, masks)
        >>> result.hit.tolist(), result.chance.tolist(), result.top.tolist()
        ([1.0, 0.0], [0.25, 0.25], [1, 0])
    """

    hit: Tensor
    """``(B,)`` in [0, 1]: 1 when the highest-scoring token lies in the mask, 0 when not (for
    tied top tokens, the fraction of them in the mask); higher is better."""
    chance: Tensor
    """``(B,)`` the hit of a token drawn uniformly among ``positions``: the mask's share of
    them."""
    top: Tensor
    """``(B,)`` the index of the highest-scoring token (the first of tied ones)."""


def token_pointing_game(
    attributions: Tensor,
    masks: Tensor,
    *,
    positions: Tensor | None = None,
    embedding_reduction: EmbeddingReduction = "sum",
) -> TokenPointingResult:
    """Whether the token with the highest score lies in the mask: the pointing game on tokens.

    The pointing game of Zhang et al. ("Top-down Neural Attention by Excitation Backprop",
    ECCV 2016) for images counts a hit when the map's maximum falls on the object; here the
    points are tokens, the object the mask's tokens (the word pieces of a sentiment word, say).
    Among ``positions`` only, the token scores (:func:`token_scores`) are ranked; the hit is 1
    when the top token is in the mask, and when several tokens share the top score, the
    fraction of them that are (the expected hit of breaking the tie at random). ``chance`` is
    ``|mask ∩ positions| / |positions|``, the hit of a uniformly random token. The mean of
    ``hit`` over examples is how often a method ranks the mask first.

    Args:
        attributions: ``(B, T, D)`` attributions or a ``(B, T)`` map.
        masks: ``(B, T)`` binary masks (bool, or 0/1 numbers), each with at least one token
            among ``positions``.
        positions: ``(B, T)`` binary: the tokens that are ranked (``None``: all).
        embedding_reduction: ``"sum"`` (signed, default) or ``"abs_sum"`` over ``D``.

    Returns:
        :class:`TokenPointingResult` ``(hit, chance, top)``.

    Example:
        >>> from captum_smooth.metrics import token_pointing_game
        >>> scores = torch.tensor([[0.1, 0.9, 0.2, 0.0], [0.5, 0.1, 0.2, 0.3]])  # (B, T) maps
        >>> masks = torch.tensor([[0, 1, 0, 0], [0, 0, 1, 0]], dtype=torch.bool)
        >>> positions = torch.tensor([[1, 1, 1, 1], [0, 1, 1, 0]], dtype=torch.bool)
        >>> result = token_pointing_game(scores, masks, positions=positions)
        >>> result.hit.mean().item(), result.chance.mean().item()  # how often, by chance
        (1.0, 0.375)
    """
    scores, truth, where = _scores_and_masks(attributions, masks, positions, embedding_reduction)
    if not (truth & where).any(dim=1).all():
        raise ValueError("every mask in `masks` needs at least one token among `positions`")
    ranked = scores.masked_fill(~where, -torch.inf)
    best = ranked.amax(dim=1, keepdim=True)
    tops = (ranked == best) & where
    hit = (tops & truth).sum(dim=1) / tops.sum(dim=1)
    chance = (truth & where).sum(dim=1) / where.sum(dim=1)
    return TokenPointingResult(
        hit.to(scores.dtype), chance.to(scores.dtype), tops.int().argmax(dim=1)
    )


def token_localisation(
    attributions: Tensor,
    masks: Tensor,
    *,
    positions: Tensor | None = None,
    n_thresholds: int = 101,
    embedding_reduction: EmbeddingReduction = "sum",
) -> LocalisationResult:
    """How well the token scores locate a token mask: :func:`localisation` over tokens.

    Each example's scores at its ``positions`` are taken as a map with one token per "pixel"
    and scored against the mask by :func:`~captum_smooth.metrics.localisation` (min-max
    normalised; ROC-AUC, best F1, best MAE over ``n_thresholds`` thresholds), example by
    example since the number of positions may differ.

    Args:
        attributions: ``(B, T, D)`` attributions or a ``(B, T)`` map.
        masks: ``(B, T)`` binary masks, each with tokens inside and outside the mask among
            ``positions``.
        positions: ``(B, T)`` binary: the tokens that are scored (``None``: all).
        n_thresholds: the number of thresholds for F1 and MAE (≥ 2).
        embedding_reduction: ``"sum"`` (signed, default) or ``"abs_sum"`` over ``D``.

    Returns:
        :class:`~captum_smooth.metrics.LocalisationResult`: ROC-AUC and best F1 (higher is
        better), best MAE (lower is better), per example, and their threshold curves.

    Example:
        >>> from captum_smooth.metrics import token_localisation
        >>> scores = torch.tensor([[0.1, 0.9, 0.2, 0.0, 0.3], [0.5, 0.1, 0.2, 0.3, 0.0]])
        >>> masks = torch.tensor([[0, 1, 0, 0, 0], [0, 0, 0, 1, 0]], dtype=torch.bool)
        >>> result = token_localisation(scores, masks)
        >>> result.roc_auc.tolist()  # row 2's word ranks second of its five tokens
        [1.0, 0.75]
        >>> [round(f1, 3) for f1 in result.best_f1.tolist()]
        [1.0, 0.667]
    """
    scores, truth, where = _scores_and_masks(attributions, masks, positions, embedding_reduction)
    inside = (truth & where).sum(dim=1)
    if ((inside == 0) | (inside == where.sum(dim=1))).any():
        raise ValueError(
            "every mask in `masks` needs tokens inside and outside it among `positions` "
            "(ROC-AUC is undefined otherwise)"
        )
    check.check_count("n_thresholds", n_thresholds)
    results = [
        localisation(
            scores[row, where[row]].view(1, 1, -1),
            truth[row, where[row]].view(1, 1, -1),
            n_thresholds=n_thresholds,
        )
        for row in range(scores.shape[0])
    ]
    columns = list(zip(*results, strict=True))
    return LocalisationResult(
        *(torch.cat(column) for column in columns[:-1]), thresholds=results[0].thresholds
    )


class TokenCurveResult(NamedTuple):
    """Per-example token deletion (or insertion) scores and the curves behind them.

    Example:
        >>> from captum_smooth.metrics import token_deletion
        >>> from captum.attr import LayerIntegratedGradients
        >>> embeddings = nn.Embedding(10, 4)
        >>> model = nn.Sequential(embeddings, nn.Flatten(), nn.Linear(5 * 4, 2))
        >>> input_ids = torch.tensor([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]])
        >>> lig = LayerIntegratedGradients(model, embeddings)
        >>> attributions = lig.attribute(input_ids, target=1)  # (2, 5, 4)
        >>> positions = torch.tensor([[0, 1, 1, 1, 1]] * 2, dtype=torch.bool)  # not the first
        >>> result = token_deletion(model, input_ids, attributions, target=1, baselines=0,
        ...                         positions=positions, n_steps=4)
        >>> result.fractions.tolist(), result.counts.tolist()  # tokens replaced by id 0
        ([0.0, 0.25, 0.5, 0.75, 1.0], [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]])
        >>> result.score.shape, result.curve.shape  # probabilities of class 1 along the way
        (torch.Size([2]), torch.Size([2, 5]))
    """

    score: Tensor
    """``(B,)`` area under the probability curve over the fraction of tokens, in [0, 1]."""
    curve: Tensor
    """``(B, n_steps + 1)`` softmax probability of the target class at each fraction."""
    counts: Tensor
    """``(B, n_steps + 1)`` how many tokens are replaced (deletion) or kept (insertion) at
    each fraction."""
    fractions: Tensor
    """``(n_steps + 1,)`` the fraction of each example's tokens deleted (or inserted)."""


def token_deletion(
    forward_func: Callable[..., Any],
    input_ids: Tensor,
    attributions: Tensor,
    target: Any = None,
    *,
    baselines: int | Tensor,
    positions: Tensor | None = None,
    additional_forward_args: Any = None,
    n_steps: int = 20,
    embedding_reduction: EmbeddingReduction = "sum",
    batch_size: int | None = 64,
) -> TokenCurveResult:
    r"""Deletion curve over tokens and its area (Petsiuk et al., "RISE", BMVC 2018, on tokens).

    Starting from ``input_ids``, the tokens among ``positions`` are replaced by
    ``baselines`` (a token id such as ``[PAD]`` or ``[MASK]``) in order of decreasing score
    (:func:`token_scores`; ties keep token order). At fraction ``t = k / n_steps`` the
    ``round(t · n)`` (halves up) highest-ranked of the example's ``n`` positions are replaced,
    and the softmax probability ``p_t`` of the target is recorded:

    .. math:: \mathrm{Deletion} = \int_0^1 p_t \, dt \ \text{(trapezoid rule)}

    Lower is better; ``score`` lies in [0, 1]. Tokens are replaced, not dropped: the
    sentence keeps its length and positions (the attention mask stays as given), so the
    curve measures the tokens' content, as a path method's baseline of the same token id
    does. Each distinct count is run through the model once, so an ``n_steps`` above the
    number of positions costs no more rows.

    Args:
        forward_func: the model: ``(rows, T)`` token ids (then ``additional_forward_args``)
            → logits ``(rows, K)``, ``K ≥ 2`` (the softmax is applied here; one output is a
            ``ValueError``: its softmax is always 1).
        input_ids: ``(B, T)`` token ids (an integer tensor).
        attributions: ``(B, T, D)`` attributions or a ``(B, T)`` map.
        target: the class per example; ``None``: the model's top-1 class on ``input_ids``.
        baselines: the replacement: a token id, or integer ids broadcastable to
            ``input_ids`` (one per position).
        positions: ``(B, T)`` binary: the tokens that are ranked and replaced, at least one
            per example (``None``: all).
        additional_forward_args: passed to ``forward_func`` after the ids; tensors are per
            example (the attention mask), repeated with the example's rows.
        n_steps: the number of steps from no token to every token (20: 5 % at a time).
        embedding_reduction: ``"sum"`` (signed, default) or ``"abs_sum"`` over ``D``.
        batch_size: at most this many rows go through the model at once (default 64;
            ``None``: all at once).

    Returns:
        :class:`TokenCurveResult` ``(score, curve, counts, fractions)``.

    Example:
        >>> from captum_smooth.metrics import token_deletion
        >>> from captum.attr import LayerIntegratedGradients
        >>> embeddings = nn.Embedding(10, 4)
        >>> model = nn.Sequential(embeddings, nn.Flatten(), nn.Linear(5 * 4, 2))
        >>> input_ids = torch.tensor([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]])
        >>> lig = LayerIntegratedGradients(model, embeddings)
        >>> attributions = lig.attribute(input_ids, target=1)  # (2, 5, 4)
        >>> positions = torch.tensor([[0, 1, 1, 1, 1]] * 2, dtype=torch.bool)  # not the first
        >>> score = token_deletion(model, input_ids, attributions, target=1, baselines=0,
        ...                        positions=positions).score
        >>> score.shape, bool(((0 <= score) & (score <= 1)).all())  # lower is better
        (torch.Size([2]), True)

        A text model with an attention mask gets it as an additional forward argument, as in
        ``token_deletion(classifier, batch.input_ids, attributions, batch.labels,
        baselines=tokenizer.pad_token_id, positions=batch.positions,
        additional_forward_args=(batch.attention_mask,))`` for a
        :class:`~captum_smooth.examples.TokenBatch`.
    """
    return _token_curve(
        "deletion",
        forward_func,
        input_ids,
        attributions,
        target,
        baselines=baselines,
        positions=positions,
        additional_forward_args=additional_forward_args,
        n_steps=n_steps,
        embedding_reduction=embedding_reduction,
        batch_size=batch_size,
    )


def token_insertion(
    forward_func: Callable[..., Any],
    input_ids: Tensor,
    attributions: Tensor,
    target: Any = None,
    *,
    baselines: int | Tensor,
    positions: Tensor | None = None,
    additional_forward_args: Any = None,
    n_steps: int = 20,
    embedding_reduction: EmbeddingReduction = "sum",
    batch_size: int | None = 64,
) -> TokenCurveResult:
    """Insertion curve over tokens and its area: the mirror image of :func:`token_deletion`.

    Starting from ``input_ids`` with every one of ``positions`` replaced by ``baselines``,
    the tokens are put back in order of decreasing score, ``round(t · n)`` of them at
    fraction ``t``; the softmax probability of the target is integrated over ``t``
    (trapezoid rule). Higher is better; ``score`` lies in [0, 1]. ``target=None`` takes the
    model's top-1 class on ``input_ids``. Arguments and result as in :func:`token_deletion`
    (``counts`` are the tokens put back).

    Example:
        >>> from captum_smooth.metrics import token_insertion
        >>> from captum.attr import LayerIntegratedGradients
        >>> embeddings = nn.Embedding(10, 4)
        >>> model = nn.Sequential(embeddings, nn.Flatten(), nn.Linear(5 * 4, 2))
        >>> input_ids = torch.tensor([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]])
        >>> lig = LayerIntegratedGradients(model, embeddings)
        >>> attributions = lig.attribute(input_ids, target=1)  # (2, 5, 4)
        >>> positions = torch.tensor([[0, 1, 1, 1, 1]] * 2, dtype=torch.bool)  # not the first
        >>> result = token_insertion(model, input_ids, attributions, target=1, baselines=0,
        ...                          positions=positions)
        >>> result.score.shape, result.counts[0, [0, -1]].tolist()  # from none back to all 4
        (torch.Size([2]), [0, 4])
    """
    return _token_curve(
        "insertion",
        forward_func,
        input_ids,
        attributions,
        target,
        baselines=baselines,
        positions=positions,
        additional_forward_args=additional_forward_args,
        n_steps=n_steps,
        embedding_reduction=embedding_reduction,
        batch_size=batch_size,
    )


def _token_curve(
    kind: str,
    forward_func: Callable[..., Any],
    input_ids: Tensor,
    attributions: Tensor,
    target: Any,
    *,
    baselines: int | Tensor,
    positions: Tensor | None,
    additional_forward_args: Any,
    n_steps: int,
    embedding_reduction: EmbeddingReduction,
    batch_size: int | None,
) -> TokenCurveResult:
    ids = _check_ids(input_ids)
    common.check_class_indices(target, ids)
    scores = token_scores(
        attributions, embedding_reduction, shape=tuple(ids.shape), device=ids.device
    )
    where = _check_binary("positions", positions, ids, "input_ids")
    if not where.any(dim=1).all():
        raise ValueError("`positions` must hold at least one token per example")
    check.check_callable("forward_func", forward_func)
    replacement = _check_baselines(baselines, ids)
    args = format_additional_forward_args(additional_forward_args)
    check.check_forward_args(args, (ids,))
    check.check_count("n_steps", n_steps)
    check.check_batch_size(batch_size, "batch_size")

    # rank[b, t] = 0 for the highest-scoring position; ties keep token order; others last.
    order = scores.masked_fill(~where, -torch.inf).argsort(dim=1, descending=True, stable=True)
    steps = torch.arange(ids.shape[1], device=ids.device).expand_as(order)
    rank = torch.empty_like(order).scatter_(1, order, steps)
    # round(k n / n_steps), halves up, in integers: no float decides a tie
    k = torch.arange(n_steps + 1, device=ids.device)
    counts = (2 * k * where.sum(dim=1, keepdim=True) + n_steps) // (2 * n_steps)
    # one model row per distinct (example, count): counts repeat when n_steps > n
    pairs, inverse = torch.unique(
        torch.stack([torch.arange(ids.shape[0], device=ids.device)[:, None].expand_as(counts),
                     counts], dim=-1).view(-1, 2),
        dim=0,
        return_inverse=True,
    )  # fmt: skip
    background = replacement.expand_as(ids)

    def rows(example: Tensor, count: Tensor) -> Tensor:
        changed = rank[example] < count[:, None]
        source, fill = (background, ids) if kind == "deletion" else (ids, background)
        return torch.where(changed, source[example], fill[example])

    step = pairs.shape[0] if batch_size is None else batch_size
    logits = []
    checks = common.FiniteChecks()  # read once, after the last chunk
    with torch.no_grad():
        for start in range(0, pairs.shape[0], step):
            example, count = pairs[start : start + step].unbind(dim=1)
            chunk_args = batching.select_forward_args(args, example)
            output = forward_func(rows(example, count), *(chunk_args or ()))
            if not (
                isinstance(output, Tensor)
                and output.dim() == 2
                and output.shape[0] == example.shape[0]
            ):
                raise ValueError(
                    "`forward_func` must return finite (rows, classes) logits, one row per "
                    "row of token ids"
                )
            common.check_classes(output, f"token_{kind}")
            checks.add(None, output)
            logits.append(output)
    checks.raise_if_bad()
    outputs = torch.cat(logits)[inverse].view(ids.shape[0], n_steps + 1, -1)
    complete = outputs[:, 0] if kind == "deletion" else outputs[:, -1]
    classes = common.target_per_example(target, complete)
    curve = outputs.softmax(dim=-1).gather(2, classes.view(-1, 1, 1).expand(-1, n_steps + 1, 1))
    curve = curve.squeeze(2)
    fractions = k.to(curve.dtype) / n_steps
    return TokenCurveResult(torch.trapezoid(curve, fractions, dim=1), curve, counts, fractions)


def _check_ids(input_ids: Any) -> Tensor:
    """``(B, T)`` integer token ids, ``B, T ≥ 1``."""
    if not isinstance(input_ids, Tensor):
        raise TypeError(f"`input_ids` must be a tensor, got {type(input_ids).__name__}")
    if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
        raise TypeError(f"`input_ids` must hold integer token ids, got dtype {input_ids.dtype}")
    if input_ids.dim() != 2 or 0 in input_ids.shape:
        raise ValueError(
            f"`input_ids` must have shape (B, T) with B, T ≥ 1, got {tuple(input_ids.shape)}"
        )
    return input_ids


def _check_binary(name: str, value: Any, like: Tensor, reference: str = "attributions") -> Tensor:
    """``(B, T)`` bool from a bool or 0/1 tensor shaped and placed like ``like``.

    ``like`` holds the tokens of argument ``reference``; ``None`` is True everywhere.
    """
    if value is None:
        return torch.ones(like.shape[:2], dtype=torch.bool, device=like.device)
    if not isinstance(value, Tensor):
        raise TypeError(f"`{name}` must be a tensor, got {type(value).__name__}")
    check.check_device(name, value.device, like.device, reference)
    if tuple(value.shape) != tuple(like.shape):
        raise ValueError(
            f"`{name}` must have the shape {tuple(like.shape)} of the tokens, got "
            f"{tuple(value.shape)}"
        )
    if value.dtype != torch.bool:
        if value.is_complex() or not ((value == 0) | (value == 1)).all():
            raise ValueError(f"`{name}` must be binary: bool, or numbers that are 0 or 1")
        value = value == 1
    return value


def _scores_and_masks(
    attributions: Any,
    masks: Any,
    positions: Any,
    embedding_reduction: EmbeddingReduction,
) -> tuple[Tensor, Tensor, Tensor]:
    """The ``(B, T)`` token scores, masks and positions of the mask-based metrics."""
    scores = token_scores(attributions, embedding_reduction, reference="attributions")
    truth = _check_binary("masks", masks, scores)
    where = _check_binary("positions", positions, scores)
    return scores, truth, where


def _check_baselines(baselines: Any, ids: Tensor) -> Tensor:
    """The replacement ids: an int, or an integer tensor broadcastable to ``ids``."""
    if isinstance(baselines, bool) or not isinstance(baselines, (int, Tensor)):
        raise TypeError(
            f"`baselines` must be a token id or a tensor of them, got {type(baselines).__name__}"
        )
    if isinstance(baselines, Tensor):
        if baselines.is_floating_point() or baselines.is_complex() or baselines.dtype == torch.bool:
            raise TypeError(f"`baselines` must hold integer token ids, got dtype {baselines.dtype}")
        check.check_device("baselines", baselines.device, ids.device, "input_ids")
    replacement = torch.as_tensor(baselines, dtype=ids.dtype, device=ids.device)
    if (replacement < 0).any():
        raise ValueError("`baselines` must hold token ids (0 or more)")
    try:
        shape = torch.broadcast_shapes(replacement.shape, ids.shape)
    except RuntimeError:
        shape = None
    if shape != ids.shape:
        raise ValueError(
            f"`baselines` of shape {tuple(replacement.shape)} does not broadcast to "
            f"`input_ids` of shape {tuple(ids.shape)}"
        )
    return replacement
