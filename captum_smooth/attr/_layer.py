"""Layer variants: any method of the package run in the space of a layer's activations.

See docs/reference.md#layer-variants.

``LayerX(forward_func, layer)`` computes the layer's activations ``a = L(x)`` on the inputs
(and on the method's settings given as model inputs: baselines, a reference set), runs
method ``X``'s path in the space of ``a`` and gets ``f`` and ``∇_a f`` from the model run on
the original inputs with the layer's output replaced by the path's points, through the
method's replaceable ``value_and_grad_func``, as Captum's ``LayerIntegratedGradients``
replaces ``gradient_func``. So a layer variant is one small class naming its method, and text
models and LLMs are reached through their embeddings, the way Captum users reach them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from captum.attr import GradientAttribution
from torch import Tensor, nn

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import TargetType, format_additional_forward_args
from captum_smooth.attr._engine import value_and_grad
from captum_smooth.attr._paths import PathAttribution
from captum_smooth.attr._rules import Rule

Layers = nn.Module | list[nn.Module]


class LayerAttribution(GradientAttribution):
    """A method of the package whose path runs in the space of a layer's activations.

    Subclasses name the input-space method (:attr:`method`). The constructor follows
    Captum's layer methods: ``(forward_func, layer, device_ids=None, multiply_by_inputs=True)``,
    ``layer`` one module or a list of modules; ``attribute`` takes
    ``attribute_to_layer_input`` and returns attributions shaped like the layer's activations
    (a tuple for a layer with several outputs, a list for a list of layers).

    Example:
        >>> from captum_smooth.attr.layer import LayerAttribution, LayerSmoothTaylor
        >>> embeddings, head = nn.Embedding(10, 4), nn.Linear(5 * 4, 2)
        >>> model = nn.Sequential(embeddings, nn.Flatten(), head)
        >>> input_ids = torch.tensor([[1, 2, 3, 4, 5]])
        >>> lst = LayerSmoothTaylor(model, [embeddings, head])
        >>> isinstance(lst, LayerAttribution), lst.method.__name__
        (True, 'SmoothTaylor')
        >>> attr = lst.attribute(input_ids, target=1, n_samples=8,
        ...                      generator=torch.Generator().manual_seed(0))
        >>> [a.shape for a in attr]  # one per layer, shaped like its activations
        [torch.Size([1, 5, 4]), torch.Size([1, 2])]
    """

    method: ClassVar[type[PathAttribution]]
    takes_multiply_by_inputs: ClassVar[bool] = False
    has_path: ClassVar[bool] = True
    fixed_chunk_shapes: bool | None = None
    """As :attr:`PathAttribution.fixed_chunk_shapes`."""

    def __init__(
        self,
        forward_func: Callable[..., Any],
        layer: Layers,
        device_ids: list[int] | None = None,
        multiply_by_inputs: bool = True,
    ) -> None:
        """Attribute ``forward_func``'s output to the activations of ``layer``.

        Args:
            forward_func: the model or any function returning its outputs.
            layer: the module (or list of modules) whose output, or input with
                ``attribute_to_layer_input=True``, is attributed to.
            device_ids: Captum's argument for ``DataParallel`` models; must be ``None`` (run
                the model on one device).
            multiply_by_inputs: as Captum's: ``False`` gives the path-averaged gradients
                (local attribution), for methods that have that variant.

        Raises:
            TypeError: if ``layer`` is not a module or a list of modules.
            ValueError: for ``device_ids`` or an unsupported ``multiply_by_inputs``.
        """
        super().__init__(forward_func)
        layers = layer if isinstance(layer, list) else [layer]
        if not layers or not all(isinstance(m, nn.Module) for m in layers):
            raise TypeError("`layer` must be a torch.nn.Module or a non-empty list of them")
        if device_ids is not None:
            raise ValueError(
                "`device_ids`: DataParallel replicas are not supported; run the model on one device"
            )
        check.check_flag("multiply_by_inputs", multiply_by_inputs)
        if not multiply_by_inputs and not self.takes_multiply_by_inputs:
            raise ValueError(
                f"`multiply_by_inputs`: {self.method.__name__} always multiplies by the inputs"
            )
        self.layer, self.device_ids = layer, device_ids
        self._multiply_by_inputs = multiply_by_inputs

    def _inner(self) -> PathAttribution:
        """The input-space method on this model.

        Built at each call, since Captum's LLM wrapper replaces ``forward_func`` on a shallow
        copy.
        """
        if self.takes_multiply_by_inputs:
            return self.method(self.forward_func, multiply_by_inputs=self._multiply_by_inputs)
        return self.method(self.forward_func)

    _attribute_from = PathAttribution._attribute_from

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
        attribute_to_layer_input: bool = False,
        label: str | None = None,
        **settings: Any,
    ) -> Any:
        """Activations of the inputs (and baselines), then the method's template on them."""
        check.check_flag("attribute_to_layer_input", attribute_to_layer_input)
        model_inputs = _model_inputs(inputs)
        args = format_additional_forward_args(additional_forward_args)
        layers = self.layer if isinstance(self.layer, list) else [self.layer]
        probe = LayerHooks(layers, attribute_to_layer_input)
        activations, counts = probe.activations(self.forward_func, model_inputs, args)
        inner = self._inner()
        inner.fixed_chunk_shapes = self.fixed_chunk_shapes
        for name in inner.input_settings:
            # as Captum's layer methods: baselines and references are model inputs, mapped
            # through the layer
            given = settings.get(name)
            if name in inner.shared_settings:
                given = _reference_set(name, given, model_inputs, args)
            else:
                given = check.format_baselines(given, model_inputs)
            settings[name], _ = probe.activations(self.forward_func, given, args)
        inner.value_and_grad_func = _LayerValueAndGrad(probe, len(model_inputs))
        result = inner._attribute(
            activations,
            target,
            model_inputs + (args or ()),
            internal_batch_size,
            return_convergence_delta,
            show_progress,
            rule=rule,
            return_error=return_error,
            label=label or type(self).__name__,
            **settings,
        )
        parts = list(result) if return_convergence_delta or return_error else [result]
        error = parts.pop() if return_error else None
        several = isinstance(self.layer, list)

        def per_layer(maps: Any) -> Any:
            return _per_layer(maps if isinstance(maps, tuple) else (maps,), counts, several)

        parts[0] = per_layer(parts[0])
        if error is not None:
            parts.append(per_layer(error))
        return parts[0] if len(parts) == 1 else tuple(parts)

    @property
    def argument_hints(self) -> Mapping[str, str]:
        """For arguments of Captum's that ``attribute`` does not take: as the method's."""
        return self.method.argument_hints

    def has_convergence_delta(self) -> bool:
        """As the method in the input space (SmoothTaylor, not complete, has none)."""
        return self._inner().has_convergence_delta()

    @property
    def multiplies_by_inputs(self) -> bool:
        """Whether attributions are scaled by the activations' displacement."""
        return self._multiply_by_inputs


