"""The axioms of Sundararajan et al. (2017) as checks users can run in their own CI.

Each check takes a method *factory* (``IntegratedGradients``, ``lambda m: NoiseTunnel(...)``),
a model and inputs, and raises :class:`AxiomViolation` (an ``AssertionError``) with the
measured numbers when the axiom fails; otherwise it returns a :class:`CheckResult`, and warns
with :class:`AxiomUnresolvedWarning` about the examples it could not decide.
Layer methods (``lambda m: LayerIntegratedGradients(m, m.embedding)``) are accepted with
integer token ids: completeness in the layer's space, the per-feature axioms on each token's
score. :data:`CI_TEMPLATE` is a pytest file to copy into your tests.
:mod:`captum_smooth.axioms.networks` builds small networks and their reparameterisations;
:mod:`captum_smooth.axioms.strategies` draws them with hypothesis (which it needs installed).
"""

from captum_smooth.axioms._checks import (
    AxiomUnresolvedWarning,
    AxiomViolation,
    CheckResult,
    LinearCombination,
    check_completeness,
    check_dummy,
    check_implementation_invariance,
    check_linearity,
    check_sensitivity,
    check_symmetry,
)
from captum_smooth.axioms._runner import MethodFactory
from captum_smooth.axioms._template import CI_TEMPLATE
from captum_smooth.axioms._tolerances import ROUNDING_ULPS, VARIATION_STEPS

__all__ = [
    "CI_TEMPLATE",
    "ROUNDING_ULPS",
    "VARIATION_STEPS",
    "AxiomUnresolvedWarning",
    "AxiomViolation",
    "CheckResult",
    "LinearCombination",
    "MethodFactory",
    "check_completeness",
    "check_dummy",
    "check_implementation_invariance",
    "check_linearity",
    "check_sensitivity",
    "check_symmetry",
]
