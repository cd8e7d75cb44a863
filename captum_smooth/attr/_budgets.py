"""Budgets chosen per example: ``n_steps="auto"``, ``n_samples="auto"``, ``n_baselines="auto"``.

The method runs in rounds. Each round gives every example still running its map and its
error estimate (:mod:`~captum_smooth.attr._errors`); an example stops once its relative
error (:func:`~captum_smooth.attr._errors.relative_error`) is at most the tolerance, or
when the next round would take it past the cap. The others go on with twice the budget:

- a Monte-Carlo average (``n_samples``, ``n_baselines``) draws as many new samples as it has
  and merges them with the ones it has (their means and Welford sums, Chan's formula): no
  sample is drawn twice, and the result is the average of every sample drawn;
- a path (``n_steps``) goes on at twice the steps. Where its grid nests (the straight line's
  and the blur path's evenly spaced vertices: those at ``n`` steps are every other one at
  ``2n``), the next round evaluates only the new vertices and reuses the rows of the last,
  kept while they fit the memory budget (:func:`~captum_smooth.set_memory_budget`), so an
  example spends its final budget's rows; otherwise (Guided IG's path, placed steps, a
  quadrature, rows too large to keep) the next round evaluates the path again, and an
  example spends at most about twice its final budget.

An example's rounds depend only on its own estimates, so a path method gives an example the
same result whatever else is in the batch; a sampling method's draws come from the batch's
generator stream, as at a fixed budget. Which examples go on is read once per round (a host
read per round, about ``log2(cap / start)`` in a call).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.batching import memory_budget
from captum_smooth.attr._errors import relative_error

BUDGETS = ("n_steps", "n_samples", "n_baselines")
"""The arguments that can be ``"auto"``; the first is a quadrature's, the others samples'."""


@dataclass(frozen=True)
class Auto:
    """A budget chosen per example: pass it as ``n_steps``, ``n_samples`` or ``n_baselines``.

    ``"auto"`` is ``Auto()``. Each example's budget doubles from ``start`` until its estimated
    relative error (``return_error``) is at most ``tolerance``, or until the next round would
    spend more than ``cap`` steps (samples, baselines) on it in all; an example that stops
    at the cap unconverged is named in a warning. A round that reuses the last one's rows
    (a path whose steps nest, while they fit the memory budget) spends only its new steps.

    Args:
        tolerance: the relative error ``||error|| / ||attributions||`` to reach, in (0, 1].
        cap: the most steps (samples, baselines) one example may spend, summed over rounds.
        start: the first round's budget, at least 2 (an estimate compares two halves).

    Raises:
        ValueError: for a tolerance outside (0, 1], a ``start`` below 2 or a cap below it.

    Example:
        >>> import torch
        >>> from captum.attr import IntegratedGradients
        >>> from captum_smooth import IDGI, Auto, relative_error
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
        ...                             torch.nn.Linear(8, 2))
        >>> x = torch.randn(3, 4)
        >>> attr, error = IDGI(IntegratedGradients(model)).attribute(
        ...     x, target=0, n_steps=Auto(tolerance=0.02, cap=4096), return_error=True)
        >>> bool((relative_error(attr, error) <= 0.02).all())  # every example reached it
        True
    """

    tolerance: float = 0.05
    cap: int = 1024
    start: int = 16

    def __post_init__(self) -> None:
        """Check the settings."""
        if isinstance(self.tolerance, bool) or not isinstance(self.tolerance, (int, float)):
            raise TypeError(f"`tolerance` must be a float, got {type(self.tolerance).__name__}")
        if not 0 < self.tolerance <= 1:
            raise ValueError(f"`tolerance` must be in (0, 1], got {self.tolerance}")
        for name in ("start", "cap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"`{name}` must be an int, got {type(value).__name__}")
        if self.start < 2:
            raise ValueError(f"`start` must be at least 2, got {self.start}")
        if self.cap < self.start:
            raise ValueError(f"`cap` must be at least `start` ({self.start}), got {self.cap}")


def auto_setting(settings: Mapping[str, Any]) -> tuple[str, Auto] | None:
    """The budget argument set to ``"auto"`` or an :class:`Auto`, if any.

    Raises:
        ValueError: if several are.
    """
    found = [
        (name, Auto() if isinstance(value, str) else value)
        for name, value in settings.items()
        if name in BUDGETS and (isinstance(value, Auto) or _is_auto(value))
    ]
    if len(found) > 1:
        raise ValueError(
            f"only one budget can be 'auto', got {' and '.join(name for name, _ in found)}"
        )
    return found[0] if found else None


@dataclass
class Call:
    """The per-example arguments of one ``attribute`` call, to be cut to some examples."""

    inputs: tuple[Tensor, ...]
    target: Any
    additional_forward_args: Any
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Copy the settings (a round sets its own budget in them)."""
        self.settings = dict(self.settings)

    def rows(self, rows: Sequence[int], n_examples: int, shared: Collection[str] = ()) -> Call:
        """The same call on the examples ``rows`` only (per-example arguments cut).

        A tensor whose first dimension is the batch's is per example, except the settings
        named in ``shared``.
        """
        index = torch.tensor(rows, device=self.inputs[0].device)

        def cut(value: Any) -> Any:
            if isinstance(value, Tensor):
                if value.dim() >= 1 and value.shape[0] == n_examples:
                    return value.index_select(0, index.to(value.device))
                return value
            if isinstance(value, tuple):
                return tuple(cut(v) for v in value)
            if isinstance(value, list) and len(value) == n_examples:
                return [value[i] for i in rows]
            return value

        return Call(
            tuple(cut(x) for x in self.inputs),
            cut(self.target),
            cut(self.additional_forward_args),
            {
                name: value if name in shared else cut(value)
                for name, value in self.settings.items()
            },
        )


