"""The example models and data used by the command line and the tutorials, offline.

Images (:mod:`captum_smooth.examples.images`, the ``examples`` extra): the pretrained
EfficientNet-Lite0 and scikit-image's photos. Their optional dependencies are imported when
a function needs them, with :class:`MissingExtraError` naming the extra to install otherwise.
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

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_SIZE",
    "PHOTOS",
    "MissingExtraError",
    "denormalize",
    "imagenet_categories",
    "load_image",
    "load_lite0",
    "load_photo",
    "normalize",
    "read_image",
    "read_photo",
    "require",
    "to_tensor",
]
