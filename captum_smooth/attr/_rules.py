"""Rules: how evaluated blocks (:class:`~captum_smooth.attr._engine.Evaluated`) add up.

Each rule turns a path's evaluated blocks into attributions.

A rule is a small class with one protocol (:class:`Rule`): it says which view of a path it
integrates (:meth:`Rule.stream`), folds the evaluated blocks one at a time in path order
(:meth:`Rule.fold`), and gives the attributions and, where it claims completeness, what they
should sum to (:meth:`Rule.expected_total`). A method chooses its rule; a wrapper such as
:class:`~captum_smooth.IDGI` swaps it. Paths never know which rule consumes them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

from captum_smooth.attr._engine import Block, Evaluated, bookkeeping_dtype, stacked, widened

if TYPE_CHECKING:
    from captum_smooth.attr._paths import Path, Stream


class Rule(ABC):
    """Folds a path's evaluated blocks into attributions shaped like ``inputs``.

    Subclasses set :attr:`complete` (whether :meth:`expected_total` is a completeness claim
    that a convergence delta can be measured against) and implement the three methods.

    The totals are kept in float32 at least, and the evaluated blocks arrive in it: the
    engine widens a half model's outputs and gradients before any rule sees them
    (:func:`~captum_smooth.attr._engine.bookkeeping_dtype`).

    Example:
        A rule that sums the gradients at a path's vertices (docs/architecture.md puts it on
        the path of any method of the package):

        >>> from captum_smooth.attr import Rule, fold_recorded
        >>> class GradientSum(Rule):
        ...     @staticmethod
        ...     def stream(path, with_delta):
        ...         return path.polyline()
        ...
        ...     def fold(self, evaluated):
        ...         for total, gradient in zip(self.totals, evaluated.grads):
        ...             total.add_(gradient)
        >>> points = [torch.zeros(1, 2), torch.ones(1, 2)]
        >>> values = [torch.zeros(1), torch.ones(1)]
        >>> grads = [torch.tensor([[1.0, -1.0]]), torch.tensor([[2.0, 0.0]])]
        >>> fold_recorded(GradientSum, points, values, grads).tolist()
        [[3.0, -1.0]]
    """

    complete: ClassVar[bool] = False
    view: ClassVar[str] = "quadrature"
    """The view of a path :meth:`stream` reads: ``"quadrature"`` or ``"polyline"``."""

    def __init__(self, inputs: tuple[Tensor, ...]) -> None:
        """Start from zero attributions shaped like ``inputs``, in float32 at least."""
        self.totals = tuple(torch.zeros_like(x, dtype=bookkeeping_dtype(x.dtype)) for x in inputs)

    @staticmethod
    @abstractmethod
    def stream(path: Path, with_delta: bool) -> Stream:
        """The view of ``path`` this rule integrates.

        With ``with_delta``, it includes the rows a convergence delta needs.
        """

    @abstractmethod
    def fold(self, evaluated: Evaluated) -> None:
        """Add one evaluated block (blocks arrive whole and in path order)."""

    def attributions(self) -> tuple[Tensor, ...]:
        """The attributions folded so far, one tensor per input."""
        return self.totals

    def expected_total(self) -> Tensor:
        """What the attributions of each example should sum to, ``(n_examples,)``."""
        raise TypeError(f"{type(self).__name__} makes no completeness claim")


class RiemannSum(Rule):
    """``A = Σ_blocks w · d ⊙ ∇f(points)``, and the weighted output sum ``Σ c · f(points)``.

    With ``w`` a quadrature weight and ``d = x - x'`` this is Integrated Gradients; with
    ``w = 1/R`` and ``d = x - z`` SmoothTaylor's Monte-Carlo average; with ``d`` the chord
    ``x_{j+1} - x_j`` a left sum along any polygonal path (Guided IG). The value weights ``c``
    (``+1`` at the path's end, ``-1`` at its start) give the convergence delta.

    Example:
        >>> from captum_smooth.attr import RiemannSum, SmoothTaylor, fold_recorded
        >>> SmoothTaylor.rule is RiemannSum  # and every method of the package but two
        True
        >>> points = [torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 2.0]])]  # x_0, x_1
        >>> values = [torch.tensor([0.0]), torch.tensor([3.0])]  # f = x₁ + x₂ at each
        >>> grads = [torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 1.0]])]
        >>> fold_recorded(RiemannSum, points, values, grads).tolist()  # (x_1 - x_0) ⊙ ∇f(x_0)
        [[1.0, 2.0]]
    """

    complete = True

    def __init__(self, inputs: tuple[Tensor, ...]) -> None:
        """Start from zero attributions and a zero output sum."""
        super().__init__(inputs)
        total = self.totals[0]
        self.weighted_values = torch.zeros(total.shape[0], dtype=total.dtype, device=total.device)
        # small blocks are added several at a time (their terms as one tensor)
        self._waiting: list[_Waiting] = []
        per_block = sum(x.numel() for x in inputs)
        self._batch = max(1, _FOLD_ELEMENTS // max(1, per_block))

    @staticmethod
    def stream(path: Path, with_delta: bool) -> Stream:
        """The path's quadrature (nodes with weights and directions)."""
        return path.quadrature(with_delta)

    def fold(self, evaluated: Evaluated) -> None:
        """Add ``w · d ⊙ ∇f`` of the block's rows, and ``c · f`` to the output sum."""
        block = evaluated.block
        if evaluated.grads is not None and block.weight != 0:
            if block.direction is None:
                raise ValueError("RiemannSum needs blocks with a direction")
            self._waiting.append((block.weight, block.direction, evaluated.grads))
            if len(self._waiting) >= self._batch:
                self._add_waiting()
        if block.value_weight != 0:
            if evaluated.values is None:
                raise ValueError("a block with a value weight must be evaluated")
            self.weighted_values.add_(
                block.value_weight * evaluated.values.to(self.weighted_values.dtype)
            )

    def attributions(self) -> tuple[Tensor, ...]:
        """The attributions folded so far."""
        self._add_waiting()
        return self.totals

    def _add_waiting(self) -> None:
        """``Σ_k w_k · d_k ⊙ ∇f_k`` of the waiting blocks, a few operations per input.

        Blocks that share their direction (a straight line's ``x - x'``) sum their weighted
        gradients first and multiply by it once, as Captum's IG does; the others multiply
        their stacked directions and gradients. Stacking the gradients of one chunk is free
        (:func:`~captum_smooth.attr._engine.stacked`).
        """
        runs = _runs(self._waiting)
        self._waiting = []
        shared = [run for run in runs if len(run) > 1]
        alone = [run[0] for run in runs if len(run) == 1]
        for i, total in enumerate(self.totals):
            for run in shared:
                grads = stacked([g[i] for _, _, g in run]).to(total.dtype)
                summed = _weighted_sum([w for w, _, _ in run], grads)
                total.addcmul_(run[0][1][i].to(total.dtype), summed)
            if len(alone) == 1:
                # one pass; a wider direction (Guided IG's float64 chords) rounded first, as a
                # mixed-dtype product takes several times as long
                weight, direction, grads = alone[0]
                total.addcmul_(direction[i].to(total.dtype), grads[i], value=weight)
            elif alone:
                terms = stacked([d[i] for _, d, _ in alone]).to(total.dtype)
                terms = terms * stacked([g[i] for _, _, g in alone]).to(total.dtype)
                total.add_(_weighted_sum([w for w, _, _ in alone], terms))

    def expected_total(self) -> Tensor:
        """``Σ c · f(points)``: ``f(x) - f(x')`` for a path from ``x'`` to ``x``."""
        return self.weighted_values


