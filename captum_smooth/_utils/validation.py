"""Argument checks shared by the methods: clear ``TypeError``/``ValueError`` naming the argument."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from captum_smooth._utils.captum_compat import TargetType


def format_inputs(inputs: Any) -> tuple[tuple[Tensor, ...], bool]:
    """Inputs as a tuple of detached floating-point tensors with a common batch size, and
    whether the user passed a tuple."""
    is_tuple = isinstance(inputs, tuple)
    formatted = inputs if is_tuple else (inputs,)
    if len(formatted) == 0:
        raise ValueError("`inputs` must hold at least one tensor")
    for x in formatted:
        if not isinstance(x, Tensor):
            raise TypeError(
                f"`inputs` must be a tensor or a tuple of tensors, got {type(x).__name__}"
            )
        if not x.is_floating_point():
            raise TypeError(f"`inputs` must be floating point, got dtype {x.dtype}")
        if x.dim() == 0:
            raise ValueError("`inputs` must have a leading batch dimension")
    batch_sizes = {x.shape[0] for x in formatted}
    if len(batch_sizes) != 1:
        raise ValueError(f"all tensors in `inputs` must share the batch size, got {batch_sizes}")
    return tuple(x.detach() for x in formatted), is_tuple


def check_count(name: str, value: Any) -> int:
    """A positive integer such as ``n_samples`` or ``n_steps``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}` must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"`{name}` must be at least 1, got {value}")
    return value


def check_flag(name: str, value: Any) -> bool:
    """A bool such as ``return_convergence_delta``."""
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be a bool, got {type(value).__name__}")
    return value


def check_batch_size(value: Any, name: str = "internal_batch_size") -> int | None:
    """``None`` (an automatic, bounded size) or a positive int, under the caller's name."""
    return None if value is None else check_count(name, value)


def check_generator(generator: Any) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"`generator` must be a torch.Generator, got {type(generator).__name__}")
    return generator


def check_target(target: TargetType, n_examples: int) -> None:
    """Captum's target forms; per-example lists and tensors must match the batch size."""
    if isinstance(target, list) and len(target) != n_examples:
        raise ValueError(f"`target` has {len(target)} entries for {n_examples} examples")
    if isinstance(target, Tensor) and target.numel() not in (1, n_examples):
        raise ValueError(
            f"`target` tensor must have 1 or {n_examples} elements, got shape {tuple(target.shape)}"
        )


def per_input(name: str, value: Any, n_inputs: int) -> tuple[Any, ...]:
    """Broadcast a setting to every input tensor; a tuple must have one entry per input."""
    if isinstance(value, tuple):
        if len(value) != n_inputs:
            raise ValueError(f"`{name}` has {len(value)} entries for {n_inputs} input tensors")
        return value
    return (value,) * n_inputs


def check_scale(name: str, value: Any) -> float:
    """A finite, non-negative float such as ``noise_scale``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a float, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be finite and non-negative, got {value}")
    return float(value)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}, got {value!r}")
    return value


def as_tensor_like(name: str, value: Any, like: Tensor) -> Tensor:
    """A float or tensor setting as a finite tensor broadcastable to ``like``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Tensor)):
        raise TypeError(f"`{name}` must be a float or a tensor, got {type(value).__name__}")
    tensor = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if not torch.isfinite(tensor).all():
        raise ValueError(f"`{name}` must be finite")
    try:
        torch.broadcast_shapes(tensor.shape, like.shape)
    except RuntimeError:
        raise ValueError(
            f"`{name}` of shape {tuple(tensor.shape)} does not broadcast to the input's "
            f"shape {tuple(like.shape)}"
        ) from None
    return tensor


def randn_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise shaped like ``x``, from ``generator`` when one is given."""
    device = x.device if generator is None else generator.device
    noise = torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype)
    return noise.to(x.device)


def rand_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Uniform [0, 1) noise shaped like ``x``, from ``generator`` when one is given."""
    device = x.device if generator is None else generator.device
    noise = torch.rand(x.shape, generator=generator, device=device, dtype=x.dtype)
    return noise.to(x.device)


def check_fraction(name: str, value: Any) -> float:
    """A float in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a float, got {type(value).__name__}")
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise ValueError(f"`{name}` must lie in [0, 1], got {value}")
    return float(value)


def check_range(name: str, value: Any) -> tuple[float, float]:
    """A pair ``(low, high)`` of finite floats with ``low < high``."""
    if (
        not isinstance(value, Sequence)
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value)
    ):
        raise TypeError(f"`{name}` must be a pair of floats (low, high), got {value!r}")
    low, high = float(value[0]), float(value[1])
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"`{name}` must be finite with low < high, got {value!r}")
    return low, high


def check_callable(name: str, value: Any, optional: bool = False) -> None:
    if not (callable(value) or (optional and value is None)):
        raise TypeError(f"`{name}` must be callable, got {type(value).__name__}")


def format_baselines(baselines: Any, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """Captum's baseline forms (``None`` = zeros, a number, a tensor shaped like the input or
    with batch size 1, or a tuple of these) as tensors shaped like ``inputs``."""
    if baselines is None:
        baselines = 0.0
    formatted = baselines if isinstance(baselines, tuple) else (baselines,) * len(inputs)
    if len(formatted) != len(inputs):
        raise ValueError(f"`baselines` has {len(formatted)} entries for {len(inputs)} inputs")
    result = []
    for b, x in zip(formatted, inputs, strict=True):
        if isinstance(b, bool) or not isinstance(b, (int, float, Tensor)):
            raise TypeError(f"`baselines` must be numbers or tensors, got {type(b).__name__}")
        b = torch.as_tensor(b, dtype=x.dtype, device=x.device)
        try:
            result.append(b.expand_as(x).clone())
        except RuntimeError:
            raise ValueError(
                f"`baselines` of shape {tuple(b.shape)} does not match the input's shape "
                f"{tuple(x.shape)}"
            ) from None
    return tuple(result)