class LayerHooks:
    """Hooks on the layers: read their activations, or replace them by given points.

    The hooks act only in the thread that registered them (see :class:`_hooked`), so one
    layer method, or several on one model, may run in several threads at once.
    """

    def __init__(self, layers: list[nn.Module], to_input: bool) -> None:
        self.layers, self.to_input = layers, to_input
        self.counts: list[int] = []

    def activations(
        self, forward_func: Callable[..., Any], model_inputs: tuple[Tensor, ...], args: Any
    ) -> tuple[tuple[Tensor, ...], list[int]]:
        """Each layer's activations on ``model_inputs``, and how many tensors each layer has.

        The activations of all layers are flattened to one tuple.
        """
        seen: list[tuple[Tensor, ...] | None] = [None] * len(self.layers)

        def reader(index: int) -> Callable[..., None]:
            def hook(module: nn.Module, layer_inputs: Any, output: Any = None) -> None:
                if seen[index] is not None:
                    raise ValueError(
                        "`layer` is called more than once in one forward pass; attribute to a "
                        "module that runs once"
                    )
                # a copy: a later in-place operation (ReLU(inplace=True) after a batch norm)
                # must not change the activations read
                seen[index] = tuple(
                    t.detach().clone() for t in _tensors(layer_inputs if self.to_input else output)
                )

            return hook

        with _hooked(self.layers, self.to_input, reader), torch.no_grad():
            # copies: the forward may normalise its inputs in place
            forward_func(*(x.clone() for x in model_inputs), *(args or ()))
        if any(s is None for s in seen):
            raise ValueError("`layer` did not run in the model's forward pass")
        self.counts = [len(group) for group in seen]
        flat = tuple(t for group in seen for t in group)
        for t in flat:
            if not t.is_floating_point():
                raise TypeError(
                    f"`layer`'s activations must be floating point to attribute to, got "
                    f"{t.dtype}: choose a layer after the embedding lookup"
                )
        return flat, self.counts

    def replaced(self, points: tuple[Tensor, ...]) -> _hooked:
        """A context in which the layers' activations are ``points`` (in order)."""
        groups, start = [], 0
        for n in self.counts:
            groups.append(points[start : start + n])
            start += n
        calls = [0] * len(self.layers)

        def writer(index: int) -> Callable[..., Any]:
            def hook(module: nn.Module, layer_inputs: Any, output: Any = None) -> Any:
                calls[index] += 1
                if calls[index] > 1:
                    raise ValueError(
                        "`layer` is called more than once in one forward pass; attribute to a "
                        "module that runs once"
                    )
                if self.to_input:
                    return tuple(groups[index])
                return groups[index][0] if isinstance(output, Tensor) else tuple(groups[index])

            return hook

        return _hooked(self.layers, self.to_input, writer)


