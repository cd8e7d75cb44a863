"""Attribution methods: each file supplies a path's points or a rule; ``_engine`` runs them."""

from captum_smooth._utils.batching import set_memory_budget
from captum_smooth._utils.models import SelectOutput
from captum_smooth.attr._budgets import Auto
from captum_smooth.attr._errors import relative_error
from captum_smooth.attr._placement import Placement
from captum_smooth.attr._rules import RiemannSum, Rule, fold_recorded
from captum_smooth.attr.adaptive import AdaptiveResult, AdaptiveSmoothTaylor
from captum_smooth.attr.blur_ig import BlurIntegratedGradients, gaussian_blur
from captum_smooth.attr.expected_gradients import ExpectedGradients
from captum_smooth.attr.guided_ig import GuidedIntegratedGradients
from captum_smooth.attr.idg import IDGRule, IntegratedDecisionGradients
from captum_smooth.attr.idgi import IDGI, IDGIRule, TrapezoidIDGIRule
from captum_smooth.attr.noise_baseline_ig import NoiseBaselineIntegratedGradients
from captum_smooth.attr.noise_tunnel import NoiseTunnel
from captum_smooth.attr.smooth_taylor import SmoothTaylor
from captum_smooth.attr.smoothgrad_sq import SmoothGradSquared, SquaredGradients

__all__ = [
    "IDGI",
    "AdaptiveResult",
    "AdaptiveSmoothTaylor",
    "Auto",
    "BlurIntegratedGradients",
    "ExpectedGradients",
    "GuidedIntegratedGradients",
    "IDGIRule",
    "IDGRule",
    "IntegratedDecisionGradients",
    "NoiseBaselineIntegratedGradients",
    "NoiseTunnel",
    "Placement",
    "RiemannSum",
    "Rule",
    "SelectOutput",
    "SmoothGradSquared",
    "SmoothTaylor",
    "SquaredGradients",
    "TrapezoidIDGIRule",
    "fold_recorded",
    "gaussian_blur",
    "relative_error",
    "set_memory_budget",
]