_FOLD_ELEMENTS = 2**18
"""A Riemann sum adds its blocks in batches of at most about this many elements per input.

Larger blocks are added one at a time: their operations cost more in memory traffic than in
calls, and a batch's temporaries more than its calls save.
"""


_Waiting = tuple[float, tuple[Tensor, ...], tuple[Tensor, ...]]
"""A block waiting to be added: its weight, direction and gradients."""


def _runs(waiting: list[_Waiting]) -> list[list[_Waiting]]:
    """Consecutive waiting blocks grouped by their direction (the same tensors)."""
    runs: list[list[_Waiting]] = []
    for entry in waiting:
        if runs and runs[-1][0][1] is entry[1]:
            runs[-1].append(entry)
        else:
            runs.append([entry])
    return runs


def _weighted_sum(weights: list[float], terms: Tensor) -> Tensor:
    """``Σ_k w_k · terms[k]``; with equal weights, a sum and one scaling (no weight tensor)."""
    if all(w == weights[0] for w in weights):
        return terms.sum(dim=0).mul_(weights[0])
    w = torch.tensor(weights, dtype=terms.dtype, device=terms.device)
    return torch.tensordot(w, terms, dims=1)


def fold_recorded(
    rule: type[Rule],
    points: Sequence[Tensor | tuple[Tensor, ...]],
    values: Sequence[Tensor],
    grads: Sequence[Tensor | tuple[Tensor, ...]],
) -> Tensor | tuple[Tensor, ...]:
    """Fold a path you recorded yourself with ``rule``.

    The path is given by the points ``x_0 … x_m`` in order, the outputs ``f(x_j)``
    ``(n_examples,)`` and the gradients ``∇f(x_j)``.

    The counterpart of the IDGI authors' ``IDGI(grads, preds)``, for any rule that needs only
    points, values and gradients (e.g. ``fold_recorded(IDGIRule, ...)``); a Riemann-type
    rule takes the chord ``x_{j+1} - x_j`` as each point's direction, with weight 1.

    Args:
        rule: the rule's class.
        points: one tensor (or tuple of tensors, for several inputs) per point, batch first.
        values: the output at each point, one scalar per example.
        grads: the gradient at each point, shaped like the point.

    The records are folded in float32 at least, as the engine folds a model's (a bfloat16
    model's outputs subtracted in bfloat16 lose their low bits).

    Returns:
        The attributions, shaped like one point and in its dtype (a tuple when the points are
        tuples).

    Raises:
        ValueError: if the three sequences differ in length or are empty.

    Example:
        A straight path to ``x = (1, 2)`` under ``f(x) = ‖x‖²``, recorded in 10 steps:

        >>> from captum_smooth.attr import IDGIRule, RiemannSum, fold_recorded
        >>> points = [torch.tensor([[1.0, 2.0]]) * j / 10 for j in range(11)]
        >>> values = [(p**2).sum(dim=1) for p in points]
        >>> grads = [2 * p for p in points]
        >>> idgi = fold_recorded(IDGIRule, points, values, grads)
        >>> left_sum = fold_recorded(RiemannSum, points, values, grads)
        >>> round(idgi.sum().item(), 5), round(left_sum.sum().item(), 5)  # f(x) - f(0) = 5
        (5.0, 4.5)
    """
    if not (len(points) == len(values) == len(grads)) or len(points) == 0:
        raise ValueError(
            f"`points`, `values` and `grads` must have one entry per point, got "
            f"{len(points)}, {len(values)} and {len(grads)}"
        )
    as_tuple = isinstance(points[0], tuple)
    dtypes = [p.dtype for p in (points[0] if as_tuple else (points[0],))]
    formatted = [widened(p if isinstance(p, tuple) else (p,)) for p in points]
    gradients = [widened(g if isinstance(g, tuple) else (g,)) for g in grads]
    folder = rule(formatted[-1])
    for j, (p, v, g) in enumerate(zip(formatted, values, gradients, strict=True)):
        ends = formatted[j + 1] if j + 1 < len(formatted) else p
        chord = tuple(e - q for e, q in zip(ends, p, strict=True))
        folder.fold(Evaluated(Block(p, 1.0, chord), widened((v,))[0], g))
    result = tuple(a.to(d) for a, d in zip(folder.attributions(), dtypes, strict=True))
    return result if as_tuple else result[0]
