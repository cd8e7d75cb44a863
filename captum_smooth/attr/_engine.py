"""The one place where rows meet the model.

Every method of the package is the same pipeline: a *path* (:mod:`~captum_smooth.attr._paths`)
produces blocks of points, one row per example; this module pushes the rows through the model,
packing the rows of consecutive blocks into chunks of at most ``internal_batch_size``, and
yields each block back, whole and in path order, with the target output ``f`` of its rows and,
where the block asks for it, their gradient ``∇f`` from the same forward pass; a *rule*
(:mod:`~captum_smooth.attr._rules`) folds the evaluated blocks into attributions.

``f`` and ``∇f`` come from one replaceable function, the method's ``value_and_grad_func``
(:func:`value_and_grad` by default), as Captum's layer methods swap ``gradient_func``. Rows
that only contribute their output (the ends of a convergence delta) get a forward pass and no
backward pass. Blocks are drawn lazily, so peak memory is bounded by the chunk size, not by
the number of steps or samples.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

import torch
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.batching import (
    Rows,
    memory_budget,
    select_forward_args,
    select_target,
)
from captum_smooth._utils.captum_compat import (
    TargetType,
    format_additional_forward_args,
    run_forward,
)
from captum_smooth._utils.progress import progress_bar

Need = Literal["grad", "value", "point"]
"""What a block's rows need from the model: ``"grad"`` the output and its input gradient,
``"value"`` the output only (a forward pass), ``"point"`` nothing (a position on the path)."""


class Block(NamedTuple):
    """One point per example (leading dimension = the examples), and what a rule needs of it.

    ``weight`` and ``direction`` make the block a node of a quadrature: a Riemann-type rule
    adds ``weight · direction ⊙ ∇f(points)`` (e.g. a step size and ``x - x'``); adaptive
    paths leave ``direction`` to the engine, which sets it to the chord to the next block.
    ``value_weight`` is the block's coefficient in the weighted sum of outputs that a
    convergence delta compares with (``+1`` at the end of a path, ``-1`` at its start).
    """

    points: tuple[Tensor, ...]
    weight: float = 0.0
    direction: tuple[Tensor, ...] | None = None
    value_weight: float = 0.0
    need: Need = "grad"


class Evaluated(NamedTuple):
    """A block with its rows' outputs and gradients.

    ``values`` are the outputs ``f``, shape ``(n_examples,)``; ``grads`` are shaped like the
    points. Each is ``None`` where the block did not ask for it.
    """

    block: Block
    values: Tensor | None
    grads: tuple[Tensor, ...] | None


class ValueAndGrad(Protocol):
    """The engine's only access to the model: ``f`` and ``∇f`` at a chunk of rows.

    ``(forward_func, points, target, additional_forward_args, with_grad) -> (f, ∇f)``: ``f``
    one scalar per row, ``∇f`` a gradient per point tensor (``None`` without ``with_grad``).
    """

    def __call__(
        self,
        forward_func: Callable[..., Any],
        points: tuple[Tensor, ...],
        target: TargetType,
        additional_forward_args: Any,
        with_grad: bool,
    ) -> tuple[Tensor, tuple[Tensor, ...] | None]: ...


def value_and_grad(
    forward_func: Callable[..., Any],
    points: tuple[Tensor, ...],
    target: TargetType,
    additional_forward_args: Any,
    with_grad: bool = True,
) -> tuple[Tensor, tuple[Tensor, ...] | None]:
    """``f(points)`` (one scalar per row) and, with ``with_grad``, ``∇f`` from the same pass.

    Gradients are taken with respect to the points only, never the model's parameters, and
    are enabled even when the caller runs under ``torch.no_grad`` (NoiseTunnel and
    ``captum.metrics.sensitivity_max`` do). Without ``with_grad`` it is one forward pass under
    ``torch.no_grad``. The model gets a copy of the points, which it may change in place
    (``x.sub_(mean)``, a ``ReLU(inplace=True)`` after a replaced layer) without touching the
    points or the leaves the gradient is taken at.

    Raises:
        ValueError: if the output is not one scalar per row, does not depend differentiably
            on the points (a forward under ``torch.no_grad``, a ``.detach()``), or is not
            finite, or its gradient is not; if gradients are asked for under
            ``torch.inference_mode()`` or the model holds tensors made under it.
    """
    n_rows = points[0].shape[0]
    if with_grad and torch.is_inference_mode_enabled():
        raise ValueError(
            "attribute was called under torch.inference_mode(), where autograd cannot be "
            "turned back on and gradient-based attributions cannot be computed: call it "
            "outside inference mode (torch.no_grad() around it is fine)"
        )
    grad_mode = torch.enable_grad() if with_grad else torch.no_grad()
    with grad_mode:
        # an inference tensor (made under torch.inference_mode()) cannot require gradients:
        # its clone, made here, can
        rows = tuple(
            (p.clone() if p.is_inference() else p.detach()).requires_grad_(with_grad)
            for p in points
        )
        try:
            output = run_forward(
                forward_func, tuple(r.clone() for r in rows), target, additional_forward_args
            )
            values = _one_per_row(output, n_rows)
            grads = None
            if with_grad:
                found = (
                    torch.autograd.grad(values.sum(), rows, allow_unused=True)
                    if values.requires_grad
                    else (None,) * len(rows)
                )
        except RuntimeError as error:
            if "Inference tensors" not in str(error):
                raise
            raise ValueError(
                "forward_func uses a tensor made under torch.inference_mode() (the model's "
                "parameters or buffers, or a tensor in `additional_forward_args`), which "
                "autograd cannot use: load or build the model outside inference mode "
                "(torch.no_grad() is fine), or pass `tensor.clone()` made outside it"
            ) from error
        if with_grad:
            if all(g is None for g in found):
                raise ValueError(
                    "forward_func's output does not depend differentiably on the inputs: "
                    "autograd finds no path from them to it (a forward under torch.no_grad(), "
                    "a .detach(), or a non-differentiable step such as argmax or .numpy()). "
                    "Attributions need gradients: run the model with autograd enabled."
                )
            # an input the output does not depend on (one of a tuple) gets zero gradients
            grads = tuple(
                torch.zeros_like(r) if g is None else g for g, r in zip(found, rows, strict=True)
            )
    values = values.detach()
    # read once per call inside attribute (deferred_checks), not per chunk
    check.require_finite(
        (values, *(grads or ())),
        "forward_func gave a non-finite output or gradient (NaN or inf) on the attribution "
        "path; the attributions would be NaN",
    )
    return values, grads


def _one_per_row(output: Any, n_rows: int) -> Tensor:
    if not isinstance(output, Tensor) or output.numel() != n_rows:
        shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
        raise ValueError(
            f"forward_func must give one scalar per example once `target` is applied; got "
            f"output of shape {shape} for {n_rows} rows. Pass `target` to select the output "
            f"to explain."
        )
    return output.reshape(n_rows)


def bookkeeping_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype of a method's bookkeeping for a model in ``dtype``: float32 at least.

    Paths, finite differences, sums, output rises and deltas are computed in it, whatever
    dtype the model runs in (float16, bfloat16, or float32 under ``torch.autocast``): a half
    model's outputs and gradients are as good as its dtype allows, but a difference or a sum
    taken in that dtype is far worse (docs/reference.md#precision).
    """
    return dtype if dtype in _WIDE else torch.promote_types(dtype, torch.float32)


_WIDE = (torch.float32, torch.float64)


def caller_autocast(device: torch.device) -> tuple[str, torch.dtype] | None:
    """The ``torch.autocast`` the caller runs under on ``device``: its device type and dtype.

    ``None`` when there is none. The model runs under it (:class:`ModelCall`); the engine's and
    the rules' own arithmetic runs outside it, since autocast would lower their matrix
    products (Blur IG's blur) to its dtype.
    """
    kind = device.type
    return (kind, torch.get_autocast_dtype(kind)) if torch.is_autocast_enabled(kind) else None


def widened(tensors: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """``tensors`` in float32 at least (:func:`bookkeeping_dtype`); float64 ones unchanged."""
    return tuple(t.to(bookkeeping_dtype(t.dtype)) for t in tensors)


def parts_of(tensor: Tensor, sizes: Sequence[int] | None = None) -> tuple[Tensor, ...]:
    """``tensor.unbind()``, or with ``sizes`` ``tensor.split(sizes)``: views that remember.

    Each view of a contiguous ``tensor`` records the rows of it that it is (a path's group of
    blocks, the outputs of a chunk), so that :func:`stacked` and :func:`joined` give a run of
    them back as a slice of ``tensor`` after reading one attribute per view, where checking
    that views lie one after the other reads six per view (with 50 blocks, a few hundred
    reads per call). The views are ordinary tensors; one whose layout is later changed in
    place (``squeeze_``, ``set_``) must not be stacked.
    """
    views = tensor.unbind() if sizes is None else tensor.split(sizes)
    if tensor.is_contiguous() and tensor.dim() > (1 if sizes is None else 0):
        # the rows each view is: of the tensor, or of its first two dimensions as one
        rows = tensor.flatten(0, 1) if sizes is None else tensor
        stops = (
            range(tensor.shape[1], rows.shape[0] + 1, tensor.shape[1])
            if sizes is None
            else itertools.accumulate(sizes)
        )
        start = 0
        for view, stop in zip(views, stops, strict=True):
            setattr(view, _ROWS, (rows, start, stop))
            start = stop
    return views


def rows_of(tensor: Tensor, start: int, stop: int) -> Tensor:
    """``tensor[start:stop]``, remembering where it lies as :func:`parts_of` does."""
    view = tensor[start:stop]
    tag = getattr(tensor, _ROWS, None)
    if tag is not None:
        setattr(view, _ROWS, (tag[0], tag[1] + start, tag[1] + view.shape[0] + start))
    return view


_ROWS = "_captum_smooth_rows"
"""The attribute in which a view made by :func:`parts_of` records the rows it is: ``(rows,
start, stop)`` for ``rows[start:stop]``."""


def stacked(tensors: Sequence[Tensor]) -> Tensor:
    """``torch.stack(tensors)``: a view, not a copy, of consecutive :func:`parts_of` one tensor.

    The blocks of one chunk get parts of its outputs (:func:`evaluate`), and a path makes a
    group of blocks as one tensor: stacking those back is free. The result may share memory
    with ``tensors``: never write into it.
    """
    run = _run(tensors, equal=True)
    return torch.stack(tensors) if run is None else run.unflatten(0, (len(tensors), -1))


def joined(tensors: Sequence[Tensor]) -> Tensor:
    """``torch.cat(tensors)`` (batch first): a view of consecutive :func:`parts_of` a tensor.

    As :func:`stacked`: never write into the result.
    """
    if len(tensors) == 1:
        return tensors[0]
    run = _run(tensors, equal=False)
    return torch.cat(tensors) if run is None else run


def _run(tensors: Sequence[Tensor], equal: bool) -> Tensor | None:
    """The rows that ``tensors`` are one after the other, where they are parts of one tensor.

    ``None`` unless each is a part (:func:`parts_of`, :func:`rows_of`) of the same tensor,
    beginning where the previous ends (and, if ``equal``, of as many rows as the first).
    """
    tags = [getattr(t, _ROWS, None) for t in tensors]
    if tags[0] is None:
        return None
    rows, start, stop = tags[0]
    size = stop - start
    for tag in tags[1:]:
        if tag is None or tag[0] is not rows or tag[1] != stop:
            return None
        if equal and tag[2] - tag[1] != size:
            return None
        stop = tag[2]
    return rows[start:stop]


class Stage(NamedTuple):
    """Blocks that an adaptive path hands over together: they are evaluated in chunks.

    The blocks depend on what the path received before the stage, not on one another (a
    first pass of forward-only rows, then the steps it placed); the path receives the list
    of their outputs (``(values, None)``), not their gradients.
    """

    blocks: Iterable[Block]


AdaptivePath = Generator[
    Block | Stage, tuple[Tensor | list[Tensor | None] | None, tuple[Tensor, ...] | None], None
]
"""A path whose next block depends on the evaluation of the current one: it yields a block,
receives ``(values, grads)`` for it and yields the next; or it yields a :class:`Stage`."""


class Stream(NamedTuple):
    """The blocks of one view of a path, and how many the engine evaluates.

    ``n_blocks`` counts the blocks with rows to evaluate (not those of ``need="point"``): the
    path says it, and :func:`evaluate_stream` draws the progress bar from it. Also whether
    each block depends on the evaluation of the previous one (an :data:`AdaptivePath`), and
    what an error estimate needs to know (:mod:`~captum_smooth.attr._errors`).
    """

    blocks: Iterable[Block] | AdaptivePath
    n_blocks: int
    adaptive: bool = False
    samples: tuple[int, int] | None = None
    """For a Monte-Carlo average: how many samples, and how many nodes each (``None``: a
    quadrature or a polyline, whose error is estimated by nesting)."""
    budget: str = "n_steps"
    """The argument of ``attribute`` that sets how many blocks there are."""
    nested: bool = False
    """Whether the same view at twice the budget holds these blocks' points as its even
    blocks (a polyline on an evenly spaced grid): an automatic budget then evaluates only
    the new ones (:class:`~captum_smooth.attr._budgets.Kept`)."""

    def after(self, first: Sequence[Block]) -> Stream:
        """The same stream with the blocks ``first`` (a delta's forward-only rows) before it."""
        return self._replace(
            blocks=itertools.chain(first, self.blocks), n_blocks=len(first) + self.n_blocks
        )


@dataclass
class ModelCall:
    """How the engine calls the model.

    The forward function, the method's ``value_and_grad``, the user's ``target`` and
    ``additional_forward_args`` (one entry per example), and the dtypes the model expects for
    each input. Paths compute in a wider dtype (:func:`bookkeeping_dtype`): each chunk's
    points are cast to the model's dtypes just before the call, and its outputs and gradients
    are widened to float32 at least just after it, so that no rule ever sums or subtracts in
    a half dtype (an autocast model gives bfloat16 outputs for float32 points).
    """

    forward_func: Callable[..., Any]
    value_and_grad_func: ValueAndGrad
    target: TargetType
    additional_forward_args: Any
    n_examples: int
    dtypes: tuple[torch.dtype, ...]
    progress: Any = None
    """The progress bar the rows advance (:func:`evaluate_stream` sets it)."""
    autocast: tuple[str, torch.dtype] | None = None
    """The caller's ``torch.autocast`` (:func:`caller_autocast`), restored around each model
    call while the rest of the method runs outside it."""
    pad_chunks: bool = False
    """Pad short chunks to the chunk size, so that a compiled model sees one shape."""

    def __post_init__(self) -> None:
        self.additional_forward_args = format_additional_forward_args(self.additional_forward_args)
        # the target is checked against the model's output once per call, not per chunk
        self._target = check.TargetOnce(self.target, self.n_examples)

    def __call__(
        self, points: tuple[Tensor, ...], example: Rows, with_grad: bool
    ) -> tuple[Tensor, tuple[Tensor, ...] | None]:
        """``f`` and ``∇f`` at ``points``, rows of the examples ``example``, float32 at least."""
        points = tuple(p.to(d) for p, d in zip(points, self.dtypes, strict=True))
        autocast = (
            torch.autocast(self.autocast[0], self.autocast[1])
            if self.autocast is not None
            else contextlib.nullcontext()
        )
        target = select_target(self._target.target, example, self.n_examples)
        with autocast, self._target.chunk(target, example):
            values, grads = self.value_and_grad_func(
                self.forward_func,
                points,
                target,
                select_forward_args(self.additional_forward_args, example),
                with_grad,
            )
        return widened((values,))[0], None if grads is None else widened(grads)


def evaluate(
    model: ModelCall,
    blocks: Iterable[Block],
    internal_batch_size: int | None,
    chunks: Chunks | None = None,
) -> Iterator[Evaluated]:
    """Yield every block of ``blocks`` with its rows evaluated, whole and in order.

    Rows that need gradients are packed, across consecutive blocks, into chunks of
    ``chunks.size`` rows (:class:`Chunks`: ``internal_batch_size``, or, for ``None``, what the
    memory budget holds; the last chunk shorter unless chunks are padded); rows that need only
    their output go through forward-only chunks of their own. Blocks are drawn lazily: a few
    chunks' worth of rows are alive at any time.
    """
    blocks = iter(blocks)
    first = next(blocks, None)
    if first is None:
        return
    chunks = chunks or Chunks(internal_batch_size, first.points, model.pad_chunks)
    queues = {"grad": _Queue(), "value": _Queue()}
    pending: deque[_Pending] = deque()

    held = 0  # rows evaluated but not yet yielded: waiting behind an unevaluated block

    def run(queue: _Queue, with_grad: bool) -> None:
        nonlocal held
        values, grads, parts, n_rows = chunks.call(model, queue, with_grad)
        if len(parts) == 1:
            value_parts, grad_parts = [values], iter([grads] if grads else [])
        else:
            sizes = [n for _, n in parts]
            value_parts = parts_of(values, sizes)
            grad_parts = zip(*(parts_of(g, sizes) for g in grads or ()), strict=True)
        for i, (entry, n) in enumerate(parts):
            entry.values.append(value_parts[i])
            if grads:
                entry.grads.append(next(grad_parts))
            entry.missing -= n
        held += n_rows

    def ready() -> Iterator[Evaluated]:
        nonlocal held
        while pending and pending[0].missing == 0:
            entry = pending.popleft()
            held -= entry.rows
            yield entry.evaluated()

    def run_head() -> None:
        need = pending[0].block.need
        run(queues[need], need == "grad")

    n_examples = model.n_examples
    for block in itertools.chain([first], blocks):
        need = block.need
        for points in block.points:
            if points.shape[0] != n_examples:
                _check_rows(block, n_examples)
        entry = _Pending(block, 0 if need == "point" else n_examples)
        pending.append(entry)
        if need != "point":
            queue = queues[need]
            queue.add(entry, block.points, n_examples)
            while len(queue) >= chunks.size:
                run(queue, need == "grad")
        if pending[0].missing == 0:
            yield from ready()
        if held > chunks.size:  # the head waits on a part-filled queue: evaluate it now
            run_head()
            yield from ready()
    while pending:
        run_head()
        yield from ready()


_OutOfMemory = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


class Chunks:
    """How many rows go through the model at once, and the model calls that send them.

    With an ``internal_batch_size`` that many. Without one, the first chunk is one row, and
    it is measured: what a row costs is the memory the call took (the peak allocated on CUDA;
    on a CPU the activations the model kept for its backward pass) plus its points and
    gradients, and later chunks hold as many rows as
    :func:`~captum_smooth._utils.batching.memory_budget` allows at that cost. So a row of a
    large model gets a small chunk and a row of a tiny one a large chunk, whatever their input
    sizes; for a layer method a row costs the whole model's activations, not the layer's.

    On an out-of-memory error the chunk is halved and the same rows are sent again: the
    results do not depend on the chunking. With ``pad``, a short chunk is padded with copies
    of its last row to the chunk size (the copies' results are dropped), so that a compiled
    model sees one shape.
    """

    def __init__(
        self, internal_batch_size: int | None, row: tuple[Tensor, ...], pad: bool = False
    ) -> None:
        """Chunks for rows like ``row`` (batch first)."""
        # without a size, one row is measured first: what a row costs is unknown, and a
        # language model's row of a few hundred tokens can take gigabytes
        self.size = 1 if internal_batch_size is None else internal_batch_size
        self.pad = pad
        self._learn = internal_batch_size is None
        self._row_bytes = sum(t[:1].numel() * t.element_size() for t in row)
        self._device = row[0].device

    def call(
        self, model: ModelCall, queue: _Queue, with_grad: bool
    ) -> tuple[Tensor, tuple[Tensor, ...] | None, list[tuple[_Pending, int]], int]:
        """Evaluate the next chunk of ``queue``: values, gradients, whose rows, how many."""
        while True:
            parts, points, example = queue.take(self.size)
            n_rows = points[0].shape[0]
            if self.pad and n_rows < self.size:
                points, example = _padded(points, example, self.size)
            try:
                values, grads = self._measured(model, points, example, with_grad, n_rows)
            except _OutOfMemory:
                if self.size == 1:
                    raise
                queue.restore()
                self.size //= 2
                self._learn = False
                continue
            if model.progress is not None:
                model.progress.update(n_rows)
            if points[0].shape[0] > n_rows:
                values = values[:n_rows]
                grads = None if grads is None else tuple(g[:n_rows] for g in grads)
            return values, grads, parts, n_rows

    def _measured(
        self,
        model: ModelCall,
        points: tuple[Tensor, ...],
        example: Rows,
        with_grad: bool,
        n_rows: int,
    ) -> tuple[Tensor, tuple[Tensor, ...] | None]:
        if not (self._learn and with_grad):
            return model(points, example, with_grad)
        self._learn = False
        if self._device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self._device)
            before = torch.cuda.memory_allocated(self._device)
            values, grads = model(points, example, with_grad)
            taken = torch.cuda.max_memory_allocated(self._device) - before
        else:
            kept = _KeptForBackward()
            with torch.autograd.graph.saved_tensors_hooks(kept.pack, kept.unpack):
                values, grads = model(points, example, with_grad)
            taken = kept.bytes
        # points, their copy for the model and the gradients, at least, besides activations
        per_row = max(1, taken // points[0].shape[0] + 3 * self._row_bytes)
        self.size = max(1, memory_budget(self._device) // per_row)
        return values, grads


class _KeptForBackward:
    """Counts the bytes of the distinct tensors autograd keeps for the backward pass."""

    def __init__(self) -> None:
        self.bytes = 0
        self._seen: set[int] = set()

    def pack(self, tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in self._seen:
            self._seen.add(storage.data_ptr())
            self.bytes += storage.nbytes()
        return tensor

    @staticmethod
    def unpack(tensor: Tensor) -> Tensor:
        return tensor


def _padded(
    points: tuple[Tensor, ...], example: Rows, size: int
) -> tuple[tuple[Tensor, ...], Rows]:
    """A chunk padded to ``size`` rows with copies of its last row (and its example)."""
    extra = size - points[0].shape[0]
    padded = tuple(torch.cat([p, p[-1:].expand(extra, *p.shape[1:])]) for p in points)
    last = example[-1].stop - 1 if isinstance(example, list) else int(example[-1])
    rows = [*example, *([range(last, last + 1)] * extra)] if isinstance(example, list) else example
    return padded, rows


def evaluate_stream(
    model: ModelCall, stream: Stream, internal_batch_size: int | None, progress: str | None = None
) -> Iterator[Evaluated]:
    """Every block of ``stream`` evaluated, by :func:`evaluate` or :func:`evaluate_adaptive`.

    With ``progress``, a bar of that name over the rows the stream holds (``n_blocks`` per
    example), advanced chunk by chunk and closed when the evaluation ends or is abandoned.
    """
    bar = progress_bar(progress is not None, stream.n_blocks * model.n_examples, progress or "")
    if bar is not None or model.progress is not None:
        model = dataclasses.replace(model, progress=bar)
    try:
        if stream.adaptive:
            yield from evaluate_adaptive(model, stream.blocks, internal_batch_size)  # type: ignore[arg-type]
        else:
            yield from evaluate(model, stream.blocks, internal_batch_size)
    finally:
        if bar is not None:
            bar.close()


def evaluate_adaptive(
    model: ModelCall, path: AdaptivePath, internal_batch_size: int | None
) -> Iterator[Evaluated]:
    """Evaluate a path whose next block depends on the evaluation of the current one.

    Each block is evaluated alone (split under ``internal_batch_size``), its ``(values,
    grads)`` are sent back to ``path``, and it is yielded once the next block is known: a
    block without a ``direction`` gets the chord ``x_{j+1} - x_j`` to the next block (zero for
    the last, or before a stage), so that any rule can consume it. The blocks of a
    :class:`Stage` are evaluated together, packed into chunks as :func:`evaluate` packs a
    path's, and yielded as they are; the path then receives their outputs.
    """
    step = next(path)
    if isinstance(step, Stage):
        blocks = iter(step.blocks)
        first = next(blocks)
        step = Stage(itertools.chain([first], blocks))
    else:
        first = step
    chunks = Chunks(internal_batch_size, first.points, model.pad_chunks)
    while True:
        if isinstance(step, Stage):
            values = []
            for evaluated in evaluate(model, step.blocks, internal_batch_size, chunks):
                values.append(evaluated.values)
                yield evaluated
            try:
                step = path.send((values, None))
            except StopIteration:
                return
            continue
        (evaluated,) = evaluate(model, [step], internal_batch_size, chunks)
        try:
            following = path.send((evaluated.values, evaluated.grads))
        except StopIteration:
            following = None
        if step.direction is None:
            ends = step.points if not isinstance(following, Block) else following.points
            chord = tuple(e - p for e, p in zip(ends, step.points, strict=True))
            evaluated = evaluated._replace(block=step._replace(direction=chord))
        yield evaluated
        if following is None:
            return
        step = following


class _Pending:
    """A block waiting for its rows' results (gathered in row order)."""

    __slots__ = ("block", "grads", "missing", "rows", "values")

    def __init__(self, block: Block, rows: int) -> None:
        self.block, self.rows, self.missing = block, rows, rows
        self.values: list[Tensor] = []
        self.grads: list[tuple[Tensor, ...]] = []

    def evaluated(self) -> Evaluated:
        if len(self.values) > 1:
            values = torch.cat(self.values)
            grads = tuple(torch.cat(g) for g in zip(*self.grads, strict=True)) or None
        else:
            values = self.values[0] if self.values else None
            grads = self.grads[0] if self.grads else None
        return Evaluated(self.block, values, grads)


class _Queue:
    """Rows waiting for a model call: slices of pending blocks, in order."""

    def __init__(self) -> None:
        self._parts: deque[tuple[_Pending, tuple[Tensor, ...], int, int]] = deque()
        self._taken: list[tuple[_Pending, tuple[Tensor, ...], int, int]] = []
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    def add(self, entry: _Pending, points: tuple[Tensor, ...], n_rows: int) -> None:
        self._parts.append((entry, points, 0, n_rows))
        self._rows += n_rows

    def restore(self) -> None:
        """Put the rows of the last :meth:`take` back at the front, as they were."""
        for part in reversed(self._taken):
            entry, points, start, stop = part
            if self._parts and self._parts[0][0] is entry and self._parts[0][2] == stop:
                stop = self._parts.popleft()[3]
            self._parts.appendleft((entry, points, start, stop))
            self._rows += part[3] - part[2]
        self._taken = []

    def take(self, size: int) -> tuple[list[tuple[_Pending, int]], tuple[Tensor, ...], Rows]:
        """Take up to ``size`` rows off the queue.

        Returns which entries they belong to, their points and the ranges of their examples
        (on the host: selecting a chunk's targets never reads the device).
        """
        taken, columns, indices = [], [], []
        self._taken = undo = []
        parts = self._parts
        while parts and size > 0:
            entry, points, start, stop = parts.popleft()
            end = stop if stop - start <= size else start + size
            taken.append((entry, end - start))
            undo.append((entry, points, start, end))
            # a part that starts at a block's first row runs to its last (add, restore)
            whole = start == 0 and end == stop
            columns.append(points if whole else tuple(rows_of(p, start, end) for p in points))
            indices.append(range(start, end))
            if end < stop:
                parts.appendleft((entry, points, end, stop))
            size -= end - start
            self._rows -= end - start
        points = tuple(joined(column) for column in zip(*columns, strict=True))
        return taken, points, indices


def _check_rows(block: Block, n_examples: int) -> None:
    """``ValueError`` unless every tensor of ``block`` holds ``n_examples`` rows."""
    if any(p.shape[0] != n_examples for p in block.points):
        sizes = {p.shape[0] for p in block.points}
        raise ValueError(f"a block must hold one row per example ({n_examples}), got {sizes}")
