"""Sphinx configuration of the documentation site.

The README is its landing page, with the pages of docs/, the five tutorials with their stored
outputs (never executed) and the API reference from the docstrings (autodoc + napoleon, Google
style, as Captum's).

Built from the repository root so that every relative link resolves as it does on GitHub::

    pip install -e '.[docs]'
    sphinx-build -W --keep-going -b html -c docs . build/docs

``-W`` turns every warning into an error: a docstring napoleon cannot parse, a link to a page or
heading that does not exist, a public name missing from the API reference.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

# The local math renderer only: the package itself is the installed one (editable or the wheel).
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

import captum_smooth

project = "captum_smooth"
author = "the captum_smooth authors"
copyright = "2026, the captum_smooth authors"
release = version = captum_smooth.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_nb",
    "mathml",
]

root_doc = "README"
include_patterns = [
    "README.md",
    "CHANGELOG.md",
    "docs/*.md",
    "docs/api/*.rst",
    "docs/api/attr/*.rst",
    "benchmarks/results/*.md",
    "tutorials/README.md",
    "tutorials/*.ipynb",
]
exclude_patterns = ["build/**", "docs/_build/**"]

# MyST: GitHub's heading anchors, so that links such as docs/reference.md#idgi resolve here too.
myst_heading_anchors = 4
# GitHub renders a page that steps from # to ###; so does the site.
suppress_warnings = ["myst.header"]
# Tutorials are rendered from their stored outputs; the test suite is what executes them.
nb_execution_mode = "off"
nb_merge_streams = True
html_math_renderer = "mathml"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "show-inheritance": True,
    # the methods' table of Captum arguments they refuse: read by the package's error messages
    "exclude-members": "argument_hints",
}
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# NamedTuple fields are documented by autodoc; the docstrings' Attributes: sections as fields.
napoleon_use_ivar = True

html_theme = "furo"
html_title = f"captum_smooth {release}"
html_static_path: list[str] = []

# The modules whose public names (``__all__``) the API reference must show, each once.
PUBLIC_MODULES = [
    "captum_smooth",
    "captum_smooth.attr",
    "captum_smooth.attr.layer",
    "captum_smooth.metrics",
    "captum_smooth.axioms",
    "captum_smooth.evaluation",
    "captum_smooth.examples",
]
DOCUMENTED_MODULES = [*PUBLIC_MODULES, "captum_smooth.attr.llm", "captum_smooth.axioms.strategies"]

# The README is GitHub's landing page and has no toctree; the site's navigation is added here.
NAVIGATION = """

```{toctree}
:hidden:
:caption: Guide

docs/README
docs/reference
docs/architecture
docs/text
docs/axioms
```

```{toctree}
:hidden:
:caption: Tutorials

tutorials/README
tutorials/1_smoothtaylor_vs_ig
tutorials/2_idgi
tutorials/3_axioms_in_ci
tutorials/4_evaluating_methods
tutorials/5_text_and_llms
```

```{toctree}
:hidden:
:caption: API reference

docs/api/index
```

```{toctree}
:hidden:
:caption: Project

CHANGELOG
docs/versions
```

```{toctree}
:hidden:
:caption: Benchmark results
:glob:

benchmarks/results/*
```
"""

logger = logging.getLogger("captum_smooth.docs")


def add_navigation(app: Sphinx, docname: str, source: list[str]) -> None:
    """Append the site's table of contents to the landing page."""
    if docname == root_doc:
        source[0] += NAVIGATION


def attribute_docstring(obj: object) -> list[str] | None:
    """The attribute docstring of a constant where it is defined.

    A constant re-exported by a package has none in the package's ``__init__``, and autodoc would
    show its type's.
    """
    for info in pkgutil.walk_packages(captum_smooth.__path__, "captum_smooth."):
        module = sys.modules.get(info.name)
        if module is None:
            continue
        for (_, name), lines in ModuleAnalyzer.for_module(info.name).find_attr_docs().items():
            if getattr(module, name, None) is obj:
                return list(lines)
    return None


def document_constants(
    app: Sphinx, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    """Give a re-exported constant the docstring written beside its definition.

    Or none: never the docstring of its type (``int([x]) -> integer``).
    """
    if what == "data":
        lines[:] = attribute_docstring(obj) or []


def keep_attribute_docstrings_whole(
    app: Sphinx, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    """Stop napoleon reading an attribute's first line ``A: B`` as type ``A``, description ``B``.

    Our attribute docstrings are prose ("the curve: 0, 0.05, …, 1."), never ``type: text``;
    a first line that is an empty RST comment leaves napoleon no inline type to split off.
    """
    if what in ("attribute", "data", "property") and lines:
        lines[:0] = ["..", ""]


def check_public_names(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn (an error under -W) for a public name the API reference does not document."""
    documented = env.get_domain("py").objects
    modules = {name: importlib.import_module(name) for name in DOCUMENTED_MODULES}
    without_example = []
    for module_name in PUBLIC_MODULES:
        for name in modules[module_name].__all__:
            obj = getattr(modules[module_name], name)
            where = [
                f"{other}.{name}"
                for other, module in modules.items()
                if f"{other}.{name}" in documented and getattr(module, name, None) is obj
            ]
            if not where:
                logger.warning(f"{module_name}.{name} is public but not in the API reference")
            elif (inspect.isclass(obj) or inspect.isfunction(obj)) and "Example" not in (
                inspect.getdoc(obj) or ""
            ):
                without_example.append(where[0])
    if without_example:
        logger.info(
            f"{len(set(without_example))} public classes and functions have no Example section: "
            + ", ".join(sorted(set(without_example)))
        )


def redirect_index(app: Sphinx, exception: Exception | None) -> None:
    """``index.html``, what a web server serves for the site's folder, opens the landing page."""
    if exception is None and app.builder.format == "html":
        target = f"{root_doc}.html"
        (Path(app.outdir) / "index.html").write_text(
            f'<!DOCTYPE html><meta charset="utf-8"><title>{project}</title>'
            f'<meta http-equiv="refresh" content="0; url={target}">'
            f'<a href="{target}">{project}</a>\n',
            encoding="utf-8",
        )


def setup(app: Sphinx) -> dict[str, Any]:
    """Connect the landing page's navigation and the public-name check."""
    app.connect("source-read", add_navigation)
    app.connect("autodoc-process-docstring", document_constants, priority=300)
    # before napoleon's handler (priority 500)
    app.connect("autodoc-process-docstring", keep_attribute_docstrings_whole, priority=400)
    app.connect("env-check-consistency", check_public_names)
    app.connect("build-finished", redirect_index)
    return {"parallel_read_safe": True}
