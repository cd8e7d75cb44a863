"""Bad input, everywhere: every public method, metric, evaluation entry point and axiom check,
called with one generated bad argument, raises a ``TypeError`` or ``ValueError`` that names
the argument (backquoted, as in "`inputs` must be finite") — never an ``AssertionError``, an
``IndexError``, a NaN or a result.

``CASES`` is the table: each public callable with a valid call on tiny data and, for each
argument, the corruptions that apply to it (NaN/inf, an empty batch, integer/bool/complex
tensors, mismatched shapes, tensors and generators on another device, zero and negative
counts, targets out of range, ...). One test runs per (callable, argument, corruption)
triple; hypothesis draws the bad value (where the NaN goes, which dimension is wrong, how far
out of range a target is). This machine may have no accelerator: "another device" is the
``meta`` device for tensors and, for generators, a CPU generator that reports ``meta``.

Run with ``-s`` to print how many triples and examples were tried.
"""

from __future__ import annotations

import collections
import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients, NoiseTunnel
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from captum_smooth import (
    IDGI,
    AdaptiveSmoothTaylor,
    BlurIntegratedGradients,
    GuidedIntegratedGradients,
    NoiseBaselineIntegratedGradients,
    SmoothTaylor,
)
from captum_smooth.attr import SmoothGradSquared
from captum_smooth.axioms import (
    check_completeness,
    check_dummy,
    check_implementation_invariance,
    check_linearity,
    check_sensitivity,
    check_symmetry,
)
from captum_smooth.evaluation import Method, RandomMap, evaluate_methods
from captum_smooth.metrics import (
    aic,
    aupc,
    autvc,
    deletion,
    insertion,
    localisation,
    objective,
    sic,
)

BATCH = 2
CLASSES = 3
NAN, INF = math.nan, math.inf


# ---------------------------------------------------------------- tiny models and data


class ImageNet(nn.Module):
    """Three logits from ``N×C×H×W`` images, times an optional per-example ``scale``."""

    def __init__(self, n_features: int, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.linear = nn.Linear(n_features, CLASSES).double()

    def forward(self, x: Tensor, scale: Tensor | None = None) -> Tensor:
        out = torch.tanh(self.linear(x.flatten(1)))
        return out if scale is None else out * scale[:, None]


class DetailNet(nn.Module):
    """Class 0's logit grows with the fine detail of the image: confident on noise images,
    not on their blurred versions (so that SIC/AIC keep the images)."""

    def forward(self, x: Tensor) -> Tensor:
        detail = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(1, 2, 3))
        logit = 60 * (detail - 0.08)
        return torch.stack([logit, torch.zeros_like(logit), -logit], dim=1)


class TabularNet(nn.Module):
    """A linear model on 4 features, symmetric in features 0 and 1, blind to feature 3."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        weight = torch.rand(CLASSES, 4, generator=generator, dtype=torch.float64) + 0.5
        weight[:, 1] = weight[:, 0]
        weight[:, 3] = 0
        self.weight = nn.Parameter(weight)

    def forward(self, x: Tensor, scale: Tensor | None = None) -> Tensor:
        out = x @ self.weight.T
        return out if scale is None else out * scale[:, None]


def _rand(*shape: int, seed: int = 0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=generator, dtype=torch.float64)


IMAGES = _rand(BATCH, 1, 4, 4)  # methods
PICTURES = _rand(BATCH, 1, 8, 8, seed=1)  # metrics
PIC_IMAGES = _rand(BATCH, 3, 16, 16, seed=2)  # SIC/AIC: noise, confidently class 0
TABLE = _rand(BATCH, 4, seed=3)  # axioms
TABLE[:, 1] = TABLE[:, 0]
METHOD_NET = ImageNet(16)
METRIC_NET = ImageNet(64, seed=1)
TABULAR_NET = TabularNet()
OTHER_TABULAR_NET = TabularNet(seed=1)
EQUIVALENT_TABULAR_NET = copy.deepcopy(TABULAR_NET)
BOX = torch.zeros(BATCH, 8, 8, dtype=torch.bool)
BOX[:, 2:5, 3:7] = True


def _scale() -> tuple[Tensor]:
    return (torch.linspace(1.0, 2.0, BATCH, dtype=torch.float64),)


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


class _ElsewhereGenerator(torch.Generator):
    """A CPU generator that reports the meta device: a generator on another device than the
    inputs, without an accelerator."""

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return torch.device("meta")


def _elsewhere_generators() -> list[Callable[[], torch.Generator]]:
    makers: list[Callable[[], torch.Generator]] = [_ElsewhereGenerator]
    if torch.cuda.is_available():
        makers.append(lambda: torch.Generator(device="cuda"))
    return makers


def _adaptive_objective(inputs: Tensor, attributions: Tensor, target: Any) -> Tensor:
    return (inputs * attributions).flatten(1).sum(dim=1).abs()


# ---------------------------------------------------------------- corruptions


class Bad(NamedTuple):
    """A corruption: ``strategy(valid value)`` draws bad values; the call must raise
    ``error`` with the argument's backquoted name in the message."""

    name: str
    error: type[Exception]
    strategy: Callable[[Any], st.SearchStrategy[Any]]

    def __repr__(self) -> str:
        return f"Bad({self.name!r})"


