"""``captum-smooth explain-text``: classify a sentence's sentiment and score its tokens.

The model is the example sentiment classifier
(:func:`captum_smooth.examples.load_sentiment_classifier`: pretrained MiniLM, a linear head
trained on templated sentences, offline). Each method
attributes the explained class's logit to MiniLM's token embeddings; a token's score is its
attribution summed over the embedding (:func:`~captum_smooth.metrics.token_scores`). The path
methods start from the sentence with every word piece replaced by ``[PAD]`` (``[CLS]`` and
``[SEP]`` kept), so their scores add up to the logit's change from that baseline.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor

from captum_smooth import examples
from captum_smooth.cli.arguments import UserError
from captum_smooth.cli.registry import TEXT_METHODS, TextSettings
from captum_smooth.cli.text_arguments import TextRequest
from captum_smooth.metrics import token_scores

COMPLETE = ("layer-ig", "idgi-layer-ig")
"""The methods whose scores add up to the logit's change from the baseline (IDGI exactly,
layer IG up to its Riemann sum's error)."""


def run(request: TextRequest) -> None:
    """Run ``explain-text``; raises :class:`UserError` for the user's mistakes."""
    try:
        _run(request)
    except examples.MissingExtraError as error:
        raise UserError(str(error)) from error


def _run(request: TextRequest) -> None:
    start = time.perf_counter()
    if request.out is not None:
        examples.require("matplotlib")  # before the model: a missing extra is found at once
    classifier, tokenizer = examples.load_sentiment_classifier()
    # counted quietly first: the tokenizer would warn about a long sentence on stderr
    n_tokens = len(tokenizer(request.sentence, verbose=False)["input_ids"])
    _check_length(n_tokens, classifier.encoder.config.max_position_embeddings)
    batch = examples.encode([request.sentence], tokenizer)
    if not batch.positions.any():
        raise UserError(f"SENTENCE {request.sentence!r} has no tokens MiniLM reads")
    args = (batch.attention_mask,)
    baselines = batch.baseline_ids(tokenizer.pad_token_id)
    with torch.no_grad():
        logits = classifier(torch.cat([batch.input_ids, baselines]), args[0].expand(2, -1))
    probabilities = logits[:1].softmax(dim=1)[0]
    target = int(probabilities.argmax()) if request.target is None else request.target
    predicted = int(probabilities.argmax())
    print(f"sentence: {request.sentence}")
    print(
        f"prediction: {examples.SENTIMENTS[predicted]} ({predicted}), "
        f"probability {float(probabilities[predicted]):.3f}"
    )
    print(
        f"explaining {examples.SENTIMENTS[target]} ({target}): its logit, attributed to "
        "MiniLM's token embeddings"
    )
    print(
        "(a token's score: its attribution summed over the "
        f"{classifier.encoder.config.hidden_size} embedding dimensions)"
    )
    settings = TextSettings(
        n_steps=request.n_steps,
        n_samples=request.n_samples,
        noise_scale=request.noise_scale,
        batch_size=request.batch_size,
        baselines=baselines,
    )
    scores, descriptions = {}, {}
    for name in request.methods:
        method = TEXT_METHODS[name](settings)
        generator = torch.Generator().manual_seed(request.seed)
        attribution = method.attribute(
            classifier, batch.input_ids, target, generator, additional_forward_args=args
        )
        scores[name] = token_scores(attribution.detach())[0]
        descriptions[name] = method.description
    tokens = batch.tokens[0]
    _print_scores(tokens, scores, batch.positions[0])
    change = float(logits[0, target] - logits[1, target])
    _print_completeness(scores, descriptions, change)
    if request.out is not None:
        from captum_smooth.cli.token_figure import save_token_figure

        title = (
            f"{request.sentence!r}: {examples.SENTIMENTS[predicted]}, probability "
            f"{float(probabilities[predicted]):.3f}; explaining {examples.SENTIMENTS[target]}"
        )
        save_token_figure(tokens, scores, descriptions, title, request.out)
        print(f"wrote {request.out} ({time.perf_counter() - start:.1f} s)")


def _check_length(n_tokens: int, limit: int) -> None:
    if n_tokens > limit:
        raise UserError(
            f"SENTENCE has {n_tokens} tokens with [CLS] and [SEP]; MiniLM reads at most {limit}"
        )


def _print_scores(tokens: tuple[str, ...], scores: dict[str, Tensor], positions: Tensor) -> None:
    """One row per token, one column per method, then each method's top-ranked token."""
    width = max(len(token) for token in (*tokens, "first"))
    columns = {name: max(len(name), 9, *(len(t) for t in tokens)) for name in scores}
    print()
    print("  ".join([f"{'token':<{width}}", *(f"{n:>{w}}" for n, w in columns.items())]))
    for index, token in enumerate(tokens):
        values = (f"{float(scores[n][index]):>+{w}.4f}" for n, w in columns.items())
        print("  ".join([f"{token:<{width}}", *values]))
    firsts = []
    for name, w in columns.items():
        # ranked among the sentence's own tokens: [CLS] and [SEP] are not words of it
        ranked = scores[name][: len(tokens)].masked_fill(~positions[: len(tokens)], -torch.inf)
        firsts.append(f"{tokens[int(ranked.argmax())]:>{w}}")
    print("  ".join([f"{'first':<{width}}", *firsts]))


def _print_completeness(
    scores: dict[str, Tensor], descriptions: dict[str, str], change: float
) -> None:
    """Each method's sum of scores beside the logit's change from the baseline."""
    print()
    print(
        f"completeness: logit(sentence) - logit(baseline) = {change:+.4f} "
        "(baseline: each word piece → [PAD])"
    )
    width = max(len(name) for name in scores)
    for name, values in scores.items():
        total = float(values.sum())
        if name in COMPLETE:
            remark = f"off by {total - change:+.4f}"
        else:
            remark = "not complete (no baseline: noise around the sentence)"
        print(f"  {name:<{width}}  sum {total:+.4f}  {remark} ({descriptions[name]})")
