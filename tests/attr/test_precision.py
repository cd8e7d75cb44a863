"""Half precision: the bookkeeping is float32 at least, whatever dtype the model runs in.

Each public method runs on one small smooth network (tanh, softplus; seeded random weights)
copied to float16 and bfloat16, and in float32 under ``torch.autocast("cpu", bfloat16)``, and
is compared with the same network in float64 on the same inputs (docs/reference.md#precision).

The tolerance on the relative L2 error is ``K · ε`` with ``ε`` the machine epsilon of the dtype
the model computes in (``torch.finfo(dtype).eps``: 2⁻¹⁰ for float16, 2⁻⁷ for bfloat16). A
forward and a backward pass through this network round each activation and gradient a few
times, each rounding off by at most ``ε/2``, and the path sums average these errors rather
than accumulate them: a method whose bookkeeping is exact lands within a few ε of float64
(measured: at most 2.2 ε). ``K = 4`` leaves room for that and none for a finite difference,
a rise or a running sum taken in the model's dtype: Blur IG's difference quotient over
``grad_step = 0.01`` loses ``ε / 0.01`` (100 ε); a rise ``f_{j+1} - f_j`` in the model's
dtype or attributions summed in it lose ``√steps · ε`` or more.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
import torch
from captum.attr import IntegratedGradients, LayerIntegratedGradients
from torch import Tensor, nn

from captum_smooth import (
    IDGI,
    AdaptiveSmoothTaylor,
    BlurIntegratedGradients,
    GuidedIntegratedGradients,
    NoiseBaselineIntegratedGradients,
    SmoothGradSquared,
    SmoothTaylor,
)
from captum_smooth._utils import validation
from captum_smooth.attr import IDGIRule, fold_recorded
from captum_smooth.attr.layer import (
    LayerBlurIntegratedGradients,
    LayerGuidedIntegratedGradients,
    LayerNoiseBaselineIntegratedGradients,
    LayerSmoothTaylor,
)

K = 4
"""The tolerance in units of the model dtype's machine epsilon (see the module docstring)."""

TARGET = torch.tensor([0, 2])


def network() -> nn.Sequential:
    """Two convolutions with smooth activations and a linear head, seeded, in float64.

    PyTorch's initial weights times 3: the outputs then move along each path by about their
    own size. IDGI splits the rise ``f(x) - f(x')`` into ``n_steps`` pieces, and a rise much
    smaller than ``f`` is lost to the rounding of ``f`` in the model's dtype (of its output,
    not of the bookkeeping): with the initial weights, the targets move by 2 % to 6 % and
    IDGI is 20 ε off in bfloat16 however it is computed.
    """
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.Softplus(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, 3),
    )
    with torch.no_grad():
        for layer in (net[0], net[2], net[6]):
            layer.weight.mul_(3)
    return net.double().eval()


def images() -> Tensor:
    """Two 3×8×8 images in [0, 1): exact in every dtype (multiples of 2⁻⁸)."""
    generator = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (2, 3, 8, 8), generator=generator).double() / 256


def _seed() -> torch.Generator:
    return torch.Generator().manual_seed(7)


def _objective(inputs: Tensor, attributions: Tensor, target: Any) -> Tensor:
    """Prefers attributions whose L1 norm per example is near 1 (a smooth, monotone score)."""
    return (attributions.double().flatten(1).abs().sum(dim=1) - 1).abs()


Method = Callable[[nn.Module, Tensor], Any]
"""Runs a method on a network and inputs; returns attributions, or (attributions, delta)."""

