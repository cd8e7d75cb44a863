"""Paths, and the ``attribute`` template every method of the package goes through.

A :class:`Path` is what a method contributes: the points where the model is evaluated, in
two views that rules choose from (:class:`~captum_smooth.attr._rules.Rule.stream`):

- :meth:`Path.quadrature`: nodes of a quadrature of the method's integral, each with a weight
  and a direction (the Riemann-type estimate of the method itself), plus, with a convergence
  delta, the path's two ends as forward-only rows;
- :meth:`Path.polyline`: the vertices ``x_0 … x_m`` of the path from its start to its end,
  for rules that integrate along a polygon (IDGI).

:class:`PathAttribution` runs any path through the engine with any rule
(:meth:`PathAttribution._attribute`); :class:`RuleOnPath` applies another rule to a method's
path (IDGI is one).
"""

from __future__ import annotations

import collections
import copy
import functools
import inspect
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import torch
from captum.attr import GradientAttribution
from captum.log import log_usage
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import (
    TargetType,
    format_additional_forward_args,
    format_output,
    sum_rows,
)
from captum_smooth._utils.models import warn_if_training
from captum_smooth.attr import _budgets as budgets
from captum_smooth.attr._engine import (
    AdaptivePath,
    Block,
    Evaluated,
    ModelCall,
    Stage,
    Stream,
    ValueAndGrad,
    caller_autocast,
    evaluate_stream,
    parts_of,
    value_and_grad,
    widened,
)
from captum_smooth.attr._errors import estimator
from captum_smooth.attr._placement import Placement, cells, within_cells
from captum_smooth.attr._quadrature import check_quadrature, quadrature
from captum_smooth.attr._rules import RiemannSum, Rule


class Path:
    """The points of a method on given inputs; subclasses implement the views they have."""

    def quadrature(self, with_delta: bool) -> Stream:
        """Nodes with weights and directions.

        With ``with_delta``, also the rows whose outputs make the convergence delta (value
        weights ``+1`` at the end, ``-1`` at the start).
        """
        raise TypeError(f"{type(self).__name__} has no quadrature")

    def polyline(self) -> Stream:
        """The vertices from the path's start to its end, both included, in order.

        Forward-only rows (``need="value"``) that an adaptive path evaluates to place its
        vertices may come before them; they are not vertices.
        """
        raise TypeError(
            f"{type(self).__name__} is not a path from a start to an end: IDGI needs the "
            "path of IntegratedGradients, GuidedIntegratedGradients or BlurIntegratedGradients"
        )


def ends(start: tuple[Tensor, ...], end: tuple[Tensor, ...]) -> list[Block]:
    """Forward-only rows giving ``f(end) - f(start)``: a convergence delta's comparison."""
    return [
        Block(end, value_weight=1.0, need="value"),
        Block(start, value_weight=-1.0, need="value"),
    ]


GROUP_ELEMENTS = 2**22
"""A path makes its points in groups of at most about this many elements (a tensor each)."""