class _hooked:
    """Forward hooks (or pre-hooks for layer inputs) made by ``make(index)``, removed on exit.

    Hooks are registered on the module, which every thread shares; each acts only in the
    thread that entered the context, so that concurrent calls do not read or replace each
    other's activations.
    """

    def __init__(
        self,
        layers: Sequence[nn.Module],
        to_input: bool,
        make: Callable[[int], Callable[..., Any]],
    ) -> None:
        self.layers, self.to_input, self.make = layers, to_input, make
        self.handles: list[Any] = []

    def __enter__(self) -> None:
        owner = threading.get_ident()
        for index, layer in enumerate(self.layers):
            hook = _in_thread(owner, self.make(index))
            if self.to_input:
                self.handles.append(layer.register_forward_pre_hook(hook))
            else:
                self.handles.append(layer.register_forward_hook(hook))

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()


class _LayerValueAndGrad:
    """The engine's ``value_and_grad`` in the layer's space.

    The model runs on the rows' inputs (the first ``n_model_inputs`` additional arguments)
    with the layer's activations replaced by the points, and gradients are taken with respect
    to the points.
    """

    def __init__(self, probe: LayerHooks, n_model_inputs: int) -> None:
        self.probe, self.n_model_inputs = probe, n_model_inputs

    def __call__(
        self,
        forward_func: Callable[..., Any],
        points: tuple[Tensor, ...],
        target: TargetType,
        additional_forward_args: Any,
        with_grad: bool,
    ) -> tuple[Tensor, tuple[Tensor, ...] | None]:
        n = self.n_model_inputs
        model_inputs, rest = additional_forward_args[:n], additional_forward_args[n:]

        def in_layer_space(*all_args: Tensor) -> Any:
            with self.probe.replaced(all_args[: len(points)]):
                return forward_func(*model_inputs, *rest)

        return value_and_grad(in_layer_space, points, target, None, with_grad)