def _as_float(x: Tensor) -> Tensor:
    return x.clone() if x.is_floating_point() else x.double()


def _poke(values: st.SearchStrategy[float]) -> Callable[[Any], st.SearchStrategy[Any]]:
    """Put one drawn value at a drawn position of a tensor (or replace a number)."""

    def strategy(valid: Any) -> st.SearchStrategy[Any]:
        if not isinstance(valid, Tensor):
            return values

        def poked(position_value: tuple[int, float]) -> Tensor:
            position, value = position_value
            x = _as_float(valid)
            x.view(-1)[position] = value
            return x

        return st.tuples(st.integers(0, valid.numel() - 1), values).map(poked)

    return strategy


def _resized(x: Tensor, dim: int, size: int) -> Tensor:
    shape = list(x.shape)
    shape[dim] = size
    pattern = torch.arange(math.prod(shape)).reshape(shape)
    if x.dtype == torch.bool:
        return pattern % 2 == 0
    return (pattern % 7).to(x.dtype) / 7


def shape(*dims: int) -> Bad:
    """A tensor with one of ``dims`` of another size (≥ 2, so it cannot broadcast)."""

    def strategy(x: Tensor) -> st.SearchStrategy[Tensor]:
        return (
            st.tuples(st.sampled_from(dims), st.integers(2, 6))
            .filter(lambda d_n: x.shape[d_n[0]] != d_n[1])
            .map(lambda d_n: _resized(x, *d_n))
        )

    return Bad("mismatched shape", ValueError, strategy)


def n_dims(*allowed: int) -> Bad:
    """A tensor with a number of dimensions the argument does not accept."""

    def strategy(x: Tensor) -> st.SearchStrategy[Tensor]:
        forms = [x.flatten(1), x.flatten(2), x[..., None]]
        return st.sampled_from([f for f in forms if f.dim() not in allowed])

    return Bad("wrong number of dimensions", ValueError, strategy)


NAN_ENTRY = Bad("NaN", ValueError, _poke(st.just(NAN)))
INF_ENTRY = Bad("inf", ValueError, _poke(st.sampled_from([INF, -INF])))
EMPTY = Bad("empty batch", ValueError, lambda x: st.just(x[:0]))
INTEGER = Bad(
    "integer dtype",
    TypeError,
    lambda x: st.sampled_from([torch.uint8, torch.int8, torch.int32, torch.int64]).map(
        lambda dtype: (x * 10).to(dtype)
    ),
)
BOOL = Bad("bool dtype", TypeError, lambda x: st.just(x > 0.5))
COMPLEX = Bad(
    "complex dtype",
    TypeError,
    lambda x: st.sampled_from([torch.complex64, torch.complex128]).map(x.to),
)
ELSEWHERE = Bad(
    "on another device", ValueError, lambda x: st.just(torch.empty_like(x, device="meta"))
)
NOT_TENSOR = Bad(
    "not a tensor", TypeError, lambda x: st.sampled_from([x.tolist(), x.numpy(), "tensor"])
)
OTHER_BATCH_IN_TUPLE = Bad(
    "tuple with another batch size",
    ValueError,
    lambda x: (
        st.integers(0, 5)
        .filter(lambda k: k != BATCH)
        .map(lambda k: (x, torch.ones(k, *x.shape[1:], dtype=x.dtype)))
    ),
)
TUPLE = Bad("tuple of tensors", TypeError, lambda x: st.just((x, x)))
TENSOR_INPUT = (NAN_ENTRY, INF_ENTRY, EMPTY, INTEGER, BOOL, COMPLEX, NOT_TENSOR)
METHOD_INPUT = (*TENSOR_INPUT, OTHER_BATCH_IN_TUPLE)

COUNT_BOOL = Bad("bool", TypeError, lambda v: st.booleans())
COUNT_FLOAT = Bad(
    "float", TypeError, lambda v: st.one_of(st.integers(1, 100).map(float), st.floats())
)


def too_small(minimum: int = 1) -> Bad:
    return Bad(f"below {minimum}", ValueError, lambda v: st.integers(-(10**9), minimum - 1))


COUNT = (COUNT_BOOL, COUNT_FLOAT, too_small())
FLAG = (
    Bad(
        "not a bool",
        TypeError,
        lambda v: st.sampled_from([0, 1, "yes", None, np.bool_(True), torch.tensor(True)]),
    ),
)


def larger_than(side: int) -> Bad:
    return Bad(f"larger than {side}", ValueError, lambda v: st.integers(side + 1, 10**6))


FLOAT_NONFINITE = Bad("NaN or inf", ValueError, lambda v: st.sampled_from([NAN, INF, -INF]))
FLOAT_BOOL = Bad("bool", TypeError, lambda v: st.booleans())
FLOAT_TYPE = Bad("not a number", TypeError, lambda v: st.sampled_from(["0.5", [0.5]]))


