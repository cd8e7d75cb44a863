"""The attribution methods the command line offers: one entry per name.

:data:`METHODS` for ``explain``'s images, :data:`TEXT_METHODS` for ``explain-text``'s token
embeddings. Each entry makes, from the command's settings, the
:class:`~captum_smooth.evaluation.Method` the evaluation uses too (how to build it, its
keywords, its description), so a new method joins with one entry. Importing this module
imports neither torch nor captum (``--help`` lists the names): the classes are looked up when
an entry builds its method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import captum_smooth
from captum_smooth._utils.method import Method

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
    references: Callable[[], Tensor]
    """Model inputs of a reference data set (Expected Gradients' baselines), made on use."""


def _integrated_gradients(model: nn.Module) -> Attribution:
    from captum.attr import IntegratedGradients  # on use: this module serves --help

    return IntegratedGradients(model)


def _path(s: Settings) -> dict[str, Any]:
    return {"baselines": s.baseline, "n_steps": s.n_steps, "internal_batch_size": s.batch_size}


def _blur(s: Settings) -> dict[str, Any]:
    return {"n_steps": s.n_steps, "internal_batch_size": s.batch_size}


def _steps(s: Settings) -> str:
    return f"n_steps={s.n_steps}"


METHODS: dict[str, Callable[[Settings], Method]] = {
    "smoothtaylor": lambda s: Method(
        "smoothtaylor",
        lambda m: captum_smooth.SmoothTaylor(m),
        {
            "n_samples": s.n_samples,
            "noise_scale": s.noise_scale,
            "internal_batch_size": s.batch_size,
        },
        random=True,
        description=f"n_samples={s.n_samples}, σ={s.noise_scale:g}",
    ),
    "ig": lambda s: Method(
        "ig", _integrated_gradients, _path(s), description=f"black baseline, {_steps(s)}"
    ),
    "ig-noise": lambda s: Method(
        "ig-noise",
        lambda m: captum_smooth.NoiseBaselineIntegratedGradients(m),
        {
            "n_baselines": s.n_samples,
            "baseline_transform": s.normalize,
            "n_steps": s.n_steps,
            "internal_batch_size": s.batch_size,
        },
        random=True,
        description=f"n_baselines={s.n_samples}, {_steps(s)}",
    ),
    "expected-gradients": lambda s: Method(
        "expected-gradients",
        lambda m: captum_smooth.ExpectedGradients(m),
        {
            "baselines": s.references(),
            "n_samples": s.n_samples,
            "internal_batch_size": s.batch_size,
        },
        random=True,
        description=f"the example photos as references, n_samples={s.n_samples}",
    ),
    "guided-ig": lambda s: Method(
        "guided-ig",
        lambda m: captum_smooth.GuidedIntegratedGradients(m),
        _path(s),
        description=_steps(s),
    ),
    "blur-ig": lambda s: Method(
        "blur-ig",
        lambda m: captum_smooth.BlurIntegratedGradients(m),
        _blur(s),
        description=_steps(s),
    ),
    "idgi-ig": lambda s: Method(
        "idgi-ig",
        lambda m: captum_smooth.IDGI(_integrated_gradients(m)),
        _path(s),
        description=f"black baseline, {_steps(s)}",
    ),
    "idgi-guided": lambda s: Method(
        "idgi-guided",
        lambda m: captum_smooth.IDGI(captum_smooth.GuidedIntegratedGradients(m)),
        _path(s),
        description=_steps(s),
    ),
    "idgi-blur": lambda s: Method(
        "idgi-blur",
        lambda m: captum_smooth.IDGI(captum_smooth.BlurIntegratedGradients(m)),
        _blur(s),
        description=_steps(s),
    ),
    "idg-ig": lambda s: Method(
        "idg-ig",
        lambda m: captum_smooth.IntegratedDecisionGradients(_integrated_gradients(m)),
        _path(s),
        description=f"black baseline, {_steps(s)}",
    ),
}
"""Each command-line name → its :class:`~captum_smooth.evaluation.Method` for the settings."""


@dataclass(frozen=True)
class TextSettings:
    """``explain-text``'s settings for the methods on MiniLM's token embeddings."""

    n_steps: int
    n_samples: int
    noise_scale: float
    """σ of layer SmoothTaylor's noise, in the embeddings' units."""
    batch_size: int
    baselines: Tensor
    """``(1, T)`` token ids of the reference sentence: every word piece replaced by
    ``[PAD]``, ``[CLS]`` and ``[SEP]`` kept."""


def _layer_integrated_gradients(model: nn.Module) -> Attribution:
    from captum.attr import LayerIntegratedGradients  # on use: this module serves --help

    return LayerIntegratedGradients(model, model.embeddings)


def _layer_smooth_taylor(model: nn.Module) -> Attribution:
    from captum_smooth.attr.layer import LayerSmoothTaylor

    return LayerSmoothTaylor(model, model.embeddings)


def _layer_path(s: TextSettings) -> dict[str, Any]:
    return {"baselines": s.baselines, "n_steps": s.n_steps, "internal_batch_size": s.batch_size}


TEXT_METHODS: dict[str, Callable[[TextSettings], Method]] = {
    "layer-ig": lambda s: Method(
        "layer-ig",
        _layer_integrated_gradients,
        _layer_path(s),
        description=f"[PAD] baseline, {s.n_steps} steps",
    ),
    "idgi-layer-ig": lambda s: Method(
        "idgi-layer-ig",
        lambda m: captum_smooth.IDGI(_layer_integrated_gradients(m)),
        _layer_path(s),
        description=f"[PAD] baseline, {s.n_steps} steps",
    ),
    "layer-smoothtaylor": lambda s: Method(
        "layer-smoothtaylor",
        _layer_smooth_taylor,
        {
            "n_samples": s.n_samples,
            "noise_scale": s.noise_scale,
            "internal_batch_size": s.batch_size,
        },
        random=True,
        description=f"{s.n_samples} samples, σ={s.noise_scale:g}",
    ),
}
"""``explain-text``'s methods, each on the classifier's token embeddings
(``model.embeddings``): name → its :class:`~captum_smooth.evaluation.Method` for the settings."""
