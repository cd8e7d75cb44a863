"""Attribution methods: each file supplies a path's points and a rule; ``_engine`` runs them."""

from captum_smooth.attr.adaptive import AdaptiveResult, AdaptiveSmoothTaylor
from captum_smooth.attr.blur_ig import BlurIntegratedGradients, gaussian_blur
from captum_smooth.attr.guided_ig import GuidedIntegratedGradients
from captum_smooth.attr.idgi import IDGI
from captum_smooth.attr.noise_baseline_ig import NoiseBaselineIntegratedGradients
from captum_smooth.attr.smooth_taylor import SmoothTaylor

__all__ = [
    "IDGI",
    "AdaptiveResult",
    "AdaptiveSmoothTaylor",
    "BlurIntegratedGradients",
    "GuidedIntegratedGradients",
    "NoiseBaselineIntegratedGradients",
    "SmoothTaylor",
    "gaussian_blur",
]
