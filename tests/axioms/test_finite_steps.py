"""What a finite number of steps can miss: functions that change only between the points a
quadrature looks at. These are not violations by the methods (they vanish as the steps grow
for a fixed function), but they bound what the table's "holds" means at a given ``n_steps``."""

import pytest
from captum.attr import IntegratedGradients

from captum_smooth import IDGI, GuidedIntegratedGradients
from captum_smooth.axioms import AxiomViolation
from tests.axioms.counterexamples import ramp_between_steps, ramp_in_the_last_step

LEFT_SUMS = {
    "idgi_ig": lambda m: IDGI(IntegratedGradients(m)),
    "idgi_guided": lambda m: IDGI(GuidedIntegratedGradients(m)),
    "guided_ig": GuidedIntegratedGradients,
}


@pytest.mark.parametrize("factory", LEFT_SUMS.values(), ids=LEFT_SUMS.keys())
def test_gradients_at_step_starts_miss_a_ramp_in_the_last_step(factory):
    with pytest.raises(AxiomViolation, match="gets attribution 0 "):
        ramp_in_the_last_step(factory, {"n_steps": 24})


def test_integrated_gradients_gauss_legendre_nodes_reach_the_last_step_ramp():
    ramp_in_the_last_step(IntegratedGradients, {"n_steps": 24})


@pytest.mark.parametrize("factory", list(LEFT_SUMS.values())[:2], ids=["idgi_ig", "idgi_guided"])
def test_idgi_zero_gradient_rule_gives_a_moving_dummy_a_share_at_coarse_steps(factory):
    with pytest.raises(AxiomViolation, match=r"dummy feature 1 gets attribution 0\.0005"):
        ramp_between_steps(factory, {"n_steps": 24})


def test_idgi_gives_the_dummy_nothing_once_the_steps_resolve_the_ramp():
    ramp_between_steps(lambda m: IDGI(IntegratedGradients(m)), {"n_steps": 2000})
