"""Error estimates: how far a map is from the method's own limit, from the rows already spent.

``attribute(..., return_error=True)`` returns, beside the attributions (and the delta), an
estimate of each feature's error in the map's units. It costs no model call: an estimator
watches the evaluated blocks that the rule folds and folds them a second way.

- A quadrature or a polyline (IG through IDGI's adapter, Blur IG, Guided IG, IDGI on any of
  them, their layer variants) is **nested**: the same rule on half the rows, neighbouring
  quadrature cells merged in pairs (each pair's weight and displacement kept at its first
  node's gradient) or every other vertex of the polyline. ``|A_n - A_{n/2}|`` estimates the
  error of ``A_n`` from above for any rule whose error falls at least as ``1/n``: it is
  ``(2^p - 1)`` times the error of a rule of order ``p`` (the merged rule is first order
  whatever the method's own, so a Gauss–Legendre or trapezoid map is closer than it says).
- Monte-Carlo averages (SmoothTaylor's roots, noise-baseline IG's baselines, SmoothGrad²) are
  **samples**: the standard error of the mean, per feature, from the spread of the samples'
  own estimates (each baseline's whole line for noise-baseline IG, so the quadrature error
  common to every line is not in it).

:func:`relative_error` turns the per-feature estimate into one number per example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from captum_smooth.attr._engine import Block, Evaluated, Stream

if TYPE_CHECKING:
    from captum_smooth.attr._rules import Rule


class ErrorEstimate:
    """Watches the blocks a rule folds; :meth:`error` gives the per-feature estimate."""

    def __init__(self, budget: str) -> None:
        """``budget``: the argument that sets the rows (named in errors)."""
        self.budget = budget

    def fold(self, evaluated: Evaluated) -> None:
        """See one evaluated block, in path order."""
        raise NotImplementedError

    def error(self, attributions: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """The estimated error of ``attributions`` per feature (non-negative)."""
        raise NotImplementedError

    def _too_few(self) -> ValueError:
        return ValueError(
            f"`return_error` needs at least two rows to compare: increase `{self.budget}`"
        )


def estimator(rule: type[Rule], stream: Stream, inputs: tuple[Tensor, ...]) -> ErrorEstimate:
    """The estimator for ``rule`` folding ``stream`` (samples or nested)."""
    if stream.samples is not None:
        return SampleSpread(rule, inputs, *stream.samples, stream.budget)
    if rule.view == "polyline":
        return EveryOtherVertex(rule, inputs, stream.budget)
    return MergedCells(rule, inputs, stream.budget)


def _contributes(block: Block) -> bool:
    """Whether a block adds to a quadrature rule's attributions (a node with a gradient)."""
    return block.need == "grad" and block.weight != 0


