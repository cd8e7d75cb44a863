"""A named attribution method with its settings.

What the evaluation compares and what the command line offers (one description for both).
Imports neither torch nor captum.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Method:
    """A named attribution method with its settings.

    Attributes:
        name: how tables, figures and the command line call it.
        factory: builds the attribution method from the model (e.g. ``SmoothTaylor`` or
            ``lambda m: IDGI(IntegratedGradients(m))``).
        kwargs: keyword arguments for ``attribute``.
        random: the method takes a ``generator``: the caller gives it one (the evaluation
            seeds one per batch, so results do not depend on how batches are spread over
            processes).
        description: its settings in a few words, for titles and tables.

    Example:
        >>> from captum.attr import IntegratedGradients
        >>> from captum_smooth import IDGI, SmoothTaylor
        >>> from captum_smooth.evaluation import Method
        >>> smooth_taylor = Method("SmoothTaylor", SmoothTaylor, {"n_samples": 16}, random=True,
        ...                        description="16 roots, σ = 0.5")
        >>> idgi = Method("IDGI", lambda m: IDGI(IntegratedGradients(m)), {"n_steps": 16})
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
        >>> images = torch.rand(2, 3, 2, 2)
        >>> smooth_taylor.attribute(model, images, 1,
        ...                         generator=torch.Generator().manual_seed(0)).shape
        torch.Size([2, 3, 2, 2])
        >>> idgi.attribute(model, images, 1).shape
        torch.Size([2, 3, 2, 2])
    """

    name: str
    factory: Callable[[Any], Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    random: bool = False
    description: str = ""

    def attribute(
        self, model: Any, inputs: Any, target: Any, generator: Any = None, **extra: Any
    ) -> Any:
        """Build the method on ``model`` and attribute ``target`` on ``inputs``.

        A random method draws from ``generator``; ``extra`` keywords are added to
        :attr:`kwargs`.
        """
        kwargs = {**self.kwargs, **extra}
        if self.random and generator is not None:
            kwargs["generator"] = generator
        return self.factory(model).attribute(inputs, target=target, **kwargs)
