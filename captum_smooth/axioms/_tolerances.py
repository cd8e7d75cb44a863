"""How close is close enough: the tolerances of the axiom checks.

Tolerances are relative: to the output change and the attributions for completeness, to the
largest attribution of the example for the per-feature checks, plus a rounding floor of
:data:`ROUNDING_ULPS` units in the last place of the numbers compared, always on the side where
rounding cannot make a violation. A model whose outputs are ``1e-8`` in size gets the verdicts
of the same model scaled to ``1e3``.
"""

from __future__ import annotations

import torch
from torch import Tensor

ROUNDING_ULPS = 1000
"""The rounding floor of every comparison, in units of ``torch.finfo(dtype).eps`` (of the
coarsest dtype compared) of the size of the numbers compared: ``2.2e-13`` of it in float64,
``1.2e-4`` in float32.

The checks see outputs and attributions, not the sums inside the network that rounded them. A
dot product of ``n`` terms rounds by up to ``n`` units of its largest term (``log n`` with
pairwise summation), and an output can be much smaller than the activations it was computed
from; 1000 units cover a few layers of width ~100 with intermediate values ~10 times the output.
Methods that split measured output changes among the features (IDGI) round relative to the
outputs, so the per-feature floors of the checks that could fail from rounding include
``|f(x)| + |f(x')|``. In float64 the floor stays five orders of magnitude below the smallest
quadrature error the checks are meant to see (IG's ``rtol`` of ``1e-4`` to ``1e-3``), so it
never hides a real gap."""


VARIATION_STEPS = 32
"""Steps of the straight line from ``x'`` to ``x`` on which completeness measures how much the
output moves (its total variation, ``Σ |Δf|``), the size its quadrature error scales with.
32 forward passes per example: a few percent of what a 128-step IG costs."""


def check_tolerances(atol: float, rtol: float) -> None:
    """Non-negative finite tolerances, else ``ValueError``."""
    for name, value in (("atol", atol), ("rtol", rtol)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"`{name}` must be a float, got {type(value).__name__}")
        if not 0 <= value < float("inf"):
            raise ValueError(f"`{name}` must be a non-negative finite number, got {value}")


def rounding_floor(scale: Tensor, *operands: Tensor) -> Tensor:
    """The rounding floor of a comparison of numbers of size ``scale``.

    :data:`ROUNDING_ULPS` units in the last place of the coarsest dtype among ``operands``.
    """
    eps = max(torch.finfo(t.dtype).eps for t in operands)
    return ROUNDING_ULPS * eps * scale
