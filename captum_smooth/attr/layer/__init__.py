"""Layer variants: each method of the package in the space of a layer's activations.

Token embeddings for text models and LLMs, say; one thin file per method on the shared
mechanism of :mod:`captum_smooth.attr._layer`.
"""

from captum_smooth.attr._layer import LayerAttribution
from captum_smooth.attr.layer.blur_ig import LayerBlurIntegratedGradients
from captum_smooth.attr.layer.expected_gradients import LayerExpectedGradients
from captum_smooth.attr.layer.guided_ig import LayerGuidedIntegratedGradients
from captum_smooth.attr.layer.noise_baseline_ig import LayerNoiseBaselineIntegratedGradients
from captum_smooth.attr.layer.smooth_taylor import LayerSmoothTaylor

__all__ = [
    "LayerAttribution",
    "LayerBlurIntegratedGradients",
    "LayerExpectedGradients",
    "LayerGuidedIntegratedGradients",
    "LayerNoiseBaselineIntegratedGradients",
    "LayerSmoothTaylor",
]
