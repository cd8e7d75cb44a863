"""What a finite number of steps can miss: functions that change only between the points a
quadrature looks at. These are not violations by the methods (they vanish as the steps grow
for a fixed function), but they bound what the table's "holds" means at a given ``n_steps``.
Where the method's convergence delta shows the miss, the check reports it as unresolved; where
the method is complete by construction (IDGI), the miss lands on other features and is a
violation at that ``n_steps``."""

import pytest
from captum.attr import IntegratedGradients

from captum_smooth import IDGI, GuidedIntegratedGradients
from captum_smooth.axioms import AxiomUnresolvedWarning, AxiomViolation
from tests.axioms.counterexamples import ramp_between_steps, ramp_in_the_last_step

IDGI_PATHS = {
    "idgi_ig": lambda m: IDGI(IntegratedGradients(m)),
    "idgi_guided": lambda m: IDGI(GuidedIntegratedGradients(m)),
}


@pytest.mark.parametrize("factory", IDGI_PATHS.values(), ids=IDGI_PATHS.keys())
def test_idgi_hands_a_ramp_in_the_last_step_to_a_feature_that_did_not_change(factory):
    # Complete to rounding (delta ~ 0): the change went to x₂, so the check can resolve it.
    with pytest.raises(AxiomViolation, match=r"gets attribution 0 .*convergence delta is"):
        ramp_in_the_last_step(factory, {"n_steps": 24})


def test_guided_ig_misses_a_ramp_in_the_last_step_by_its_convergence_delta():
    # Guided IG gives 0 to both features and its delta is the whole change: unresolved.
    with pytest.warns(AxiomUnresolvedWarning, match="convergence delta") as warned:
        result = ramp_in_the_last_step(GuidedIntegratedGradients, {"n_steps": 24})
    assert result.status == ("unresolved",)
    assert "gets attribution 0 (" in str(warned[0].message)


def test_integrated_gradients_gauss_legendre_nodes_reach_the_last_step_ramp():
    assert ramp_in_the_last_step(IntegratedGradients, {"n_steps": 24}).status == ("holds",)


@pytest.mark.parametrize("factory", IDGI_PATHS.values(), ids=IDGI_PATHS.keys())
def test_idgi_zero_gradient_rule_gives_a_moving_dummy_a_share_at_coarse_steps(factory):
    with pytest.raises(AxiomViolation, match=r"dummy feature 1 gets attribution 0\.0005"):
        ramp_between_steps(factory, {"n_steps": 24})


def test_idgi_gives_the_dummy_nothing_once_the_steps_resolve_the_ramp():
    ramp_between_steps(lambda m: IDGI(IntegratedGradients(m)), {"n_steps": 2000})
