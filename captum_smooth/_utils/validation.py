"""Argument checks shared by the package.

Each raises a clear ``TypeError``/``ValueError`` naming the argument, never an ``assert``, a
NaN or a silent wrong answer.

Conventions: NaN or inf where numbers are needed is a ``ValueError``, as is an empty batch; an
integer, bool or complex tensor where floats are needed is a ``TypeError``; tensors and
generators that go with the inputs (baselines, targets, additional arguments, masks) must be
on the inputs' device, else ``ValueError``.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import captum
import torch
from torch import Tensor

if TYPE_CHECKING:
    from captum_smooth._utils.captum_compat import TargetType


def same_device(a: torch.device | str, b: torch.device | str) -> bool:
    """Whether two devices are the same.

    A device without an index (``"cuda"``) matches any index of its type.
    """
    a, b = torch.device(a), torch.device(b)
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


def all_finite(tensor: Tensor) -> bool:
    """Whether every element of ``tensor`` is finite.

    A sum is finite only if every term is (NaN and inf propagate), so one summing pass answers
    for almost every tensor; the element-wise test runs only when the sum is not finite, which
    a sum of finite terms can also be by overflowing. ``torch.isfinite(t).all()`` would write
    and reduce a boolean tensor the size of ``t``, on every gradient the methods take.
    """
    return math.isfinite(tensor.sum().item()) or bool(torch.isfinite(tensor).all())


_DEFERRED: ContextVar[dict[str, list[Tensor]] | None] = ContextVar("deferred_checks", default=None)


@contextlib.contextmanager
def deferred_checks() -> Iterator[None]:
    """Checks of values on the device, answered with one host read when the block ends.

    Inside the block, :func:`require` keeps each check's answer on the device (per message,
    the answers of every call; for :func:`require_finite`, sums that are finite only if every
    checked element is) instead of reading it: on a GPU a read waits for all queued work, so
    a read per chunk or per step serialises the host with the device. On leaving the block
    normally, every answer is read at once and the first failed check raises its
    ``ValueError``; an exception raised inside the block wins. ``attribute`` runs its whole
    evaluation inside one block. Outside a block, :func:`require` reads at once. A block inside
    another adds its checks to the enclosing block's, read when that one ends (the adaptive
    search runs SmoothTaylor many times and reads their checks once).
    """
    if checks_deferred():
        yield
        return
    flags: dict[str, list[Tensor]] = {}
    token = _DEFERRED.set(flags)
    try:
        yield
    finally:
        _DEFERRED.reset(token)
    if flags:
        device = next(iter(flags.values()))[0].device
        kept = [_combined(f).to(device, torch.float64) for f in flags.values()]
        answers = torch.stack(kept).tolist() if len(kept) > 1 else [kept[0].item()]
        for message, answer, f in zip(flags, answers, flags.values(), strict=True):
            if not (math.isfinite(answer) if f[0].is_floating_point() else answer):
                raise ValueError(message)


def _combined(kept: list[Tensor]) -> Tensor:
    """A check's answers as one: all true (a bool), or the sum of its finite witnesses."""
    answers = kept[0] if len(kept) == 1 else torch.stack(kept)
    return answers.sum() if answers.is_floating_point() else answers.all()


def checks_deferred() -> bool:
    """Whether the caller runs inside :func:`deferred_checks`."""
    return _DEFERRED.get() is not None


def require(ok: Tensor, message: str) -> None:
    """``ValueError(message)`` unless every element of the bool tensor ``ok`` holds.

    Read now, or at the end of the enclosing :func:`deferred_checks` block.
    """
    ok = ok.all() if ok.dim() else ok
    flags = _DEFERRED.get()
    if flags is None:
        if not bool(ok):
            raise ValueError(message)
        return
    flags.setdefault(message, []).append(ok)


