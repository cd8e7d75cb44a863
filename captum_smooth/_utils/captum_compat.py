"""The one shim over Captum's private helpers.

The only module that imports them (``captum._utils``, ``captum.attr._utils``,
``captum.attr._core.llm_attr``): a Captum release may move or change them, and
``tests/test_captum_compat.py`` pins what the package relies on (the LLM helper:
``tests/attr/test_llm.py``, which has a tokenizer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from captum._utils.common import (
    _format_additional_forward_args as format_additional_forward_args,
)
from captum._utils.common import _format_output as format_output
from captum._utils.common import _run_forward, _select_targets
from captum._utils.typing import BaselineType, TargetType, TensorOrTupleOfTensorsGeneric
from captum.attr._core.llm_attr import _convert_ids_to_pretty_tokens as convert_ids_to_pretty_tokens
from captum.attr._utils.common import _sum_rows as sum_rows
from torch import Tensor

from captum_smooth._utils import validation
from captum_smooth._utils.models import describe_output

__all__ = [
    "BaselineType",
    "TargetType",
    "TensorOrTupleOfTensorsGeneric",
    "convert_ids_to_pretty_tokens",
    "format_additional_forward_args",
    "format_output",
    "run_forward",
    "sum_rows",
]


def run_forward(
    forward_func: Callable[..., Any],
    inputs: Tensor | tuple[Tensor, ...],
    target: TargetType = None,
    additional_forward_args: Any = None,
) -> Tensor:
    """Captum's ``_run_forward``, checked where Captum asserts or torch raises ``IndexError``.

    Computes ``forward_func(*inputs, *additional_forward_args)`` with ``target`` selected.

    Tensors in ``additional_forward_args`` must be on the inputs' device with their batch
    size, and ``target`` must index the output (a ``ValueError`` naming the argument).
    """
    inputs_tuple = inputs if isinstance(inputs, tuple) else (inputs,)
    args = format_additional_forward_args(additional_forward_args)
    validation.check_forward_args(args, inputs_tuple)
    if isinstance(forward_func, torch.nn.Module):
        # a module takes *args: called as Captum's _run_forward calls it, without the
        # inspect.signature that Captum's recomputes on every call (on every chunk)
        output = forward_func(*inputs_tuple, *(args or ()))
    else:
        output = _run_forward(forward_func, inputs_tuple, None, args)
    if not isinstance(output, Tensor):
        raise TypeError(
            f"`forward_func` must return a tensor, got {describe_output(output)}: attribute "
            'one of its outputs by wrapping the model, e.g. `SelectOutput(model, "logits")` '
            "for a dict or a Hugging Face ModelOutput, `SelectOutput(model, 0)` for a tuple "
            "(from captum_smooth import SelectOutput)"
        )
    target = validation.check_target_in_output(target, output)
    if isinstance(target, Tensor):
        return _select_tensor_target(output, target)
    return _select_targets(output, target)


def _select_tensor_target(output: Tensor, target: Tensor) -> Tensor:
    """Captum's selection by a tensor target, without reading the target on the host.

    One element selects that column for every row (Captum reads it with ``.item()``); one per
    row selects each row's own (``torch.gather``, as Captum).
    """
    if target.numel() == 1:
        return output.index_select(1, target.reshape(1)).squeeze(1)
    return torch.gather(output, 1, target.reshape(len(output), 1)).squeeze(-1)
