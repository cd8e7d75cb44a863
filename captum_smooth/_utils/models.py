"""What the package needs to know about the user's model, beyond calling it.

- :func:`warn_if_training`: a model in training mode (batch norm, dropout, instance norm with
  running statistics) gives attributions that depend on how the rows are batched and on the
  global RNG, and every forward pass updates its running statistics: warn, naming the fix.
- :class:`SelectOutput`: a model that returns a tuple, a dict or a Hugging Face
  ``ModelOutput``, reduced to the one tensor a method attributes.
"""

from __future__ import annotations

import contextvars
import inspect
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn

_WARNED: contextvars.ContextVar[bool] = contextvars.ContextVar("_WARNED", default=False)


def model_of(forward_func: Any) -> nn.Module | None:
    """The ``nn.Module`` behind ``forward_func``: itself, or the module of a bound method."""
    if isinstance(forward_func, nn.Module):
        return forward_func
    owner = getattr(forward_func, "__self__", None) if inspect.ismethod(forward_func) else None
    return owner if isinstance(owner, nn.Module) else None


def _depends_on_training(module: nn.Module) -> bool:
    """Whether ``module``'s forward gives other results in training mode than in eval mode."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        # without running statistics, batch statistics are used in both modes
        return module.track_running_stats
    if isinstance(module, nn.modules.instancenorm._InstanceNorm):
        return module.track_running_stats
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return module.p > 0
    if isinstance(module, (nn.MultiheadAttention, nn.RNNBase)):
        return module.dropout > 0
    return False


def training_modules(model: nn.Module) -> list[str]:
    """The names of ``model``'s modules in training mode whose forward depends on it."""
    return [
        name or type(model).__name__
        for name, module in model.named_modules()
        if module.training and _depends_on_training(module)
    ]


def warn_if_training(forward_func: Any) -> None:
    """Warn, once per ``attribute`` call, if the model is in training mode where it matters.

    Silent inside :func:`one_training_warning` (a method that calls another method several
    times warns once itself), and when ``forward_func`` is not a module or a bound method of
    one (nothing to inspect).
    """
    if _WARNED.get():
        return
    model = model_of(forward_func)
    if model is None:
        return
    names = training_modules(model)
    if names:
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        warnings.warn(
            f"the model is in training mode and its output depends on it ({shown}): batch norm "
            "uses each chunk's statistics and updates its running ones, dropout draws from the "
            "global RNG, so the attributions depend on `internal_batch_size` and are not "
            "reproducible with a `generator`. Call `model.eval()` before attributing.",
            UserWarning,
            stacklevel=3,
        )


@contextmanager
def one_training_warning(forward_func: Any) -> Iterator[None]:
    """Warn as :func:`warn_if_training` does, then silence the warning of nested calls."""
    warn_if_training(forward_func)
    token = _WARNED.set(True)
    try:
        yield
    finally:
        _WARNED.reset(token)


class SelectOutput(nn.Module):
    """One output of a model that returns several: a tuple, a dict or a ``ModelOutput``.

    ``SelectOutput(model, "logits")`` returns ``model(...)["logits"]`` (a dict's key, a
    Hugging Face ``ModelOutput``'s field), ``SelectOutput(model, 0)`` the first entry of a
    tuple. It is a module holding ``model``, so it pickles when the model does, ``.eval()``
    reaches the model, and a layer of ``model`` is a layer of it.

    Example:
        >>> from captum.attr import LayerIntegratedGradients
        >>> from captum_smooth import SelectOutput, SmoothTaylor
        >>> class TwoOutputs(nn.Module):  # returns a dict, as Hugging Face models do
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.embeddings = nn.Embedding(10, 4)
        ...         self.head = nn.Linear(4, 3)
        ...
        ...     def forward(self, ids):
        ...         hidden = self.embeddings(ids).mean(dim=1)
        ...         return {"logits": self.head(hidden), "hidden": hidden}
        >>> model = TwoOutputs()
        >>> ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
        >>> lig = LayerIntegratedGradients(SelectOutput(model, "logits"), model.embeddings)
        >>> lig.attribute(ids, target=2).shape
        torch.Size([2, 3, 4])
        >>> features = torch.rand(2, 4)
        >>> two = nn.Linear(4, 3)
        >>> pair = lambda x: (two(x), x.norm(dim=1))  # returns a tuple
        >>> attr = SmoothTaylor(SelectOutput(pair, 0)).attribute(
        ...     features, target=2, n_samples=8, generator=torch.Generator().manual_seed(0))
        >>> attr.shape
        torch.Size([2, 4])
    """

    def __init__(self, forward_func: Callable[..., Any], key: str | int) -> None:
        """Select output ``key`` (a name or an index) of ``forward_func``.

        Raises:
            TypeError: if ``forward_func`` is not callable or ``key`` not a str or an int.
        """
        super().__init__()
        if not callable(forward_func):
            raise TypeError(f"`forward_func` must be callable, got {type(forward_func).__name__}")
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            raise TypeError(f"`key` must be a str or an int, got {type(key).__name__}")
        self.forward_func, self.key = forward_func, key

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        """``forward_func(*args, **kwargs)[key]``.

        Raises:
            TypeError: if the output is already a tensor, or the selected output is not one.
            ValueError: if the output has no entry ``key``.
        """
        output = self.forward_func(*args, **kwargs)
        if isinstance(output, Tensor):
            raise TypeError(
                "`forward_func` returns a tensor already: attribute it directly, without "
                "SelectOutput (indexing it would select an example, not an output)"
            )
        try:
            selected = output[self.key]
        except (KeyError, IndexError, TypeError):
            raise ValueError(
                f"`key` {self.key!r} is not an output of forward_func, which returns "
                f"{describe_output(output)}"
            ) from None
        if not isinstance(selected, Tensor):
            raise TypeError(
                f"`key` {self.key!r} selects a {type(selected).__name__}, not a tensor; "
                f"forward_func returns {describe_output(output)}"
            )
        return selected

    def extra_repr(self) -> str:
        """The key, in the module's repr."""
        return f"key={self.key!r}"


def describe_output(output: Any) -> str:
    """A model's output in words: its type and its keys or length."""
    name = type(output).__name__
    if isinstance(output, dict):
        return f"a {name} with keys {list(output.keys())}"
    if isinstance(output, (tuple, list)):
        return f"a {name} of {len(output)}"
    return f"a {name}"
