"""Hypothesis strategies for the axiom checks.

Small random networks with inputs and baselines, functionally equivalent pairs, networks with
dummy inputs, symmetric networks, and token models with token ids for layer methods.

Needs ``hypothesis`` (``pip install 'captum-smooth[axioms]'``). Every strategy draws float64
tensors (int64 token ids for the token models) and networks whose weights come from a drawn
seed, so a failing example prints as a short description (``network``) plus the tensors, and
replays exactly.

Example:
    >>> from hypothesis import given
    >>> from captum.attr import IntegratedGradients
    >>> from captum_smooth.axioms import check_implementation_invariance, strategies
    >>> @given(strategies.equivalent_pairs())
    ... def test_ig_is_implementation_invariant(case):
    ...     check_implementation_invariance(
    ...         IntegratedGradients, case.model, case.equivalent_model, case.inputs,
    ...         case.baselines
    ...     )
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

try:
    from hypothesis import strategies as st
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "captum_smooth.axioms.strategies needs hypothesis: `pip install 'captum-smooth[axioms]'`"
    ) from error

from captum_smooth.axioms import networks

ALL_ACTIVATIONS = tuple(networks.ACTIVATIONS)
POOLS = networks.POOLS
SMOOTH_ACTIVATIONS = ("softplus", "tanh")
KINDS = ("mlp", "cnn")


@dataclass
class Network:
    """A drawn network, the shape of one example, and how it was built."""

    model: nn.Module
    shape: tuple[int, ...]
    description: str
    activation: str


@dataclass
class Case:
    """A network with a batch of inputs and baselines."""

    model: nn.Module
    inputs: Tensor
    baselines: Tensor
    network: str


@dataclass
class TokenCase:
    """A token model with a batch of token ids and baseline ids.

    The model's embedding, the layer to attribute to, is ``model.embedding``.
    """

    model: networks.TokenModel
    inputs: Tensor
    baselines: Tensor
    network: str


@dataclass
class EquivalentCase:
    """Two functionally equivalent networks, with inputs and baselines.

    ``reparameterisation`` says how the second was made from the first.
    """

    model: nn.Module
    equivalent_model: nn.Module
    inputs: Tensor
    baselines: Tensor
    network: str
    reparameterisation: str


@dataclass
class DummyCase:
    """A network that does not depend on ``dummy_features`` (flat indices)."""

    model: nn.Module
    inputs: Tensor
    baselines: Tensor
    dummy_features: list[int]
    network: str


@dataclass
class SymmetricCase:
    """A network symmetric in two features, with equal values there in inputs and baselines."""

    model: nn.Module
    inputs: Tensor
    baselines: Tensor
    symmetric_features: tuple[int, int]
    network: str


@dataclass
class LinearCase:
    """Two networks on the same inputs and the coefficients of ``a·f₁ + b·f₂``."""

    model_1: nn.Module
    model_2: nn.Module
    a: float
    b: float
    inputs: Tensor
    baselines: Tensor
    network: str


def values(low: float = -2.0, high: float = 2.0) -> st.SearchStrategy[float]:
    """Finite floats in ``[low, high]``, the elements of inputs and baselines."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def tensors(draw: st.DrawFn, shape: Sequence[int], batch_size: int) -> Tensor:
    """A float64 tensor ``(batch_size, *shape)`` of :func:`values`."""
    n = batch_size * int(torch.Size(shape).numel())
    flat = draw(st.lists(values(), min_size=n, max_size=n))
    return torch.tensor(flat, dtype=torch.float64).reshape(batch_size, *shape)


@st.composite
def mlps(
    draw: st.DrawFn,
    activations: Sequence[str] = ALL_ACTIVATIONS,
    min_features: int = 1,
    n_features: int | None = None,
) -> Network:
    """A random MLP: 1 to 4 inputs, one or two hidden layers of width 1 to 5, one output.

    At least ``min_features`` inputs; exactly ``n_features`` if given.
    """
    if n_features is None:
        n_features = draw(st.integers(max(min_features, 1), max(min_features, 4)))
    hidden = draw(st.lists(st.integers(1, 5), min_size=1, max_size=2))
    activation = draw(st.sampled_from(list(activations)))
    seed = draw(st.integers(0, 2**31 - 1))
    model = networks.mlp(n_features, hidden, activation, generator=_generator(seed))
    return Network(
        model, (n_features,), f"mlp({n_features}, {hidden}, {activation}, seed={seed})", activation
    )