Fold = Callable[
    [Sequence[int] | None, int, bool],
    tuple[tuple[Tensor, ...], Tensor | None, tuple[Tensor, ...] | None],
]


def attribute_auto(
    fold: Fold,
    n_examples: int,
    budget: str,
    auto: Auto,
    method: str,
    reuses: Callable[[int], bool] = lambda value: False,
) -> tuple[tuple[Tensor, ...], Tensor | None, tuple[Tensor, ...]]:
    """Run ``fold(rows, value, with_error)`` in rounds until each example converges.

    ``reuses(value)``: whether a path's round at ``value`` steps reuses the rows of the last
    round (then it spends ``value / 2`` new steps, not ``value``).

    Returns the attributions, the delta (or ``None``) and the error estimate of every example,
    each from the round it stopped in (merged over its rounds for samples).
    """
    sampling = budget != "n_steps"
    rows: list[int] | None = None  # every example
    value, spent = auto.start, 0
    attributions, delta, error = fold(None, value, True)
    state = _Samples(attributions, delta, error, value) if sampling else None
    spent = value
    while True:
        current = state.result() if state is not None else (attributions, delta, error)
        converged = relative_error(current[0], current[2]) <= auto.tolerance
        following = spent + (value if sampling or reuses(2 * value) else 2 * value)
        if following > auto.cap:
            break
        active = [i for i, done in enumerate(converged.tolist()) if not done]
        if not active:
            break
        rows = active
        round_value = value if sampling else 2 * value
        parts = fold(rows, round_value, True)
        if state is not None:
            state.add(rows, *parts, round_value)
        else:
            attributions, delta, error = _placed((attributions, delta, error), parts, rows)
        spent, value = following, 2 * value
    result = state.result() if state is not None else (attributions, delta, error)
    estimates = relative_error(result[0], result[2])
    late = (estimates > auto.tolerance).nonzero().flatten().tolist()
    if late:
        warnings.warn(
            f"{method}: {len(late)} of {n_examples} examples (rows {late[:10]}"
            f"{'…' if len(late) > 10 else ''}) did not reach the relative error "
            f"{auto.tolerance:g} within cap={auto.cap} ({budget}); their estimates: "
            f"{[round(e, 4) for e in estimates[late[:10]].tolist()]}. Raise the cap or the "
            "tolerance; the maps returned are the last round's",
            stacklevel=check.user_stacklevel(),
        )
    return result[0], result[1], _given(result[2])


class Kept:
    """The vertices of a path's last round, for the next round at twice the steps to reuse.

    An automatic ``n_steps`` keeps, per call, the outputs and gradients of the round it
    ran last (every vertex, in order, for the examples it ran) when they fit the memory
    budget; a round at twice the steps on a nested view (``Stream.nested``) then evaluates
    only its odd vertices and takes its even ones from here, cut to the examples still
    running.
    """

    def __init__(self) -> None:
        """Keep nothing yet."""
        self.steps: int | None = None
        self.rows: list[int] | None = None
        self.vertices: list[tuple[Tensor, tuple[Tensor, ...]]] = []

    def reuses(self, steps: int) -> bool:
        """Whether a round at ``steps`` steps can take its even vertices from here."""
        return self.steps is not None and 2 * self.steps == steps

    def fits(self, steps: int, inputs: tuple[Tensor, ...]) -> bool:
        """Whether the ``steps + 1`` vertices of ``inputs`` (widened) fit the memory budget."""
        per_vertex = sum(x.numel() * x.element_size() for x in inputs) + 8 * inputs[0].shape[0]
        return (steps + 1) * per_vertex <= memory_budget(inputs[0].device)

    def take(self, rows: Sequence[int] | None) -> list[tuple[Tensor, tuple[Tensor, ...]]]:
        """The kept vertices of the examples ``rows`` (``None``: every example), in order.

        They are handed over: nothing is kept any more (the examples that stopped are freed).
        """
        vertices, kept = self.vertices, self.rows
        self.keep(None, None, [])
        if kept is None:  # every example of the call
            kept = list(range(len(vertices[0][0])))
        if rows is None or list(rows) == kept:
            return vertices
        where = {row: i for i, row in enumerate(kept)}
        index = torch.tensor([where[row] for row in rows], device=vertices[0][0].device)
        return [
            (values.index_select(0, index), tuple(g.index_select(0, index) for g in grads))
            for values, grads in vertices
        ]

    def keep(
        self,
        steps: int | None,
        rows: Sequence[int] | None,
        vertices: list[tuple[Tensor, tuple[Tensor, ...]]],
    ) -> None:
        """Keep the ``vertices`` of a round at ``steps`` (``None``: keep nothing)."""
        self.steps, self.vertices = steps, vertices
        self.rows = None if rows is None else list(rows)


