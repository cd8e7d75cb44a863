"""Quadrature rules on [0, 1] for the straight-line path integral of Integrated Gradients.

The names are Captum's (``method=`` of :class:`captum.attr.IntegratedGradients`) and so are
the points, but the trapezoid rule is a trapezoid rule: Captum's ``riemann_trapezoid`` puts
the weights ``1/(2n), 1/n, …, 1/n, 1/(2n)`` on ``linspace(0, 1, n)``; they sum to
``(n - 1)/n``, so every attribution shrinks by ``1/n`` and the rule is first order. Here the
weights are ``1/(2(n - 1)), 1/(n - 1), …, 1/(2(n - 1))`` over the same points: they sum to
one and the error falls as ``1/n²`` (docs/reference.md, "Quadrature"). Points and weights are
exact float64 numbers (Captum rounds its points through float32).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

METHODS = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")


class Quadrature(NamedTuple):
    """Points ``α_j`` in [0, 1] and weights ``w_j`` with ``∫₀¹ h ≈ Σ_j w_j h(α_j)``."""

    alphas: tuple[float, ...]
    weights: tuple[float, ...]


@functools.lru_cache(maxsize=16)
def quadrature(method: str, n_steps: int) -> Quadrature:
    """The ``n_steps`` points and weights of ``method``, one of :data:`METHODS`.

    Args:
        method: ``"riemann_left"``, ``"riemann_right"``, ``"riemann_middle"`` (first order,
            second for the midpoint), ``"riemann_trapezoid"`` (second order, needs
            ``n_steps ≥ 2``) or ``"gausslegendre"`` (exact for polynomials of degree
            ``2·n_steps - 1``).
        n_steps: the number of points, at least 1 (2 for the trapezoid).

    Returns:
        The :class:`Quadrature`; its weights sum to one.

    Raises:
        ValueError: for an unknown ``method`` or a trapezoid of one point.
    """
    check_quadrature(method, n_steps)
    n = n_steps
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return Quadrature(
            tuple(float(a) for a in 0.5 * (1 + nodes)), tuple(float(w) for w in 0.5 * weights)
        )
    if method == "riemann_trapezoid":
        inner = 1 / (n - 1)
        weights = (inner / 2,) + (inner,) * (n - 2) + (inner / 2,)
        return Quadrature(tuple(j / (n - 1) for j in range(n)), weights)
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[method]
    return Quadrature(tuple((j + offset) / n for j in range(n)), (1 / n,) * n)


def check_quadrature(method: str, n_steps: int) -> None:
    """Refuse an unknown ``method`` or a trapezoid of one point, without computing the nodes.

    Raises:
        ValueError: naming ``method`` or ``n_steps``.
    """
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {list(METHODS)}, got {method!r}")
    if method == "riemann_trapezoid" and n_steps < 2:
        raise ValueError("`n_steps` must be at least 2 for method='riemann_trapezoid'")
