"""Attribution methods: each file supplies a path's points and a rule; ``_engine`` runs them."""

from captum_smooth.attr.noise_baseline_ig import NoiseBaselineIntegratedGradients
from captum_smooth.attr.smooth_taylor import SmoothTaylor

__all__ = ["NoiseBaselineIntegratedGradients", "SmoothTaylor"]