def outside(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Bad:
    """Finite floats outside the interval between ``low`` and ``high``."""
    parts = []
    if math.isfinite(low):
        top = low if low_open else math.nextafter(low, -INF)
        parts.append(st.floats(max_value=top, allow_nan=False, allow_infinity=False))
    if math.isfinite(high):
        bottom = high if high_open else math.nextafter(high, INF)
        parts.append(st.floats(min_value=bottom, allow_nan=False, allow_infinity=False))
    interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    return Bad(f"outside {interval}", ValueError, lambda v: st.one_of(parts))


def real(low: float = 0.0, high: float = INF, low_open: bool = False, high_open: bool = True):
    """The corruptions of a float setting valid in the interval."""
    return (FLOAT_NONFINITE, FLOAT_BOOL, FLOAT_TYPE, outside(low, high, low_open, high_open))


def per_example_tensor(value: float) -> tuple[Bad, ...]:
    """The corruptions of a setting given as a tensor with one ``value`` per example."""
    return (
        Bad(
            "tensor with NaN or inf",
            ValueError,
            lambda v: st.sampled_from([NAN, INF, -INF]).map(
                lambda bad: torch.tensor([value, bad], dtype=torch.float64)
            ),
        ),
        Bad(
            "integer tensor",
            TypeError,
            lambda v: st.just(torch.ones(BATCH, dtype=torch.int64)),
        ),
        Bad(
            "tensor on another device",
            ValueError,
            lambda v: st.just(torch.full((BATCH,), value, device="meta")),
        ),
        Bad(
            "tensor of another length",
            ValueError,
            lambda v: st.sampled_from([0, 3, 4]).map(
                lambda n: torch.full((n,), value, dtype=torch.float64)
            ),
        ),
    )


def unknown(*choices: str) -> Bad:
    return Bad(
        "unknown choice",
        ValueError,
        lambda v: st.text(max_size=8).filter(lambda s: s not in choices),
    )


def _target_forms(index: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    """A bad class index as an int, in a per-example list, in a per-example or scalar tensor."""

    def per_example(bad_position: tuple[int, int]) -> list[int]:
        bad, position = bad_position
        classes = [i % CLASSES for i in range(BATCH)]
        classes[position] = bad
        return classes

    lists = st.tuples(index, st.integers(0, BATCH - 1)).map(per_example)
    return st.one_of(
        index,
        lists,
        lists.map(torch.tensor),
        index.map(torch.tensor),
    )


TARGET_HIGH = Bad(
    "target past the last class", ValueError, lambda t: _target_forms(st.integers(CLASSES, 10**6))
)
TARGET_NEGATIVE = Bad(
    "negative target", ValueError, lambda t: _target_forms(st.integers(-(10**6), -1))
)
TARGET_ELSEWHERE = Bad(
    "target tensor on another device",
    ValueError,
    lambda t: st.sampled_from(
        [torch.tensor(0, device="meta"), torch.arange(BATCH, device="meta") % CLASSES]
    ),
)
TARGET_FLOAT = Bad(
    "float target",
    TypeError,
    lambda t: st.one_of(
        st.floats(),
        st.floats(0, CLASSES - 1).map(lambda f: torch.full((BATCH,), f, dtype=torch.float64)),
        st.lists(st.floats(0, CLASSES - 1), min_size=BATCH, max_size=BATCH),
    ),
)
TARGET_BOOL = Bad(
    "bool target",
    TypeError,
    lambda t: st.one_of(
        st.booleans(),
        st.lists(st.booleans(), min_size=BATCH, max_size=BATCH).map(torch.tensor),
    ),
)
TARGET_LENGTH = Bad(
    "per-example target of another length",
    ValueError,
    lambda t: (
        st.integers(0, 6)
        .filter(lambda n: n != BATCH)
        .flatmap(
            lambda n: st.sampled_from(
                [[i % CLASSES for i in range(n)]] + ([torch.arange(n) % CLASSES] if n != 1 else [])
            )
        )
    ),
)
TARGET = (TARGET_HIGH, TARGET_NEGATIVE, TARGET_ELSEWHERE, TARGET_FLOAT, TARGET_BOOL, TARGET_LENGTH)

GENERATOR_ELSEWHERE = Bad(
    "generator on another device",
    ValueError,
    lambda g: st.sampled_from(_elsewhere_generators()).map(lambda make: make()),
)
GENERATOR_TYPE = Bad(
    "not a generator",
    TypeError,
    lambda g: st.one_of(st.integers(), st.just(np.random.default_rng(0)), st.just("seed")),
)
GENERATOR = (GENERATOR_ELSEWHERE, GENERATOR_TYPE)

EXTRA_ELSEWHERE = Bad(
    "tensor on another device",
    ValueError,
    lambda a: st.just((torch.ones(BATCH, dtype=torch.float64, device="meta"),)),
)
EXTRA_BATCH = Bad(
    "tensor with another batch size",
    ValueError,
    lambda a: (
        st.integers(0, 5)
        .filter(lambda k: k != BATCH)
        .map(lambda k: (torch.ones(k, dtype=torch.float64),))
    ),
)
EXTRA = (EXTRA_ELSEWHERE, EXTRA_BATCH)

NOT_CALLABLE = Bad(
    "not callable", TypeError, lambda f: st.sampled_from([0, "function", torch.zeros(1)])
)


def _poisoned(function: Callable[..., Any] | None, value: float) -> Callable[..., Tensor]:
    def poisoned(*args: Any) -> Tensor:
        out = args[0] if function is None else function(*args)
        out = out.clone()
        out.view(-1)[0] = value
        return out

    return poisoned


RETURNS_NONFINITE = Bad(
    "returns NaN or inf",
    ValueError,
    lambda f: st.sampled_from([NAN, INF, -INF]).map(lambda v: _poisoned(f, v)),
)
RETURNS_SHAPE = Bad("returns another shape", ValueError, lambda f: st.just(lambda u: u[..., :-1]))

BASELINES = (NAN_ENTRY, INF_ENTRY, INTEGER, BOOL, ELSEWHERE, NOT_TENSOR, shape(0, 1, 2, 3))
FLOAT_OR_TENSOR = (NAN_ENTRY, INF_ENTRY, INTEGER, ELSEWHERE, FLOAT_TYPE)
ATTRIBUTIONS = (
    NAN_ENTRY,
    INF_ENTRY,
    EMPTY,
    INTEGER,
    BOOL,
    ELSEWHERE,
    NOT_TENSOR,
    shape(0, 2, 3),
)
IMAGES_ARG = (*TENSOR_INPUT, n_dims(4))

RANGE_BAD = Bad(
    "low ≥ high or not finite",
    ValueError,
    lambda r: st.one_of(
        st.tuples(st.floats(-10, 10), st.floats(-10, 10)).filter(lambda p: p[0] >= p[1]),
        st.tuples(st.sampled_from([NAN, INF, -INF]), st.floats(-10, 10)),
        st.tuples(st.floats(-10, 10), st.sampled_from([NAN, INF, -INF])),
    ),
)
RANGE_TYPE = Bad(
    "not a pair of floats",
    TypeError,
    lambda r: st.sampled_from([0.5, (0.0,), (0.0, 0.5, 1.0), "01", (True, 1.0), (0, "1")]),
)

THRESHOLDS = (
    Bad(
        "unsorted",
        ValueError,
        lambda t: st.lists(st.floats(0, 1), min_size=2, max_size=5, unique=True).filter(
            lambda v: v != sorted(v)
        ),
    ),
    Bad(
        "outside [0, 1]",
        ValueError,
        lambda t: st.one_of(
            st.floats(max_value=-1e-9), st.floats(min_value=1 + 1e-9), st.just(NAN)
        ).map(lambda v: [0.1, v]),
    ),
    Bad("empty", ValueError, lambda t: st.sampled_from([(), []])),
    Bad("not a sequence", TypeError, lambda t: st.sampled_from([0.5, "0.5", None])),
)

SEED = (
    Bad("not an int", TypeError, lambda s: st.one_of(st.booleans(), st.floats())),
    Bad("negative", ValueError, lambda s: st.integers(max_value=-1)),
)
AXIOM_SEED = (
    *SEED,
    Bad("2**32 or more", ValueError, lambda s: st.integers(min_value=2**32)),
)


def _replace_entry(features: Any, value: Any, position: int) -> Any:
    entries = list(features)
    entries[position % len(entries)] = value
    return type(features)(entries)


FEATURES = (
    Bad(
        "index out of range",
        ValueError,
        lambda f: st.tuples(
            st.one_of(st.integers(4, 10**6), st.integers(-(10**6), -1)), st.integers(0, 1)
        ).map(lambda v_p: _replace_entry(f, *v_p)),
    ),
    Bad(
        "not an int",
        TypeError,
        lambda f: st.tuples(
            st.one_of(st.booleans(), st.floats(), st.just("0")), st.integers(0, 1)
        ).map(lambda v_p: _replace_entry(f, *v_p)),
    ),
)

ATTRIBUTE_KWARGS = (
    Bad("not a mapping", TypeError, lambda k: st.sampled_from([[("n_steps", 4)], "n_steps=4"])),
    Bad(
        "sets a reserved argument",
        ValueError,
        lambda k: st.sampled_from(["inputs", "baselines", "target", "additional_forward_args"]).map(
            lambda name: {**k, name: None}
        ),
    ),
)
METHOD_FACTORY = (
    NOT_CALLABLE,
    Bad(
        "an Attribution, not a factory",
        TypeError,
        lambda m: st.just(IntegratedGradients(TABULAR_NET)),
    ),
)
COEFFICIENT = (FLOAT_NONFINITE, FLOAT_BOOL, FLOAT_TYPE)
TOLERANCE = (FLOAT_NONFINITE, FLOAT_BOOL, outside(0, INF, high_open=True))


def _dataset_with(images: list[Tensor], position: int, image: Tensor) -> list[Tensor]:
    images = list(images)
    images[position % len(images)] = image
    return images


DATASET = (
    Bad(
        "an image with NaN or inf",
        ValueError,
        lambda d: st.tuples(st.integers(0, len(d) - 1), st.sampled_from([NAN, INF, -INF])).map(
            lambda p_v: _dataset_with(d, p_v[0], _poisoned(None, p_v[1])(d[p_v[0]]))
        ),
    ),
    Bad("no images", ValueError, lambda d: st.sampled_from([[], ()])),
    Bad(
        "integer or bool images",
        TypeError,
        lambda d: st.sampled_from([torch.uint8, torch.int64, torch.bool]).map(
            lambda dtype: [image.to(dtype) for image in d]
        ),
    ),
    Bad(
        "images of different shapes",
        ValueError,
        lambda d: (
            st.tuples(st.integers(0, len(d) - 1), st.sampled_from([0, 1, 2]), st.integers(2, 6))
            .filter(lambda p_d_n: d[0].shape[p_d_n[1]] != p_d_n[2])
            .map(lambda p_d_n: _dataset_with(d, p_d_n[0], _resized(d[0], p_d_n[1], p_d_n[2])))
        ),
    ),
)
METHODS = (
    Bad("empty", ValueError, lambda m: st.sampled_from([[], ()])),
    Bad(
        "not Method objects",
        TypeError,
        lambda m: st.sampled_from([[SmoothTaylor], m[0], "smooth taylor", [("st", SmoothTaylor)]]),
    ),
)
METRICS = (
    Bad("empty", ValueError, lambda m: st.just({})),
    Bad(
        "not a mapping of callables",
        TypeError,
        lambda m: st.sampled_from([list(m.values()), {"score": 0}, "score"]),
    ),
)
TARGET_FUNCTION = (
    NOT_CALLABLE,
    Bad(
        "gives classes out of range",
        ValueError,
        lambda f: st.one_of(st.integers(CLASSES, 10**6), st.integers(-(10**6), -1)).map(
            lambda c: lambda outputs: torch.full((outputs.shape[0],), c)
        ),
    ),
)


# ---------------------------------------------------------------- the table


@dataclass(frozen=True, repr=False)
class Case:
    """A public callable: ``run(**valid())`` is a valid call; ``arguments`` maps each
    argument to the corruptions that apply to it."""

    name: str
    run: Callable[..., Any]
    valid: Callable[[], dict[str, Any]]
    arguments: dict[str, tuple[Bad, ...]]

    def __repr__(self) -> str:
        return f"Case({self.name!r})"


def _method_case(
    name: str,
    build: Callable[[], Any],
    valid: Callable[[], dict[str, Any]],
    arguments: dict[str, tuple[Bad, ...]],
) -> Case:
    def run(**kwargs: Any) -> Any:
        return build().attribute(**kwargs)

    return Case(name, run, valid, arguments)


def _with(base: Callable[[], dict[str, Any]], **extra: Any) -> Callable[[], dict[str, Any]]:
    return lambda: {**base(), **extra}


def _method_common() -> dict[str, Any]:
    return {"inputs": IMAGES, "target": 0, "additional_forward_args": _scale()}


QUADRATURES = (
    "riemann_right",
    "riemann_left",
    "riemann_middle",
    "riemann_trapezoid",
    "gausslegendre",
)
COMMON = {"inputs": METHOD_INPUT, "target": TARGET, "additional_forward_args": EXTRA}
PATH_COMMON = {**COMMON, "show_progress": FLAG}
WITH_DELTA = {**PATH_COMMON, "return_convergence_delta": FLAG}
ST_ARGS = {
    **PATH_COMMON,
    "n_samples": COUNT,
    "noise_scale": (*real(), *per_example_tensor(0.5)),
    "noise_scale_mode": (unknown("absolute", "relative"),),
    "internal_batch_size": COUNT,
    "generator": GENERATOR,
}
GUIDED_ARGS = {
    **WITH_DELTA,
    "baselines": BASELINES,
    "n_steps": COUNT,
    "fraction": real(0, 1, low_open=True, high_open=False),
    "max_dist": real(),
    "internal_batch_size": COUNT,
}
BLUR_ARGS = {
    **WITH_DELTA,
    "inputs": (*METHOD_INPUT, n_dims(3, 4, 5)),
    "max_sigma": real(),
    "n_steps": COUNT,
    "grad_step": real(0, INF, low_open=True),
    "internal_batch_size": COUNT,
}
GUIDED_VALID = _with(_method_common, baselines=torch.zeros_like(IMAGES), n_steps=3)
BLUR_VALID = _with(_method_common, max_sigma=1.0, n_steps=2)

METHOD_CASES = [
    _method_case(
        "SmoothTaylor",
        lambda: SmoothTaylor(METHOD_NET),
        lambda: {**_method_common(), "n_samples": 2, "generator": _generator()},
        ST_ARGS,
    ),
    _method_case(
        "SmoothGradSquared(SmoothTaylor)",
        lambda: SmoothGradSquared(SmoothTaylor(METHOD_NET)),
        lambda: {**_method_common(), "n_samples": 2, "generator": _generator()},
        ST_ARGS,
    ),
    _method_case(
        "NoiseTunnel(SmoothTaylor)",
        lambda: NoiseTunnel(SmoothTaylor(METHOD_NET)),
        lambda: {**_method_common(), "nt_samples": 2, "n_samples": 2, "generator": _generator()},
        # Captum's NoiseTunnel adds float noise before SmoothTaylor sees the inputs: integer
        # and bool inputs become floats, and a list fails inside Captum; out of our reach.
        # NoiseTunnel repeats the examples but not the settings: a σ per example of another
        # length may fit the repeated batch.
        {
            **ST_ARGS,
            "inputs": (NAN_ENTRY, INF_ENTRY, EMPTY, COMPLEX, OTHER_BATCH_IN_TUPLE),
            "noise_scale": (*real(), *per_example_tensor(0.5)[:3]),
        },
    ),
    _method_case(
        "NoiseBaselineIntegratedGradients",
        lambda: NoiseBaselineIntegratedGradients(METHOD_NET),
        lambda: {
            **_method_common(),
            "n_baselines": 2,
            "n_steps": 2,
            "baseline_low": torch.zeros_like(IMAGES),
            "baseline_high": torch.ones_like(IMAGES),
            "baseline_transform": lambda u: u - 0.5,
            "generator": _generator(),
        },
        {
            **WITH_DELTA,
            "n_baselines": COUNT,
            "baseline_low": (*FLOAT_OR_TENSOR, shape(1, 2, 3)),
            "baseline_high": (*FLOAT_OR_TENSOR, shape(1, 2, 3)),
            "baseline_transform": (NOT_CALLABLE, RETURNS_NONFINITE, RETURNS_SHAPE),
            "n_steps": COUNT,
            "method": (unknown(*QUADRATURES),),
            "internal_batch_size": COUNT,
            "generator": GENERATOR,
        },
    ),
    _method_case(
        "GuidedIntegratedGradients",
        lambda: GuidedIntegratedGradients(METHOD_NET),
        GUIDED_VALID,
        GUIDED_ARGS,
    ),
    _method_case(
        "BlurIntegratedGradients",
        lambda: BlurIntegratedGradients(METHOD_NET),
        BLUR_VALID,
        BLUR_ARGS,
    ),
    _method_case(
        "IDGI(IntegratedGradients)",
        lambda: IDGI(IntegratedGradients(METHOD_NET)),
        _with(_method_common, baselines=torch.zeros_like(IMAGES), n_steps=2),
        {**WITH_DELTA, "baselines": BASELINES, "n_steps": COUNT, "internal_batch_size": COUNT},
    ),
    _method_case(
        "IDGI(GuidedIntegratedGradients)",
        lambda: IDGI(GuidedIntegratedGradients(METHOD_NET)),
        GUIDED_VALID,
        GUIDED_ARGS,
    ),
    _method_case(
        "IDGI(BlurIntegratedGradients)",
        lambda: IDGI(BlurIntegratedGradients(METHOD_NET)),
        BLUR_VALID,
        BLUR_ARGS,
    ),
    _method_case(
        "AdaptiveSmoothTaylor",
        lambda: AdaptiveSmoothTaylor(METHOD_NET, _adaptive_objective),
        lambda: {
            **_method_common(),
            "n_samples": 2,
            "initial_noise_scale": 0.1,
            "max_iterations": 1,
            "objective_inputs": IMAGES + 1,
            "generator": _generator(),
        },
        {
            **COMMON,
            "inputs": (*TENSOR_INPUT, TUPLE),
            "n_samples": COUNT,
            "initial_noise_scale": (*real(), *per_example_tensor(0.1)),
            "step_size": real(0, INF, low_open=True),
            "step_decay": real(0, 1, low_open=True, high_open=False),
            "patience": COUNT,
            "max_iterations": COUNT,
            "objective_inputs": (NAN_ENTRY, INF_ENTRY, INTEGER, ELSEWHERE, shape(0)),
            "internal_batch_size": COUNT,
            "generator": GENERATOR,
            "show_progress": FLAG,
        },
    ),
]


def _metric_common() -> dict[str, Any]:
    return {
        "forward_func": METRIC_NET,
        "inputs": PICTURES,
        "attributions": PICTURES - 0.5,
        "target": 0,
    }


def _curve_valid() -> dict[str, Any]:
    return {**_metric_common(), "baselines": torch.zeros_like(PICTURES), "n_steps": 4}


MODEL_ARGS = {
    "forward_func": (NOT_CALLABLE, RETURNS_NONFINITE),
    "inputs": IMAGES_ARG,
    "attributions": ATTRIBUTIONS,
    "target": TARGET,
    "input_transform": (NOT_CALLABLE, RETURNS_NONFINITE),
    "channel_reduction": (unknown("sum", "abs_sum"),),
    "batch_size": COUNT,
    "show_progress": FLAG,
}
CURVE_ARGS = {
    **MODEL_ARGS,
    "baselines": (*FLOAT_OR_TENSOR, BOOL, shape(0, 1, 2, 3)),
    "n_steps": COUNT,
}
PIC_ARGS = {
    **MODEL_ARGS,
    "forward_func": (NOT_CALLABLE, RETURNS_NONFINITE),
    "inputs": (*IMAGES_ARG, Bad("values outside [0, 1]", ValueError, _poke(st.floats(1.01, 10)))),
    "thresholds": THRESHOLDS,
    "information": (unknown("compression", "msssim"),),
    "random_mask": (
        ELSEWHERE,
        shape(0, 1, 2),
        Bad("not bool", TypeError, lambda m: st.sampled_from([m.double(), m.long(), m.tolist()])),
    ),
    "mask_fraction": real(0, 1, high_open=False),
    "min_pred_value": real(0, 1, high_open=False),
    "n_points": COUNT,
    "aggregation": (unknown("median", "mean"),),
    "generator": GENERATOR,
}


def _pic_valid() -> dict[str, Any]:
    return {
        "forward_func": DetailNet(),
        "inputs": PIC_IMAGES,
        "attributions": PIC_IMAGES - 0.5,
        "target": 0,
        "thresholds": (0.1, 0.5),
        "random_mask": _rand(BATCH, 16, 16, seed=4) < 0.02,
        "n_points": 8,
        "generator": _generator(),
    }


def _pic_case(name: str, function: Callable[..., Any]) -> Case:
    return Case(name, function, _pic_valid, dict(PIC_ARGS))


METRIC_CASES = [
    Case(
        "aupc",
        aupc,
        lambda: {
            **_metric_common(),
            "window_size": 2,
            "n_steps": 2,
            "n_candidates": 2,
            "generator": _generator(),
        },
        {
            **MODEL_ARGS,
            "window_size": (
                *COUNT,
                Bad("larger than the images", ValueError, lambda v: st.integers(9, 100)),
            ),
            "n_steps": COUNT,
            "n_candidates": COUNT,
            "pixel_range": (RANGE_BAD, RANGE_TYPE),
            "generator": GENERATOR,
        },
    ),
    Case(
        "autvc",
        autvc,
        lambda: {"attributions": PICTURES - 0.5, "min_size": 4},
        {
            # no other tensor: no device to match
            "attributions": (NAN_ENTRY, INF_ENTRY, EMPTY, INTEGER, BOOL, NOT_TENSOR, n_dims(3, 4)),
            "downscale": real(1, INF, low_open=True),
            "min_size": (
                *COUNT,
                Bad("larger than the maps", ValueError, lambda v: st.integers(9, 100)),
            ),
            "percentile": real(0, 100, low_open=True, high_open=False),
            "channel_reduction": (unknown("sum", "abs_sum"),),
        },
    ),
    Case(
        "objective",
        lambda **kwargs: objective(**kwargs)(PICTURES, PICTURES - 0.5, 0),
        lambda: {"name": "aupc", "forward_func": METRIC_NET, "window_size": 2},
        {"name": (unknown("aupc", "autvc"),), "forward_func": (NOT_CALLABLE,)},
    ),
    Case("insertion", insertion, _curve_valid, CURVE_ARGS),
    Case("deletion", deletion, _curve_valid, CURVE_ARGS),
    _pic_case("sic", sic),
    _pic_case("aic", aic),
    Case(
        "localisation",
        localisation,
        lambda: {"attributions": PICTURES - 0.5, "masks": BOX, "n_thresholds": 5},
        {
            "attributions": ATTRIBUTIONS,
            "masks": (ELSEWHERE, NAN_ENTRY, INF_ENTRY, EMPTY, NOT_TENSOR, shape(0, 1, 2)),
            "n_thresholds": (COUNT_BOOL, COUNT_FLOAT, too_small(2)),
            "channel_reduction": (unknown("sum", "abs_sum"),),
        },
    ),
]


def _score_metric(model, images, attributions, targets) -> Tensor:
    return attributions.flatten(1).sum(dim=1)


EVALUATION_CASES = [
    Case(
        "evaluate_methods",
        evaluate_methods,
        lambda: {
            "model": METHOD_NET,
            "dataset": list(IMAGES),
            "methods": [Method("st", SmoothTaylor, {"n_samples": 2}, random=True)],
            "metrics": {"sum": _score_metric},
            "batch_size": 2,
        },
        {
            "dataset": DATASET,
            "methods": METHODS,
            "metrics": METRICS,
            "batch_size": COUNT,
            "target": TARGET_FUNCTION,
            "input_transform": (NOT_CALLABLE, RETURNS_NONFINITE),
            "seed": SEED,
            "show_progress": FLAG,
        },
    ),
    Case(
        "RandomMap",
        lambda **kwargs: RandomMap().attribute(**kwargs),
        lambda: {"inputs": IMAGES, "generator": _generator()},
        {"inputs": TENSOR_INPUT, "generator": GENERATOR},
    ),
]


def _axiom_common() -> dict[str, Any]:
    return {
        "method": IntegratedGradients,
        "model": TABULAR_NET,
        "inputs": TABLE,
        "baselines": torch.zeros_like(TABLE),
        "target": 0,
        "additional_forward_args": _scale(),
        "attribute_kwargs": {"n_steps": 4},
    }


AXIOM_ARGS = {
    "method": METHOD_FACTORY,
    "inputs": (*TENSOR_INPUT,),
    "baselines": (*BASELINES[:-1], shape(0, 1)),
    "target": TARGET,
    "additional_forward_args": EXTRA,
    "attribute_kwargs": ATTRIBUTE_KWARGS,
    "atol": TOLERANCE,
    "rtol": TOLERANCE,
    "seed": AXIOM_SEED,
}
WITHOUT_RTOL = {k: v for k, v in AXIOM_ARGS.items() if k != "rtol"}


def _sensitivity_baselines() -> Tensor:
    baselines = TABLE.clone()
    baselines[:, 2] = 0
    return baselines


AXIOM_CASES = [
    Case("check_completeness", check_completeness, _axiom_common, AXIOM_ARGS),
    Case(
        "check_sensitivity",
        check_sensitivity,
        lambda: {**_axiom_common(), "baselines": _sensitivity_baselines()},
        WITHOUT_RTOL,
    ),
    Case(
        "check_dummy",
        check_dummy,
        lambda: {**_axiom_common(), "dummy_features": [3]},
        {**WITHOUT_RTOL, "dummy_features": FEATURES},
    ),
    Case(
        "check_implementation_invariance",
        check_implementation_invariance,
        lambda: {**_axiom_common(), "equivalent_model": EQUIVALENT_TABULAR_NET},
        AXIOM_ARGS,
    ),
    Case(
        "check_linearity",
        check_linearity,
        lambda: {
            **{k: v for k, v in _axiom_common().items() if k != "model"},
            "model_1": TABULAR_NET,
            "model_2": OTHER_TABULAR_NET,
            "a": 2.0,
            "b": -0.5,
        },
        {**AXIOM_ARGS, "a": COEFFICIENT, "b": COEFFICIENT},
    ),
    Case(
        "check_symmetry",
        check_symmetry,
        lambda: {**_axiom_common(), "symmetric_features": (0, 1)},
        {**AXIOM_ARGS, "symmetric_features": FEATURES},
    ),
]

CASES = METHOD_CASES + METRIC_CASES + EVALUATION_CASES + AXIOM_CASES
TRIPLES = [
    pytest.param(case, argument, bad, id=f"{case.name}-{argument}-{bad.name}")
    for case in CASES
    for argument, corruptions in case.arguments.items()
    for bad in corruptions
]
TRIED: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_how_many_cases_were_tried():
    yield
    print(
        f"\nbad inputs: {len(TRIED)} (callable, argument, corruption) triples tried, "
        f"{sum(TRIED.values())} examples in all (of {len(TRIPLES)} triples in the table)"
    )


def _tensors(result: Any) -> list[Tensor]:
    """The tensors of a result: attributions (and delta), a metric's NamedTuple, scores."""
    if isinstance(result, Tensor):
        return [result]
    if hasattr(result, "scores"):  # EvaluationResult
        return list(result.scores.values())
    if isinstance(result, tuple):
        return [t for item in result for t in _tensors(item)]
    return []


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_valid_call_gives_a_finite_result(case: Case):
    result = case.run(**case.valid())
    if case.name.startswith("check_"):
        assert result.status and all(status == "holds" for status in result.status)
    else:
        assert _tensors(result), case.name
    for tensor in _tensors(result):
        if tensor.is_floating_point():
            assert torch.isfinite(tensor).all(), case.name


# Each triple's space is small (where the NaN goes, how far out of range a target is): half
# the profile's examples cover it and keep some 800 triples fast.
@pytest.mark.parametrize(("case", "argument", "bad"), TRIPLES)
@settings(max_examples=max(1, settings.default.max_examples // 2))
@given(data=st.data())
def test_a_bad_argument_raises_an_error_that_names_it(case: Case, argument: str, bad: Bad, data):
    kwargs = case.valid()
    kwargs[argument] = data.draw(bad.strategy(kwargs.get(argument)), label=argument)
    TRIED[f"{case.name}-{argument}-{bad.name}"] += 1
    with pytest.raises(bad.error) as raised:
        case.run(**kwargs)
    assert f"`{argument}`" in str(raised.value), (
        f"{case.name}: the {bad.error.__name__} for {argument} ({bad.name}) does not name it: "
        f"{raised.value}"
    )
