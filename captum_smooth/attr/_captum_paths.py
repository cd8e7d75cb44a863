"""Captum's IntegratedGradients and LayerIntegratedGradients as paths for other rules.

A rule wrapper (:class:`~captum_smooth.IDGI`,
:class:`~captum_smooth.IntegratedDecisionGradients`) accepts Captum's IG and Layer IG as it
accepts the package's path methods: :class:`RuleOnIGPath` turns them into the straight line
of :class:`~captum_smooth.attr._paths.StraightLine`, in the input's or the layer's space. It
sits above the path layer and the layer variants, which it joins.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from captum.attr import GradientAttribution, IntegratedGradients, LayerIntegratedGradients
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.captum_compat import BaselineType
from captum_smooth.attr._layer import LayerAttribution
from captum_smooth.attr._paths import PathAttribution, RuleOnPath, StraightLine, _with_progress
from captum_smooth.attr._placement import Placement, check_placement


class StraightPath(PathAttribution):
    """The straight line of Captum's IntegratedGradients, for rules other than its own."""

    input_settings: ClassVar[frozenset[str]] = frozenset({"baselines"})

    def path(
        self,
        inputs: tuple[Tensor, ...],
        *,
        baselines: BaselineType,
        n_steps: int,
        method: str | None = None,
        placement: Placement | str | None = None,
    ) -> StraightLine:
        """The line from ``baselines`` to ``inputs`` with Captum's settings.

        ``method`` is absent where the rule leaves it out (``not_applicable``: a polyline's
        rule), and its quadrature is then Captum's default. ``placement`` (not Captum's):
        where the steps go (:class:`Placement`).
        """
        return StraightLine(
            inputs,
            check.format_baselines(baselines, inputs),
            n_steps,
            method,
            placement=check_placement(placement),
        )


class LayerStraightPath(LayerAttribution):
    """The straight line of Captum's LayerIntegratedGradients, in the layer's space."""

    method = StraightPath


class RuleOnIGPath(RuleOnPath):
    """A rule on the path of an IG-family method, Captum's IG and Layer IG included.

    Captum's ``IntegratedGradients`` and ``LayerIntegratedGradients`` become :attr:`straight`
    (the straight line, in the input's or the layer's space); the package's path methods
    (Guided IG, Blur IG, their layer variants) keep their own paths. The rule's attributions
    add up to the output's change, so a wrapped method must multiply by the inputs.
    """

    not_applicable: ClassVar[Mapping[str, str]] = {
        "grad_kwargs": "gradients are taken with torch.autograd.grad's defaults",
    }
    straight: ClassVar[tuple[type[PathAttribution], type[LayerAttribution]]] = (
        StraightPath,
        LayerStraightPath,
    )
    """The path methods that Captum's IG and Layer IG become (input space, layer)."""

    def path_method(self, attribution_method: GradientAttribution) -> Any:
        """The method whose path the rule integrates along.

        Raises:
            TypeError: for a method without a path, named with the wrapper.
            ValueError: for a wrapped method with ``multiply_by_inputs=False``.
        """
        name = type(self).__name__
        if isinstance(attribution_method, IntegratedGradients):
            path_method = self.straight[0](attribution_method.forward_func)
        elif isinstance(attribution_method, LayerIntegratedGradients):
            path_method = self.straight[1](
                attribution_method.forward_func,
                attribution_method.layer,
                attribution_method.device_ids,
            )
        elif getattr(attribution_method, "has_path", False):
            path_method = attribution_method
        else:
            raise TypeError(
                f"{name} integrates along the path of an IG-family method: Captum's "
                "IntegratedGradients or LayerIntegratedGradients, or the package's "
                "GuidedIntegratedGradients, BlurIntegratedGradients and their layer variants; "
                f"got {type(attribution_method).__name__}"
            )
        if not attribution_method.multiplies_by_inputs:
            raise ValueError(
                f"`multiply_by_inputs=False` of the wrapped {type(attribution_method).__name__}: "
                f"{name}'s attributions share the output's rise and have no local (not "
                "multiplied by inputs) variant; wrap the method with multiply_by_inputs=True"
            )
        return path_method

    def signature(self) -> inspect.Signature:
        """The wrapped method's arguments; on Captum's IG and Layer IG, with ``placement``.

        ``placement`` (keyword only, after ``return_error``) places the straight line's steps
        where the output rises (:class:`Placement`); the package's path methods that have it
        take it among their own arguments.
        """
        if not isinstance(self.attribution_method, (IntegratedGradients, LayerIntegratedGradients)):
            return super().signature()
        return _with_placement(type(self.attribution_method).attribute)

    @property
    def multiplies_by_inputs(self) -> bool:
        """The attributions add up to the output's change: global attributions."""
        return True


@functools.cache  # per method class, as _with_progress: rebuilt, it costs more than a call's checks
def _with_placement(attribute: Callable[..., Any]) -> inspect.Signature:
    """The signature :func:`_with_progress` gives ``attribute``, with ``placement`` last."""
    signature = _with_progress(attribute)
    added = inspect.Parameter("placement", inspect.Parameter.KEYWORD_ONLY, default=None)
    return signature.replace(parameters=[*signature.parameters.values(), added])
