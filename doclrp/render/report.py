"""The corpus report page, rendered from summary data (pure: data in, a string out).

>>> from doclrp.render.report import CorpusReportData, DocumentRow, GroupWords, WordRow, render_report
>>> data = CorpusReportData(
...     header={"model": "cnn <1>"}, group_by="auto", regression=False, documents=2, explained=2,
...     groups=[GroupWords("pos", 2, up=[WordRow("good", 1.5, 0.75, 2, 2)], down=[])],
...     most_confident=[DocumentRow("d1", "pos", "pos", "pos", 0.9)], score_name="probability")
>>> page = render_report(data, hrefs={"d1": "docs/001-d1.html"})
>>> page.startswith("<!DOCTYPE html>"), "cnn &lt;1&gt;" in page, '<a href="docs/001-d1.html">d1</a>' in page
(True, True, True)

The data is plain (:class:`CorpusReportData`): ``doclrp.corpus.summary`` computes
the statistics and fills it in, this module only lays them out. One self-contained
page: all text from data is escaped, bar charts are inline SVG, no script.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from doclrp.core.targets import Target
from doclrp.errors import DoclrpError
from doclrp.render.colors import NEGATIVE_RGB, POSITIVE_RGB, hex_color
from doclrp.render.page import bar_chart_svg, escape, html_page

__all__ = ["CorpusReportData", "GroupWords", "WordRow", "DocumentRow", "render_report", "bar_chart_svg"]


@dataclass(frozen=True)
class WordRow:
    """One word of a group: summed relevance, mean per occurrence, occurrences, documents."""

    word: str
    sum: float
    mean: float
    count: int
    df: int


@dataclass(frozen=True)
class GroupWords:
    """A group (class or explained output) with its top words for (``up``) and against (``down``) it."""

    name: str
    documents: int
    up: Sequence[WordRow] = ()
    down: Sequence[WordRow] = ()


@dataclass(frozen=True)
class DocumentRow:
    """One document of the most or least confident lists; ``score`` as ``score_name`` says."""

    id: str
    label: str | None
    predicted: str | None
    target: Any
    score: float


@dataclass(frozen=True)
class CorpusReportData:
    """Everything the report shows, computed by the summary.

    ``header``: the run header (shown as facts); ``skipped``: ``(reason, documents,
    ids shown)``, most frequent first; ``confusion``: ``(true, predicted) → documents``;
    ``lexicon``: ``(name, result text)`` of a target check, or None.
    """

    header: Mapping[str, Any]
    group_by: str
    regression: bool
    documents: int
    explained: int
    groups: Sequence[GroupWords] = ()
    min_df: int = 2
    skipped: Sequence[tuple[str, int, Sequence[str]]] = ()
    accuracy: float | None = None
    labelled: int = 0
    confusion: Mapping[tuple[str, str | None], int] = field(default_factory=dict)
    score_name: str = "explained value"
    most_confident: Sequence[DocumentRow] = ()
    least_confident: Sequence[DocumentRow] = ()
    delta_abs_mean: float = 0.0
    delta_abs_max: float = 0.0
    lexicon: tuple[str, str] | None = None
    #: Which documents ``accuracy`` is on, in words; ``held_out``: ``(accuracy, documents)`` on
    #: the model's held-out test documents, when known.
    accuracy_scope: str = "on all labelled documents (training documents included if the model was trained on this corpus)"
    held_out: tuple[float, int] | None = None
    #: What the word charts leave out, in words.
    words_note: str = "punctuation left out, stop words kept"
    #: What the document pages show (a class switch, or why not), in one line; None: nothing said.
    pages_note: str | None = None


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; max-width: 68rem;
       margin: 1.5rem auto; padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.4rem; margin-bottom: .3rem; } h2 { font-size: 1.15rem; margin: 1.6rem 0 .4rem; }
h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
.meta { color: #666; margin: .1rem 0; }
table { border-collapse: collapse; margin: .3rem 0; }
th, td { padding: .15rem .6rem; border-bottom: 1px solid #e5e5e5; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.hit { background: #eef5ee; font-weight: 600; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .1rem 1rem; margin: 0; }
dl.facts dt { color: #666; } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.pair { display: flex; gap: 2rem; flex-wrap: wrap; } .pair > div { min-width: 0; max-width: 100%; }
svg.bars text { font: 12px system-ui, sans-serif; fill: #222; } svg.bars text.v { fill: #555; }
tr.miss td.label { color: #b2182b; font-weight: 600; }
"""


