"""The only module that imports Captum's private helpers (``captum._utils``,
``captum.attr._utils``): a Captum release may move or change them, and
``tests/test_captum_compat.py`` pins what the package relies on."""

from __future__ import annotations

from captum._utils.common import (
    _format_additional_forward_args as format_additional_forward_args,
)
from captum._utils.common import _format_output as format_output
from captum._utils.common import _run_forward as run_forward
from captum._utils.typing import BaselineType, TargetType, TensorOrTupleOfTensorsGeneric
from captum.attr._utils.common import _sum_rows as sum_rows

__all__ = [
    "BaselineType",
    "TargetType",
    "TensorOrTupleOfTensorsGeneric",
    "format_additional_forward_args",
    "format_output",
    "run_forward",
    "sum_rows",
]
