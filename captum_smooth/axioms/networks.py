"""Small networks for the axiom checks.

Random MLPs and CNNs, token models (an embedding in front of an MLP, for the layer methods of
text models), functionally equivalent reparameterisations, networks with dummy inputs,
symmetric networks, and the classic examples of Sundararajan et al. (2017).

Everything here is plain PyTorch (no hypothesis): :mod:`captum_smooth.axioms.strategies` draws
its arguments.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "softplus": nn.Softplus,
    "tanh": nn.Tanh,
}
# Between a unit and the next layer, these commute with a positive rescaling of the unit.
_POSITIVELY_HOMOGENEOUS = (nn.ReLU, nn.LeakyReLU, nn.MaxPool1d, nn.MaxPool2d, nn.Flatten)
_ELEMENTWISE = (*ACTIVATIONS.values(), *_POSITIVELY_HOMOGENEOUS, nn.Sigmoid, nn.ELU)
_WEIGHTED = (nn.Linear, nn.Conv2d)


def mlp(
    n_features: int,
    hidden: Sequence[int],
    activation: str = "relu",
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> nn.Sequential:
    """A random multi-layer perceptron ``n_features → hidden… → 1``.

    Args:
        n_features: The input width.
        hidden: The widths of the hidden layers, each followed by ``activation``.
        activation: The non-linearity: ``"relu"``, ``"softplus"`` or ``"tanh"``.
        generator: The source of the weights (normal, scaled by ``1.5 / sqrt(fan_in)``) and
            biases.
        dtype: The parameters' dtype.

    Returns:
        The network, an ``nn.Sequential`` in evaluation mode.
    """
    widths = [n_features, *hidden]
    layers: list[nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(widths):
        layers += [_random_linear(fan_in, fan_out, generator, dtype), _activation(activation)]
    layers.append(_random_linear(widths[-1], 1, generator, dtype))
    return nn.Sequential(*layers).eval()


def cnn(
    in_channels: int,
    size: int,
    channels: int,
    activation: str = "relu",
    *,
    max_pool: bool = False,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> nn.Sequential:
    """A random one-convolution network for ``(in_channels, size, size)`` images.

    3×3 convolution (padding 1) → activation → [2×2 max-pool] → flatten → linear → 1.

    Args:
        in_channels: The input's channels.
        size: The input's side.
        channels: The convolution's output channels.
        activation: The non-linearity: ``"relu"``, ``"softplus"`` or ``"tanh"``.
        max_pool: Whether to max-pool (``size`` must then be even).
        generator: As in :func:`mlp`.
        dtype: As in :func:`mlp`.

    Returns:
        The network, an ``nn.Sequential`` in evaluation mode.

    Raises:
        ValueError: If ``max_pool`` is set and ``size`` is odd.
    """
    if max_pool and size % 2:
        raise ValueError(f"`size` must be even with `max_pool`, got {size}")
    conv = _new(nn.Conv2d, in_channels, channels, 3, padding=1, dtype=dtype)
    _fill(conv, in_channels * 9, generator)
    side = size // 2 if max_pool else size
    layers: list[nn.Module] = [conv, _activation(activation)]
    if max_pool:
        layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), _random_linear(channels * side * side, 1, generator, dtype)]
    return nn.Sequential(*layers).eval()


POOLS = ("flatten", "sum")
"""How a :class:`TokenModel` joins its tokens."""


class TokenModel(nn.Module):
    """Token ids through ``embedding``, then ``head``: a text model for layer methods.

    With ``pool="flatten"`` the head sees the ``(tokens · embedding_dim)`` embeddings of an
    example at once; with ``pool="sum"`` it runs on each token's embedding and the outputs are
    summed over tokens (a model symmetric in its tokens).

    Args:
        embedding: The embedding layer, the layer that layer methods attribute to.
        head: The network after it, returning one output per example (or per token).
        pool: ``"flatten"`` or ``"sum"``.
    """

    def __init__(self, embedding: nn.Embedding, head: nn.Module, pool: str = "flatten") -> None:
        """Put ``embedding`` in front of ``head``, joined by ``pool``."""
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"`pool` must be one of {POOLS}, got {pool!r}")
        self.embedding, self.head, self.pool = embedding, head, pool

    def forward(self, ids: Tensor) -> Tensor:
        """The head's output on the embeddings of ``ids``, ``(batch, tokens)``."""
        embedded = self.embedding(ids)
        if self.pool == "flatten":
            return self.head(embedded.flatten(1))
        return self.head(embedded).sum(dim=1)