def _facts(data: CorpusReportData) -> str:
    h = data.header
    rows = [("results", h.get("results_path")), ("model", h.get("model")),
            ("model sha256", (h.get("model_sha256") or "")[:16] or None), ("method", _method_text(h.get("method")) or h.get("composite")),
            ("target", _target_name(h.get("target"))),
            ("input", h.get("input")), ("shard", "/".join(map(str, h["shard"])) if h.get("shard") else None),
            ("doclrp", h.get("doclrp_version")), ("grouped by", data.group_by)]
    return '<dl class="facts">' + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows
                                          if v is not None) + "</dl>"


def _method_text(method: Any) -> str | None:
    """``epsilon (eps=0.01)`` from a header's ``{"name": …, "params": {…}}``.

    >>> _method_text({"name": "epsilon", "params": {"eps": 0.01}}), _method_text({"name": "zero", "params": {}})
    ('epsilon (eps=0.01)', 'zero')
    """
    if not isinstance(method, dict) or not method.get("name"):
        return None
    params = ", ".join(f"{k}={v}" for k, v in (method.get("params") or {}).items())
    return f"{method['name']} ({params})" if params else str(method["name"])


def _target_name(target: Any) -> str | None:
    """The run's target as people name it (``sports-vs-rest``, ``predicted``, ``score − mean``),
    not the JSON of its weights.

    >>> _target_name({"name": "sports-vs-rest", "weights": [-0.25, 1.0], "reference": None})
    'sports-vs-rest'
    """
    if isinstance(target, dict):
        try:
            return str(Target.from_dict(target))
        except (DoclrpError, KeyError, TypeError, ValueError):
            return json.dumps(target)
    return None if target is None else str(target)


def _confusion_html(data: CorpusReportData) -> str:
    if data.accuracy is None:
        return ""
    true = sorted({t for t, _ in data.confusion})
    predicted = sorted({p for _, p in data.confusion if p is not None} | set(true))
    head = "".join(f'<th class="num">{escape(p)}</th>' for p in predicted)
    rows = []
    for t in true:
        cells = "".join(f'<td class="num{" hit" if t == p else ""}">{data.confusion.get((t, p), 0)}</td>'
                        for p in predicted)
        rows.append(f"<tr><th>{escape(t)}</th>{cells}</tr>")
    scope = escape(data.accuracy_scope).replace("labelled", f"{data.labelled} labelled", 1)
    held_out = ""
    if data.held_out is not None:
        held_out = (f'<p class="held-out"><strong>{data.held_out[0]:.4f}</strong> on the {data.held_out[1]} held-out '
                    "test documents of the model's training split.</p>")
    return (f'<section id="accuracy"><h2>Accuracy</h2><p class="all"><strong>{data.accuracy:.4f}</strong> '
            f'{scope}.</p>{held_out}<p class="meta">Confusion matrix (all labelled documents): rows true label, '
            f'columns predicted.</p><div class="scroll"><table class="confusion"><thead><tr><th>true \\ predicted'
            f'</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div></section>')


