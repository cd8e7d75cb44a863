"""Render Sphinx math as MathML at build time (latex2mathml), so the site needs no script.

Browsers display MathML natively; the pages show their formulas offline and without a CDN.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from latex2mathml.converter import convert
from sphinx.application import Sphinx
from sphinx.writers.html5 import HTML5Translator


def _mathml(latex: str, display: str) -> str:
    return convert(latex.strip(), display=display)


def visit_inline(self: HTML5Translator, node: nodes.Element) -> None:
    """Inline ``:math:`` as an inline ``<math>`` element."""
    self.body.append(f'<span class="math">{_mathml(node.astext(), "inline")}</span>')
    raise nodes.SkipNode


def visit_block(self: HTML5Translator, node: nodes.Element) -> None:
    """``.. math::`` as a block ``<math>``, one per equation, numbered as Sphinx numbers them."""
    self.body.append(self.starttag(node, "div", CLASS="math"))
    if node.get("number"):
        self.body.append(f'<span class="eqno">({node["number"]})</span>')
    for equation in node.astext().split("\n\n"):
        if equation.strip():
            self.body.append(_mathml(equation, "block"))
    self.body.append("</div>\n")
    raise nodes.SkipNode


def setup(app: Sphinx) -> dict[str, Any]:
    """Register ``mathml`` as an HTML math renderer (``html_math_renderer = "mathml"``)."""
    app.add_html_math_renderer("mathml", (visit_inline, None), (visit_block, None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