def require_finite(tensors: Iterable[Tensor], message: str) -> None:
    """``ValueError(message)`` if any element of ``tensors`` is NaN or inf.

    Now (:func:`all_finite`), or, inside :func:`deferred_checks`, at the end of the block
    (from each tensor's :func:`_finite_witness`).
    """
    tensors = [t for t in tensors if t.numel()]
    flags = _DEFERRED.get()
    if flags is None:
        if not all(all_finite(t) for t in tensors):
            raise ValueError(message)
        return
    flags.setdefault(message, []).extend(_finite_witness(t) for t in tensors)


def _finite_witness(tensor: Tensor) -> Tensor:
    """A scalar that is finite if and only if every element of ``tensor`` is.

    NaN and inf propagate through a sum, and a sum of finite terms must not overflow: each
    row is summed as a matrix-vector product with ``2⁻⁶⁴`` (a float32 or float64 sum scaled
    so that it cannot overflow, reading the tensor once, where converting it to float64 to
    sum would write a copy of twice its size), and the rows in float64. Half dtypes and small
    tensors are summed in float64. (float32 on MPS, which has no float64.)
    """
    wide = _widest(tensor.device)
    if tensor.dtype not in (torch.float32, torch.float64) or tensor.numel() <= _SMALL:
        return tensor.sum(dtype=wide)
    rows = tensor.reshape(tensor.shape[0] if tensor.dim() else 1, -1)
    scale = torch.full((rows.shape[1],), 2.0**-64, dtype=tensor.dtype, device=tensor.device)
    return (rows @ scale).sum(dtype=wide)


_SMALL = 2**16
"""A tensor of at most this many elements is summed in float64 (one operation, not four)."""


def _widest(device: torch.device) -> torch.dtype:
    """float64, except on devices without it (Apple's MPS)."""
    return torch.float32 if device.type == "mps" else torch.float64


def check_device(
    name: str, device: torch.device, expected: torch.device | None, reference: str = "inputs"
) -> None:
    """``ValueError`` naming ``name`` unless ``device`` is ``expected`` (``None``: any)."""
    if expected is not None and not same_device(device, expected):
        raise ValueError(f"`{name}` is on {device} but `{reference}` on {expected}")


def check_tensor(
    name: str,
    value: Any,
    device: torch.device | None = None,
    reference: str = "inputs",
    batch: bool = True,
) -> Tensor:
    """``value`` checked as a finite floating-point tensor, returned detached.

    It must be on ``device`` (that of ``reference``) and, when ``batch``, hold at least one
    example along its first dimension.

    Raises:
        TypeError: not a tensor, or not floating point.
        ValueError: on another device, without examples, or holding NaN or inf.
    """
    if not isinstance(value, Tensor):
        raise TypeError(f"`{name}` must be a tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"`{name}` must be floating point, got dtype {value.dtype}")
    check_device(name, value.device, device, reference)
    if batch and (value.dim() == 0 or value.shape[0] == 0):
        raise ValueError(
            f"`{name}` must hold at least one example (batch first), got shape {tuple(value.shape)}"
        )
    require_finite([value], f"`{name}` must be finite: it holds NaN or inf")
    return value.detach()


def is_finite_batch(value: Any, n_rows: int) -> bool:
    """Whether ``value`` is a finite tensor with ``n_rows`` rows.

    Used on what a user's transform or model returned.
    """
    return (
        isinstance(value, Tensor)
        and value.dim() > 0
        and value.shape[0] == n_rows
        and all_finite(value)
    )


def format_inputs(inputs: Any) -> tuple[tuple[Tensor, ...], bool]:
    """Inputs as a tuple of checked tensors, and whether the user passed a tuple.

    The tensors are detached, finite, floating point, on one device and with a common, non-zero
    batch size.
    """
    is_tuple = isinstance(inputs, tuple)
    formatted = inputs if is_tuple else (inputs,)
    if len(formatted) == 0:
        raise ValueError("`inputs` must hold at least one tensor")
    for x in formatted:
        if not isinstance(x, Tensor):
            raise TypeError(
                f"`inputs` must be a tensor or a tuple of tensors, got {type(x).__name__}"
            )
    batch_sizes = {x.shape[0] if x.dim() else None for x in formatted}
    if len(batch_sizes) != 1:
        raise ValueError(f"all tensors in `inputs` must share the batch size, got {batch_sizes}")
    devices = {x.device for x in formatted}
    if len(devices) != 1:
        raise ValueError(f"all tensors in `inputs` must be on one device, got {devices}")
    return tuple(check_tensor("inputs", x) for x in formatted), is_tuple


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


def _device_of(inputs: Tensor | tuple[Tensor, ...] | None) -> torch.device | None:
    if inputs is None:
        return None
    return (inputs[0] if isinstance(inputs, tuple) else inputs).device


def check_generator(
    generator: Any, inputs: Tensor | tuple[Tensor, ...] | None = None
) -> torch.Generator | None:
    """``None`` or a ``torch.Generator``, as the generator to draw with for ``inputs``.

    A generator on the inputs' device is returned as it is. A CPU generator with inputs on an
    accelerator (``torch.Generator()`` from the docs, with CUDA inputs) seeds a generator on
    the inputs' device with one draw from it: reproducible for a seed, and the CPU generator
    advances by one draw; the draws are not the CPU's (each device has its own random
    algorithm). Call it once per call, not per draw: each call draws a new seed.

    Args:
        generator: the argument to check.
        inputs: the tensor (or tuple of tensors) the draws go with; ``None`` skips the
            device check.

    Raises:
        TypeError: not a ``torch.Generator``.
        ValueError: on an accelerator other than the inputs' device.
    """
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"`generator` must be a torch.Generator, got {type(generator).__name__}")
    device = _device_of(inputs)
    if device is None or same_device(generator.device, device):
        return generator
    if generator.device.type == "cpu" and device.type != "meta":
        return follow(generator, device)
    check_device("generator", generator.device, device)
    return generator