@st.composite
def cnns(
    draw: st.DrawFn,
    activations: Sequence[str] = ALL_ACTIVATIONS,
    max_pool: bool = True,
    shape: tuple[int, int, int] | None = None,
) -> Network:
    """A random one-convolution CNN on 1 or 2 channels of 2×2 or 4×4 pixels.

    Or on images of ``shape``; with 1 to 3 channels, optionally max-pooled (where
    ``max_pool`` allows).
    """
    if shape is None:
        in_channels = draw(st.integers(1, 2))
        size = draw(st.sampled_from([2, 4]))
    else:
        in_channels, size, _ = shape
    channels = draw(st.integers(1, 3))
    activation = draw(st.sampled_from(list(activations)))
    pool = draw(st.booleans()) if max_pool else False
    seed = draw(st.integers(0, 2**31 - 1))
    model = networks.cnn(
        in_channels, size, channels, activation, max_pool=pool, generator=_generator(seed)
    )
    return Network(
        model,
        (in_channels, size, size),
        f"cnn({in_channels}, {size}, {channels}, {activation}, max_pool={pool}, seed={seed})",
        activation,
    )


def network_strategy(
    activations: Sequence[str] = ALL_ACTIVATIONS,
    kinds: Sequence[str] = KINDS,
    max_pool: bool = True,
    min_features: int = 1,
) -> st.SearchStrategy[Network]:
    """MLPs and/or CNNs (``kinds``) with the given activations.

    ``max_pool=False`` keeps the networks smooth where the activations are (quadrature
    converges fast on them).
    """
    if not activations or set(activations) - set(ALL_ACTIVATIONS):
        raise ValueError(f"`activations` must be a non-empty subset of {ALL_ACTIVATIONS}")
    if not kinds or set(kinds) - set(KINDS):
        raise ValueError(f"`kinds` must be a non-empty subset of {KINDS}")
    options = []
    if "mlp" in kinds:
        options.append(mlps(activations, min_features))
    if "cnn" in kinds:
        options.append(cnns(activations, max_pool))
    return st.one_of(options)


def _batch_size(draw: st.DrawFn, batch_size: int | None) -> int:
    """``batch_size`` examples, or 1 to 3 drawn."""
    return batch_size or draw(st.integers(1, 3))


@st.composite
def cases(draw: st.DrawFn, batch_size: int | None = None, **network_options: Any) -> Case:
    """A network and a batch of inputs and baselines.

    The network takes the options of :func:`network_strategy`; the batch holds 1 to 3
    examples (``batch_size`` if given).
    """
    net = draw(network_strategy(**network_options))
    n = _batch_size(draw, batch_size)
    return Case(
        net.model, draw(tensors(net.shape, n)), draw(tensors(net.shape, n)), net.description
    )


@st.composite
def one_feature_apart(
    draw: st.DrawFn, batch_size: int | None = None, **network_options: Any
) -> Case:
    """Inputs and baselines that differ in exactly one (drawn) feature per example.

    The premise of sensitivity (a). Options as in :func:`cases`.
    """
    net = draw(network_strategy(**network_options))
    n = _batch_size(draw, batch_size)
    inputs = draw(tensors(net.shape, n))
    flat = inputs.reshape(n, -1).clone()
    for i in range(n):
        feature = draw(st.integers(0, flat.shape[1] - 1))
        old = flat[i, feature].item()
        flat[i, feature] = draw(values().filter(lambda v, old=old: v != old))
    return Case(net.model, inputs, flat.reshape(inputs.shape), net.description)