def token_mlp(
    n_tokens: int,
    vocabulary_size: int,
    embedding_dim: int,
    hidden: Sequence[int],
    activation: str = "tanh",
    *,
    pool: str = "flatten",
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> TokenModel:
    """A random :class:`TokenModel`: an embedding followed by an :func:`mlp`.

    Args:
        n_tokens: The tokens per example (the head's input width with ``pool="flatten"``).
        vocabulary_size: The number of token ids, ``0`` to ``vocabulary_size - 1``.
        embedding_dim: The width of an embedding.
        hidden: The widths of the head's hidden layers.
        activation: The head's non-linearity: ``"relu"``, ``"softplus"`` or ``"tanh"``.
        pool: ``"flatten"`` or ``"sum"``, as in :class:`TokenModel`.
        generator: The source of the embeddings (standard normal) and the head's weights.
        dtype: The parameters' dtype.

    Returns:
        The model, in evaluation mode; its layer is ``model.embedding``.
    """
    embedding = _new(nn.Embedding, vocabulary_size, embedding_dim, dtype=dtype)
    with torch.no_grad():
        embedding.weight.copy_(
            torch.randn(embedding.weight.shape, generator=generator, dtype=dtype)
        )
    width = n_tokens * embedding_dim if pool == "flatten" else embedding_dim
    head = mlp(width, hidden, activation, generator=generator, dtype=dtype)
    return TokenModel(embedding, head, pool).eval()


def permute_hidden_units(
    model: nn.Sequential, layer: int, permutation: Sequence[int]
) -> nn.Sequential:
    """The same function with the units (or channels) of a hidden layer reordered.

    Args:
        model: Weighted layers (``Linear``, ``Conv2d``) separated by element-wise activations,
            pooling or ``Flatten``.
        layer: Which weighted layer's outputs to permute (0 is the first); not the last one.
        permutation: The new order of its units.

    Returns:
        A reparameterised copy; ``model`` is left untouched.

    Raises:
        ValueError: If ``permutation`` is not a permutation of the layer's units, or ``layer``
            is not a hidden layer followed by supported modules.
    """
    model = copy.deepcopy(model)
    this, following = _layer_pair(model, layer)
    n_units = this.weight.shape[0]
    if sorted(permutation) != list(range(n_units)):
        raise ValueError(f"`permutation` must be a permutation of range({n_units})")
    order = torch.as_tensor(list(permutation))
    with torch.no_grad():
        this.weight.copy_(this.weight[order])
        if this.bias is not None:
            this.bias.copy_(this.bias[order])
        blocks = _blocks(following, n_units)
        following.weight.copy_(blocks[:, order].reshape(following.weight.shape))
    return model


def rescale_hidden_unit(
    model: nn.Sequential, layer: int, unit: int, factor: float
) -> nn.Sequential:
    """The same function with one hidden unit rescaled by ``factor > 0``.

    The unit's weights and bias are multiplied by ``factor`` and its outgoing weights divided
    by it: valid through ReLU and max-pooling, which are positively homogeneous.

    Args:
        model: As in :func:`permute_hidden_units`.
        layer: Which weighted layer's unit to rescale (0 is the first); not the last one.
        unit: The unit (or channel).
        factor: The positive factor.

    Returns:
        A reparameterised copy; ``model`` is left untouched.

    Raises:
        ValueError: If ``factor`` is not positive, or the layer is followed by a module that
            a positive rescaling does not pass through (tanh, softplus...).
    """
    if not factor > 0:
        raise ValueError(f"`factor` must be positive, got {factor}")
    model = copy.deepcopy(model)
    this, following = _layer_pair(model, layer)
    between = _between(model, this, following)
    if not all(isinstance(m, _POSITIVELY_HOMOGENEOUS) for m in between):
        raise ValueError(
            f"`layer` {layer} is followed by {[type(m).__name__ for m in between]}: a positive "
            "rescaling passes only through ReLU, LeakyReLU, max-pooling and Flatten"
        )
    _check_unit(unit, this.weight.shape[0])
    with torch.no_grad():
        this.weight[unit] *= factor
        if this.bias is not None:
            this.bias[unit] *= factor
        blocks = _blocks(following, this.weight.shape[0])
        blocks[:, unit] /= factor
        following.weight.copy_(blocks.reshape(following.weight.shape))
    return model


def split_hidden_unit(
    model: nn.Sequential, layer: int, unit: int, fraction: float
) -> nn.Sequential:
    """The same function with one hidden unit duplicated (appended as the last unit).

    The original keeps ``fraction`` of its outgoing weights, the copy the rest.

    Args:
        model: As in :func:`permute_hidden_units`.
        layer: Which weighted layer's unit to split (0 is the first); not the last one.
        unit: The unit (or channel).
        fraction: The share of the outgoing weights the original keeps (any float).

    Returns:
        A reparameterised copy, one unit wider at ``layer``; ``model`` is left untouched.

    Raises:
        ValueError: If ``unit`` is out of range or the layer is a grouped convolution.
    """
    model = copy.deepcopy(model)
    this, following = _layer_pair(model, layer)
    n_units = this.weight.shape[0]
    _check_unit(unit, n_units)
    if isinstance(this, nn.Conv2d) and this.groups != 1:
        raise ValueError("`model` has a grouped convolution: splitting is not supported")
    with torch.no_grad():
        grown = _with_units(this, n_units + 1)
        grown.weight.copy_(torch.cat([this.weight, this.weight[unit : unit + 1]]))
        if this.bias is not None:
            grown.bias.copy_(torch.cat([this.bias, this.bias[unit : unit + 1]]))
        blocks = _blocks(following, n_units)
        moved = blocks[:, unit : unit + 1] * (1 - fraction)
        blocks[:, unit] *= fraction
        wider = _with_inputs(following, torch.cat([blocks, moved], dim=1))
    _replace(model, this, grown)
    _replace(model, following, wider)
    return model


class IgnoringFeatures(nn.Module):
    """``model(x ⊙ m)`` with ``m`` zero at the dummy features: a network that ignores them.

    The network of sensitivity (b): its output does not depend on the dummy features.

    Args:
        model: The network.
        shape: The shape of one example.
        dummy_features: Indices into the flattened example.
    """

    def __init__(
        self, model: nn.Module, shape: Sequence[int], dummy_features: Sequence[int]
    ) -> None:
        """Wrap ``model`` so that it ignores ``dummy_features`` of examples shaped ``shape``."""
        super().__init__()
        self.model = model
        keep = torch.ones(math.prod(shape), dtype=_dtype(model))
        keep[list(dummy_features)] = 0
        self.register_buffer("keep", keep.reshape(tuple(shape)))

    def forward(self, x: Tensor) -> Tensor:
        """``model(x ⊙ m)``: the dummy features zeroed before the model sees them."""
        return self.model(x * self.keep)


class Symmetrized(nn.Module):
    """``f(x) + f'(Px)``: a network symmetric in two features.

    ``f'`` is a copy of ``f`` and ``P`` swaps the two features (the copy keeps every module
    used once, as DeepLift needs).

    Args:
        model: The network ``f``.
        features: Indices of the two features into the flattened example.
    """

    def __init__(self, model: nn.Module, features: tuple[int, int]) -> None:
        """Make ``model`` symmetric in ``features`` (indices into the flattened example)."""
        super().__init__()
        self.model, self.swapped_model = model, copy.deepcopy(model)
        self.features = features

    def forward(self, x: Tensor) -> Tensor:
        """``f(x) + f'(Px)``."""
        i, j = self.features
        flat = x.reshape(x.shape[0], -1)
        order = torch.arange(flat.shape[1], device=x.device)
        order[i], order[j] = j, i
        return self.model(x) + self.swapped_model(flat[:, order].reshape(x.shape))


def saturated_relu(dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """``f(x) = 1 - ReLU(1 - x)`` for one feature: flat beyond ``x = 1``.

    The saturation example of sensitivity (a). At ``x = 2``, ``x' = 0``:
    ``f(x) - f(x') = 1``, ``f'(2) = 0``.
    """
    return nn.Sequential(
        _fixed_linear([[-1.0]], [1.0], dtype), nn.ReLU(), _fixed_linear([[-1.0]], [1.0], dtype)
    ).eval()


def lecture_networks(dtype: torch.dtype = torch.float64) -> tuple[nn.Sequential, nn.Sequential]:
    """The two functionally equivalent networks of the implementation-invariance example.

    ``f(x) = ReLU(ReLU(x₁) - 1 - ReLU(x₂))`` and ``g(x) = ReLU(ReLU(x₁ - 1) - ReLU(x₂))``.

    They are equal everywhere: where ``x₁ ≥ 1`` both inner terms agree, and where ``x₁ < 1``
    both outputs are zero. At ``x = (3, 1)`` from ``x' = (0, 0)``, IG gives ``(1.5, -0.5)`` for
    both; DeepLift (rescale) gives ``(1.5, -0.5)`` for ``f`` and ``(2, -1)`` for ``g``.
    """
    identity = [[1.0, 0.0], [0.0, 1.0]]
    f = nn.Sequential(
        _fixed_linear(identity, [0.0, 0.0], dtype),
        nn.ReLU(),
        _fixed_linear([[1.0, -1.0]], [-1.0], dtype),
        nn.ReLU(),
    )
    g = nn.Sequential(
        _fixed_linear(identity, [-1.0, 0.0], dtype),
        nn.ReLU(),
        _fixed_linear([[1.0, -1.0]], [0.0], dtype),
        nn.ReLU(),
    )
    return f.eval(), g.eval()


def _new(cls: type[nn.Module], *args: Any, **kwargs: Any) -> nn.Module:
    """A layer without its default random initialisation.

    That would draw from torch's global generator: every parameter is set explicitly here.
    """
    return torch.nn.utils.skip_init(cls, *args, **kwargs)


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"`activation` must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


def _random_linear(
    fan_in: int, fan_out: int, generator: torch.Generator | None, dtype: torch.dtype
) -> nn.Linear:
    layer = _new(nn.Linear, fan_in, fan_out, dtype=dtype)
    _fill(layer, fan_in, generator)
    return layer


def _fill(layer: nn.Module, fan_in: int, generator: torch.Generator | None) -> None:
    with torch.no_grad():
        w, b = layer.weight, layer.bias
        w.copy_(torch.randn(w.shape, generator=generator, dtype=w.dtype) * 1.5 / fan_in**0.5)
        b.copy_(torch.randn(b.shape, generator=generator, dtype=b.dtype) * 0.5)


def _fixed_linear(
    weight: Sequence[Sequence[float]], bias: Sequence[float], dtype: torch.dtype
) -> nn.Linear:
    layer = _new(nn.Linear, len(weight[0]), len(weight), dtype=dtype)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight, dtype=dtype))
        layer.bias.copy_(torch.tensor(bias, dtype=dtype))
    return layer


