"""Step placement: a path's steps put where its output rises, found by a forward-only pass.

A path parameterised by ``t ∈ [0, 1]`` (the straight line's ``α``, the blur path's schedule)
is probed at ``t_k = k / P``, ``k = 0..P``, with forward passes only. Cell ``k`` of that grid
gets the probability mass

    q_k = (1 - floor) · |f(t_{k+1}) - f(t_k)| / Σ_l |f(t_{l+1}) - f(t_l)|  +  floor / P

(uniform where the output does not change at all), so the density ``P · q_k`` is at least
``floor`` everywhere and no part of the path goes without steps. Its distribution function
``F`` is piecewise linear; a rule's points ``u`` in ``[0, 1]`` are moved to ``t = F⁻¹(u)``,
per example, from that example's own probes only (a quadrature's cells are moved so, and
each node keeps its place within its cell, :func:`within_cells`). With the density uniform
``F⁻¹`` is the identity, and the path's steps are its usual ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from captum_smooth.attr._quadrature import Quadrature


@dataclass(frozen=True)
class Placement:
    r"""Place a path's steps where its output rises: ``placement=Placement()`` or ``"rise"``.

    A first pass of ``probes + 1`` forward-only rows per example (no backward pass) at evenly
    spaced points of the path measures the output's rise ``|Δf|`` in each of its ``probes``
    cells; the steps are then put at the quantiles of the density

    .. math:: p(t) = (1 - \text{floor})\,\frac{|\Delta f_k|}{\sum_l |\Delta f_l|}\,P
              + \text{floor}, \qquad t \in [k/P, (k+1)/P)

    so that a fraction ``floor`` of the steps is spread evenly and the rest follows the
    output. Each step of a quadrature weighs the width of its cell along the path (the
    weights still sum to the path's length), so the map estimates the same integral; a
    polyline's vertices are the quantiles of ``j / n_steps``. The first pass's two ends give
    the convergence delta without further rows. Each example's steps come from its own
    probes: its map does not depend on the batch.

    Cost: ``probes + 1`` forward rows per example and per call, about a third of a gradient
    row each; docs/steps.md gives the rows it saves (and where it does not).

    Args:
        probes: ``P``, the cells of the first pass (``P + 1`` forward rows), at least 2.
        floor: the share of the density spread evenly, in (0, 1]; 1 places the steps
            evenly (after paying for the probes).

    Raises:
        TypeError: for a non-integer ``probes`` or a non-real ``floor``.
        ValueError: for ``probes < 2`` or ``floor`` outside (0, 1].

    Example:
        >>> from captum.attr import IntegratedGradients
        >>> from captum_smooth import IDGI, Placement
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
        ...                             torch.nn.Linear(8, 2))
        >>> x = torch.randn(3, 4)
        >>> idgi = IDGI(IntegratedGradients(model))
        >>> attr, delta = idgi.attribute(x, target=0, n_steps=16, return_convergence_delta=True,
        ...                              placement=Placement(probes=16, floor=0.5))
        >>> attr.shape, bool(delta.abs().max() < 1e-5)  # still exactly complete
        (torch.Size([3, 4]), True)
    """

    probes: int = 32
    floor: float = 0.5

    def __post_init__(self) -> None:
        """Check the settings."""
        if isinstance(self.probes, bool) or not isinstance(self.probes, int):
            raise TypeError(f"`probes` must be an int, got {type(self.probes).__name__}")
        if self.probes < 2:
            raise ValueError(f"`probes` must be at least 2, got {self.probes}")
        if isinstance(self.floor, bool) or not isinstance(self.floor, (int, float)):
            raise TypeError(f"`floor` must be a float, got {type(self.floor).__name__}")
        if not 0 < self.floor <= 1:
            raise ValueError(f"`floor` must be in (0, 1], got {self.floor}")

    def grid(self) -> list[float]:
        """The first pass's points along the path, ``t_k = k / P``, ``k = 0..P``."""
        return [k / self.probes for k in range(self.probes + 1)]

    def place(self, outputs: Tensor, points: Sequence[float]) -> Tensor:
        """``F⁻¹(u)`` for each ``u`` of ``points``, per example: ``(n_examples, len(points))``.

        ``outputs``: ``f`` at :meth:`grid`, ``(n_examples, P + 1)``. In float64; ``u = 0``
        and ``u = 1`` go to the path's ends exactly.
        """
        rise = outputs.to(torch.float64).diff(dim=1).abs()
        total = rise.sum(dim=1, keepdim=True)
        share = torch.where(total > 0, rise / torch.where(total > 0, total, 1.0), 1 / self.probes)
        mass = (1 - self.floor) * share + self.floor / self.probes
        cumulative = torch.nn.functional.pad(mass.cumsum(dim=1), (1, 0))
        cumulative[:, -1] = 1.0  # the sum of the masses, without its rounding
        u = torch.tensor(points, dtype=torch.float64, device=outputs.device).clamp(0, 1)
        u = u.expand(outputs.shape[0], -1).contiguous()
        cell = (torch.searchsorted(cumulative, u, right=True) - 1).clamp(0, self.probes - 1)
        start = cumulative.gather(1, cell)
        within = ((u - start) / mass.gather(1, cell)).clamp(0, 1)
        return (cell + within) / self.probes


def check_placement(placement: Any) -> Placement | None:
    """``placement`` as a :class:`Placement`, or ``None`` for evenly spaced steps.

    Raises:
        TypeError: for anything but ``None``, ``"uniform"``, ``"rise"`` or a
            :class:`Placement`.
        ValueError: for another string.
    """
    if placement is None or isinstance(placement, Placement):
        return placement
    if isinstance(placement, str):
        if placement == "uniform":
            return None
        if placement == "rise":
            return Placement()
        raise ValueError(f"`placement` must be 'uniform', 'rise' or a Placement, got {placement!r}")
    kind = type(placement).__name__
    raise TypeError(f"`placement` must be None, 'uniform', 'rise' or a Placement, got {kind}")


def cells(weights: Sequence[float]) -> list[float]:
    """The boundaries of a rule's cells in ``[0, 1]``: its weights summed, ``0`` first.

    A node of a rule with positive weights lies in its cell (for Gauss–Legendre by the
    separation theorem of Chebyshev, Markov and Stieltjes); the last boundary is set to 1.
    """
    bounds = [0.0]
    for w in weights:
        bounds.append(bounds[-1] + w)
    bounds[-1] = 1.0
    return bounds


def within_cells(rule: Quadrature) -> Tensor:
    """Where each node of ``rule`` lies in its cell (:func:`cells`), from 0 to 1, in float64.

    A placed rule keeps these fractions: on each placed cell it is the rule's own node and
    weight scaled to the cell, so a density that is even gives the rule back.
    """
    bounds = cells(rule.weights)
    return torch.tensor(
        [(a - lo) / (hi - lo) for a, lo, hi in zip(rule.alphas, bounds, bounds[1:], strict=False)],
        dtype=torch.float64,
    ).clamp(0, 1)