def _placed(
    whole: tuple[tuple[Tensor, ...], Tensor | None, tuple[Tensor, ...] | None],
    part: tuple[tuple[Tensor, ...], Tensor | None, tuple[Tensor, ...] | None],
    rows: Sequence[int],
) -> tuple[tuple[Tensor, ...], Tensor | None, tuple[Tensor, ...] | None]:
    """``whole`` with the examples ``rows`` replaced by ``part``'s."""
    index = torch.tensor(rows, device=whole[0][0].device)

    def put(target: Any, source: Any) -> Any:
        if target is None:
            return None
        if isinstance(target, tuple):
            return tuple(put(t, s) for t, s in zip(target, source, strict=True))
        return target.index_copy(0, index.to(target.device), source.to(target.dtype))

    return put(whole[0], part[0]), put(whole[1], part[1]), put(whole[2], part[2])


class _Samples:
    """Means, Welford sums and counts per example, merged over rounds (Chan et al. 1979)."""

    def __init__(
        self,
        attributions: tuple[Tensor, ...],
        delta: Tensor | None,
        error: tuple[Tensor, ...] | None,
        count: int,
    ) -> None:
        self.mean = attributions
        self.m2 = tuple(e.square() * (count * (count - 1)) for e in _given(error))
        self.delta = delta
        self.count = torch.full(
            (attributions[0].shape[0],), float(count), device=attributions[0].device,
            dtype=attributions[0].dtype,
        )  # fmt: skip

    def add(
        self,
        rows: Sequence[int],
        attributions: tuple[Tensor, ...],
        delta: Tensor | None,
        error: tuple[Tensor, ...] | None,
        count: int,
    ) -> None:
        """Merge a round of ``count`` new samples of the examples ``rows``."""
        index = torch.tensor(rows, device=self.count.device)
        n_a = self.count.index_select(0, index)
        n_b = float(count)
        total = n_a + n_b
        mean, m2 = [], []
        for old_mean, old_m2, new_mean, new_error in zip(
            self.mean, self.m2, attributions, _given(error), strict=True
        ):
            shape = (-1,) + (1,) * (old_mean.dim() - 1)
            a, m2_a = old_mean.index_select(0, index), old_m2.index_select(0, index)
            step = new_mean - a
            merged = a + step * (n_b / total).view(shape)
            m2_b = new_error.square() * (n_b * (n_b - 1))
            merged_m2 = m2_a + m2_b + step.square() * (n_a * n_b / total).view(shape)
            mean.append(old_mean.index_copy(0, index, merged))
            m2.append(old_m2.index_copy(0, index, merged_m2))
        if self.delta is not None and delta is not None:
            old = self.delta.index_select(0, index)
            merged_delta = (old * n_a + delta.to(old.dtype) * n_b) / total
            self.delta = self.delta.index_copy(0, index, merged_delta)
        self.mean, self.m2 = tuple(mean), tuple(m2)
        self.count = self.count.index_copy(0, index, total)

    def result(self) -> tuple[tuple[Tensor, ...], Tensor | None, tuple[Tensor, ...]]:
        """The merged means, delta and standard errors."""
        shape = lambda m: (-1,) + (1,) * (m.dim() - 1)  # noqa: E731
        n = self.count
        errors = tuple((m2 / (n * (n - 1)).view(shape(m2))).sqrt() for m2 in self.m2)
        return self.mean, self.delta, errors


def _is_auto(value: Any) -> bool:
    return isinstance(value, str) and value == "auto"


def _given(error: tuple[Tensor, ...] | None) -> tuple[Tensor, ...]:
    """The error estimate of a round, which every round asks for."""
    if error is None:
        raise RuntimeError("a round of an automatic budget must return its error estimate")
    return error
