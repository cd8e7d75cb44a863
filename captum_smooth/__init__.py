"""captum_smooth: less noisy members of the Integrated Gradients family, for Captum."""

from captum_smooth.attr import (
    IDGI,
    AdaptiveSmoothTaylor,
    BlurIntegratedGradients,
    GuidedIntegratedGradients,
    NoiseBaselineIntegratedGradients,
    SmoothTaylor,
)

__all__ = [
    "IDGI",
    "AdaptiveSmoothTaylor",
    "BlurIntegratedGradients",
    "GuidedIntegratedGradients",
    "NoiseBaselineIntegratedGradients",
    "SmoothTaylor",
]
__version__ = "0.1.0"