@st.composite
def equivalent_pairs(
    draw: st.DrawFn, max_steps: int = 3, batch_size: int | None = None, **network_options: Any
) -> EquivalentCase:
    """A network and a functionally equivalent one, made by reparameterising hidden units.

    1 to ``max_steps`` reparameterisations: permutations, splits into two units, and (through
    ReLU) positive rescalings. Other options as in :func:`cases`.
    """
    net = draw(network_strategy(**network_options))
    model = net.model
    steps = []
    for _ in range(draw(st.integers(1, max_steps))):
        hidden = [m for m in model if isinstance(m, nn.Linear | nn.Conv2d)][:-1]
        layer = draw(st.integers(0, len(hidden) - 1))
        n_units = hidden[layer].weight.shape[0]
        kinds = ["permute", "split"] + (["rescale"] if net.activation == "relu" else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "permute":
            order = draw(st.permutations(range(n_units)))
            model = networks.permute_hidden_units(model, layer, order)
            steps.append(f"permute(layer={layer}, {order})")
            continue
        unit = draw(st.integers(0, n_units - 1))
        if kind == "split":
            fraction = draw(st.floats(-1.0, 2.0, allow_nan=False))
            model = networks.split_hidden_unit(model, layer, unit, fraction)
            steps.append(f"split(layer={layer}, unit={unit}, fraction={fraction})")
        else:
            factor = draw(st.floats(0.1, 10.0))
            model = networks.rescale_hidden_unit(model, layer, unit, factor)
            steps.append(f"rescale(layer={layer}, unit={unit}, factor={factor})")
    n = _batch_size(draw, batch_size)
    return EquivalentCase(
        net.model,
        model,
        draw(tensors(net.shape, n)),
        draw(tensors(net.shape, n)),
        net.description,
        " then ".join(steps),
    )


@st.composite
def dummy_cases(
    draw: st.DrawFn, batch_size: int | None = None, **network_options: Any
) -> DummyCase:
    """A network that ignores a drawn non-empty set of its input features.

    Options as in :func:`cases`.
    """
    net = draw(network_strategy(**network_options))
    n_features = int(torch.Size(net.shape).numel())
    dummies = sorted(draw(st.sets(st.integers(0, n_features - 1), min_size=1)))
    model = networks.IgnoringFeatures(net.model, net.shape, dummies)
    n = _batch_size(draw, batch_size)
    return DummyCase(
        model,
        draw(tensors(net.shape, n)),
        draw(tensors(net.shape, n)),
        dummies,
        f"IgnoringFeatures({net.description}, {dummies})",
    )


@st.composite
def symmetric_cases(
    draw: st.DrawFn, batch_size: int | None = None, **network_options: Any
) -> SymmetricCase:
    """A network symmetrised in two drawn features, ``f(x) + f(swap(x))``.

    With inputs and baselines that have equal values at those features. Options as in
    :func:`cases`.
    """
    net = draw(network_strategy(min_features=2, **network_options))
    n_features = int(torch.Size(net.shape).numel())
    i, j = draw(st.lists(st.integers(0, n_features - 1), min_size=2, max_size=2, unique=True))
    n = _batch_size(draw, batch_size)
    points = []
    for _ in range(2):
        flat = draw(tensors(net.shape, n)).reshape(n, -1)
        flat[:, j] = flat[:, i]
        points.append(flat.reshape(n, *net.shape))
    return SymmetricCase(
        networks.Symmetrized(net.model, (i, j)),
        points[0],
        points[1],
        (i, j),
        f"Symmetrized({net.description}, ({i}, {j}))",
    )


@st.composite
def linear_cases(
    draw: st.DrawFn, batch_size: int | None = None, **network_options: Any
) -> LinearCase:
    """Two independent networks on the same input shape and coefficients ``a, b``.

    Options as in :func:`cases`.
    """
    first = draw(network_strategy(**network_options))
    activations = network_options.get("activations", ALL_ACTIVATIONS)
    if len(first.shape) == 1:
        second = draw(mlps(activations, n_features=first.shape[0]))
    else:
        second = draw(cnns(activations, network_options.get("max_pool", True), first.shape))
    a, b = draw(values()), draw(values())
    n = _batch_size(draw, batch_size)
    return LinearCase(
        first.model,
        second.model,
        a,
        b,
        draw(tensors(first.shape, n)),
        draw(tensors(first.shape, n)),
        f"{a}·{first.description} + {b}·{second.description}",
    )


@st.composite
def token_models(
    draw: st.DrawFn, activations: Sequence[str] = ALL_ACTIVATIONS, pools: Sequence[str] = POOLS
) -> tuple[networks.TokenModel, int, int, str]:
    """A random :func:`~captum_smooth.axioms.networks.token_mlp`.

    1 to 4 tokens, a vocabulary of 2 to 8 ids, embeddings of width 1 to 3, a head of one or
    two hidden layers of width 1 to 5.

    Returns:
        The model, its number of tokens, its vocabulary size, and its description.
    """
    if not pools or set(pools) - set(POOLS):
        raise ValueError(f"`pools` must be a non-empty subset of {POOLS}")
    n_tokens, vocabulary = draw(st.integers(1, 4)), draw(st.integers(2, 8))
    dim = draw(st.integers(1, 3))
    hidden = draw(st.lists(st.integers(1, 5), min_size=1, max_size=2))
    activation = draw(st.sampled_from(list(activations)))
    pool = draw(st.sampled_from(list(pools)))
    seed = draw(st.integers(0, 2**31 - 1))
    model = networks.token_mlp(
        n_tokens, vocabulary, dim, hidden, activation, pool=pool, generator=_generator(seed)
    )
    description = (
        f"token_mlp({n_tokens}, {vocabulary}, {dim}, {hidden}, {activation}, pool={pool!r}, "
        f"seed={seed})"
    )
    return model, n_tokens, vocabulary, description


def token_ids(
    vocabulary: int, n_tokens: int, batch_size: int, exclude: int | None = None
) -> st.SearchStrategy[Tensor]:
    """``(batch_size, n_tokens)`` int64 token ids in ``[0, vocabulary)``, never ``exclude``."""
    n = batch_size * n_tokens
    ids = [i for i in range(vocabulary) if i != exclude]
    drawn = st.lists(st.sampled_from(ids), min_size=n, max_size=n)
    return drawn.map(lambda flat: torch.tensor(flat).reshape(batch_size, n_tokens))


@st.composite
def token_cases(
    draw: st.DrawFn,
    batch_size: int | None = None,
    pad_id: int = 0,
    activations: Sequence[str] = ALL_ACTIVATIONS,
    pools: Sequence[str] = POOLS,
) -> TokenCase:
    """A token model, a batch of token ids other than ``pad_id``, and baselines of ``pad_id``.

    The case of completeness for layer methods: every token differs from the baseline's, as a
    text differs from its padding. Options as in :func:`token_models`; 1 to 3 examples
    (``batch_size`` if given).
    """
    if not 0 <= pad_id < 2:
        raise ValueError(f"`pad_id` must be 0 or 1 (every vocabulary has both), got {pad_id}")
    model, n_tokens, vocabulary, description = draw(token_models(activations, pools))
    inputs = draw(token_ids(vocabulary, n_tokens, _batch_size(draw, batch_size), pad_id))
    return TokenCase(model, inputs, torch.full_like(inputs, pad_id), description)


@st.composite
def one_token_apart(
    draw: st.DrawFn,
    batch_size: int | None = None,
    activations: Sequence[str] = ALL_ACTIVATIONS,
    pools: Sequence[str] = POOLS,
) -> TokenCase:
    """Token ids and baselines that differ in exactly one (drawn) token per example.

    The premise of sensitivity (a) for a layer method on the embeddings. Options as in
    :func:`token_cases`.
    """
    model, n_tokens, vocabulary, description = draw(token_models(activations, pools))
    n = _batch_size(draw, batch_size)
    inputs = draw(token_ids(vocabulary, n_tokens, n))
    baselines = inputs.clone()
    for i in range(n):
        token = draw(st.integers(0, n_tokens - 1))
        old = int(inputs[i, token])
        baselines[i, token] = draw(st.integers(0, vocabulary - 1).filter(lambda v, o=old: v != o))
    return TokenCase(model, inputs, baselines, description)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