def _words_html(data: CorpusReportData) -> str:
    up, down = ("raise", "lower") if data.regression else ("for", "against")
    sections = []
    for group in data.groups:
        charts = []
        for words, direction, color in ((group.up, up, hex_color(POSITIVE_RGB)),
                                        (group.down, down, hex_color(NEGATIVE_RGB))):
            rows = [(w.word, w.sum, f"{w.word}: sum {w.sum!r}, mean {w.mean!r} per occurrence, "
                                    f"{w.count} occurrences in {w.df} documents") for w in words]
            charts.append(f"<div><h4>{escape(direction)} {escape(group.name)}</h4>"
                          f"{bar_chart_svg(rows, color, f'top words {direction} {group.name}')}</div>")
        sections.append(f'<h3>{escape(group.name)} <span class="meta">({group.documents} documents)</span>'
                        f'</h3><div class="pair">{"".join(charts)}</div>')
    what = "output: the words that raised and lowered it" if data.regression else \
        "class: the words whose relevance for the explained target was largest (for) and most negative (against)"
    return (f'<section id="words"><h2>Top words</h2><p class="meta">Per {what}, summed over the documents of the '
            f"group; words in at least {data.min_df} of its documents; {escape(data.words_note)}; hover a bar for mean per occurrence and "
            f'document frequency. All values: <a href="words.csv">words.csv</a>.</p>{"".join(sections)}</section>')


def _documents_table(rows: Sequence[DocumentRow], hrefs: Mapping[str, str], score_name: str) -> str:
    if not rows:
        return '<p class="meta">none</p>'
    cells = []
    for n, row in enumerate(rows, start=1):
        miss = row.label is not None and row.predicted is not None and row.label != row.predicted
        link = hrefs.get(row.id)
        name = escape(row.id)
        cells.append(f'<tr{" class=miss" if miss else ""}><td class="num">{n}</td>'
                     f'<td>{f"<a href={chr(34)}{escape(link)}{chr(34)}>{name}</a>" if link else name}</td>'
                     f'<td class="label">{escape(row.label if row.label is not None else "")}</td>'
                     f'<td>{escape(row.predicted if row.predicted is not None else "")}</td>'
                     f'<td>{escape(row.target)}</td><td class="num">{row.score:.4g}</td></tr>')
    return (f'<div class="scroll"><table><thead><tr><th>#</th><th>document</th><th>true label</th><th>predicted</th><th>target</th>'
            f'<th class="num">{escape(score_name)}</th></tr></thead><tbody>{"".join(cells)}</tbody></table></div>')


def render_report(data: CorpusReportData, hrefs: Mapping[str, str] | None = None,
                  title: str = "doclrp corpus report") -> str:
    """The report page for ``data``; ``hrefs`` maps document ids to their highlighted pages."""
    hrefs = hrefs or {}
    skipped = sum(n for _, n, _ in data.skipped)
    parts = [f"<header><h1>{escape(title)}</h1><p class=\"meta\">{data.documents} documents · "
             f"{data.explained} explained · {skipped} skipped</p></header>",
             f"<section id=\"run\"><h2>Run</h2>{_facts(data)}</section>",
             _confusion_html(data), _words_html(data)]
    if data.lexicon is not None:
        name, result = data.lexicon
        parts.append(f'<section id="lexicon"><h2>Lexicon check</h2><p>{escape(name)}: '
                     f"<strong>{escape(result)}</strong></p></section>")
    pages = f'<p class="meta pages-note">{escape(data.pages_note)}.</p>' if data.pages_note else ""
    parts.append(f'<section id="confident"><h2>Most confident documents</h2>{pages}<p class="meta">By '
                 f'{escape(data.score_name)}, highest first.</p>'
                 f"{_documents_table(data.most_confident, hrefs, data.score_name)}"
                 f'<h2>Least confident documents</h2><p class="meta">By {escape(data.score_name)}, lowest first.</p>'
                 f"{_documents_table(data.least_confident, hrefs, data.score_name)}</section>")
    if data.explained:
        parts.append(f'<section id="conservation"><h2>Conservation</h2><p>|target value − total relevance|: mean '
                     f"{data.delta_abs_mean:.3g}, max {data.delta_abs_max:.3g}.</p></section>")
    if skipped:
        # Fewer ids than documents: the list was cut (ids shown are capped by the summary).
        items = "".join(f"<li>{n} × {escape(reason)}: {escape(', '.join(ids))}{' …' if n > len(ids) else ''}</li>"
                        for reason, n, ids in data.skipped)
        parts.append(f'<section id="skipped"><h2>Skipped documents</h2><ul>{items}</ul></section>')
    return html_page(title, "\n".join(p for p in parts if p), _STYLE)