def _in_thread(owner: int, hook: Callable[..., Any]) -> Callable[..., Any]:
    """``hook`` in the thread ``owner``; a no-op in any other."""

    def in_thread(*args: Any) -> Any:
        return hook(*args) if threading.get_ident() == owner else None

    return in_thread


def _reference_set(
    name: str, references: Any, model_inputs: tuple[Tensor, ...], args: Any
) -> tuple[Tensor, ...]:
    """A reference set given as model inputs: ``R ≥ 1`` rows shaped like one example each.

    Raises:
        TypeError: for references that are not tensors of the inputs' kind (token ids for
            token ids).
        ValueError: for references of another shape, device or number of rows per tensor,
            or additional forward arguments with per-example tensors, which a reference set
            (mapped through the layer once, not per example) cannot be given.
    """
    given = references if isinstance(references, tuple) else (references,)
    if len(given) != len(model_inputs):
        raise ValueError(f"`{name}` has {len(given)} entries for {len(model_inputs)} inputs")
    for r, x in zip(given, model_inputs, strict=True):
        if not isinstance(r, Tensor) or r.is_floating_point() != x.is_floating_point():
            got = r.dtype if isinstance(r, Tensor) else type(r).__name__
            raise TypeError(
                f"`{name}` must be tensors of reference inputs like `inputs` ({x.dtype}), R rows "
                f"shaped like one example, got {got}"
            )
        if r.dim() != x.dim() or r.shape[1:] != x.shape[1:] or r.shape[0] < 1:
            raise ValueError(
                f"`{name}` must hold R ≥ 1 references shaped like one example "
                f"{tuple(x.shape[1:])}, got shape {tuple(r.shape)}"
            )
        check.check_device(name, r.device, x.device)
    if len({r.shape[0] for r in given}) != 1:
        raise ValueError(f"`{name}` tensors must have the same number of references")
    if any(isinstance(a, Tensor) and a.dim() > 0 for a in args or ()):
        raise ValueError(
            f"`{name}`: the reference set is mapped through the layer once, so the "
            "additional forward arguments cannot hold per-example tensors (they would be "
            "the examples', not the references'); pass them as non-tensor arguments"
        )
    return tuple(r.detach() for r in given)


def _model_inputs(inputs: Any) -> tuple[Tensor, ...]:
    """The model's inputs as a tuple of tensors of one batch size, any dtype (token ids)."""
    formatted = inputs if isinstance(inputs, tuple) else (inputs,)
    if not formatted or not all(isinstance(x, Tensor) for x in formatted):
        raise TypeError("`inputs` must be a tensor or a tuple of tensors")
    sizes = {x.shape[0] if x.dim() else None for x in formatted}
    if None in sizes or len(sizes) != 1:
        raise ValueError(f"all tensors in `inputs` must share a batch dimension, got {sizes}")
    if 0 in sizes:
        raise ValueError("`inputs` must hold at least one example")
    for x in formatted:
        if x.is_floating_point() and not check.all_finite(x):
            raise ValueError("`inputs` must be finite (no NaN or inf)")
    return tuple(formatted)


def _tensors(value: Any) -> tuple[Tensor, ...]:
    if isinstance(value, Tensor):
        return (value,)
    if isinstance(value, (tuple, list)) and value and all(isinstance(t, Tensor) for t in value):
        return tuple(value)
    raise TypeError(
        f"`layer`'s activations must be a tensor or a tuple of tensors, got {type(value).__name__}"
    )


def _per_layer(
    attributions: tuple[Tensor, ...], counts: list[int], is_list: bool
) -> Tensor | tuple[Tensor, ...] | list[Tensor | tuple[Tensor, ...]]:
    """Attributions in Captum's layer format.

    Per layer a tensor (one activation) or a tuple; a list of them when ``layer`` was a list.
    """
    groups, start = [], 0
    for n in counts:
        group = attributions[start : start + n]
        groups.append(group[0] if n == 1 else tuple(group))
        start += n
    return groups if is_list else groups[0]
