"""The axioms of Sundararajan et al. (2017) as checks on an attribution method and a model.

Each check builds the method from a *factory* (``IntegratedGradients``, or
``lambda model: NoiseTunnel(Saliency(model))``), runs it, and raises :class:`AxiomViolation`
with the measured numbers when the axiom fails. Every call of ``attribute`` runs with the same
random numbers (``seed``), so that sampling methods are compared on common draws.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from captum.attr import Attribution
from torch import Tensor, nn

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import (
    TargetType,
    format_additional_forward_args,
    run_forward,
)

MethodFactory = Callable[[Callable[..., Any]], Attribution]


class AxiomViolation(AssertionError):
    """An attribution method broke an axiom; the message holds the measured numbers.

    An ``AssertionError`` so that pytest reports it as a test failure (with hypothesis's
    minimal counterexample), not as an error in the test itself.
    """


class LinearCombination(nn.Module):
    """The network ``a·f₁(x) + b·f₂(x)`` of the linearity axiom.

    Parameters
    ----------
    model_1, model_2 : nn.Module
        The two networks; they must take the same inputs and return outputs of one shape.
    a, b : float
        The coefficients.
    """

    def __init__(self, model_1: nn.Module, model_2: nn.Module, a: float, b: float) -> None:
        super().__init__()
        self.model_1, self.model_2, self.a, self.b = model_1, model_2, a, b

    def forward(self, *args: Any) -> Tensor:
        return self.a * self.model_1(*args) + self.b * self.model_2(*args)


def check_completeness(
    method: MethodFactory,
    model: Callable[..., Any],
    inputs: Tensor,
    baselines: Tensor | float | None = None,
    *,
    target: TargetType = None,
    additional_forward_args: Any = None,
    attribute_kwargs: Mapping[str, Any] | None = None,
    atol: float = 1e-6,
    rtol: float = 1e-4,
    seed: int = 0,
) -> None:
    """Completeness: ``Σ_i A_i(x, x') = f(x) - f(x')`` for every example.

    Where the method takes ``baselines``, ``f(x')`` is the model's output at ``baselines``.
    Where it does not but returns a convergence delta (``method.has_convergence_delta()``),
    the method's own delta is used: it defines the baseline's value, e.g. ``mean_k f(z_k)``
    over the noise baselines of :class:`~captum_smooth.NoiseBaselineIntegratedGradients`
    (docs/reference.md#noise-baseline-ig). Otherwise (Saliency, SmoothTaylor, ...) ``x'`` is
    ``baselines``, zero if None.

    Parameters
    ----------
    method : callable
        Factory building the attribution method from a model, e.g. ``IntegratedGradients``.
    model : callable
        The model; with ``target`` it must give one scalar per example.
    inputs : Tensor
        A batch of inputs, ``(batch, *shape)``.
    baselines : Tensor, float or None
        The baselines, broadcastable to ``inputs``; None means zero.
    target, additional_forward_args
        Passed to the model and to ``attribute`` as in Captum.
    attribute_kwargs : mapping, optional
        Further keywords for ``attribute`` (``n_steps``, ``n_samples``...).
    atol, rtol : float
        The gap may be at most ``atol + rtol · (|f(x)| + |f(x')|)``; with the method's own
        delta, ``atol + rtol · (|Σ A| + |Σ A - delta|)``. Riemann and Gauss-Legendre sums
        converge slowly across ReLU kinks: choose ``n_steps`` and the tolerance together.
    seed : int
        Seed of torch's and numpy's global generators for every ``attribute`` call.

    Raises
    ------
    AxiomViolation
        With the sums, the output differences and the gap of the worst example.

    Examples
    --------
    >>> check_completeness(IntegratedGradients, model, x, attribute_kwargs={"n_steps": 64})
    """
    run = _Runner(
        method, inputs, baselines, target, additional_forward_args, attribute_kwargs, seed
    )
    _check_tolerances(atol, rtol)
    attributor = run.build(model)
    if not run.takes_baselines(attributor) and attributor.has_convergence_delta():
        attributions, delta = run.attribute(
            attributor, return_convergence_delta=True, with_baselines=False
        )
        total = _per_example(attributions).sum(dim=1)
        delta = delta.reshape(-1, run.batch_size).mean(dim=0)
        difference = total - delta
        scale = total.abs() + difference.abs()
        source = "the method's convergence delta"
    else:
        attributions = run.attribute(attributor)
        total = _per_example(attributions).sum(dim=1)
        f_x, f_base = run.output(model, run.inputs), run.output(model, run.baselines)
        difference = f_x - f_base
        delta = total - difference
        scale = f_x.abs() + f_base.abs()
        source = "f(x) - f(x')"
    bound = atol + rtol * scale
    worst = int(torch.argmax(delta.abs() - bound))
    if delta[worst].abs() > bound[worst]:
        raise AxiomViolation(
            f"completeness violated for example {worst}: sum of attributions "
            f"{total[worst].item():.6g} != {source} = {difference[worst].item():.6g} "
            f"(gap {delta[worst].item():.3g}, allowed {bound[worst].item():.3g})"
        )


def check_sensitivity(
    method: MethodFactory,
    model: Callable[..., Any],
    inputs: Tensor,
    baselines: Tensor,
    *,
    target: TargetType = None,
    additional_forward_args: Any = None,
    attribute_kwargs: Mapping[str, Any] | None = None,
    atol: float = 1e-6,
    seed: int = 0,
) -> None:
    """Sensitivity (a): where input and baseline differ in one feature and
    ``|f(x) - f(x')| > atol``, that feature's attribution must exceed ``atol`` in magnitude.

    Each example of ``inputs`` must differ from its baseline in exactly one feature (at most
    one: an identical pair is skipped). Methods without a ``baselines`` argument are judged
    against ``baselines`` all the same: the axiom is a statement about ``x`` and ``x'``.

    Parameters
    ----------
    method, model, inputs, target, additional_forward_args, attribute_kwargs, seed
        As in :func:`check_completeness`.
    baselines : Tensor
        Shaped like ``inputs``, equal to it except in one feature per example.
    atol : float
        Outputs closer than this count as equal; attributions smaller count as zero.

    Raises
    ------
    AxiomViolation
        With the output difference and the attribution of the differing feature.
    ValueError
        If an example differs from its baseline in more than one feature.
    """
    run = _Runner(
        method, inputs, baselines, target, additional_forward_args, attribute_kwargs, seed
    )
    _check_tolerances(atol, 0.0)
    differs = _per_example(run.inputs != run.baselines)
    if (differs.sum(dim=1) > 1).any():
        raise ValueError("`baselines` must differ from `inputs` in at most one feature per example")
    attributions = _per_example(run.attribute(run.build(model)))
    difference = run.output(model, run.inputs) - run.output(model, run.baselines)
    for i in range(run.batch_size):
        if not differs[i].any() or difference[i].abs() <= atol:
            continue
        feature = int(differs[i].nonzero()[0])
        value = attributions[i, feature]
        if value.abs() <= atol:
            raise AxiomViolation(
                f"sensitivity (a) violated for example {i}: f(x) - f(x') = "
                f"{difference[i].item():.6g} but feature {feature}, the only one that "
                f"differs, gets attribution {value.item():.3g} (|.| <= {atol:g})"
            )


def check_dummy(
    method: MethodFactory,
    model: Callable[..., Any],
    inputs: Tensor,
    baselines: Tensor | float | None = None,
    *,
    dummy_features: Sequence[int],
    target: TargetType = None,
    additional_forward_args: Any = None,
    attribute_kwargs: Mapping[str, Any] | None = None,
    atol: float = 1e-8,
    seed: int = 0,
) -> None:
    """Sensitivity (b), "dummy": features the model does not depend on get zero attribution.

    Parameters
    ----------
    method, model, inputs, baselines, target, additional_forward_args, attribute_kwargs, seed
        As in :func:`check_completeness`.
    dummy_features : sequence of int
        Indices into the flattened example (``inputs[i].flatten()``) of the features the
        model does not depend on. That they are dummies is the caller's claim; it is not
        verified.
    atol : float
        The largest magnitude that counts as zero.

    Raises
    ------
    AxiomViolation
        With the largest attribution given to a dummy feature.
    """
    run = _Runner(
        method, inputs, baselines, target, additional_forward_args, attribute_kwargs, seed
    )
    _check_tolerances(atol, 0.0)
    dummies = _check_features("dummy_features", dummy_features, run.n_features)
    attributions = _per_example(run.attribute(run.build(model)))[:, dummies]
    if attributions.numel() and attributions.abs().max() > atol:
        example, column = divmod(int(attributions.abs().argmax()), len(dummies))
        raise AxiomViolation(
            f"sensitivity (b) violated for example {example}: dummy feature "
            f"{dummies[column]} gets attribution {attributions[example, column].item():.3g} "
            f"(|.| > {atol:g})"
        )


def check_implementation_invariance(
    method: MethodFactory,
    model: Callable[..., Any],
    equivalent_model: Callable[..., Any],
    inputs: Tensor,
    baselines: Tensor | float | None = None,
    *,
    target: TargetType = None,
    additional_forward_args: Any = None,
    attribute_kwargs: Mapping[str, Any] | None = None,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    seed: int = 0,
) -> None:
    """Implementation invariance: two functionally equivalent networks get the same
    attributions.

    The method is built on each network by the factory and run with the same random numbers.
    That the networks are equivalent is checked on ``inputs`` and ``baselines`` only.

    Parameters
    ----------
    method, model, inputs, baselines, target, additional_forward_args, attribute_kwargs, seed
        As in :func:`check_completeness`.
    equivalent_model : callable
        A network computing the same function as ``model``.
    atol, rtol : float
        Attributions may differ by ``atol + rtol · |A_model|`` per feature.

    Raises
    ------
    AxiomViolation
        With both attributions of the feature that differs most.
    ValueError
        If the two models' outputs differ on ``inputs`` or ``baselines``.
    """
    run = _Runner(
        method, inputs, baselines, target, additional_forward_args, attribute_kwargs, seed
    )
    _check_tolerances(atol, rtol)
    for points in (run.inputs, run.baselines):
        f, g = run.output(model, points), run.output(equivalent_model, points)
        if not torch.allclose(f, g, rtol=rtol, atol=atol):
            raise ValueError(
                "`model` and `equivalent_model` are not equivalent: outputs "
                f"{f.tolist()} and {g.tolist()}"
            )
    first = _per_example(run.attribute(run.build(model)))
    second = _per_example(run.attribute(run.build(equivalent_model)))
    _assert_close(
        "implementation invariance", first, second, "model", "equivalent_model", atol, rtol
    )


def check_linearity(
    method: MethodFactory,
    model_1: nn.Module,
    model_2: nn.Module,
    inputs: Tensor,
    baselines: Tensor | float | None = None,
    *,
    a: float = 1.0,
    b: float = 1.0,
    target: TargetType = None,
    additional_forward_args: Any = None,
    attribute_kwargs: Mapping[str, Any] | None = None,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    seed: int = 0,
) -> None:
    """Linearity: ``A(a·f₁ + b·f₂) = a·A(f₁) + b·A(f₂)``.

    The combined network is a :class:`LinearCombination` module holding both networks, so
    that module-hooking methods (DeepLift) see every layer of each.

    Parameters
    ----------
    method, inputs, baselines, target, additional_forward_args, attribute_kwargs, seed
        As in :func:`check_completeness`.
    model_1, model_2 : nn.Module
        Two networks taking the same inputs; distinct module instances.
    a, b : float
        The coefficients.
    atol, rtol : float
        The two sides may differ by ``atol + rtol · |a·A(f₁) + b·A(f₂)|`` per feature.

    Raises
    ------
    AxiomViolation
        With both sides at the feature that differs most.
    """
    run = _Runner(
        method, inputs, baselines, target, additional_forward_args, attribute_kwargs, seed
    )
    _check_tolerances(atol, rtol)
    if model_1 is model_2:
        raise ValueError("`model_1` and `model_2` must be distinct module instances")
    for name, value in (("a", a), ("b", b)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"`{name}` must be a float, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"`{name}` must be finite, got {value}")
    combined = LinearCombination(model_1, model_2, a, b)
    together = _per_example(run.attribute(run.build(combined)))
    apart = a * _per_example(run.attribute(run.build(model_1))) + b * _per_example(
        run.attribute(run.build(model_2))
    )
    _assert_close("linearity", together, apart, "A(a·f₁ + b·f₂)", "a·A(f₁) + b·A(f₂)", atol, rtol)


def check_symmetry(
    method: MethodFactory,
    model: Callable[..., Any],
    inputs: Tensor,
    baselines: Tensor | float | None = None,
    *,
    symmetric_features: tuple[int, int],
    target: TargetType = None,
    additional_forward_args: Any = None,
    attribute_kwargs: Mapping[str, Any] | None = None,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    seed: int = 0,
) -> None:
    """Symmetry preservation: two features the model is symmetric in, with equal values in
    the input and equal values in the baseline, get equal attributions.

    Parameters
    ----------
    method, model, inputs, baselines, target, additional_forward_args, attribute_kwargs, seed
        As in :func:`check_completeness`.
    symmetric_features : (int, int)
        Indices into the flattened example of two features such that swapping them leaves
        the model's output unchanged (the caller's claim; not verified).
    atol, rtol : float
        The two attributions may differ by ``atol + rtol · max(|A_i|, |A_j|)``.

    Raises
    ------
    AxiomViolation
        With both attributions.
    ValueError
        If the two features' values differ in ``inputs`` or in ``baselines``.
    """
    run = _Runner(
        method, inputs, baselines, target, additional_forward_args, attribute_kwargs, seed
    )
    _check_tolerances(atol, rtol)
    if not isinstance(symmetric_features, tuple) or len(symmetric_features) != 2:
        raise TypeError("`symmetric_features` must be a pair of feature indices")
    i, j = _check_features("symmetric_features", symmetric_features, run.n_features)
    for name, points in (("inputs", run.inputs), ("baselines", run.baselines)):
        flat = _per_example(points)
        if not torch.equal(flat[:, i], flat[:, j]):
            raise ValueError(f"`{name}` must have equal values at the symmetric features")
    attributions = _per_example(run.attribute(run.build(model)))[:, [i, j]]
    _assert_close(
        "symmetry preservation",
        attributions[:, :1],
        attributions[:, 1:],
        f"feature {i}",
        f"feature {j}",
        atol,
        rtol,
    )


def _check_tolerances(atol: float, rtol: float) -> None:
    """Non-negative finite tolerances, else ``ValueError``."""
    for name, value in (("atol", atol), ("rtol", rtol)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"`{name}` must be a float, got {type(value).__name__}")
        if not 0 <= value < float("inf"):
            raise ValueError(f"`{name}` must be a non-negative finite number, got {value}")


class _Runner:
    """Validated arguments shared by the checks, and the calls they make."""

    def __init__(self, method, inputs, baselines, target, additional_forward_args, kwargs, seed):
        if isinstance(method, Attribution) or not callable(method):
            raise TypeError(
                "`method` must be a factory taking a model and returning a Captum Attribution, "
                "e.g. `IntegratedGradients` or `lambda m: NoiseTunnel(Saliency(m))`, got "
                f"{type(method).__name__}"
            )
        self._method = method
        if not isinstance(inputs, Tensor):
            raise TypeError(f"`inputs` must be a tensor, got {type(inputs).__name__}")
        (self.inputs,), _ = check.format_inputs(inputs)
        if self.inputs.dim() < 2:
            raise ValueError("`inputs` must be shaped (batch, *features)")
        self.baselines = _format_baselines(baselines, self.inputs)
        self.batch_size = self.inputs.shape[0]
        self.n_features = self.inputs[0].numel()
        check.check_target(target, self.batch_size, self.inputs)
        check.check_forward_args(
            format_additional_forward_args(additional_forward_args), (self.inputs,)
        )
        self.target, self.additional_forward_args = target, additional_forward_args
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise TypeError(f"`attribute_kwargs` must be a mapping, got {type(kwargs).__name__}")
        self.kwargs = dict(kwargs or {})
        reserved = {"inputs", "baselines", "target", "additional_forward_args"} & set(self.kwargs)
        if reserved:
            raise ValueError(
                f"`attribute_kwargs` must not set {sorted(reserved)}: pass them to the check itself"
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"`seed` must be an int, got {type(seed).__name__}")
        if not 0 <= seed < 2**32:
            raise ValueError(f"`seed` must lie in [0, 2**32) (numpy's seeds), got {seed}")
        self.seed = seed
        self._generator_states = {
            k: v.get_state() for k, v in self.kwargs.items() if isinstance(v, torch.Generator)
        }

    def build(self, model: Callable[..., Any]) -> Attribution:
        self.output(model, self.inputs)
        attributor = self._method(model)
        if not isinstance(attributor, Attribution):
            raise TypeError(
                f"`method` must return a Captum Attribution, got {type(attributor).__name__}"
            )
        return attributor

    @staticmethod
    def takes_baselines(attributor: Attribution) -> bool:
        """Whether ``attribute`` accepts ``baselines``, directly or, for wrappers that pass
        ``**kwargs`` on to their ``attribution_method`` (NoiseTunnel, IDGI), through it."""
        parameters = inspect.signature(attributor.attribute).parameters
        if "baselines" in parameters:
            return True
        wrapped = getattr(attributor, "attribution_method", None)
        passes_on = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        return passes_on and isinstance(wrapped, Attribution) and _Runner.takes_baselines(wrapped)

    def attribute(self, attributor, with_baselines=True, **extra):
        kwargs = {**self.kwargs, **extra}
        if with_baselines and self.takes_baselines(attributor):
            kwargs["baselines"] = self.baselines
        with _common_random_numbers(self.seed, self.kwargs, self._generator_states):
            return attributor.attribute(
                self.inputs,
                target=self.target,
                additional_forward_args=self.additional_forward_args,
                **kwargs,
            )

    def output(self, model: Callable[..., Any], points: Tensor) -> Tensor:
        with torch.no_grad():
            out = run_forward(model, points, self.target, self.additional_forward_args)
        if out.numel() != self.batch_size:
            raise ValueError(
                f"the model's output for `target` must be one scalar per example, got shape "
                f"{tuple(out.shape)}"
            )
        return out.reshape(self.batch_size).detach()


def _format_baselines(baselines: Any, inputs: Tensor) -> Tensor:
    if baselines is None:
        return torch.zeros_like(inputs)
    if isinstance(baselines, bool) or not isinstance(baselines, int | float | Tensor):
        raise TypeError(f"`baselines` must be a tensor or a float, got {type(baselines).__name__}")
    return check.format_baselines(baselines, (inputs,))[0]


def _per_example(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1)


def _check_features(name: str, features: Any, n_features: int) -> list[int]:
    if isinstance(features, int | Tensor) or not isinstance(features, Sequence):
        raise TypeError(f"`{name}` must be a sequence of feature indices")
    indices = []
    for f in features:
        if isinstance(f, bool) or not isinstance(f, int):
            raise TypeError(f"`{name}` must hold ints, got {type(f).__name__}")
        if not 0 <= f < n_features:
            raise ValueError(f"`{name}` holds {f}, outside [0, {n_features})")
        indices.append(f)
    return indices


def _assert_close(axiom, first, second, first_name, second_name, atol, rtol) -> None:
    bound = atol + rtol * torch.maximum(first.abs(), second.abs())
    excess = (first - second).abs() - bound
    if (excess > 0).any():
        example, feature = divmod(int(excess.argmax()), first.shape[1])
        gap = (first - second)[example, feature].item()
        raise AxiomViolation(
            f"{axiom} violated for example {example}, feature {feature}: {first_name} gives "
            f"{first[example, feature].item():.6g}, {second_name} gives "
            f"{second[example, feature].item():.6g} (gap {gap:.3g}, allowed "
            f"{bound[example, feature].item():.3g})"
        )


@contextlib.contextmanager
def _common_random_numbers(
    seed: int, kwargs: Mapping[str, Any], generator_states: Mapping[str, Tensor]
) -> Iterator[None]:
    """The same draws for every call: torch's and numpy's global generators seeded (and
    restored afterwards; Captum's GradientShap draws from numpy's), and any
    ``torch.Generator`` in ``attribute_kwargs`` rewound to its state when the check began."""
    for name, state in generator_states.items():
        kwargs[name].set_state(state)
    # Captum's GradientShap draws from numpy's legacy global generator: seed that one.
    numpy_state = np.random.get_state()  # noqa: NPY002
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        np.random.seed(seed)  # noqa: NPY002
        try:
            yield
        finally:
            np.random.set_state(numpy_state)  # noqa: NPY002
