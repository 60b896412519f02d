"""Explanations and corpus reports shown in a notebook (Jupyter, VS Code): the very pages of
:mod:`doclrp.render`, embedded.

>>> from doclrp.text import tokenize, build_explanation, Prediction
>>> doc = tokenize("A <b>late</b> goal.", pipeline="blank")
>>> exp = build_explanation(
...     doc, [(w.start, w.end) for w in doc.words], [0.1] * len(doc),
...     labels=["business", "sport"], task="classification",
...     prediction=Prediction.from_logits([-1.0, 1.0], ["business", "sport"]),
...     target="sport", target_value=1.0, delta=0.0)
>>> cell = explanation_html(exp)
>>> cell.startswith("<iframe"), "<b>" in cell, "&amp;lt;b&amp;gt;" in cell
(True, False, True)

Each page goes into an ``<iframe srcdoc>``: its style sheet then styles the page alone, not the
notebook around it, and the page is escaped once more as the attribute's value, so a
document's text is still only ever text. Pages hold no script; the frame allows none.
"""

from __future__ import annotations

from collections.abc import Sequence

from doclrp.render.html import render_index, to_html
from doclrp.render.page import escape
from doclrp.text.explanation import Explanation

__all__ = ["embed", "explanation_html", "explanations_html", "FRAME_HEIGHT"]

#: Pixels of a notebook frame; the page scrolls inside it.
FRAME_HEIGHT = 600


def embed(page: str, height: int = FRAME_HEIGHT, title: str = "doclrp") -> str:
    """A complete HTML page as a notebook cell's HTML: a sandboxed frame holding exactly ``page``."""
    return (f'<iframe srcdoc="{escape(page)}" title="{escape(title)}" sandbox '
            f'style="width:100%;height:{int(height)}px;border:1px solid #ddd;border-radius:4px"></iframe>')


def explanation_html(explanation: Explanation) -> str:
    """``Explanation._repr_html_``: the page of :func:`~doclrp.render.to_html`, embedded."""
    return embed(to_html(explanation), title=explanation.id or "doclrp explanation")


def explanations_html(explanations: Sequence[Explanation]) -> str:
    """A list's ``_repr_html_``: the index of :func:`~doclrp.render.render_index` (one row per document,
    its prediction, target and top words); show one element for its full page."""
    # The rows' links point into the frame itself: the documents have no pages of their own here.
    entries = [(f"#{n}", exp) for n, exp in enumerate(explanations, start=1)]
    return embed(render_index(entries, title=f"{len(entries)} explanations"), title="doclrp explanations")
