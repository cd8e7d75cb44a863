"""The attribution methods the command line offers: one entry per name.

Each entry builds the attribution object from the model and its keyword arguments from the
command's settings, so a new method joins with one line in :data:`METHODS`. Importing this
module imports neither torch nor captum (``--help`` lists the names): the classes are looked up
when an entry builds its method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import captum_smooth

if TYPE_CHECKING:
    import torch
    from captum.attr import Attribution
    from torch import Tensor, nn


@dataclass(frozen=True)
class Settings:
    """The methods' main settings, as given on the command line."""

    n_steps: int
    n_samples: int
    noise_scale: float
    batch_size: int
    generator: Callable[[], torch.Generator]
    """A new generator seeded with ``--seed`` at each call: every method and metric draws its
    own noise, so a map does not depend on which other methods or metrics ran before it."""
    baseline: Tensor
    """The model input of a black image (zero raw pixels, normalised)."""
    normalize: Callable[[Tensor], Tensor]
    """Raw pixels in [0, 1] → model inputs."""


@dataclass(frozen=True)
class Method:
    """How to build one method and call it."""

    build: Callable[[nn.Module], Attribution]
    kwargs: Callable[[Settings], dict[str, Any]]
    describe: Callable[[Settings], str]
    """The settings shown in the figure's title."""


def _integrated_gradients(model: nn.Module) -> Attribution:
    from captum.attr import IntegratedGradients  # on use: this module serves --help

    return IntegratedGradients(model)


def _path(s: Settings) -> dict[str, Any]:
    return {"baselines": s.baseline, "n_steps": s.n_steps, "internal_batch_size": s.batch_size}


def _blur(s: Settings) -> dict[str, Any]:
    return {"n_steps": s.n_steps, "internal_batch_size": s.batch_size}


def _steps(s: Settings) -> str:
    return f"n_steps={s.n_steps}"


METHODS: dict[str, Method] = {
    "smoothtaylor": Method(
        lambda m: captum_smooth.SmoothTaylor(m),
        lambda s: {
            "n_samples": s.n_samples,
            "noise_scale": s.noise_scale,
            "internal_batch_size": s.batch_size,
            "generator": s.generator(),
        },
        lambda s: f"n_samples={s.n_samples}, σ={s.noise_scale:g}",
    ),
    "ig": Method(_integrated_gradients, _path, lambda s: f"black baseline, {_steps(s)}"),
    "ig-noise": Method(
        lambda m: captum_smooth.NoiseBaselineIntegratedGradients(m),
        lambda s: {
            "n_baselines": s.n_samples,
            "baseline_transform": s.normalize,
            "n_steps": s.n_steps,
            "internal_batch_size": s.batch_size,
            "generator": s.generator(),
        },
        lambda s: f"n_baselines={s.n_samples}, {_steps(s)}",
    ),
    "guided-ig": Method(lambda m: captum_smooth.GuidedIntegratedGradients(m), _path, _steps),
    "blur-ig": Method(lambda m: captum_smooth.BlurIntegratedGradients(m), _blur, _steps),
    "idgi-ig": Method(
        lambda m: captum_smooth.IDGI(_integrated_gradients(m)),
        _path,
        lambda s: f"black baseline, {_steps(s)}",
    ),
    "idgi-guided": Method(
        lambda m: captum_smooth.IDGI(captum_smooth.GuidedIntegratedGradients(m)),
        _path,
        _steps,
    ),
    "idgi-blur": Method(
        lambda m: captum_smooth.IDGI(captum_smooth.BlurIntegratedGradients(m)),
        _blur,
        _steps,
    ),
}