def _dtype(model: nn.Module) -> torch.dtype:
    return next(iter(model.parameters()), torch.empty(0)).dtype


def _layer_pair(model: nn.Module, layer: int) -> tuple[nn.Module, nn.Module]:
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"`model` must be an nn.Sequential, got {type(model).__name__}")
    weighted = [m for m in model if isinstance(m, _WEIGHTED)]
    if isinstance(layer, bool) or not isinstance(layer, int):
        raise TypeError(f"`layer` must be an int, got {type(layer).__name__}")
    if not 0 <= layer < len(weighted) - 1:
        raise ValueError(f"`layer` must be a hidden layer in [0, {len(weighted) - 1}), got {layer}")
    this, following = weighted[layer], weighted[layer + 1]
    others = [m for m in _between(model, this, following) if not isinstance(m, _ELEMENTWISE)]
    if others:
        raise ValueError(f"`layer` {layer} is followed by unsupported modules {others}")
    return this, following


def _between(model: nn.Sequential, first: nn.Module, second: nn.Module) -> list[nn.Module]:
    modules = list(model)
    return modules[modules.index(first) + 1 : modules.index(second)]


def _blocks(following: nn.Module, n_units: int) -> Tensor:
    """The next layer's weights grouped by incoming unit: ``(out, n_units, block)``.

    A block is a unit's spatial positions after ``Flatten``, or a convolution's kernel.
    """
    return following.weight.detach().clone().reshape(following.weight.shape[0], n_units, -1)


