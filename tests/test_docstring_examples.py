"""Every docstring example of the API reference runs as written, and prints what it shows.

The examples are doctests (``>>>``) in the docstrings' ``Example:`` sections. Each runs in a
namespace of its own that holds only ``torch`` and ``nn`` (``from torch import nn``), as the
API reference says; it imports everything else itself. Every public class and function of the
modules below must have one (the documentation build warns too, an error in CI). Under
``CAPTUM_SMOOTH_TEST_DEVICE`` (tests/conftest.py) they run on that device, unchanged: tensors
and modules they create land there.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import types
from collections.abc import Iterator

import pytest
import torch
from torch import nn

# The modules whose public names (``__all__``) must each have an example: docs/conf.py's
# PUBLIC_MODULES.
PUBLIC_MODULES = [
    "captum_smooth",
    "captum_smooth.attr",
    "captum_smooth.attr.layer",
    "captum_smooth.metrics",
    "captum_smooth.axioms",
    "captum_smooth.evaluation",
    "captum_smooth.examples",
]
# Documented too, without ``__all__``: their docstrings' examples run where they have one.
OTHER_MODULES = ["captum_smooth.attr.llm", "captum_smooth.axioms.strategies"]


def _documented() -> Iterator[tuple[str, object, bool]]:
    """``(name, object, needs an example)``: modules, then their public classes and functions."""
    seen: set[int] = set()
    for module_name in PUBLIC_MODULES + OTHER_MODULES:
        module = importlib.import_module(module_name)
        yield module_name, module, False
        public = module_name in PUBLIC_MODULES
        names = module.__all__ if public else [n for n in vars(module) if not n.startswith("_")]
        for name in names:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)) or id(obj) in seen:
                continue
            if isinstance(obj, types.GenericAlias):
                continue  # a type alias (MethodFactory), which Python 3.10 calls a class
            if not public and obj.__module__ != module_name:
                continue  # imported there, documented where it is public
            seen.add(id(obj))
            yield f"{module_name}.{name}", obj, public


def _example(name: str, obj: object) -> doctest.DocTest:
    return doctest.DocTestParser().get_doctest(
        inspect.getdoc(obj) or "", {"torch": torch, "nn": nn}, name, None, None
    )


DOCUMENTED = list(_documented())
WITH_EXAMPLES = [
    pytest.param(name, obj, id=name)
    for name, obj, needed in DOCUMENTED
    if needed or _example(name, obj).examples
]


@pytest.mark.parametrize(("name", "obj"), WITH_EXAMPLES)
def test_the_docstring_example_runs_and_shows_what_it_prints(name, obj):
    test = _example(name, obj)
    assert test.examples, f"{name} has no example: add an `Example:` section with `>>>` lines"
    report: list[str] = []
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    with torch.random.fork_rng():  # an example that draws leaves the other tests' RNG as it was
        runner.run(test, out=report.append, clear_globs=True)
    assert runner.failures == 0, "".join(report)