METHODS: dict[str, Method] = {
    "SmoothTaylor": lambda net, x: SmoothTaylor(net).attribute(
        x, target=TARGET, n_samples=16, noise_scale=0.3, generator=_seed()
    ),
    "NoiseBaselineIG": lambda net, x: NoiseBaselineIntegratedGradients(net).attribute(
        x, target=TARGET, n_baselines=2, n_steps=16, generator=_seed(),
        return_convergence_delta=True,
    ),
    "GuidedIG": lambda net, x: GuidedIntegratedGradients(net).attribute(
        x, target=TARGET, n_steps=16, return_convergence_delta=True
    ),
    "BlurIG": lambda net, x: BlurIntegratedGradients(net).attribute(
        x, target=TARGET, max_sigma=4.0, n_steps=16, return_convergence_delta=True
    ),
    "IDGI(IG)": lambda net, x: IDGI(IntegratedGradients(net)).attribute(
        x, target=TARGET, n_steps=16, return_convergence_delta=True
    ),
    "IDGI(GuidedIG)": lambda net, x: IDGI(GuidedIntegratedGradients(net)).attribute(
        x, target=TARGET, n_steps=16, return_convergence_delta=True
    ),
    "IDGI(BlurIG)": lambda net, x: IDGI(BlurIntegratedGradients(net)).attribute(
        x, target=TARGET, max_sigma=4.0, n_steps=16, return_convergence_delta=True
    ),
    "SmoothGradSquared": lambda net, x: SmoothGradSquared(SmoothTaylor(net)).attribute(
        x, target=TARGET, n_samples=16, noise_scale=0.3, generator=_seed()
    ),
    "AdaptiveSmoothTaylor": lambda net, x: AdaptiveSmoothTaylor(net, _objective).attribute(
        x, target=TARGET, n_samples=16, max_iterations=2, generator=_seed()
    ).attributions,
    "LayerSmoothTaylor": lambda net, x: LayerSmoothTaylor(net, net[0]).attribute(
        x, target=TARGET, n_samples=16, noise_scale=0.3, generator=_seed()
    ),
    "LayerNoiseBaselineIG": lambda net, x: LayerNoiseBaselineIntegratedGradients(
        net, net[0]
    ).attribute(
        x, target=TARGET, n_baselines=2, n_steps=16, generator=_seed(),
        return_convergence_delta=True,
    ),
    "LayerGuidedIG": lambda net, x: LayerGuidedIntegratedGradients(net, net[0]).attribute(
        x, target=TARGET, n_steps=16, return_convergence_delta=True
    ),
    "LayerBlurIG": lambda net, x: LayerBlurIntegratedGradients(net, net[0]).attribute(
        x, target=TARGET, max_sigma=4.0, n_steps=16, return_convergence_delta=True
    ),
    "IDGI(LayerIG)": lambda net, x: IDGI(LayerIntegratedGradients(net, net[0])).attribute(
        x, target=TARGET, n_steps=16, return_convergence_delta=True
    ),
}  # fmt: skip

SETTINGS = {
    "float16": (torch.float16, False),
    "bfloat16": (torch.bfloat16, False),
    "bf16-autocast": (torch.float32, True),
}
"""The model's dtype and whether it runs under bfloat16 autocast (on float32 inputs)."""