class MergedCells(ErrorEstimate):
    """The rule on pairs of neighbouring nodes merged into one: ``|A_n - A_{n/2}|``.

    A pair ``(a, b)`` becomes one node at ``a``'s point and gradient, with weight
    ``w_a + w_b`` and direction ``(w_a d_a + w_b d_b) / (w_a + w_b)``: the pair's cell and
    its displacement, so a Riemann sum along any polygon (Guided IG's chords, Blur IG's steps
    in σ) and a mean of samples' squares coarsen alike. An odd last node stays alone.
    """

    def __init__(self, rule: type[Rule], inputs: tuple[Tensor, ...], budget: str) -> None:
        """A coarse ``rule`` on ``inputs``."""
        super().__init__(budget)
        self.coarse = rule(inputs)
        self._waiting: Evaluated | None = None
        self._nodes = 0

    def fold(self, evaluated: Evaluated) -> None:
        """Pair the nodes as they come; other blocks are not needed."""
        if not _contributes(evaluated.block):
            return
        self._nodes += 1
        if self._waiting is None:
            self._waiting = evaluated
            return
        self.coarse.fold(_merged(self._waiting, evaluated))
        self._waiting = None

    def error(self, attributions: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """``|A_n - A_{n/2}|`` per feature."""
        if self._nodes < 2:
            raise self._too_few()
        if self._waiting is not None:
            self.coarse.fold(self._waiting)
            self._waiting = None
        return tuple(
            (a - c).abs() for a, c in zip(attributions, self.coarse.attributions(), strict=True)
        )


def _merged(a: Evaluated, b: Evaluated) -> Evaluated:
    """One node for the cell of ``a`` and ``b``, at ``a``'s gradient."""
    wa, wb = a.block.weight, b.block.weight
    da, db = a.block.direction, b.block.direction
    if da is None or db is None or da is db:
        weight, direction = wa + wb, da
    elif wa + wb == 0:
        weight = 1.0
        direction = tuple(torch.add(x * wa, y, alpha=wb) for x, y in zip(da, db, strict=True))
    else:
        weight = wa + wb
        direction = tuple(
            torch.add(x * (wa / weight), y, alpha=wb / weight) for x, y in zip(da, db, strict=True)
        )
    return a._replace(block=a.block._replace(weight=weight, direction=direction, value_weight=0.0))


class EveryOtherVertex(ErrorEstimate):
    """The rule on the vertices ``x_0, x_2, x_4, …`` and the last: ``|A_m - A_{m/2}|``."""

    def __init__(self, rule: type[Rule], inputs: tuple[Tensor, ...], budget: str) -> None:
        """A coarse ``rule`` on ``inputs``."""
        super().__init__(budget)
        self.coarse = rule(inputs)
        self._index = 0
        self._skipped: Evaluated | None = None

    def fold(self, evaluated: Evaluated) -> None:
        """Keep the even vertices; hold an odd one in case it is the last.

        Forward-only rows that place the vertices (a first pass) are not vertices.
        """
        if evaluated.block.need != "grad":
            return
        if self._index % 2 == 0:
            self.coarse.fold(evaluated)
            self._skipped = None
        else:
            self._skipped = evaluated
        self._index += 1

    def error(self, attributions: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """``|A_m - A_{m/2}|`` per feature."""
        if self._index < 3:
            raise self._too_few()
        if self._skipped is not None:
            self.coarse.fold(self._skipped)
            self._skipped = None
        return tuple(
            (a - c).abs() for a, c in zip(attributions, self.coarse.attributions(), strict=True)
        )


class SampleSpread(ErrorEstimate):
    """The standard error of a mean over ``n_samples`` samples, each ``per_sample`` nodes.

    Each sample's estimate ``s_k = n_samples · A_k`` (``A_k`` the rule on its nodes alone) is
    folded into Welford's running mean and sum of squares, per feature, in float32 at least;
    the error is ``sqrt(M2 / (n (n - 1)))``.
    """

    def __init__(
        self,
        rule: type[Rule],
        inputs: tuple[Tensor, ...],
        n_samples: int,
        per_sample: int,
        budget: str,
    ) -> None:
        """The spread of ``n_samples`` samples of ``per_sample`` nodes each."""
        super().__init__(budget)
        self.rule, self.inputs = rule, inputs
        self.n_samples, self.per_sample = n_samples, per_sample
        self._sample = rule(inputs)
        self._nodes = self._count = 0
        self._mean: list[Tensor] | None = None
        self._m2: list[Tensor] | None = None

    def fold(self, evaluated: Evaluated) -> None:
        """Add a node to the current sample; close the sample at its last node."""
        if not _contributes(evaluated.block):
            return
        self._sample.fold(evaluated)
        self._nodes += 1
        if self._nodes == self.per_sample:
            self._close()

    def _close(self) -> None:
        estimate = [a * self.n_samples for a in self._sample.attributions()]
        self._count += 1
        if self._mean is None or self._m2 is None:
            self._mean, self._m2 = estimate, [torch.zeros_like(e) for e in estimate]
        else:
            for mean, m2, s in zip(self._mean, self._m2, estimate, strict=True):
                step = s - mean
                mean.add_(step / self._count)
                m2.addcmul_(step, s - mean)
        self._sample, self._nodes = self.rule(self.inputs), 0

    def error(self, attributions: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """The standard error of the mean per feature."""
        if self._count < 2 or self._m2 is None:
            raise self._too_few()
        n = self._count
        return tuple((m2 / (n * (n - 1))).sqrt() for m2 in self._m2)


def relative_error(
    attributions: Tensor | tuple[Tensor, ...], error: Tensor | tuple[Tensor, ...]
) -> Tensor:
    """One number per example: ``||error|| / ||attributions||`` over every feature (L2).

    The map's estimated distance to the method's own limit, as a fraction of its size: the
    quantity the budget of ``n_steps`` or ``n_samples`` should bring below a tolerance.

    Args:
        attributions: a method's attributions (a tensor or a tuple, batch first).
        error: the estimate that ``attribute(..., return_error=True)`` returned with them.

    Returns:
        ``(n_examples,)`` in float32 at least; ``inf`` where the map is zero and the error
        is not, 0 where both are.

    Raises:
        ValueError: if the two differ in form or shape.

    Example:
        >>> import torch
        >>> from captum_smooth import SmoothTaylor, relative_error
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
        ...                             torch.nn.Linear(8, 2))
        >>> x = torch.randn(3, 4)
        >>> attr, err = SmoothTaylor(model).attribute(
        ...     x, target=0, n_samples=64, return_error=True,
        ...     generator=torch.Generator().manual_seed(0))
        >>> relative_error(attr, err).shape
        torch.Size([3])
    """
    maps = attributions if isinstance(attributions, tuple) else (attributions,)
    errors = error if isinstance(error, tuple) else (error,)
    if len(maps) != len(errors) or any(
        not isinstance(m, Tensor) or not isinstance(e, Tensor) or m.shape != e.shape
        for m, e in zip(maps, errors, strict=False)
    ):
        raise ValueError(
            "`error` must have the form and shapes of `attributions` (what attribute() "
            "returned with return_error=True)"
        )
    dtype = torch.promote_types(maps[0].dtype, torch.float32)

    def norm(parts: tuple[Tensor, ...]) -> Tensor:
        squares = sum(p.to(dtype).reshape(p.shape[0], -1).square().sum(dim=1) for p in parts)
        return squares.sqrt()  # type: ignore[union-attr]

    size, spread = norm(maps), norm(errors)
    ratio = spread / torch.where(size > 0, size, torch.ones_like(size))
    return torch.where(size > 0, ratio, torch.where(spread > 0, torch.inf, 0.0))