def follow(generator: torch.Generator, device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded by one draw from the CPU ``generator``.

    The draw is a CPU tensor read on the host: no synchronisation with ``device``.
    """
    seed = int(torch.randint(0, 2**62, (), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


def _check_index(value: Any) -> None:
    """One entry of a target: an int (not a bool), or a tuple of them; none negative."""
    entries = value if isinstance(value, tuple) else (value,)
    for entry in entries:
        if isinstance(entry, bool) or not isinstance(entry, int):
            raise TypeError(
                f"`target` must hold int class indices (or tuples of them), got "
                f"{type(entry).__name__}"
            )
        if entry < 0:
            raise ValueError(f"`target` must not be negative, got {value!r}")


def check_target(
    target: TargetType, n_examples: int, inputs: Tensor | tuple[Tensor, ...] | None = None
) -> None:
    """Check ``target`` against Captum's target forms.

    These are ``None``, an int, a tuple of ints, an integer tensor with one or ``n_examples``
    elements, or a list with one int (or tuple) per example.

    Indices must not be negative (for a tensor, checked when ``inputs`` are given); whether
    they are below the number of outputs is checked against the model's output
    (:func:`check_target_in_output`).

    Args:
        target: the argument to check.
        n_examples: the batch size.
        inputs: the inputs, whose device a tensor target must be on (``None``: not checked).

    Raises:
        TypeError: another type, or a float, bool or complex tensor.
        ValueError: the wrong number of entries, negative indices, another device.
    """
    if target is None:
        return
    if isinstance(target, Tensor):
        if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
            raise TypeError(f"`target` must hold integer class indices, got dtype {target.dtype}")
        check_device("target", target.device, _device_of(inputs))
        if target.numel() not in (1, n_examples):
            expected = "1 element" if n_examples == 1 else f"1 or {n_examples} elements"
            raise ValueError(
                f"`target` tensor must have {expected} (one index per example, or one for "
                f"all), got shape {tuple(target.shape)}"
            )
        # on the inputs' device, its values can be read (inside deferred_checks, later)
        if inputs is not None and checks_deferred():
            require(target >= 0, "`target` must not be negative")
        elif inputs is not None and (target < 0).any():
            raise ValueError(f"`target` must not be negative, got {target.tolist()}")
    elif isinstance(target, list):
        if len(target) != n_examples:
            raise ValueError(f"`target` has {len(target)} entries for {n_examples} examples")
        for entry in target:
            _check_index(entry)
        if len({isinstance(entry, tuple) for entry in target}) > 1:
            raise TypeError("`target` must hold ints or tuples, not both")
    elif isinstance(target, (int, tuple)):
        _check_index(target)
    else:
        raise TypeError(
            f"`target` must be None, an int, a tuple, a tensor or a list, got "
            f"{type(target).__name__}"
        )


def check_target_in_output(target: TargetType, output: Tensor) -> TargetType:
    """Check that ``target`` selects existing entries of the model's ``output``.

    A tensor target must be on the output's device, and every index within the output's shape
    (none negative). Inside :func:`deferred_checks`, a tensor target's range is checked on
    the device, read at the end of the block, and the target returned is clamped to the range
    so that no out-of-range index reaches the device meanwhile.

    Returns:
        The target to select with: ``target`` itself, or its clamped copy.

    Inside a call of the engine, whose chunks are evaluated in :meth:`TargetOnce.chunk`, a
    chunk's target is checked once per call rather than per chunk (:class:`TargetOnce`).

    Raises:
        ValueError: naming ``target``, instead of torch's ``IndexError``, Captum's assertion,
            or a negative index silently counted from the end.
    """
    once = _TARGET_ONCE.get()
    if once is not None and target is once.chunk_target:
        return once.check(target, output)
    return _target_in_output(target, output)


def _target_in_output(target: TargetType, output: Tensor) -> TargetType:
    """:func:`check_target_in_output`, every time."""
    if target is None:
        return target
    shape = tuple(output.shape)
    if isinstance(target, Tensor):
        if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
            raise TypeError(f"`target` must hold integer class indices, got dtype {target.dtype}")
        check_device("target", target.device, output.device, "the model's output")
        _check_per_example_shape(target.numel() > 1, shape)
        if checks_deferred() and len(shape) >= 2:
            clamped = target.clamp(0, shape[1] - 1)
            require(
                clamped == target,
                f"`target` holds indices out of range for the model's output of shape {shape}: "
                f"indices go from 0 to {shape[1] - 1}",
            )
            return clamped
        low, high = target.min().item(), target.max().item()
    elif isinstance(target, list) and target and not isinstance(target[0], tuple):
        _check_per_example_shape(True, shape)
        low, high = min(target), max(target)
    else:
        indices = target if isinstance(target, list) else [target]
        for index in indices:
            index = index if isinstance(index, tuple) else (index,)
            if len(index) > len(shape) - 1:
                raise ValueError(
                    f"`target` {index!r} cannot index the model's output of shape {shape}"
                )
            for entry, size in zip(index, shape[1:], strict=False):
                if isinstance(entry, int) and not 0 <= entry < size:
                    raise ValueError(
                        f"`target` {entry} is out of range for the model's output of shape "
                        f"{shape}: indices go from 0 to {size - 1}"
                    )
        return target
    if len(shape) < 2 or low < 0 or high >= shape[1]:
        raise ValueError(
            f"`target` holds {low if len(shape) < 2 or low < 0 else high}, out of range for "
            f"the model's output of shape {shape}"
        )
    return target


def _check_per_example_shape(per_example: bool, shape: tuple[int, ...]) -> None:
    if per_example and len(shape) != 2:
        raise ValueError(
            f"a `target` per example needs a model output of shape (batch, classes), got {shape}"
        )


_TARGET_ONCE: ContextVar[TargetOnce | None] = ContextVar("target_once", default=None)


class TargetOnce:
    """A call's ``target``, checked against the model's output once rather than per chunk.

    The engine takes each chunk's target from :attr:`target` and evaluates the chunk inside
    :meth:`chunk`, where :func:`check_target_in_output` checks that target as it checks any,
    until a chunk holding every example has been checked: that check answered for every
    example (a tensor target's answer read at the end of :func:`deferred_checks`, where a
    failed one is raised before any later chunk's), so later chunks whose outputs differ from
    its output in their rows only are not checked again. They take their targets from the
    checked one: a tensor clamped to the output's range (as each chunk's check would clamp
    it), a list of class indices as one tensor on the output's device (Captum's selection
    would make one per chunk; it selects the same entries).
    """

    def __init__(self, target: TargetType, n_examples: int) -> None:
        """Check ``target``, that of ``n_examples`` examples, once."""
        self._target, self._n_examples = target, n_examples
        self._checked: tuple[Any, ...] | None = None
        """What the output was like when a chunk holding every example was checked."""
        self._then: Any = None
        """How :attr:`target` becomes the checked one, made when a later chunk needs it."""
        self.chunk_target: Any = None
        """The target of the chunk being evaluated."""
        self._rows: Any = None

    @property
    def target(self) -> TargetType:
        """The target that chunks select theirs from: the user's, then the checked one."""
        if self._then is not None:
            self._target, self._then = self._then(), None
        return self._target

    @contextlib.contextmanager
    def chunk(self, target: TargetType, rows: Any) -> Iterator[None]:
        """Evaluate a chunk with ``target``, selected for the examples ``rows`` (ranges)."""
        self.chunk_target, self._rows = target, rows
        token = _TARGET_ONCE.set(self)
        try:
            yield
        finally:
            _TARGET_ONCE.reset(token)
            self.chunk_target = self._rows = None

    def check(self, target: TargetType, output: Tensor) -> TargetType:
        """:func:`check_target_in_output` of the chunk's ``target``, unless already answered."""
        seen = (output.dim(), output.shape[1:], output.device, checks_deferred())
        if seen == self._checked:
            return target
        checked = _target_in_output(target, output)
        if self._checked is None and self._every_example():
            self._checked = seen
            full = self._target
            if isinstance(full, Tensor) and checked is not target:
                # clamped: a shared target is the chunk's, a per-example one is clamped alike
                high = output.shape[1] - 1
                self._then = (lambda: checked) if full is target else (lambda: full.clamp(0, high))
            elif isinstance(full, list) and not isinstance(full[0], tuple):
                device = output.device  # not the output: its graph is freed after the chunk
                self._then = lambda: torch.tensor(full, device=device)
        return checked

    def _every_example(self) -> bool:
        """Whether the chunk's rows hold every example (``rows``: ranges of examples)."""
        if not isinstance(self._target, (list, Tensor)) or (
            isinstance(self._target, Tensor) and self._target.numel() == 1
        ):
            return True  # one target for all: every chunk's is the same
        if not isinstance(self._rows, list):
            return False
        seen: set[int] = set()
        for rows in self._rows:
            seen.update(rows)
            if len(seen) == self._n_examples:
                return True
        return False


