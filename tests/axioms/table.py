"""Which axioms each method satisfies: the data behind the tests and docs/axioms.md.

One row per method. Every axiom not in ``violated`` holds, and is tested as a hypothesis
property; every violated axiom names the counterexample (tests/axioms/counterexamples.py)
that shows it. "Violated" means by the method itself, whatever its number of steps; what a
finite number of steps can miss is in tests/axioms/test_finite_steps.py. An axiom in
``unresolved`` holds only in expectation (or in the limit): its named counterexample makes the
method miss with a convergence delta as large as the effect, which the check reports as
unresolved, not violated; on random networks it must never be violated. Adding a method is one
entry. Regenerate the markdown with ``python -m tests.axioms.table``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from captum.attr import (
    DeepLift,
    GradientShap,
    InputXGradient,
    IntegratedGradients,
    Saliency,
)

from captum_smooth import (
    IDGI,
    BlurIntegratedGradients,
    ExpectedGradients,
    GuidedIntegratedGradients,
    IntegratedDecisionGradients,
    NoiseBaselineIntegratedGradients,
    SmoothTaylor,
)

AXIOMS = {
    "completeness": "Completeness",
    "sensitivity": "Sensitivity (a)",
    "dummy": "Sensitivity (b) / dummy",
    "implementation_invariance": "Implementation invariance",
    "linearity": "Linearity",
    "symmetry": "Symmetry preservation",
}


@dataclass(frozen=True)
class Row:
    """A method, the keywords its tests use, and what it violates.

    ``violated`` maps an axiom to the name of its counterexample; ``networks`` restricts the
    drawn networks (options of ``strategies.network_strategy``); ``tolerances`` maps an axiom
    to the check's ``atol``/``rtol`` where the defaults are too tight for an approximation;
    ``example_share`` scales the hypothesis profile's ``max_examples`` for slow methods;
    ``unresolved`` maps an axiom that holds only in expectation to the name of the
    counterexample the check reports as unresolved; ``batch_size`` fixes the drawn batches'
    size (1 to 3 if None).
    """

    name: str
    factory: Callable[..., Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    violated: Mapping[str, str] = field(default_factory=dict)
    networks: Mapping[str, Any] = field(default_factory=dict)
    tolerances: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    example_share: float = 1.0
    unresolved: Mapping[str, str] = field(default_factory=dict)
    batch_size: int | None = None

    def holds(self, axiom: str) -> bool:
        """Whether the axiom holds (resolved or not) for the method: tested as a property."""
        return axiom not in self.violated


IG_STEPS = {"n_steps": 24}
GUIDED = {"n_steps": 24, "fraction": 0.25, "max_dist": 0.1}
BLUR = {"n_steps": 24, "max_sigma": 3.0}
IMAGES = {"kinds": ("cnn",)}
# Gauss-Legendre at 24 nodes on smooth networks: relative errors up to ~1e-4 were seen (with
# the "thorough" profile), so 1e-3.
GAUSS_LEGENDRE = {"completeness": {"rtol": 1e-3}}
# Guided and Blur IG are left Riemann sums along their paths: O(1/n_steps) from the integral.
QUADRATURE = {"completeness": {"rtol": 0.1}}
GUIDED_QUADRATURE = {"completeness": {"rtol": 0.2}}
# IDG is a right Riemann sum along the straight line: O(1/n_steps), as Guided and Blur IG.
IDG_QUADRATURE = {"completeness": {"rtol": 0.1}}
ROWS = [
    Row("Captum IntegratedGradients", IntegratedGradients, IG_STEPS, tolerances=GAUSS_LEGENDRE),
    Row(
        "Captum Saliency",
        Saliency,
        {},
        {
            "completeness": "completeness_of_saturated_relu",
            "sensitivity": "saturated_relu_at_2",
            "linearity": "negative_coefficient",
        },
    ),
    Row(
        "Captum Saliency, abs=False",
        Saliency,
        {"abs": False},
        {"completeness": "completeness_of_saturated_relu", "sensitivity": "saturated_relu_at_2"},
    ),
    Row(
        "Captum InputXGradient",
        InputXGradient,
        {},
        {"completeness": "completeness_of_saturated_relu", "sensitivity": "saturated_relu_at_2"},
    ),
    Row("Captum DeepLift", DeepLift, {}, {"implementation_invariance": "lecture_pair"}),
    # GradientShap averages gradients at random points of the path: a sample that misses the
    # flat part's edge gives 0, and its convergence delta says by how much it missed. Its
    # `baselines` are one distribution for the whole batch (each example's baseline is drawn
    # from all of them), so the per-example axioms are drawn one example at a time.
    Row(
        "Captum GradientShap",
        GradientShap,
        {"n_samples": 5},
        {"completeness": "completeness_of_saturated_relu"},
        unresolved={"sensitivity": "saturated_relu_at_100"},
        batch_size=1,
    ),
    Row(
        "SmoothTaylor",
        SmoothTaylor,
        {"n_samples": 8, "noise_scale": 0.5},
        {
            "completeness": "completeness_of_saturated_relu",
            "sensitivity": "baseline_above_a_dead_input",
            "symmetry": "sum_of_two",
        },
    ),
    Row(
        "NoiseBaselineIntegratedGradients",
        NoiseBaselineIntegratedGradients,
        {"n_baselines": 3, "n_steps": 24, "method": "gausslegendre"},
        {"sensitivity": "baseline_above_a_dead_input", "symmetry": "sum_of_two"},
        tolerances=GAUSS_LEGENDRE,
    ),
    Row(
        "GuidedIntegratedGradients",
        GuidedIntegratedGradients,
        GUIDED,
        {"linearity": "linear_plus_square"},
        tolerances=GUIDED_QUADRATURE,
        example_share=0.4,
    ),
    Row(
        "BlurIntegratedGradients",
        BlurIntegratedGradients,
        BLUR,
        {
            "sensitivity": "baseline_above_a_dead_input",
            "symmetry": "symmetric_pixels_with_different_neighbours",
        },
        IMAGES,
        QUADRATURE,
    ),
    Row(
        "IDGI(IntegratedGradients)",
        lambda m: IDGI(IntegratedGradients(m)),
        IG_STEPS,
        {"linearity": "unequal_linear_features"},
    ),
    Row(
        "IDGI(GuidedIntegratedGradients)",
        lambda m: IDGI(GuidedIntegratedGradients(m)),
        GUIDED,
        {"linearity": "unequal_linear_features"},
        example_share=0.4,
    ),
    Row(
        "IDGI(BlurIntegratedGradients)",
        lambda m: IDGI(BlurIntegratedGradients(m)),
        BLUR,
        {
            "sensitivity": "baseline_above_a_dead_input",
            "linearity": "unequal_linear_features",
            "symmetry": "symmetric_pixels_with_different_neighbours",
        },
        IMAGES,
    ),
    # Expected Gradients' `baselines` are a reference set (R rows for the whole batch), not one
    # baseline per example: drawn one example at a time, the check's baseline is a reference
    # set of one row, and Expected Gradients is IG with a random α per sample (GradientShap
    # with stdevs=0, as the row above).
    Row(
        "ExpectedGradients, one reference (= x')",
        ExpectedGradients,
        {"n_samples": 5},
        {"completeness": "completeness_of_saturated_relu"},
        unresolved={"sensitivity": "saturated_relu_at_100"},
        batch_size=1,
    ),
    Row(
        "IntegratedDecisionGradients(IntegratedGradients)",
        lambda m: IntegratedDecisionGradients(IntegratedGradients(m)),
        IG_STEPS,
        {"linearity": "linear_plus_square"},
        tolerances=IDG_QUADRATURE,
    ),
    Row(
        "IntegratedDecisionGradients(IntegratedGradients), adaptive_sampling",
        lambda m: IntegratedDecisionGradients(IntegratedGradients(m), adaptive_sampling=True),
        IG_STEPS,
        {"linearity": "linear_plus_square"},
        tolerances=IDG_QUADRATURE,
    ),
]


def markdown_table(rows: list[Row] = ROWS) -> str:
    """The method × axiom table: "holds" (with the tolerance where it is not the check's
    default), "violated" with the counterexample's name, or "in expectation; unresolved" with
    the name of the counterexample the check cannot decide."""
    header = "| Method | " + " | ".join(AXIOMS.values()) + " |"
    lines = [header, "|" + "---|" * (len(AXIOMS) + 1)]
    for row in rows:
        cells = [_cell(row, axiom) for axiom in AXIOMS]
        lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(row: Row, axiom: str) -> str:
    if not row.holds(axiom):
        return f"**violated** (`{row.violated[axiom]}`)"
    if axiom in row.unresolved:
        return f"in expectation; unresolved (`{row.unresolved[axiom]}`)"
    tolerance = ", ".join(f"{k}={v:g}" for k, v in row.tolerances.get(axiom, {}).items())
    return f"holds ({tolerance})" if tolerance else "holds"


if __name__ == "__main__":
    print(markdown_table(), end="")
