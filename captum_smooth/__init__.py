"""captum_smooth: less noisy members of the Integrated Gradients family, for Captum.

The public names are imported on first use (PEP 562), so that ``import captum_smooth.cli`` and
``captum-smooth --help`` do not pay for importing torch and captum.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from captum_smooth.attr import (
        IDGI,
        AdaptiveSmoothTaylor,
        Auto,
        BlurIntegratedGradients,
        ExpectedGradients,
        GuidedIntegratedGradients,
        IntegratedDecisionGradients,
        NoiseBaselineIntegratedGradients,
        NoiseTunnel,
        Placement,
        SelectOutput,
        SmoothGradSquared,
        SmoothTaylor,
        relative_error,
        set_memory_budget,
    )

__all__ = [
    "IDGI",
    "AdaptiveSmoothTaylor",
    "Auto",
    "BlurIntegratedGradients",
    "ExpectedGradients",
    "GuidedIntegratedGradients",
    "IntegratedDecisionGradients",
    "NoiseBaselineIntegratedGradients",
    "NoiseTunnel",
    "Placement",
    "SelectOutput",
    "SmoothGradSquared",
    "SmoothTaylor",
    "relative_error",
    "set_memory_budget",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Import a public name (or the ``attr`` sub-package, eager before) on first access."""
    if name in __all__:
        value = getattr(importlib.import_module("captum_smooth.attr"), name)
        globals()[name] = value
        return value
    if name == "attr":
        return importlib.import_module("captum_smooth.attr")
    raise AttributeError(f"module 'captum_smooth' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
