"""Attribution-quality metrics from the SmoothTaylor and IDGI papers (docs/reference.md#metrics).

Plain functions over batched tensors; each returns per-example scores and the curves behind
them; the ``token_*`` functions score a text model's attributions token by token. Their
optional dependencies (``scipy``, ``scikit-image``, ``pillow``, ``pytorch-msssim``, ``tqdm``:
the ``metrics`` extra) are imported when a metric needs them.
"""

from captum_smooth.metrics.aupc import AUPCResult, aupc
from captum_smooth.metrics.autvc import AUTVCResult, autvc
from captum_smooth.metrics.insertion import InsertionResult, deletion, insertion
from captum_smooth.metrics.localisation import LocalisationResult, localisation
from captum_smooth.metrics.objectives import objective
from captum_smooth.metrics.pic import DEFAULT_THRESHOLDS, NoImageKeptError, PICResult, aic, sic
from captum_smooth.metrics.text import (
    TokenCurveResult,
    TokenPointingResult,
    token_deletion,
    token_insertion,
    token_localisation,
    token_pointing_game,
    token_scores,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "AUPCResult",
    "AUTVCResult",
    "InsertionResult",
    "LocalisationResult",
    "NoImageKeptError",
    "PICResult",
    "TokenCurveResult",
    "TokenPointingResult",
    "aic",
    "aupc",
    "autvc",
    "deletion",
    "insertion",
    "localisation",
    "objective",
    "sic",
    "token_deletion",
    "token_insertion",
    "token_localisation",
    "token_pointing_game",
    "token_scores",
]
