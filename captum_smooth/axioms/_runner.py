"""How the axiom checks run a method: validated arguments, common random numbers, the outputs.

A :class:`Runner` holds a check's inputs, baselines, target and ``attribute`` keywords, builds
the method from its factory on each model, calls it with the same random numbers every time,
and measures what the tolerances need (the model's outputs, their variation along the path).
Layer methods are recognised here, and their attributions read per input feature.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from captum.attr import Attribution
from captum.attr import LayerAttribution as CaptumLayerAttribution
from torch import Tensor, nn

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import (
    TargetType,
    format_additional_forward_args,
    run_forward,
)
from captum_smooth.attr._layer import LayerAttribution, LayerHooks, Layers
from captum_smooth.axioms._tolerances import VARIATION_STEPS

MethodFactory = Callable[[Callable[..., Any]], Attribution]


class Runner:
    """Validated arguments shared by the checks, and the calls they make."""

    def __init__(
        self,
        method: MethodFactory,
        inputs: Tensor,
        baselines: Tensor | float | None,
        target: TargetType,
        additional_forward_args: Any,
        kwargs: Mapping[str, Any] | None,
        seed: int,
    ) -> None:
        if isinstance(method, Attribution) or not callable(method):
            raise TypeError(
                "`method` must be a factory taking a model and returning a Captum Attribution, "
                "e.g. `IntegratedGradients` or `lambda m: NoiseTunnel(Saliency(m))`, got "
                f"{type(method).__name__}"
            )
        self._method = method
        if not isinstance(inputs, Tensor):
            raise TypeError(f"`inputs` must be a tensor, got {type(inputs).__name__}")
        if is_integer(inputs):
            # token ids, for a layer method: whether the method is one is known at `build`
            if inputs.dim() == 0 or inputs.shape[0] == 0:
                raise ValueError("`inputs` must hold at least one example (batch first)")
            self.inputs = inputs.detach()
        else:
            (self.inputs,), _ = check.format_inputs(inputs)
        if self.inputs.dim() < 2:
            raise ValueError("`inputs` must be shaped (batch, *features)")
        self.baselines = _format_baselines(baselines, self.inputs)
        self.batch_size = self.inputs.shape[0]
        self.n_features = self.inputs[0].numel()
        check.check_target(target, self.batch_size, self.inputs)
        check.check_forward_args(
            format_additional_forward_args(additional_forward_args), (self.inputs,)
        )
        self.target, self.additional_forward_args = target, additional_forward_args
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise TypeError(f"`attribute_kwargs` must be a mapping, got {type(kwargs).__name__}")
        self.kwargs = dict(kwargs or {})
        self.to_layer_input = self.kwargs.get("attribute_to_layer_input", False) is True
        reserved = {"inputs", "baselines", "target", "additional_forward_args"} & set(self.kwargs)
        if reserved:
            raise ValueError(
                f"`attribute_kwargs` must not set {sorted(reserved)}: pass them to the check itself"
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"`seed` must be an int, got {type(seed).__name__}")
        if not 0 <= seed < 2**32:
            raise ValueError(f"`seed` must lie in [0, 2**32) (numpy's seeds), got {seed}")
        self.seed = seed
        self._generator_states = {
            k: v.get_state() for k, v in self.kwargs.items() if isinstance(v, torch.Generator)
        }

    def build(self, model: Callable[..., Any]) -> Attribution:
        """The method on ``model``; integer inputs only for a layer method."""
        attributor = self._method(model)
        if not isinstance(attributor, Attribution):
            raise TypeError(
                f"`method` must return a Captum Attribution, got {type(attributor).__name__}"
            )
        if is_integer(self.inputs) and self.layers(attributor) is None:
            raise TypeError(
                f"`inputs` must be floating point for {type(attributor).__name__}, which "
                f"attributes to the inputs, got dtype {self.inputs.dtype}: integer inputs (token "
                "ids) need a layer method, e.g. `lambda m: LayerIntegratedGradients(m, "
                "m.embedding)`"
            )
        self.output(model, self.inputs)
        return attributor

    @staticmethod
    def layers(attributor: Attribution) -> list[nn.Module] | None:
        """The layers a layer method attributes to, looking through wrappers; else None.

        A layer method is one of Captum's (``LayerIntegratedGradients``...) or of the
        package's; wrappers (IDGI, NoiseTunnel) hold theirs as ``attribution_method``.
        """
        layer = layer_of(attributor)
        if layer is None:
            return None
        return layer if isinstance(layer, list) else [layer]

    def space(
        self, model: Callable[..., Any], attributor: Attribution, summed: bool = False
    ) -> str:
        """Where the attributions live, for messages: empty for the inputs' space.

        With ``summed``, says that a feature's attribution sums its layer attributions.
        """
        layers = self.layers(attributor)
        if layers is None:
            return ""
        names = ", ".join(module_name(model, layer) for layer in layers)
        where = "input" if self.to_layer_input else "output"
        if summed:
            return (
                f" (its attributions in the space of the {where} of layer {names}, summed over "
                "the trailing dimensions)"
            )
        return f" in the space of the {where} of layer {names}"

    def features(
        self, model: Callable[..., Any], attributor: Attribution, attributions: Any, name: str
    ) -> Tensor:
        """``(B, n_features)``: each input feature's attribution.

        A layer method's attributions, shaped like the inputs plus trailing dimensions, are
        summed over those (a token's score); others are refused, naming ``method``.
        """
        if self.layers(attributor) is None:
            return per_example(attributions)
        dims = self.inputs.dim()
        if isinstance(attributions, Tensor) and attributions.shape[:dims] == self.inputs.shape:
            return attributions.reshape(self.batch_size, self.n_features, -1).sum(dim=2)
        shape = (
            tuple(attributions.shape)
            if isinstance(attributions, Tensor)
            else f"a {type(attributions).__name__} of tensors"
        )
        raise ValueError(
            f"`method` builds {type(attributor).__name__}, whose attributions"
            f"{self.space(model, attributor)} ({shape}) are not aligned with the features of "
            f"`inputs` {tuple(self.inputs.shape)}: {name} needs attributions aligned with input "
            "features, shaped like `inputs` plus trailing dimensions (an embedding layer's "
            "(batch, tokens, embedding) for (batch, tokens) token ids); attribute to such a "
            "layer (check_completeness takes any layer)"
        )

    @staticmethod
    def takes_baselines(attributor: Attribution) -> bool:
        """Whether ``attribute`` accepts ``baselines``, directly or through a wrapped method.

        Wrappers that pass ``**kwargs`` on to their ``attribution_method`` (NoiseTunnel, IDGI)
        accept them through it.
        """
        parameters = inspect.signature(attributor.attribute).parameters
        if "baselines" in parameters:
            return True
        wrapped = getattr(attributor, "attribution_method", None)
        passes_on = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        return passes_on and isinstance(wrapped, Attribution) and Runner.takes_baselines(wrapped)

    def attribute(self, attributor: Attribution, with_baselines: bool = True, **extra: Any) -> Any:
        """``attributor.attribute`` on the inputs with the check's arguments and common draws."""
        kwargs = {**self.kwargs, **extra}
        if with_baselines and self.takes_baselines(attributor):
            kwargs["baselines"] = self.baselines
        with common_random_numbers(self.seed, self.kwargs, self._generator_states):
            return attributor.attribute(
                self.inputs,
                target=self.target,
                additional_forward_args=self.additional_forward_args,
                **kwargs,
            )

    def per_example_delta(self, delta: Tensor) -> Tensor:
        """A convergence delta per example: the mean over a sampling method's draws.

        Captum orders the draws by example (``n_samples`` rows for the first example, then the
        next).
        """
        return torch.as_tensor(delta).detach().reshape(self.batch_size, -1).mean(dim=1)

    def variation(self, model: Callable[..., Any], attributor: Attribution) -> Tensor:
        """How much the output moves from the baselines to the inputs, per example.

        The sum of ``|Δf|`` over :data:`VARIATION_STEPS` equal steps of the straight line: in
        the inputs' space, or for a layer method in the layer's, from ``L(x')`` to ``L(x)``
        (the model run on the inputs with the layer's activations replaced by the points).
        """
        steps = torch.linspace(0, 1, VARIATION_STEPS + 1).tolist()
        layers = self.layers(attributor)
        if layers is None:
            outputs = [
                self.output(model, self.baselines + t * (self.inputs - self.baselines))
                for t in steps
            ]
        else:
            hooks = LayerHooks(layers, self.to_layer_input)
            args = format_additional_forward_args(self.additional_forward_args)
            end, _ = hooks.activations(model, (self.inputs,), args)
            start, _ = hooks.activations(model, (self.baselines,), args)
            outputs = []
            for t in steps:
                points = tuple(a + t * (b - a) for a, b in zip(start, end, strict=True))
                with hooks.replaced(points):
                    outputs.append(self.output(model, self.inputs))
        return torch.stack(outputs).diff(dim=0).abs().sum(dim=0)

    def magnitude(self, model: Callable[..., Any]) -> Tensor:
        """``|f(x)| + |f(x')|`` per example: the size of the outputs a method differences."""
        return self.output(model, self.inputs).abs() + self.output(model, self.baselines).abs()

    def output(self, model: Callable[..., Any], points: Tensor) -> Tensor:
        with torch.no_grad():
            out = run_forward(model, points, self.target, self.additional_forward_args)
        if out.numel() != self.batch_size:
            raise ValueError(
                f"the model's output for `target` must be one scalar per example, got shape "
                f"{tuple(out.shape)}"
            )
        return out.reshape(self.batch_size).detach()


def _format_baselines(baselines: Any, inputs: Tensor) -> Tensor:
    """``baselines`` shaped like ``inputs``: one tensor or number, token ids for token ids."""
    if baselines is not None and (
        isinstance(baselines, bool) or not isinstance(baselines, int | float | Tensor)
    ):
        raise TypeError(f"`baselines` must be a tensor or a float, got {type(baselines).__name__}")
    return check.format_baselines(baselines, (inputs,))[0]


def is_integer(t: Tensor) -> bool:
    """Whether ``t`` holds integers (token ids), not floats, complex numbers or bools."""
    return not (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool)


def layer_of(attributor: Attribution) -> Layers | None:
    """The ``layer`` of a layer method, or of the method a wrapper holds; else None."""
    if isinstance(attributor, CaptumLayerAttribution | LayerAttribution):
        return attributor.layer
    wrapped = getattr(attributor, "attribution_method", None)
    return layer_of(wrapped) if isinstance(wrapped, Attribution) else None


def module_name(model: Callable[..., Any], layer: nn.Module) -> str:
    """The layer's name in ``model`` and its kind, e.g. ``"`embedding` (Embedding)"``."""
    kind = type(layer).__name__
    if isinstance(model, nn.Module):
        for name, module in model.named_modules():
            if module is layer and name:
                return f"`{name}` ({kind})"
    return kind


def per_example(t: Tensor) -> Tensor:
    """``(B, n)``: each example of ``t`` flattened."""
    return t.reshape(t.shape[0], -1)


@contextlib.contextmanager
def common_random_numbers(
    seed: int, kwargs: Mapping[str, Any], generator_states: Mapping[str, Tensor]
) -> Iterator[None]:
    """The same draws for every call.

    Torch's and numpy's global generators are seeded (and restored afterwards; Captum's
    GradientShap draws from numpy's), and any ``torch.Generator`` in ``attribute_kwargs`` is
    rewound to its state when the check began.
    """
    for name, state in generator_states.items():
        kwargs[name].set_state(state)
    # Captum's GradientShap draws from numpy's legacy global generator: seed that one.
    numpy_state = np.random.get_state()  # noqa: NPY002
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        np.random.seed(seed)  # noqa: NPY002
        try:
            yield
        finally:
            np.random.set_state(numpy_state)  # noqa: NPY002
