"""Attribution-quality metrics from the SmoothTaylor and IDGI papers (docs/reference.md#metrics).

Plain functions over batched tensors; each returns per-example scores and the curves behind
them. Their optional dependencies (``scipy``, ``scikit-image``, ``pillow``,
``pytorch-msssim``, ``tqdm``: the ``metrics`` extra) are imported when a metric needs them.
"""

from captum_smooth.metrics.aupc import AUPCResult, aupc
from captum_smooth.metrics.autvc import AUTVCResult, autvc
from captum_smooth.metrics.insertion import InsertionResult, deletion, insertion
from captum_smooth.metrics.localisation import LocalisationResult, localisation
from captum_smooth.metrics.objectives import objective
from captum_smooth.metrics.pic import DEFAULT_THRESHOLDS, NoImageKeptError, PICResult, aic, sic

__all__ = [
    "DEFAULT_THRESHOLDS",
    "AUPCResult",
    "AUTVCResult",
    "InsertionResult",
    "LocalisationResult",
    "NoImageKeptError",
    "PICResult",
    "aic",
    "aupc",
    "autvc",
    "deletion",
    "insertion",
    "localisation",
    "objective",
    "sic",
]