class StraightLine(Path):
    """The straight line ``x' + α (x - x')`` from the baseline ``x'`` to the input ``x``.

    Its quadrature is at the nodes of ``method`` (Captum's IG, weights summing to one); its
    polyline is the uniform grid ``α = j/n_steps``, ``j = 0..n_steps``.

    With a :class:`~captum_smooth.attr._placement.Placement`, both are moved where the output
    rises, per example, after a first pass of forward-only rows. The quadrature's cells (the
    weights of ``method`` laid end to end in ``[0, 1]``) are moved to ``F⁻¹`` of their ends;
    each node keeps its fraction of its cell and weighs the cell's width in ``α``. The
    vertices go to ``F⁻¹(j/n_steps)``.

    ``scale`` multiplies every weight (``1/N`` for one of ``N`` baselines); without
    ``multiply_by_inputs`` the direction is one (Captum's local attribution).
    """

    def __init__(
        self,
        inputs: tuple[Tensor, ...],
        baselines: tuple[Tensor, ...],
        n_steps: int,
        method: str | None = None,
        scale: float = 1.0,
        multiply_by_inputs: bool = True,
        placement: Placement | None = None,
    ) -> None:
        """Validate the settings; points are made when a view is iterated."""
        self.inputs, self.baselines = inputs, baselines
        self.n_steps = check.check_count("n_steps", n_steps)
        self.method, self.scale, self.multiply_by_inputs = method, scale, multiply_by_inputs
        check_quadrature("gausslegendre" if method is None else method, n_steps)
        self.placement = placement
        self._distance: tuple[Tensor, ...] | None = None
        self._alphas: dict[tuple[float, ...], tuple[Tensor, ...]] = {}
        """The α's of :meth:`_points` as tensors, per input: shared with :meth:`from_baselines`."""

    def from_baselines(self, baselines: tuple[Tensor, ...]) -> StraightLine:
        """The same line, settings and α's, from other ``baselines`` (shaped and typed alike)."""
        line = copy.copy(self)
        line.baselines, line._distance = baselines, None
        return line

    def _direction(self) -> tuple[Tensor, ...]:
        """The quadrature's direction: ``x - x'`` (computed once), or ones without it."""
        if self.multiply_by_inputs:
            return self._distances()
        return tuple(torch.ones_like(x) for x in self.inputs)

    def _placed(self, alphas: Tensor) -> Iterator[tuple[Tensor, ...]]:
        """The points ``x' + α (x - x')`` at ``alphas`` ``(n_examples, k)``, a column each."""
        for column in alphas.T:
            yield tuple(
                torch.addcmul(z, column.to(z.dtype).view(-1, *(1,) * (z.dim() - 1)), d)
                for z, d in zip(self.baselines, self._distances(), strict=True)
            )

    def _probes(self, placement: Placement, with_delta: bool) -> Stage:
        """The first pass; its ends are the delta's rows (``x'`` and ``x`` themselves)."""
        grid = placement.grid()
        inner = self._points(grid[1:-1])
        sign = 1.0 if with_delta else 0.0
        return Stage(
            itertools.chain(
                [Block(self.baselines, value_weight=-sign, need="value")],
                (Block(points, need="value") for points in inner),
                [Block(self.inputs, value_weight=sign, need="value")],
            )
        )

    def _placed_quadrature(self, placement: Placement, with_delta: bool) -> AdaptivePath:
        values, _ = yield self._probes(placement, with_delta)
        outputs = torch.stack(values, dim=1)  # type: ignore[arg-type]
        rule = quadrature("gausslegendre" if self.method is None else self.method, self.n_steps)
        bounds = placement.place(outputs, cells(rule.weights))
        widths = bounds.diff(dim=1)
        alphas = bounds[:, :-1] + widths * within_cells(rule).to(widths.device)
        direction = self._direction()

        def weighted(width: Tensor) -> tuple[Tensor, ...]:
            return tuple(d * width.to(d.dtype).view(-1, *(1,) * (d.dim() - 1)) for d in direction)

        yield Stage(
            Block(points, self.scale, weighted(width))
            for points, width in zip(self._placed(alphas), widths.T, strict=True)
        )

    def _placed_polyline(self, placement: Placement) -> AdaptivePath:
        values, _ = yield self._probes(placement, False)
        outputs = torch.stack(values, dim=1)  # type: ignore[arg-type]
        alphas = placement.place(outputs, [j / self.n_steps for j in range(self.n_steps + 1)])
        yield Stage(Block(points) for points in self._placed(alphas))

    def _points(self, alphas: Sequence[float]) -> Iterator[tuple[Tensor, ...]]:
        """The points ``x' + α (x - x')`` at ``alphas``, in order, a group at a time.

        A group is one tensor per input: its points are consecutive views, which the engine
        sends to the model, and the rules stack, without copying them.
        """
        group = max(1, GROUP_ELEMENTS // max(1, sum(x.numel() for x in self.inputs)))
        key = tuple(alphas)
        steps = self._alphas.get(key)
        if steps is None:
            # the α's in each input's dtype, copied to its device without waiting for queued work
            steps = self._alphas[key] = tuple(
                torch.tensor(alphas, dtype=z.dtype)
                .to(z.device, non_blocking=True)
                .view(-1, *(1,) * z.dim())
                for z in self.baselines
            )
        for start in range(0, len(alphas), group):
            points = tuple(
                parts_of(torch.addcmul(z, alpha[start : start + group], d))
                for z, d, alpha in zip(self.baselines, self._distances(), steps, strict=True)
            )
            yield from zip(*points, strict=True)

    def _distances(self) -> tuple[Tensor, ...]:
        """``x - x'``, once per path: the points' steps and the quadrature's direction."""
        if self._distance is None:
            self._distance = tuple(x - z for x, z in zip(self.inputs, self.baselines, strict=True))
        return self._distance

    def quadrature(self, with_delta: bool) -> Stream:
        if self.placement is not None:
            blocks = self.placement.probes + 1 + self.n_steps
            return Stream(self._placed_quadrature(self.placement, with_delta), blocks, True)
        direction = self._direction()
        # the nodes only now: a rule that reads the polyline never pays for them
        rule = quadrature("gausslegendre" if self.method is None else self.method, self.n_steps)
        nodes = Stream(
            (
                Block(points, self.scale * w, direction)
                for points, w in zip(self._points(rule.alphas), rule.weights, strict=True)
            ),
            self.n_steps,
        )
        return nodes.after(ends(self.baselines, self.inputs)) if with_delta else nodes

    def polyline(self) -> Stream:
        if self.method is not None:
            raise ValueError(
                "`method` does not apply: the polyline is the uniform grid of n_steps + 1 "
                "points from the baseline to the input"
            )
        if self.placement is not None:
            blocks = self.placement.probes + 2 + self.n_steps
            return Stream(self._placed_polyline(self.placement), blocks, True)
        alphas = [j / self.n_steps for j in range(self.n_steps + 1)]
        vertices = (Block(points) for points in self._points(alphas))
        return Stream(vertices, self.n_steps + 1, nested=True)


CAPTUM_HINTS: Mapping[str, str] = {
    **dict.fromkeys(
        ("nt_type", "nt_samples", "nt_samples_batch_size", "stdevs", "draw_baseline_from_distrib"),
        "it is an argument of NoiseTunnel: wrap the method, NoiseTunnel(method).attribute(...)",
    ),
    "abs": "it is Saliency's; the maps here are signed: take .abs() of the result",
    "grad_kwargs": "gradients are taken with torch.autograd.grad's defaults",
}
"""What a Captum user who passes one of Captum's arguments that a method lacks should do."""


class PathAttribution(GradientAttribution):
    """A method of the package: a :class:`Path` and a rule, run by the engine.

    Subclasses implement ``attribute``, which declares the public signature and every
    default once and hands its arguments on with ``return self._attribute_from(locals())``,
    and :meth:`path`, which takes the method's settings as bound there (keyword-only, no
    defaults), validates them and returns the path. The rule is
    :attr:`rule` unless a wrapper passes another. The model's outputs and gradients come from
    :attr:`value_and_grad_func` (:func:`~captum_smooth.attr._engine.value_and_grad`), which a
    subclass or a wrapper may replace, as Captum's layer methods replace ``gradient_func``.
    """

    rule: ClassVar[type[Rule]] = RiemannSum
    argument_hints: ClassVar[Mapping[str, str]] = CAPTUM_HINTS
    """For arguments of Captum's that ``attribute`` does not take: what to pass instead."""
    has_path: ClassVar[bool] = True
    """Whether :class:`RuleOnPath` can fold this method's path with another rule (a
    ``_attribute`` taking ``rule``); layer variants have it too."""
    shared_settings: ClassVar[frozenset[str]] = frozenset()
    """Settings that are not per example even when their first dimension is the batch's (a
    reference data set): an automatic budget does not cut them to the examples it runs."""
    input_settings: ClassVar[frozenset[str]] = frozenset()
    """Settings given in the inputs' space (baselines, references), which a layer variant
    maps through its layer: per example, in Captum's baseline forms (``None``: zeros), or a
    reference set of any number of rows where they are in :attr:`shared_settings`."""
    fixed_chunk_shapes: bool | None = None
    """Whether every model call gets the same number of rows (a short last chunk is padded
    with copies of its last row, whose results are dropped), so that a ``torch.compile``'d
    model compiles once per call rather than once per chunk shape. ``None`` (the default):
    when ``forward_func`` is compiled (``torch.compile`` of a module or a function)."""

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        """Wrap ``forward_func``, the model or any function returning its outputs."""
        super().__init__(forward_func)
        self.value_and_grad_func: ValueAndGrad = value_and_grad

    def path(self, inputs: tuple[Tensor, ...], **settings: Any) -> Path:
        """The method's path on ``inputs`` (formatted, validated) for its ``settings``.

        ``settings`` are the arguments of ``attribute`` other than the common ones, every one
        of them, with the values ``attribute`` bound (its defaults included).
        """
        raise NotImplementedError

    def _attribute_from(self, arguments: Mapping[str, Any]) -> Any:
        """:meth:`_attribute` with the arguments of ``attribute`` (its ``locals()``).

        Every local but ``self`` is passed on: ``attribute`` may rebind an argument first
        (noise-baseline IG puts ``baseline_transform`` in the user's form), but not add one.
        """
        return self._attribute(**{k: v for k, v in arguments.items() if k != "self"})

    def _attribute(
        self,
        inputs: Any,
        target: TargetType = None,
        additional_forward_args: Any = None,
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
        show_progress: bool = False,
        rule: type[Rule] | None = None,
        return_error: bool = False,
        label: str | None = None,
        **settings: Any,
    ) -> Any:
        """The template of every ``attribute``: check, build the path, evaluate it, fold it.

        Formats and checks the common arguments, builds the path, evaluates the view the rule
        integrates and folds it; returns the attributions in the user's form, then the delta
        and the error estimate (:mod:`~captum_smooth.attr._errors`) where asked for.
        ``label`` names the method in warnings, errors and the progress bar as the user made
        it (a wrapper's or a layer variant's name; default: this class's).
        """
        label = label or type(self).__name__
        inputs_tuple, is_tuple = check.format_inputs(inputs)
        n_examples = inputs_tuple[0].shape[0]
        check.check_batch_size(internal_batch_size)
        check.check_target(target, n_examples, inputs_tuple)
        check.check_forward_args(
            format_additional_forward_args(additional_forward_args), inputs_tuple
        )
        check.check_flag("return_convergence_delta", return_convergence_delta)
        check.check_flag("show_progress", show_progress)
        check.check_flag("return_error", return_error)
        rule = rule or self.rule
        if return_convergence_delta and not rule.complete:
            raise ValueError(f"`return_convergence_delta`: {rule.__name__} gives no delta")
        warn_if_training(self.forward_func)
        auto = budgets.auto_setting(settings)

        # an automatic n_steps keeps each round's vertices for the next where they nest
        kept = budgets.Kept() if auto is not None and auto[0] == "n_steps" else None

        def fold(
            rows: Sequence[int] | None, budget: int | None, with_error: bool
        ) -> tuple[tuple[Tensor, ...], Tensor | None, tuple[Tensor, ...] | None]:
            call = budgets.Call(inputs_tuple, target, additional_forward_args, settings)
            if rows is not None:
                call = call.rows(rows, n_examples, self.shared_settings)
            if auto is not None:
                call.settings[auto[0]] = budget
            return self._fold(
                call,
                internal_batch_size,
                return_convergence_delta,
                show_progress,
                rule,
                with_error,
                None if auto is None else auto[0],
                kept,
                rows,
                label,
            )

        if auto is None:
            attributions, delta, error = fold(None, None, return_error)
        else:
            attributions, delta, error = budgets.attribute_auto(
                fold,
                n_examples,
                *auto,
                label,
                reuses=lambda steps: kept is not None and kept.reuses(steps),
            )

        def users_form(maps: tuple[Tensor, ...]) -> Any:
            # in the inputs' dtype (as Captum's); the delta stays in the bookkeeping's
            return format_output(
                is_tuple, tuple(a.to(x.dtype) for a, x in zip(maps, inputs_tuple, strict=True))
            )

        result = [users_form(attributions)]
        if return_convergence_delta:
            result.append(delta)
        if return_error and error is not None:
            result.append(users_form(error))
        return result[0] if len(result) == 1 else tuple(result)

    def _fold(
        self,
        call: budgets.Call,
        internal_batch_size: int | None,
        return_convergence_delta: bool,
        show_progress: bool,
        rule: type[Rule],
        return_error: bool,
        auto: str | None,
        kept: budgets.Kept | None,
        rows: Sequence[int] | None,
        label: str,
    ) -> tuple[tuple[Tensor, ...], Tensor | None, tuple[Tensor, ...] | None]:
        """Build the path, evaluate the view the rule integrates, fold it.

        With ``kept`` (a round of an automatic ``n_steps`` on the examples ``rows``), a nested
        view takes the vertices the last round kept and evaluates only the new ones, and the
        round's own vertices are kept for the next where they fit the memory budget. ``label``
        names the method in errors and the progress bar.

        Returns the attributions (float32 at least), the delta and the error estimate (each
        ``None`` where not asked for).
        """
        inputs_tuple = call.inputs
        n_examples = inputs_tuple[0].shape[0]
        # the path and the rule compute in float32 at least; the model sees its own dtypes
        wide = widened(inputs_tuple)
        stream = rule.stream(self.path(wide, **call.settings), return_convergence_delta)
        if auto is not None and stream.budget != auto:
            raise ValueError(
                f"`{auto}='auto'`: the error of {label} is estimated over "
                f"`{stream.budget}`; set {stream.budget}='auto' instead"
            )
        folder = rule(wide)
        watcher = estimator(rule, stream, wide) if return_error else None
        model = ModelCall(
            self.forward_func,
            self.value_and_grad_func,
            call.target,
            call.additional_forward_args,
            n_examples,
            tuple(x.dtype for x in inputs_tuple),
            autocast=caller_autocast(wide[0].device),
            pad_chunks=_pads(self.fixed_chunk_shapes, self.forward_func),
        )
        progress = label if show_progress else None
        steps = None if auto is None else call.settings[auto]
        if kept is None or not stream.nested:
            reused, keeping = None, None
        else:
            reused = kept.take(rows) if kept.reuses(steps) else None
            keeping = [] if kept.fits(steps, wide) else None
        # the caller's autocast is the model's, not ours (ModelCall restores it); checks of the
        # model's outputs are read once, after the last chunk
        with torch.autocast(wide[0].device.type, enabled=False), check.deferred_checks():
            if reused is None:
                vertices = evaluate_stream(model, stream, internal_batch_size, progress)
            else:
                vertices = _reusing(stream, reused, model, internal_batch_size, progress)
            for evaluated in vertices:
                folder.fold(evaluated)
                if watcher is not None:
                    watcher.fold(evaluated)
                if keeping is not None:
                    keeping.append((evaluated.values, evaluated.grads))
            # the rule's last blocks, outside the caller's autocast too
            attributions = folder.attributions()
            error = None if watcher is None else watcher.error(attributions)
        if kept is not None:
            kept.keep(None if keeping is None else steps, rows, keeping or [])
        delta = None
        if return_convergence_delta:
            total = sum(sum_rows(a) for a in attributions)
            delta = total - folder.expected_total()
        return attributions, delta, error

    def has_convergence_delta(self) -> bool:
        """Whether ``attribute`` can return a convergence delta (its rule is complete)."""
        return self.rule.complete

    @property
    def multiplies_by_inputs(self) -> bool:
        """Whether the attributions are scaled by ``x - x'`` (global attribution)."""
        return True


def _reusing(
    stream: Stream,
    reused: list[tuple[Tensor, tuple[Tensor, ...]]],
    model: ModelCall,
    internal_batch_size: int | None,
    progress: str | None,
) -> Iterator[Evaluated]:
    """The vertices of a nested ``stream``: the even ones ``reused``, the odd ones evaluated.

    Only the odd blocks go to the engine (packed into chunks as any stream's, and counted by
    the progress bar); each even block gets the outputs and gradients the last round had at
    its point, in order.
    """
    even: collections.deque[Block] = collections.deque()

    def odd_blocks() -> Iterator[Block]:
        for j, block in enumerate(stream.blocks):
            if j % 2:
                yield block
            else:
                even.append(block)

    def kept(index: int) -> Evaluated:
        values, grads = reused[index]
        return Evaluated(even.popleft(), values, grads)

    odd = odd_blocks()
    new = stream._replace(blocks=odd, n_blocks=stream.n_blocks // 2)
    for j, evaluated in enumerate(evaluate_stream(model, new, internal_batch_size, progress)):
        yield kept(j)
        yield evaluated
    for _ in odd:  # the last (even) vertex
        raise RuntimeError("a nested view has an even number of vertices")
    yield kept(len(reused) - 1)


class RuleOnPath(GradientAttribution):
    """Another rule on the path of a method of the package.

    ``Wrapper(method)`` computes the wrapped method's path, with the wrapped method's settings,
    and folds it with :attr:`rule`. Its ``attribute`` takes the wrapped method's arguments in
    the wrapped method's positional order (:meth:`signature`): Captum's own for Captum's
    ``IntegratedGradients`` and ``LayerIntegratedGradients``, so a call copied from Captum
    works unchanged.

    :class:`~captum_smooth.IDGI` is one; adding a rule that reuses the existing paths is a
    subclass naming its rule.
    """

    rule: ClassVar[type[Rule]]
    not_applicable: ClassVar[Mapping[str, str]] = {}
    """Arguments of the wrapped method that the rule cannot honour, with what to do instead;
    passing one is a ``TypeError`` (the default value of Captum's signature is not passed)."""

    def __init__(self, attribution_method: GradientAttribution) -> None:
        """Wrap ``attribution_method``, whose path the rule integrates."""
        path_method = self.path_method(attribution_method)
        super().__init__(attribution_method.forward_func)
        self.attribution_method = attribution_method
        self._path_method = path_method

    def path_method(self, attribution_method: GradientAttribution) -> Any:
        """The method of the package whose path the rule integrates (input-space or layer)."""
        if not getattr(attribution_method, "has_path", False):
            raise TypeError(
                f"{type(self).__name__} integrates along the path of a method of "
                f"captum_smooth; got {type(attribution_method).__name__}"
            )
        return attribution_method

    def on(self, attribution_method: GradientAttribution) -> RuleOnPath:
        """The same rule, with the same options, on the path of ``attribution_method``."""
        rebuilt = copy.copy(self)
        RuleOnPath.__init__(rebuilt, attribution_method)
        return rebuilt

    def signature(self) -> inspect.Signature:
        """The arguments ``attribute`` takes: the wrapped method's, in its order.

        With ``show_progress`` and ``return_error`` added last where the wrapped method (one
        of Captum's) has none.
        """
        return _with_progress(type(self.attribution_method).attribute)

    @log_usage()
    def attribute(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """Attribute with the rule along the wrapped method's path.

        Args:
            inputs: as for the wrapped method.
            *args: the wrapped method's arguments in its positional order (:meth:`signature`;
                for Captum's ``IntegratedGradients``: ``baselines``, ``target``,
                ``additional_forward_args``, ``n_steps``, ...).
            **kwargs: the same by name, and ``show_progress``.

        Returns:
            Attributions in the wrapped method's form; with ``return_convergence_delta``, the
            convergence delta too.

        Raises:
            TypeError: an argument the wrapped method does not take, or one the rule cannot
                honour (named, with what to do instead).
        """
        hints = getattr(self.attribution_method, "argument_hints", CAPTUM_HINTS)
        signature = self.signature()
        call = bind_call(self._call_name(), signature, (inputs, *args), kwargs, hints)
        for name, reason in self.not_applicable.items():
            if name in call and call[name] is not None:
                raise TypeError(f"{self._call_name()}: `{name}` does not apply: {reason}")
        # the path gets every setting, defaults from the wrapped method's signature, except
        # those the rule does not honour (Captum's default `method` is a quadrature's)
        settings = {**defaults(signature), **call}
        for name in self.not_applicable:
            settings.pop(name, None)
        return self._path_method._attribute(rule=self.rule, label=self._label(), **settings)

    def _label(self) -> str:
        """The method as the user made it: ``IDGI(IntegratedGradients)``."""
        return f"{type(self).__name__}({type(self.attribution_method).__name__})"

    def _call_name(self) -> str:
        return f"{self._label()}.attribute()"

    def has_convergence_delta(self) -> bool:
        """Whether ``attribute`` can return a convergence delta (the rule is complete)."""
        return self.rule.complete

    @property
    def multiplies_by_inputs(self) -> bool:
        """As the wrapped method."""
        return self._path_method.multiplies_by_inputs


@functools.cache  # per method class: inspect.signature on every call would cost more
def _with_progress(attribute: Callable[..., Any]) -> inspect.Signature:
    """The public signature of ``attribute``, with what a wrapper adds where it lacks them.

    ``show_progress`` (positional, last) and ``return_error`` (keyword only).
    """
    signature = public_signature(attribute)
    kinds = {
        "show_progress": inspect.Parameter.POSITIONAL_OR_KEYWORD,
        "return_error": inspect.Parameter.KEYWORD_ONLY,
    }
    added = [
        inspect.Parameter(name, kind, default=False)
        for name, kind in kinds.items()
        if name not in signature.parameters
    ]
    return signature.replace(parameters=[*signature.parameters.values(), *added])


def defaults(signature: inspect.Signature) -> dict[str, Any]:
    """The default of each argument of ``signature`` that has one, by name."""
    return {
        name: parameter.default
        for name, parameter in signature.parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


def public_signature(function: Callable[..., Any]) -> inspect.Signature:
    """The signature of a method as its users call it: without ``self``."""
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    return signature.replace(parameters=parameters[1:])


def bind_call(
    call: str,
    signature: inspect.Signature,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    hints: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The arguments the user passed to ``call``, by name (defaults not filled in).

    Raises:
        TypeError: for arguments ``signature`` does not take, worded as Python's own error
            for ``call`` (the public call, never an internal one), with the arguments it takes
            and, where ``hints`` has one for a refused name, what to pass instead.
    """
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as error:
        message = f"{call} {error}"
        for name in kwargs:
            if name not in signature.parameters and hints and name in hints:
                message += f": {hints[name]}"
        taken = ", ".join(signature.parameters)
        raise TypeError(f"{message}. It takes ({taken}).") from None
    return dict(bound.arguments)


Method = TypeVar("Method", bound=Callable[..., Any])


def checked_call(attribute: Method) -> Method:
    """Bind a method's ``attribute`` arguments before running it.

    An argument it does not take is a ``TypeError`` naming the public call, the argument and,
    from the class's ``argument_hints``, what a Captum user should pass instead.
    """
    signature = public_signature(attribute)

    @functools.wraps(attribute)
    def bound(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = f"{type(self).__name__}.attribute()"
        bind_call(call, signature, args, kwargs, getattr(self, "argument_hints", None))
        return attribute(self, *args, **kwargs)

    return bound  # type: ignore[return-value]


def _pads(setting: bool | None, forward_func: Callable[..., Any]) -> bool:
    """:attr:`PathAttribution.fixed_chunk_shapes`, with ``None`` read from ``forward_func``."""
    if setting is not None:
        return check.check_flag("fixed_chunk_shapes", setting)
    # torch.compile's module wrapper keeps the module, its function wrapper the function
    return hasattr(forward_func, "_orig_mod") or hasattr(forward_func, "_torchdynamo_orig_callable")