def _check_unit(unit: int, n_units: int) -> None:
    if isinstance(unit, bool) or not isinstance(unit, int) or not 0 <= unit < n_units:
        raise ValueError(f"`unit` must be an int in [0, {n_units}), got {unit!r}")


def _with_units(layer: nn.Module, n_units: int) -> nn.Module:
    kw = {
        "bias": layer.bias is not None,
        "dtype": layer.weight.dtype,
        "device": layer.weight.device,
    }
    if isinstance(layer, nn.Linear):
        return _new(nn.Linear, layer.in_features, n_units, **kw)
    return _new(
        nn.Conv2d,
        layer.in_channels,
        n_units,
        layer.kernel_size,
        layer.stride,
        layer.padding,
        layer.dilation,
        **kw,
    )


def _with_inputs(layer: nn.Module, blocks: Tensor) -> nn.Module:
    kw = {
        "bias": layer.bias is not None,
        "dtype": layer.weight.dtype,
        "device": layer.weight.device,
    }
    if isinstance(layer, nn.Linear):
        new = _new(nn.Linear, blocks.shape[1] * blocks.shape[2], layer.out_features, **kw)
    else:
        new = _new(
            nn.Conv2d,
            blocks.shape[1],
            layer.out_channels,
            layer.kernel_size,
            layer.stride,
            layer.padding,
            layer.dilation,
            **kw,
        )
    with torch.no_grad():
        new.weight.copy_(blocks.reshape(new.weight.shape))
        if layer.bias is not None:
            new.bias.copy_(layer.bias)
    return new


def _replace(model: nn.Sequential, old: nn.Module, new: nn.Module) -> None:
    model[list(model).index(old)] = new
