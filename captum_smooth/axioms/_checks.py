"""The axioms of Sundararajan et al. (2017) as checks on an attribution method and a model.

Each check builds the method from a *factory* (``IntegratedGradients``, or
``lambda model: NoiseTunnel(Saliency(model))``), runs it, and raises :class:`AxiomViolation`
with the measured numbers when the axiom fails. Every call of ``attribute`` runs with the same
random numbers (``seed``), so that sampling methods are compared on common draws: the calls
are the runner's (``_runner.py``), the allowances the tolerances' (``_tolerances.py``).

A case the check cannot decide (sensitivity (a) where the output change is within rounding or
within the method's own numerical error) is not a violation: the check returns it as
``"unresolved"`` in its :class:`CheckResult` and warns with :class:`AxiomUnresolvedWarning`.

Layer methods (Captum's ``LayerIntegratedGradients``, the package's layer variants, wrappers of
them such as ``IDGI``) are recognised from the built method and take the inputs as they come,
integer token ids included. Completeness is checked in the layer's space; the per-feature
checks (sensitivity, dummy, symmetry, implementation invariance) need layer attributions
aligned with the inputs, shaped like them plus trailing dimensions (an embedding's
``(batch, tokens, embedding)``), and read a feature's attribution as their sum over those
dimensions (the token's score); linearity does not accept layer methods.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from captum_smooth._utils.captum_compat import TargetType
from captum_smooth.axioms._runner import MethodFactory, Runner, per_example
from captum_smooth.axioms._tolerances import check_tolerances, rounding_floor


class AxiomViolation(AssertionError):
    """An attribution method broke an axiom; the message holds the measured numbers.

    An ``AssertionError`` so that pytest reports it as a test failure (with hypothesis's
    minimal counterexample), not as an error in the test itself.

    Example:
        Plain gradients break sensitivity where the model is flat at the input:

        >>> from captum.attr import Saliency
        >>> from captum_smooth.axioms import AxiomViolation, check_sensitivity
        >>> model = lambda x: -torch.relu(1 - x).sum(dim=1)  # flat beyond x = 1
        >>> try:
        ...     check_sensitivity(Saliency, model, torch.tensor([[2.0]]), torch.zeros(1, 1))
        ... except AxiomViolation as violation:
        ...     print(type(violation).__name__, isinstance(violation, AssertionError))
        AxiomViolation True
    """


class AxiomUnresolvedWarning(UserWarning):
    """A check could not tell whether the axiom holds for some examples.

    The effect it looks for is within rounding, or within the method's own numerical error (its
    convergence delta).

    Not a violation. The message names the examples, the numbers and what would resolve them
    (usually more ``n_steps`` or ``n_samples``).

    Example:
        Two Gauss-Legendre nodes (α ≈ 0.21 and 0.79) both miss the only place the model
        changes, so Integrated Gradients gives 0 there, within its convergence delta:

        >>> import warnings
        >>> from captum.attr import IntegratedGradients
        >>> from captum_smooth.axioms import AxiomUnresolvedWarning, check_sensitivity
        >>> model = lambda x: torch.relu(x - 0.9).sum(dim=1)  # constant up to x = 0.9
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     result = check_sensitivity(IntegratedGradients, model, torch.ones(1, 1),
        ...                                torch.zeros(1, 1), attribute_kwargs={"n_steps": 2})
        >>> result.status, caught[0].category is AxiomUnresolvedWarning
        (('unresolved',), True)
    """


class CheckResult(NamedTuple):
    """What a check measured, per example.

    A violation raises :class:`AxiomViolation` instead of returning.

    Example:
        >>> from captum.attr import IntegratedGradients
        >>> from captum_smooth.axioms import check_completeness
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        >>> result = check_completeness(IntegratedGradients, model, torch.rand(2, 4), target=0,
        ...                             attribute_kwargs={"n_steps": 64})
        >>> result.axiom, result.status, result.unresolved
        ('completeness', ('holds', 'holds'), [])
        >>> bool((result.measured.abs() <= result.tolerance).all())  # the gap, its allowance
        True
    """

    axiom: str
    """The axiom, as the messages name it (``"completeness"``, ``"sensitivity (a)"``...)."""
    status: tuple[str, ...]
    """Per example: ``"holds"``, or ``"unresolved"`` where the check could not decide."""
    measured: Tensor
    """``(B,)`` what the axiom constrains; each check's docstring says which number."""
    tolerance: Tensor
    """``(B,)`` the threshold ``measured`` was compared with (the rounding floor included)."""
    notes: tuple[str, ...]
    """Per example: why it is unresolved, as in the warning; empty where it holds."""

    @property
    def unresolved(self) -> list[int]:
        """The examples the check could not decide."""
        return [i for i, status in enumerate(self.status) if status == "unresolved"]