@pytest.fixture(autouse=True)
def noise_drawn_in_float64(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same noise in every dtype: a generator's draws depend on the dtype drawn in.

    The package draws in the dtype of its bookkeeping (float32 for a half model, float64 for
    the reference); here every draw is made in float64 and rounded, so that the runs compared
    differ only by the precision of the model.
    """

    def drawn_in_float64(draw: Callable[..., Tensor]) -> Callable[..., Tensor]:
        def like(x: Tensor, generator: torch.Generator | None) -> Tensor:
            return draw(x.shape, generator=generator, dtype=torch.float64).to(x.dtype)

        return like

    def filled_in_float64(out: Tensor, generator: torch.Generator | None) -> Tensor:
        return out.copy_(drawn_in_float64(torch.randn)(out, generator))

    monkeypatch.setattr(validation, "randn_like", drawn_in_float64(torch.randn))
    monkeypatch.setattr(validation, "fill_randn", filled_in_float64)
    monkeypatch.setattr(validation, "rand_like", drawn_in_float64(torch.rand))


@functools.cache  # the runs are deterministic: each is shared by the tests below
def run(name: str, setting: str) -> tuple[Tensor, Tensor | None]:
    """Method ``name`` on the network in ``setting``: attributions and delta (or ``None``)."""
    dtype, autocast = SETTINGS[setting]
    x = images().to(dtype)
    net = network().to(dtype)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        result = METHODS[name](net, x)
    attributions, delta = result if isinstance(result, tuple) else (result, None)
    return attributions, delta


@functools.cache
def reference(name: str) -> tuple[Tensor, Tensor | None]:
    """Method ``name`` on the float64 network."""
    result = METHODS[name](network(), images())
    return result if isinstance(result, tuple) else (result, None)


def relative_error(result: Tensor, expected: Tensor) -> float:
    """``‖result - expected‖₂ / ‖expected‖₂`` over the whole batch, in float64."""
    return ((result.double() - expected).norm() / expected.norm()).item()


def model_epsilon(setting: str) -> float:
    """The machine epsilon of the dtype the model computes in."""
    dtype = torch.bfloat16 if setting == "bf16-autocast" else SETTINGS[setting][0]
    return torch.finfo(dtype).eps


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("name", list(METHODS))
def test_half_precision_attributions_are_within_a_few_epsilons_of_float64(name, setting):
    attributions, _ = run(name, setting)
    expected, _ = reference(name)
    error = relative_error(attributions, expected)
    assert error <= K * model_epsilon(setting), f"{name} in {setting}: {error:.2e}"


def _layer_method(name: str) -> bool:
    return name.startswith("Layer") or "(Layer" in name


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("name", list(METHODS))
def test_attributions_keep_their_space_dtype_and_the_delta_is_float32_at_least(name, setting):
    dtype, autocast = SETTINGS[setting]
    attributions, delta = run(name, setting)
    # a layer's activations are in the dtype the layer computes in: bfloat16 under autocast
    expected = torch.bfloat16 if autocast and _layer_method(name) else dtype
    assert attributions.dtype == expected
    if delta is not None:
        assert delta.dtype == torch.float32


IDGI_METHODS = [name for name in METHODS if name.startswith("IDGI")]


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("name", IDGI_METHODS)
def test_idgi_is_complete_to_float32_precision_whatever_the_models_dtype(name, setting):
    # Σ attr = f(x_m) - f(x_0) exactly but for the bookkeeping's rounding: each segment's
    # shares sum to 1 up to ~n_features · 2⁻²⁴ (192 features here, 512 in the layer)
    _, delta = run(name, setting)
    expected, _ = reference(name)
    scale = expected.flatten(1).abs().sum(dim=1)
    assert (delta.double().abs() <= 1e-4 * scale).all(), f"{delta} vs {scale}"


def test_the_model_runs_under_the_callers_autocast_which_is_restored_after():
    net = network().float()
    seen = []

    def forward(x: Tensor) -> Tensor:
        seen.append(torch.is_autocast_enabled("cpu"))
        return net(x)

    with torch.autocast("cpu", dtype=torch.bfloat16):
        attributions, delta = BlurIntegratedGradients(forward).attribute(
            images().float(), target=TARGET, max_sigma=4.0, n_steps=4,
            return_convergence_delta=True,
        )  # fmt: skip
        assert torch.is_autocast_enabled("cpu")  # restored for the caller
    assert seen and all(seen)
    assert attributions.dtype == torch.float32 and delta.dtype == torch.float32


def test_fold_recorded_folds_half_records_in_float32():
    generator = torch.Generator().manual_seed(3)
    points = [torch.rand(2, 5, generator=generator).bfloat16() for _ in range(6)]
    values = [torch.rand(2, generator=generator).bfloat16() * 4 for _ in range(6)]
    grads = [torch.randn(2, 5, generator=generator).bfloat16() for _ in range(6)]
    wide = fold_recorded(
        IDGIRule, [p.float() for p in points], [v.float() for v in values],
        [g.float() for g in grads],
    )  # fmt: skip
    half = fold_recorded(IDGIRule, points, values, grads)
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half, wide.bfloat16(), rtol=0, atol=0)
