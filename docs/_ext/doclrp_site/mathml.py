"""Math rendered as MathML when the site is built (``latex2mathml``): browsers draw it natively,
so the pages need no MathJax and nothing from a CDN.

>>> to_mathml("x_j", inline=True).startswith("<math")
True
"""

from __future__ import annotations

from typing import Any

__all__ = ["setup_mathml", "to_mathml"]


def to_mathml(latex: str, inline: bool) -> str:
    """The MathML element of one formula."""
    from latex2mathml.converter import convert

    return convert(latex, display="inline" if inline else "block")


def _visit_inline(self: Any, node: Any) -> None:
    self.body.append(to_mathml(node.astext(), inline=True))
    raise _skip()


def _visit_block(self: Any, node: Any) -> None:
    formula = node.astext()
    self.body.append(f'<div class="math-block">{to_mathml(formula, inline=False)}</div>')
    raise _skip()


def _skip() -> Exception:
    from docutils import nodes

    return nodes.SkipNode()


def setup_mathml(app: Any) -> None:
    """Register ``mathml`` as an HTML math renderer (``html_math_renderer = "mathml"`` chooses it)."""
    app.add_html_math_renderer("mathml", (_visit_inline, None), (_visit_block, None))