def check_forward_args(args: tuple[Any, ...] | None, inputs: tuple[Tensor, ...]) -> None:
    """Check that tensors in (formatted) ``additional_forward_args`` are per example.

    As Captum expands them, they must be on the inputs' device and, unless scalars, have the
    inputs' batch size.
    """
    if args is None:
        return
    device, n_examples = inputs[0].device, inputs[0].shape[0]
    for arg in args:
        if isinstance(arg, Tensor):
            check_device("additional_forward_args", arg.device, device)
            if arg.dim() > 0 and arg.shape[0] != n_examples:
                raise ValueError(
                    f"tensors in `additional_forward_args` are per example: got leading "
                    f"dimension {arg.shape[0]} for {n_examples} examples"
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
    """One of ``choices``, such as a method's ``rule`` or ``method``."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}, got {value!r}")
    return value


def as_tensor_like(name: str, value: Any, like: Tensor) -> Tensor:
    """A float or floating-point tensor setting as a finite tensor broadcastable to ``like``.

    A tensor setting must already be on ``like``'s device.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, Tensor)):
        raise TypeError(f"`{name}` must be a float or a tensor, got {type(value).__name__}")
    if isinstance(value, Tensor):
        if not value.is_floating_point():
            raise TypeError(f"`{name}` must be floating point, got dtype {value.dtype}")
        check_device(name, value.device, like.device)
        value = value.detach()
    tensor = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    require(torch.isfinite(tensor), f"`{name}` must be finite")
    # torch.broadcast_shapes(tensor.shape, like.shape) == like.shape, without its symbolic
    # shape machinery (run on every call)
    fits = tensor.dim() <= like.dim() and all(
        s in (1, t) for s, t in zip(reversed(tensor.shape), reversed(like.shape), strict=False)
    )
    if not fits:
        raise ValueError(
            f"`{name}` of shape {tuple(tensor.shape)} does not broadcast to the input's "
            f"shape {tuple(like.shape)}"
        )
    return tensor


def randn_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise shaped like ``x``.

    Drawn from ``generator`` (on ``x``'s device: see :func:`check_generator`) when one is given.
    """
    return fill_randn(torch.empty_like(x, memory_format=torch.contiguous_format), generator)


def fill_randn(out: Tensor, generator: torch.Generator | None) -> Tensor:
    """Fill ``out`` with standard normal noise, in place; returns ``out``.

    The numbers :func:`randn_like` would draw for a tensor like ``out`` (``torch.randn`` is
    ``normal_`` into a new tensor), drawn where they are kept.
    """
    if generator is not None and generator.device != out.device:
        check_device("generator", generator.device, out.device)
    return out.normal_(generator=generator)


def rand_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Uniform [0, 1) noise shaped like ``x``.

    Drawn from ``generator`` (on ``x``'s device: see :func:`check_generator`) when one is given.
    """
    if generator is not None and generator.device != x.device:
        check_device("generator", generator.device, x.device)
    return torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)


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
    """``TypeError`` naming ``name`` unless ``value`` is callable (or ``None`` if optional)."""
    if not (callable(value) or (optional and value is None)):
        raise TypeError(f"`{name}` must be callable, got {type(value).__name__}")


def format_baselines(baselines: Any, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """Captum's baseline forms as tensors shaped like ``inputs``.

    The forms are ``None`` (zeros), a finite number, a finite floating-point tensor on the
    inputs' device shaped like the input or with batch size 1, or a tuple of these. For an
    input of token ids (or another non-floating dtype, as a layer method's model inputs), a
    number must be an int and a tensor must have the input's dtype.
    """
    if baselines is None:
        baselines = 0
    formatted = baselines if isinstance(baselines, tuple) else (baselines,) * len(inputs)
    if len(formatted) != len(inputs):
        raise ValueError(f"`baselines` has {len(formatted)} entries for {len(inputs)} inputs")
    result = []
    for b, x in zip(formatted, inputs, strict=True):
        if isinstance(b, bool) or not isinstance(b, (int, float, Tensor)):
            raise TypeError(f"`baselines` must be numbers or tensors, got {type(b).__name__}")
        if not x.is_floating_point():
            if isinstance(b, float) or (isinstance(b, Tensor) and b.dtype != x.dtype):
                raise TypeError(
                    f"`baselines` must be token ids like `inputs` ({x.dtype}): an int or a "
                    f"tensor of that dtype, got {getattr(b, 'dtype', type(b).__name__)}"
                )
            if isinstance(b, Tensor):
                check_device("baselines", b.device, x.device)
                b = b.detach()
        elif isinstance(b, Tensor):
            # detached, as the inputs are: attributions never carry the user's graph
            b = check_tensor("baselines", b, x.device, batch=False)
        elif not math.isfinite(b):
            raise ValueError(f"`baselines` must be finite, got {b}")
        b = torch.as_tensor(b, dtype=x.dtype, device=x.device)
        try:
            result.append(b.expand_as(x).clone())
        except RuntimeError:
            raise ValueError(
                f"`baselines` of shape {tuple(b.shape)} does not match the input's shape "
                f"{tuple(x.shape)}"
            ) from None
    return tuple(result)


def user_stacklevel() -> int:
    """The ``stacklevel`` of ``warnings.warn`` that points at the user's line.

    The first frame outside ``captum_smooth`` and Captum (whose ``log_usage`` wraps
    ``attribute``), counted from the caller of this function, whatever route led there.
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    captum_dir = os.path.dirname(os.path.abspath(captum.__file__))
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith((package, captum_dir)):
        frame, level = frame.f_back, level + 1
    return level