class LinearCombination(nn.Module):
    """The network ``a·f₁(x) + b·f₂(x)`` of the linearity axiom.

    Args:
        model_1: The first network.
        model_2: The second; it must take the same inputs and return outputs of the same shape.
        a: The coefficient of ``model_1``.
        b: The coefficient of ``model_2``.

    Example:
        >>> from captum_smooth.axioms import LinearCombination
        >>> f1, f2 = nn.Linear(3, 1), nn.Linear(3, 1)
        >>> combined = LinearCombination(f1, f2, a=2.0, b=-1.0)
        >>> x = torch.rand(4, 3)
        >>> torch.allclose(combined(x), 2 * f1(x) - f2(x))
        True
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
    atol: float = 0.0,
    rtol: float = 1e-4,
    seed: int = 0,
) -> CheckResult:
    """Completeness: ``Σ_i A_i(x, x') = f(x) - f(x')`` for every example.

    Where the method takes ``baselines``, ``f(x')`` is the model's output at ``baselines``.
    Where it does not but returns a convergence delta (``method.has_convergence_delta()``),
    the method's own delta is used: it defines the baseline's value, e.g. ``mean_k f(z_k)``
    over the noise baselines of :class:`~captum_smooth.NoiseBaselineIntegratedGradients`
    (docs/reference.md#noise-baseline-ig). Otherwise (Saliency, SmoothTaylor, ...) ``x'`` is
    ``baselines``, zero if None.

    The gap ``Σ A - (f(x) - f(x'))`` may be at most ``atol + rtol · S`` plus the rounding floor
    (:data:`ROUNDING_ULPS` of ``|f(x)| + |f(x')| + Σ_i |A_i|``), with
    ``S = |f(x) - f(x')| + V + Σ_i |A_i|`` and ``V`` the variation of ``f`` on the way,
    ``Σ_k |f(p_{k+1}) - f(p_k)|`` over :data:`VARIATION_STEPS` equal steps ``p_k`` from ``x'``
    to ``x``. ``rtol`` is the quadrature budget, relative to the size of the integrand: a
    quadrature's error grows with how much ``f`` moves along the path and with the
    attributions' total size, not with their sum, which can cancel (a path on which ``f`` rises
    and falls back has ``f(x) - f(x') = 0`` and a Riemann error all the same). A constant added
    to the model's output changes nothing.

    For a layer method (``lambda m: LayerIntegratedGradients(m, m.embedding)``, the package's
    layer variants, ``IDGI`` over them), completeness holds in the layer's space: ``Σ A`` sums
    the attributions to the layer's activations, ``x'`` is still the baseline *input* (token
    ids of a pad token, say), and the path runs between the activations ``L(x')`` and ``L(x)``.
    ``V`` is then measured on the straight line between them: the model runs on the inputs
    with the layer's activations replaced by ``L(x') + t (L(x) - L(x'))``. A layer method
    without baselines follows the rules above (its convergence delta, else ``x'`` =
    ``baselines``).

    Args:
        method: Factory building the attribution method from a model, e.g.
            ``IntegratedGradients``, or a layer method,
            ``lambda m: LayerIntegratedGradients(m, m.embedding)``.
        model: The model; with ``target`` it must give one scalar per example.
        inputs: A batch of inputs, ``(batch, *shape)``: floating point, or integer token ids for
            a layer method.
        baselines: The baselines, broadcastable to ``inputs``; None means zero. For integer
            inputs, token ids: an int or an integer tensor of the inputs' dtype.
        target: Passed to the model and to ``attribute`` as in Captum.
        additional_forward_args: Passed to the model and to ``attribute`` as in Captum.
        attribute_kwargs: Further keywords for ``attribute`` (``n_steps``, ``n_samples``...).
        atol: An absolute allowance on the gap, in the units of the model's output; 0 by default
            so that the verdict does not depend on the output's scale.
        rtol: The allowance relative to ``S`` (above). Riemann and Gauss-Legendre sums converge
            slowly across ReLU kinks: choose ``n_steps`` and ``rtol`` together.
        seed: Seed of torch's and numpy's global generators for every ``attribute`` call.

    Returns:
        A :class:`CheckResult`: ``measured`` is the gap, ``tolerance`` the allowed ``|gap|``;
        every example holds.

    Raises:
        AxiomViolation: With the sums, the output differences and the gap of the worst
            example (and, for a layer method, the layer whose space it was checked in).
        TypeError: For integer ``inputs`` to a method that is not a layer method.

    Example:
        >>> from captum.attr import IntegratedGradients, LayerIntegratedGradients
        >>> from captum_smooth.axioms import check_completeness
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        >>> x = torch.rand(3, 4)
        >>> check_completeness(IntegratedGradients, model, x, target=0,
        ...                    attribute_kwargs={"n_steps": 64}).status
        ('holds', 'holds', 'holds')
        >>> text_model = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(3 * 4, 1))
        >>> token_ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
        >>> check_completeness(  # in the embeddings' space, from the ids of token 0
        ...     lambda m: LayerIntegratedGradients(m, m[0]), text_model, token_ids, 0, target=0
        ... ).status
        ('holds', 'holds')
    """
    run = Runner(method, inputs, baselines, target, additional_forward_args, attribute_kwargs, seed)
    check_tolerances(atol, rtol)
    attributor = run.build(model)
    f_x = run.output(model, run.inputs)
    if not run.takes_baselines(attributor) and attributor.has_convergence_delta():
        attributions, delta = run.attribute(
            attributor, return_convergence_delta=True, with_baselines=False
        )
        attributions = _flat(attributions)
        difference = attributions.sum(dim=1) - run.per_example_delta(delta)
        f_base = f_x - difference
        source = "the method's convergence delta"
    else:
        attributions = _flat(run.attribute(attributor))
        f_base = run.output(model, run.baselines)
        difference = f_x - f_base
        source = "f(x) - f(x')"
    total, mass = attributions.sum(dim=1), attributions.abs().sum(dim=1)
    gap = total - difference
    tolerance = (
        atol
        + rtol * (difference.abs() + run.variation(model, attributor) + mass)
        + rounding_floor(f_x.abs() + f_base.abs() + mass, f_x, attributions)
    )
    worst = int(torch.argmax(gap.abs() - tolerance))
    if gap[worst].abs() > tolerance[worst]:
        raise AxiomViolation(
            f"completeness violated for example {worst}{run.space(model, attributor)}: sum of "
            "attributions "
            f"{total[worst].item():.6g} != {source} = {difference[worst].item():.6g} "
            f"(gap {gap[worst].item():.3g}, allowed {tolerance[worst].item():.3g})"
        )
    return _holds("completeness", gap, tolerance)


def check_sensitivity(
    method: MethodFactory,
    model: Callable[..., Any],
    inputs: Tensor,
    baselines: Tensor,
    *,
    target: TargetType = None,
    additional_forward_args: Any = None,
    attribute_kwargs: Mapping[str, Any] | None = None,
    atol: float = 0.0,
    seed: int = 0,
) -> CheckResult:
    """Sensitivity (a): a single differing feature that changes the output gets attribution.

    Where input and baseline differ in one feature and ``f(x) != f(x')``, that feature gets a
    non-zero attribution.

    "Zero" is zero up to rounding: ``|A_i| <= atol +`` :data:`ROUNDING_ULPS` of the largest
    ``|A|`` of the example (the violations this check exists for give exactly 0). A zero
    attribution is a violation only where the check can resolve the output change. It cannot,
    and reports the example as ``"unresolved"`` with an :class:`AxiomUnresolvedWarning`, where
    ``|f(x) - f(x')|`` is within the rounding of the outputs (:data:`ROUNDING_ULPS` of
    ``|f(x)| + |f(x')|``), or within the method's own numerical error: for a method with a
    convergence delta (``method.has_convergence_delta()``), ``|delta|``. A quadrature that
    steps over the only kink where ``f`` changes gives 0 and a delta of ``-(f(x) - f(x'))``;
    that is a numerical miss, not a broken axiom, and more ``n_steps`` resolve it.

    Each example of ``inputs`` must differ from its baseline in exactly one feature (at most
    one: an identical pair holds trivially). Methods without a ``baselines`` argument are
    judged against ``baselines`` all the same: the axiom is a statement about ``x`` and ``x'``.

    A layer method's attributions must be aligned with the inputs' features, shaped like
    ``inputs`` plus trailing dimensions (an embedding's ``(batch, tokens, embedding)`` for
    ``(batch, tokens)`` token ids); a feature's attribution is their sum over the trailing
    dimensions, the token's score. ``inputs`` and ``baselines`` then differ in one token.

    Args:
        method: As in :func:`check_completeness`.
        model: As in :func:`check_completeness`.
        inputs: As in :func:`check_completeness`.
        baselines: Shaped like ``inputs``, equal to it except in one feature per example.
        target: As in :func:`check_completeness`.
        additional_forward_args: As in :func:`check_completeness`.
        attribute_kwargs: As in :func:`check_completeness`.
        atol: An absolute threshold, in the units of the model's output: output changes up to
            ``atol`` count as none, attributions up to ``atol`` (plus the floor) as zero.
        seed: As in :func:`check_completeness`.

    Returns:
        A :class:`CheckResult`: ``measured`` is the attribution of the differing feature (0
        for an identical pair), ``tolerance`` the largest magnitude that counts as zero.

    Raises:
        AxiomViolation: With the output difference and the attribution of the differing
            feature.
        ValueError: If an example differs from its baseline in more than one feature, or
            ``method`` builds a layer method whose attributions are not aligned with the
            inputs' features.

    Example:
        >>> from captum.attr import IntegratedGradients
        >>> from captum_smooth.axioms import check_sensitivity
        >>> model = lambda x: -torch.relu(1 - x).sum(dim=1)  # flat beyond x = 1
        >>> inputs = torch.tensor([[2.0, 0.5]])
        >>> baselines = torch.tensor([[0.0, 0.5]])  # differs in feature 0 only
        >>> check_sensitivity(IntegratedGradients, model, inputs, baselines,
        ...                   attribute_kwargs={"n_steps": 64}).status
        ('holds',)
    """
    run = Runner(method, inputs, baselines, target, additional_forward_args, attribute_kwargs, seed)
    check_tolerances(atol, 0.0)
    differs = per_example(run.inputs != run.baselines)
    if (differs.sum(dim=1) > 1).any():
        raise ValueError("`baselines` must differ from `inputs` in at most one feature per example")
    attributor = run.build(model)
    if attributor.has_convergence_delta():
        attributions, delta = run.attribute(attributor, return_convergence_delta=True)
        error = run.per_example_delta(delta).abs()
    else:
        attributions, error = run.attribute(attributor), None
    attributions = run.features(model, attributor, attributions, "check_sensitivity")
    f_x, f_base = run.output(model, run.inputs), run.output(model, run.baselines)
    difference = f_x - f_base
    rounding = rounding_floor(f_x.abs() + f_base.abs(), f_x)
    # Rounding cannot make an attribution exactly zero, so "zero" is relative to the map alone:
    # a larger floor would call a small genuine share (IDGI's) zero.
    zero = atol + rounding_floor(attributions.abs().amax(dim=1), attributions)
    measured = torch.zeros_like(zero)
    notes = [""] * run.batch_size
    for i in range(run.batch_size):
        if not differs[i].any():
            continue
        feature = int(differs[i].nonzero()[0])
        measured[i] = value = attributions[i, feature]
        if value.abs() > zero[i] or difference[i].abs() <= atol:
            continue
        change = f"f(x) - f(x') = {difference[i].item():.6g}"
        attribution = (
            f"feature {feature}{run.space(model, attributor, summed=True)}, the only one that "
            "differs, gets attribution "
            f"{value.item():.3g} (|.| <= {zero[i].item():.3g}: zero up to rounding)"
        )
        if difference[i].abs() <= rounding[i]:
            notes[i] = (
                f"sensitivity (a) unresolved for example {i}: {change} and {attribution}, but "
                f"the output change is within the rounding of the outputs "
                f"({rounding[i].item():.3g}): they are equal as far as their dtype can tell; "
                "a baseline further from x (or a wider dtype) resolves it"
            )
        elif error is not None and difference[i].abs() <= rounding[i] + error[i]:
            notes[i] = (
                f"sensitivity (a) unresolved for example {i}: {change} and {attribution}, but "
                f"the method's own numerical error, its convergence delta "
                f"({error[i].item():.3g}), is as large as the output change: a quadrature "
                "that misses the kink where f changes looks the same as a violation; raise "
                "n_steps (or n_samples) to resolve it"
            )
        else:
            numerical = "" if error is None else f"; its convergence delta is {error[i]:.3g}"
            raise AxiomViolation(
                f"sensitivity (a) violated for example {i}: {change} but {attribution}{numerical}"
            )
    return _unresolved_or_holds("sensitivity (a)", measured, zero, notes)


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
    atol: float = 0.0,
    rtol: float = 0.0,
    seed: int = 0,
) -> CheckResult:
    """Sensitivity (b), "dummy": features the model does not depend on get zero attribution.

    Zero up to ``atol + rtol · max_i |A_i|`` plus the rounding floor (:data:`ROUNDING_ULPS` of
    ``max_i |A_i| + |f(x)| + |f(x')|``): relative to the example's map, so that the verdict does
    not depend on the output's scale; the outputs enter the floor because a method that splits
    output changes among the features (IDGI) hands their rounding to the dummies.

    Args:
        method: As in :func:`check_completeness`.
        model: As in :func:`check_completeness`.
        inputs: As in :func:`check_completeness`.
        baselines: As in :func:`check_completeness`.
        dummy_features: Indices into the flattened example (``inputs[i].flatten()``) of the
            features the model does not depend on (tokens, for a layer method aligned with
            them as in :func:`check_sensitivity`). That they are dummies is the caller's claim;
            it is not verified.
        target: As in :func:`check_completeness`.
        additional_forward_args: As in :func:`check_completeness`.
        attribute_kwargs: As in :func:`check_completeness`.
        atol: An absolute allowance, in the units of the attributions.
        rtol: The allowance relative to the largest attribution of the example.
        seed: As in :func:`check_completeness`.

    Returns:
        A :class:`CheckResult`: ``measured`` is the largest ``|A|`` of a dummy feature,
        ``tolerance`` the largest that counts as zero; every example holds.

    Raises:
        AxiomViolation: With the largest attribution given to a dummy feature.
        ValueError: If ``method`` builds a layer method whose attributions are not aligned
            with the inputs' features.

    Example:
        >>> from captum.attr import IntegratedGradients
        >>> from captum_smooth.axioms import check_dummy
        >>> model = nn.Linear(4, 1)
        >>> with torch.no_grad():
        ...     _ = model.weight[0, 3].zero_()  # the model ignores feature 3
        >>> check_dummy(IntegratedGradients, model, torch.rand(2, 4), dummy_features=[3],
        ...             target=0).status
        ('holds', 'holds')
    """
    run = Runner(method, inputs, baselines, target, additional_forward_args, attribute_kwargs, seed)
    check_tolerances(atol, rtol)
    dummies = _check_features("dummy_features", dummy_features, run.n_features)
    attributor = run.build(model)
    attributions = run.features(model, attributor, run.attribute(attributor), "check_dummy")
    scale = attributions.abs().amax(dim=1)
    tolerance = atol + rtol * scale + rounding_floor(scale + run.magnitude(model), attributions)
    on_dummies = attributions[:, dummies].abs()
    excess = on_dummies - tolerance[:, None]
    if (excess > 0).any():
        example, column = divmod(int(excess.argmax()), len(dummies))
        raise AxiomViolation(
            f"sensitivity (b) violated for example {example}: dummy feature "
            f"{dummies[column]}{run.space(model, attributor, summed=True)} gets attribution "
            f"{attributions[example, dummies[column]]:.3g} "
            f"(|.| > {tolerance[example].item():.3g}, the largest attribution of the example "
            f"being {scale[example].item():.3g})"
        )
    return _holds("sensitivity (b)", on_dummies.amax(dim=1), tolerance)


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
    atol: float = 0.0,
    rtol: float = 1e-5,
    seed: int = 0,
) -> CheckResult:
    """Implementation invariance: two functionally equivalent networks get the same attributions.

    The method is built on each network by the factory and run with the same random numbers.
    That the networks are equivalent is checked on ``inputs`` and ``baselines`` only: their
    outputs may differ by ``atol + rtol · M`` plus the rounding floor, ``M`` the largest output
    magnitude there. A layer method is built on each network's own layer; its attributions
    must be aligned with the inputs' features and are compared per feature, as in
    :func:`check_sensitivity` (so two networks whose embeddings differ by a rotation that the
    next layer undoes compare equal).

    Args:
        method: As in :func:`check_completeness`.
        model: As in :func:`check_completeness`.
        equivalent_model: A network computing the same function as ``model``.
        inputs: As in :func:`check_completeness`.
        baselines: As in :func:`check_completeness`.
        target: As in :func:`check_completeness`.
        additional_forward_args: As in :func:`check_completeness`.
        attribute_kwargs: As in :func:`check_completeness`.
        atol: An absolute allowance per feature, in the units of the attributions.
        rtol: Attributions may differ by ``rtol`` times the largest ``|A|`` of the example
            (either network's), plus the rounding floor (:data:`ROUNDING_ULPS` of that largest
            ``|A|`` plus ``|f(x)| + |f(x')|``): a budget for methods whose path depends on the
            order of the gradients (Guided IG), which rounding can change.
        seed: As in :func:`check_completeness`.

    Returns:
        A :class:`CheckResult`: ``measured`` is the largest difference between the two
        attributions, ``tolerance`` the allowed one; every example holds.

    Raises:
        AxiomViolation: With both attributions of the feature that differs most.
        ValueError: If the two models' outputs differ on ``inputs`` or ``baselines``, or
            ``method`` builds a layer method whose attributions are not aligned with the
            inputs' features.

    Example:
        >>> from captum.attr import IntegratedGradients
        >>> from captum_smooth.axioms import check_implementation_invariance
        >>> from captum_smooth.axioms.networks import permute_hidden_units
        >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
        >>> same = permute_hidden_units(model, layer=0, permutation=[2, 0, 3, 1])
        >>> check_implementation_invariance(IntegratedGradients, model, same, torch.rand(2, 3),
        ...                                 target=0).status
        ('holds', 'holds')
    """
    run = Runner(method, inputs, baselines, target, additional_forward_args, attribute_kwargs, seed)
    check_tolerances(atol, rtol)
    attributors = run.build(model), run.build(equivalent_model)
    f = torch.cat([run.output(model, run.inputs), run.output(model, run.baselines)])
    g = torch.cat(
        [run.output(equivalent_model, run.inputs), run.output(equivalent_model, run.baselines)]
    )
    scale = torch.maximum(f.abs(), g.abs()).max()
    if ((f - g).abs() > atol + rtol * scale + rounding_floor(scale, f, g)).any():
        raise ValueError(
            f"`model` and `equivalent_model` are not equivalent: outputs {f.tolist()} and "
            f"{g.tolist()} on the inputs, then the baselines"
        )
    first, second = (
        run.features(net, attributor, run.attribute(attributor), "check_implementation_invariance")
        for net, attributor in zip((model, equivalent_model), attributors, strict=True)
    )
    return _assert_close(
        "implementation invariance",
        first,
        second,
        "model",
        "equivalent_model",
        atol,
        rtol,
        run.magnitude(model),
        space=run.space(model, attributors[0], summed=True),
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
    atol: float = 0.0,
    rtol: float = 1e-5,
    seed: int = 0,
) -> CheckResult:
    """Linearity: ``A(a·f₁ + b·f₂) = a·A(f₁) + b·A(f₂)``.

    The combined network is a :class:`LinearCombination` module holding both networks, so
    that module-hooking methods (DeepLift) see every layer of each. Layer methods are refused:
    the combination holds a layer of each network, and has no single layer's space.

    Args:
        method: As in :func:`check_completeness`.
        model_1: A network.
        model_2: A network taking the same inputs; a distinct module instance.
        inputs: As in :func:`check_completeness`.
        baselines: As in :func:`check_completeness`.
        a: The coefficient of ``model_1``.
        b: The coefficient of ``model_2``.
        target: As in :func:`check_completeness`.
        additional_forward_args: As in :func:`check_completeness`.
        attribute_kwargs: As in :func:`check_completeness`.
        atol: An absolute allowance per feature, in the units of the attributions.
        rtol: The two sides may differ by ``rtol`` times the largest ``|A|`` of the example
            (either side's), plus the rounding floor (:data:`ROUNDING_ULPS` of that largest
            ``|A|`` plus ``|a|·(|f₁(x)| + |f₁(x')|) + |b|·(|f₂(x)| + |f₂(x')|)``).
        seed: As in :func:`check_completeness`.

    Returns:
        A :class:`CheckResult`: ``measured`` is the largest difference between the two sides,
        ``tolerance`` the allowed one; every example holds.

    Raises:
        AxiomViolation: With both sides at the feature that differs most.
        ValueError: If ``method`` builds a layer method.

    Example:
        >>> from captum.attr import IntegratedGradients
        >>> from captum_smooth.axioms import check_linearity
        >>> f1 = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
        >>> f2 = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
        >>> check_linearity(IntegratedGradients, f1, f2, torch.rand(2, 3), a=2.0, b=-1.0,
        ...                 target=0).status
        ('holds', 'holds')
    """
    run = Runner(method, inputs, baselines, target, additional_forward_args, attribute_kwargs, seed)
    check_tolerances(atol, rtol)
    if model_1 is model_2:
        raise ValueError("`model_1` and `model_2` must be distinct module instances")
    for name, value in (("a", a), ("b", b)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"`{name}` must be a float, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"`{name}` must be finite, got {value}")
    first = run.build(model_1)
    if run.layers(first) is not None:
        raise ValueError(
            f"`method` builds {type(first).__name__}, a layer method: check_linearity does not "
            "accept layer methods, since a·f₁ + b·f₂ holds a layer of each network and has no "
            "single layer's space"
        )
    together = per_example(run.attribute(run.build(LinearCombination(model_1, model_2, a, b))))
    apart = a * per_example(run.attribute(first)) + b * per_example(
        run.attribute(run.build(model_2))
    )
    magnitude = abs(a) * run.magnitude(model_1) + abs(b) * run.magnitude(model_2)
    return _assert_close(
        "linearity", together, apart, "A(a·f₁ + b·f₂)", "a·A(f₁) + b·A(f₂)", atol, rtol, magnitude
    )


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
    atol: float = 0.0,
    rtol: float = 1e-5,
    seed: int = 0,
) -> CheckResult:
    """Symmetry preservation: symmetric features with equal values get equal attributions.

    Two features the model is symmetric in, with equal values in the input and equal values in
    the baseline, get equal attributions.

    Args:
        method: As in :func:`check_completeness`.
        model: As in :func:`check_completeness`.
        inputs: As in :func:`check_completeness`.
        baselines: As in :func:`check_completeness`.
        symmetric_features: Indices into the flattened example of two features (tokens, for a
            layer method aligned with them as in :func:`check_sensitivity`) such that swapping
            them leaves the model's output unchanged (the caller's claim; not verified).
        target: As in :func:`check_completeness`.
        additional_forward_args: As in :func:`check_completeness`.
        attribute_kwargs: As in :func:`check_completeness`.
        atol: An absolute allowance, in the units of the attributions.
        rtol: The two attributions may differ by ``rtol`` times the largest ``|A|`` of the
            example, plus the rounding floor (:data:`ROUNDING_ULPS` of that largest ``|A|``
            plus ``|f(x)| + |f(x')|``).
        seed: As in :func:`check_completeness`.

    Returns:
        A :class:`CheckResult`: ``measured`` is the difference between the two attributions,
        ``tolerance`` the allowed one; every example holds.

    Raises:
        AxiomViolation: With both attributions.
        ValueError: If the two features' values differ in ``inputs`` or in ``baselines``, or
            ``method`` builds a layer method whose attributions are not aligned with the
            inputs' features.

    Example:
        >>> from captum.attr import IntegratedGradients
        >>> from captum_smooth.axioms import check_symmetry
        >>> model = lambda x: torch.tanh(x[:, 0] + x[:, 1]) * x[:, 2]  # symmetric in 0 and 1
        >>> inputs = torch.tensor([[0.5, 0.5, 2.0], [-1.0, -1.0, 1.0]])
        >>> check_symmetry(IntegratedGradients, model, inputs, symmetric_features=(0, 1)).status
        ('holds', 'holds')
    """
    run = Runner(method, inputs, baselines, target, additional_forward_args, attribute_kwargs, seed)
    check_tolerances(atol, rtol)
    if not isinstance(symmetric_features, tuple) or len(symmetric_features) != 2:
        raise TypeError("`symmetric_features` must be a pair of feature indices")
    i, j = _check_features("symmetric_features", symmetric_features, run.n_features)
    for name, points in (("inputs", run.inputs), ("baselines", run.baselines)):
        flat = per_example(points)
        if not torch.equal(flat[:, i], flat[:, j]):
            raise ValueError(f"`{name}` must have equal values at the symmetric features")
    attributor = run.build(model)
    attributions = run.features(model, attributor, run.attribute(attributor), "check_symmetry")
    return _assert_close(
        "symmetry preservation",
        attributions[:, [i]],
        attributions[:, [j]],
        f"feature {i}",
        f"feature {j}",
        atol,
        rtol,
        run.magnitude(model),
        scale=attributions.abs().amax(dim=1),
        space=run.space(model, attributor, summed=True),
    )


def _flat(attributions: Any) -> Tensor:
    """Attributions per example, flattened; a layer method's tuples and lists joined."""
    if isinstance(attributions, Tensor):
        return per_example(attributions)
    return torch.cat([_flat(a) for a in attributions], dim=1)


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


def _assert_close(
    axiom: str,
    first: Tensor,
    second: Tensor,
    first_name: str,
    second_name: str,
    atol: float,
    rtol: float,
    magnitude: Tensor,
    scale: Tensor | None = None,
    space: str = "",
) -> CheckResult:
    """Raise :class:`AxiomViolation` where two attributions of an example differ too much.

    The allowance is ``atol + rtol · scale`` plus the rounding floor of ``scale + magnitude``:
    ``scale`` is, per example, the largest ``|A|`` of either map unless given, ``magnitude``
    the outputs' ``|f(x)| + |f(x')|`` (a method that differences outputs rounds relative to
    them). ``space`` says, in the message, where the features' attributions come from.
    """
    if scale is None:
        scale = torch.maximum(first.abs().amax(dim=1), second.abs().amax(dim=1))
    tolerance = atol + rtol * scale + rounding_floor(scale + magnitude, first, second)
    excess = (first - second).abs() - tolerance[:, None]
    if (excess > 0).any():
        example, feature = divmod(int(excess.argmax()), first.shape[1])
        gap = (first - second)[example, feature].item()
        raise AxiomViolation(
            f"{axiom} violated for example {example}, feature {feature}{space}: {first_name} gives "
            f"{first[example, feature].item():.6g}, {second_name} gives "
            f"{second[example, feature].item():.6g} (gap {gap:.3g}, allowed "
            f"{tolerance[example].item():.3g})"
        )
    return _holds(axiom, (first - second).abs().amax(dim=1), tolerance)


def _holds(axiom: str, measured: Tensor, tolerance: Tensor) -> CheckResult:
    n = len(measured)
    return CheckResult(axiom, ("holds",) * n, measured.detach(), tolerance.detach(), ("",) * n)


def _unresolved_or_holds(
    axiom: str, measured: Tensor, tolerance: Tensor, notes: list[str]
) -> CheckResult:
    """The result, after one :class:`AxiomUnresolvedWarning` listing the undecided examples.

    The warning is attributed to the caller of the check.
    """
    if any(notes):
        warnings.warn(
            "; ".join(note for note in notes if note), AxiomUnresolvedWarning, stacklevel=3
        )
    status = tuple("unresolved" if note else "holds" for note in notes)
    return CheckResult(axiom, status, measured.detach(), tolerance.detach(), tuple(notes))
