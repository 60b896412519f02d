"""Explanations as self-contained, escaped HTML pages (pure: strings in, a string out).

>>> from doclrp.text import tokenize, build_explanation, Prediction
>>> from doclrp.render import to_html, render_index
>>> doc = tokenize("Goal!\\n\\nWhat a <b>match</b>.", pipeline="blank")
>>> exp = build_explanation(
...     doc, [(w.start, w.end) for w in doc.words], [1.0] + [0.1] * (len(doc) - 1),
...     labels=["business", "sport"], task="classification",
...     prediction=Prediction.from_logits([-1.0, 1.0], ["business", "sport"]),
...     target="sport", target_value=1.0, delta=0.0)
>>> page = to_html(exp, title="BBC sport 001")
>>> page.startswith("<!DOCTYPE html>"), "<b>" in page, "&lt;b&gt;" in page
(True, False, True)
>>> index = render_index([("001.html", exp, "sport")], title="BBC sport")
>>> '<a href="001.html">' in index
True

Pages need no script and no network: one inline style sheet (the target switch of a page
with alternatives is radio buttons and style rules). Every piece of
text that comes from data (document, labels, titles, ids, token names) goes
through `html.escape`; the document keeps its own whitespace (pre-wrap).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import numpy as np

from doclrp._budget import Budget, checked
from doclrp.errors import DoclrpError
from doclrp.render.colors import (NEGATIVE_RGB, POSITIVE_RGB, css_gradient, diverging_color, diverging_rgb,
                                  hex_color, symmetric_vmax, text_color)
from doclrp.render.page import TAP_VALUES, bar_chart_svg, escape, html_page
from doclrp.render.pages import PageImage, page_view
from doclrp.text.explanation import Explanation, WordRelevance
from doclrp.text.terms import DEFAULT_LEAVE_OUT, Term, describe_leave_out

__all__ = ["to_html", "render_index"]

#: Words a page highlights; a longer document's page shows its strongest passages (`shown_words`).
PAGE_WORDS = 50_000
#: Characters of each sentence a page shows beside its bar when the document is over `PAGE_WORDS`.
SENTENCE_CHARS = 160
#: Words listed for and against the target on a document page and per index row.
TOP_WORDS_PAGE = 10
TOP_WORDS_INDEX = 5

_STYLE = f"""
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; line-height: 1.5; }}
h1 {{ font-size: 1.4rem; margin-bottom: .3rem; }}
h2 {{ font-size: 1.1rem; margin: 1.4rem 0 .4rem; }}
h3 {{ font-size: 1rem; margin: .4rem 0; }}
.meta {{ color: #666; margin: 0; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: .15rem .6rem; border-bottom: 1px solid #e5e5e5; text-align: left; vertical-align: top; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.predicted td {{ font-weight: 600; }}
dl.facts {{ display: grid; grid-template-columns: max-content auto; gap: .1rem 1rem; margin: 0; }}
dl.facts dt {{ color: #666; }} dl.facts dd {{ margin: 0; font-variant-numeric: tabular-nums; }}
.legend {{ display: flex; align-items: center; gap: .5rem; flex-wrap: wrap; font-size: .9rem; }}
.legend .bar {{ display: inline-block; width: 16rem; height: .9rem; border: 1px solid #bbb;
               background: {css_gradient()}; }}
.doc {{ white-space: pre-wrap; overflow-wrap: anywhere; font-family: Georgia, "Times New Roman", serif;
        font-size: 1.05rem; line-height: 1.9; border: 1px solid #ddd; border-radius: 4px; padding: 1rem; }}
.w {{ border-radius: 3px; }}
.gap {{ color: #888; font-family: system-ui, sans-serif; font-size: .85rem; }}
.sentence {{ white-space: pre-wrap; overflow-wrap: anywhere; padding: .25rem .5rem; margin: .2rem 0;
             border-radius: 3px; }}
.value {{ font-family: ui-monospace, monospace; font-size: .85rem; }}
.sentence .value {{ display: inline-block; min-width: 6rem; }}
.top {{ display: flex; gap: 3rem; flex-wrap: wrap; }}
.top ol {{ margin: 0; padding-left: 1.5rem; }}
.chip {{ border-radius: 3px; padding: 0 .25rem; white-space: pre; }}
tr.miss td.label {{ color: #b2182b; font-weight: 600; }}
nav.back {{ margin-bottom: .5rem; }}
.pick {{ position: absolute; opacity: 0; width: 1px; height: 1px; }}
.switch .targets {{ display: flex; flex-wrap: wrap; gap: .3rem; }}
.switch label {{ border: 1px solid #999; border-radius: 3px; padding: .1rem .5rem; cursor: pointer; }}
.top > div {{ min-width: 0; max-width: 100%; }}
{TAP_VALUES}"""


def _method_html(exp: Explanation) -> str:
    """The method that made the explanation, with its parameters (nothing when unrecorded).

    >>> from types import SimpleNamespace
    >>> _method_html(SimpleNamespace(method={"name": "epsilon", "params": {"eps": 1e-06}}))
    '<dt>method</dt><dd>epsilon (eps=1e-06)</dd>\\n'
    """
    if not exp.method:
        return ""
    params = ", ".join(f"{key}={value!r}" for key, value in (exp.method.get("params") or {}).items())
    shown = f"{exp.method.get('name')} ({params})" if params else str(exp.method.get("name"))
    return f"<dt>method</dt><dd>{escape(shown)}</dd>\n"


def to_html(explanation: Explanation, title: str | None = None, *, alternatives: Sequence[Explanation] = (),
            back: tuple[str, str] | None = None, leave_out: Sequence[str] = DEFAULT_LEAVE_OUT,
            budget: Budget | None = None, max_words: int | None = PAGE_WORDS,
            pages: Sequence[PageImage] = ()) -> str:
    """A complete HTML5 page showing which words of the document made the prediction.

    Words are shaded by relevance (red toward the target, blue against,
    white zero) on a scale symmetric around zero that ends at the largest
    |word relevance|; each word's exact value shows on hover, on a tap and on keyboard focus.

    ``alternatives``: explanations of the same text for other targets (every class, ``X-vs-rest``;
    :func:`doclrp.explain_targets` makes them); the page then carries a switch between the
    targets, done in the style sheet (radio buttons), so it needs no script and nothing is re-run.
    ``back``: ``(href, text)`` of a link back to the index the page belongs to.
    ``leave_out``: what the top-word lists leave out (``"punct"``, ``"stop"``; see
    :mod:`doclrp.text.terms`); repeated words are grouped, their relevance summed.
    ``budget``: a :class:`~doclrp._budget.Budget` checked between the views and the blocks of words.
    ``max_words``: a document of more words has only the passages (sentences) of largest
    |relevance| highlighted, up to this many words, with the gaps marked and the limit said on
    the page; its sentence bars (text shortened) and top words still cover the whole document,
    and the explanation's JSON holds every word (None: highlight all; default :data:`PAGE_WORDS`).
    ``pages``: a PDF's pages drawn (`doclrp.documents.render_pages`) for an explanation with a
    `layout`: the page then shows them with every word's box coloured, beside the text, with a
    switch between pages and text (:mod:`doclrp.render.pages`).
    """
    exp = explanation
    views = [exp, *alternatives]
    for other in alternatives:
        if other.text != exp.text:
            raise DoclrpError("alternatives must explain the same text as the explanation they accompany")
    title = title if title is not None else (exp.id or "doclrp explanation")
    link = ""
    if back is not None:
        link = f'<nav class="back"><a href="{escape(_safe_href(back[0]))}">← {escape(back[1])}</a></nav>\n'
    switch, style = "", _STYLE
    if len(views) > 1:
        switch, style = _switch_html(views), _STYLE + _switch_style(len(views))
    rendered = "\n".join(
        f'<div class="view view-{n}">\n{_view_html(view, n, leave_out, budget, max_words)}\n</div>'
        for n, view in enumerate(views))
    views_html = f'<div class="views">\n{rendered}\n</div>'
    if pages:
        views_html, page_style = page_view(views, pages, views_html)
        style += page_style
    body = f"""<header>
{link}<h1>{escape(title)}</h1>
<p class="meta">{escape(exp.task)}{" · id " + escape(exp.id) if exp.id is not None else ""}</p>
</header>
<section class="prediction">
<h2>Prediction</h2>
{_prediction_html(exp)}
</section>
{switch}{views_html}"""
    return html_page(title, body, style)


def _switch_html(views: Sequence[Explanation]) -> str:
    """Radio buttons (one per target) and their labels: the page's view switch."""
    inputs = "".join(f'<input class="pick" type="radio" name="view" id="pick-{n}"{" checked" if n == 0 else ""}>'
                     for n in range(len(views)))
    labels = "".join(f'<label for="pick-{n}">{escape(view.target)}</label>' for n, view in enumerate(views))
    return (f'{inputs}<section class="switch"><h2>Explain</h2><p class="meta">The relevance for each target '
            f'was computed when the page was written; choose one to see it.</p>'
            f'<div class="targets">{labels}</div></section>\n')


def _switch_style(n: int) -> str:
    rules = [".views > .view { display: none; }"]
    for i in range(n):
        rules.append(f"#pick-{i}:checked ~ .views > .view-{i} {{ display: block; }}")
        rules.append(f'#pick-{i}:checked ~ .switch label[for="pick-{i}"] {{ background: #222; color: #fff; }}')
        rules.append(f'#pick-{i}:focus-visible ~ .switch label[for="pick-{i}"] {{ outline: 2px solid #1a73e8; }}')
    return "\n".join(rules) + "\n"


def _view_html(exp: Explanation, n: int, leave_out: Sequence[str], budget: Budget | None = None,
               max_words: int | None = PAGE_WORDS) -> str:
    """What changes with the target: explained facts, legend, document, sentences, top words."""
    checked(budget, "while writing the page")
    shown = shown_words(exp, max_words)
    limit_note, shorten = "", None
    if shown is not None:
        shorten = SENTENCE_CHARS
        limit_note = (f'<p class="meta limit">This document has {len(exp.words):,} words: the page highlights the '
                      f'{int(shown.sum()):,} words of its sentences of largest |relevance| (at most {max_words:,} '
                      f'words a page), with the gaps marked. Sentences (their text cut at {SENTENCE_CHARS} '
                      f'characters) and top words cover the whole document; its JSON holds every word.</p>\n')
    vmax = symmetric_vmax(exp.relevance)
    up, down = _directions(exp)
    # ids on the first view only: an id names one element of the page.
    document_id = ' id="document"' if n == 0 else ""
    return f"""<section class="target">
<h2>Explained</h2>
<dl class="facts">
<dt>target</dt><dd class="target-name">{escape(exp.target)}</dd>
<dt>target value</dt><dd>{_num(exp.target_value)}</dd>
<dt>total relevance</dt><dd>{_num(exp.total)} (words {_num(float(exp.relevance.sum()))}{_special_html(exp)})</dd>
<dt>conservation delta</dt><dd>{_num(exp.delta)} (target value − total relevance)</dd>
{_method_html(exp)}{_prompt_html(exp, vmax)}</dl>
</section>
<section class="legend-section">
<h2>Legend</h2>
<div class="legend"><span class="value">{_num(-vmax or 0.0)}</span>
<span class="bar" role="img" aria-label="colour scale"></span><span class="value">{_num(vmax)}</span></div>
<p class="meta">red: {escape(up)} · blue: {escape(down)} · white: no relevance.
Scale ends at the largest |word relevance|; hover, tap or tab to a word for its exact value.</p>
</section>
<section class="document">
<h2>Document</h2>
{limit_note}<div class="doc"{document_id}>{_document_html(exp, vmax, shown, budget)}</div>
</section>
<section class="sentences">
<h2>Sentences</h2>
<p class="meta">Each sentence shaded by its summed relevance, relative to the strongest sentence.</p>
{_sentences_html(exp, shorten)}
</section>
<section class="top-words">
<h2>Top words</h2>
<p class="meta">Repeated words grouped (lower-cased), relevance summed over their occurrences (× count);
{escape(describe_leave_out(leave_out))}.</p>
<div class="top">
{_top_html(exp, +1, up, leave_out, vmax)}
{_top_html(exp, -1, down, leave_out, vmax)}
</div>
</section>"""


def render_index(
    entries: Iterable[tuple[str, Explanation] | tuple[str, Explanation, str | None]],
    title: str = "doclrp explanations",
    *,
    leave_out: Sequence[str] = DEFAULT_LEAVE_OUT,
) -> str:
    """An HTML5 page with a table linking many explained documents.

    ``entries``: ``(href, explanation)`` or ``(href, explanation, true_label)``.
    Rows whose prediction differs from a given true label are marked;
    links with script schemes (``javascript:``, ``data:``) are refused. Top words as on
    the documents' pages (grouped; ``leave_out``). The table scrolls inside its own box
    on a narrow screen, never the page.
    """
    rows = []
    for n, entry in enumerate(entries, start=1):
        if len(entry) not in (2, 3):
            raise DoclrpError(f"index entry {n} must be (href, explanation) or (href, explanation, true_label)")
        href, exp = entry[0], entry[1]
        true_label = entry[2] if len(entry) == 3 else None
        vmax = symmetric_vmax(exp.relevance)
        predicted = exp.prediction.label
        miss = true_label is not None and predicted is not None and str(true_label) != predicted
        row_class = ' class="miss"' if miss else ""
        rows.append(
            f"<tr{row_class}>"
            f'<td class="num">{n}</td>'
            f'<td><a href="{escape(_safe_href(href))}">{escape(exp.id if exp.id is not None else href)}</a></td>'
            f'<td class="label">{escape(true_label) if true_label is not None else ""}</td>'
            f"<td>{_prediction_short(exp)}</td>"
            f'<td>{escape(exp.target)} <span class="value">{_num(exp.target_value)}</span></td>'
            f"<td>{' '.join(_chip(t, vmax) for t in exp.top_terms(TOP_WORDS_INDEX, +1, leave_out))}</td>"
            f"<td>{' '.join(_chip(t, vmax) for t in exp.top_terms(TOP_WORDS_INDEX, -1, leave_out))}</td>"
            "</tr>"
        )
    body = f"""<header>
<h1>{escape(title)}</h1>
<p class="meta">{len(rows)} documents · red: toward the target · blue: against</p>
</header>
<div class="scroll">
<table class="index">
<thead><tr><th>#</th><th>document</th><th>true label</th><th>prediction</th><th>target</th>
<th>top words for</th><th>top words against</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
</div>"""
    return html_page(title, body, _STYLE)


def _num(value: float) -> str:
    return f"{value:+.4g}"


def _exact(value: float) -> str:
    # repr is the shortest string that reads back as the same float.
    return repr(float(value))


def _shade(value: float, vmax: float) -> str:
    background = diverging_color(value, vmax)
    return f"background-color:{background};color:{text_color(background)}"


def _directions(exp: Explanation) -> tuple[str, str]:
    """How to read red and blue for this explanation."""
    if exp.task == "regression":
        return f"raises {exp.target}", f"lowers {exp.target}"
    return f"for {exp.target}", f"against {exp.target}"


def _shades(values: np.ndarray, vmax: float) -> list[str]:
    """The style of each of ``values`` (background and text colour), computed for all at once:
    one colour at a time cost as much as the rest of the page."""
    rgb = diverging_rgb(values, vmax).astype(np.int64)
    keys = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    unique, inverse = np.unique(keys, return_inverse=True)
    styles = []
    for key in unique.tolist():
        background = f"#{key:06x}"
        styles.append(f"background-color:{background};color:{text_color(background)}")
    return [styles[i] for i in inverse.reshape(-1).tolist()]


def shown_words(exp: Explanation, max_words: int | None) -> np.ndarray | None:
    """Which words a page highlights when ``exp`` has more than ``max_words`` (None: all of them):
    the words of the sentences with the largest |relevance|, added strongest first while they fit,
    as a boolean mask over the words. Sentences and top words always cover the whole document.

    >>> from doclrp.text import Explanation
    >>> from doclrp.text.explanation import _EXAMPLE
    >>> shown_words(Explanation.from_dict(_EXAMPLE), 10) is None
    True
    """
    words = exp.word_columns
    if max_words is None or len(words) <= max_words:
        return None
    n_sentences = max(len(exp.sentences), int(words.sentence.max()) + 1 if len(words) else 0)
    sizes = np.bincount(words.sentence, minlength=n_sentences)
    strength = np.abs(np.bincount(words.sentence, weights=words.relevance, minlength=n_sentences))
    order = np.lexsort((np.arange(n_sentences), -strength))
    fits = np.cumsum(sizes[order]) <= max_words
    chosen = np.zeros(n_sentences, dtype=bool)
    chosen[order[fits]] = True
    if not chosen.any():  # one sentence longer than the limit: its first words
        mask = np.zeros(len(words), dtype=bool)
        mask[np.flatnonzero(words.sentence == order[0])[:max_words]] = True
        return mask
    return chosen[words.sentence]


def _document_html(exp: Explanation, vmax: float, shown: np.ndarray | None = None,
                   budget: Budget | None = None) -> str:
    text = exp.text
    words = exp.word_columns
    order = np.argsort(words.start, kind="stable")
    starts, ends = words.start[order], words.end[order]
    bad = np.flatnonzero((starts[1:] < ends[:-1]) | (ends[1:] > len(text)))
    if len(words) and (ends[0] > len(text) or bad.size):
        i = 0 if ends[0] > len(text) else int(bad[0]) + 1
        word = words[int(order[i])]
        raise DoclrpError(
            f"word {word.text!r} at {word.start}:{word.end} overlaps another or lies outside the text; "
            "build explanations from the words of one tokenize() call"
        )
    keep = order if shown is None else order[shown[order]]
    relevance = words.relevance[keep]
    styles = _shades(relevance, vmax)
    parts = []
    position = 0
    starts_list, ends_list = words.start[keep].tolist(), words.end[keep].tolist()
    previous = -1
    for n, (start, end, value, style) in enumerate(zip(starts_list, ends_list, relevance.tolist(), styles)):
        if n % 65_536 == 0:
            checked(budget, "while writing the page")
        index = int(keep[n])
        if shown is not None and previous >= 0 and index != previous + 1:
            # words left out of the page between two shown passages: a marked gap
            skipped = index - previous - 1
            parts.append(f'<span class="gap">\n… {skipped:,} word{"s" if skipped != 1 else ""} not highlighted …\n</span>')
            position = start
        # The gap is taken from the original text, so spaces, tabs and line
        # breaks come out exactly as they were.
        parts.append(escape(text[position:start]))
        exact = repr(value)
        parts.append(f'<span class="w" style="{style}" title="{exact}" data-v="{exact}" tabindex="0">'
                     f"{escape(text[start:end])}</span>")
        position = end
        previous = index
    if shown is None:
        parts.append(escape(text[position:]))
    elif len(keep) and int(keep[-1]) < len(words) - 1:
        rest = len(words) - 1 - int(keep[-1])
        parts.append(f'<span class="gap">\n… {rest:,} word{"s" if rest != 1 else ""} not highlighted …</span>')
    return "".join(parts)


def _sentences_html(exp: Explanation, shorten: int | None = None) -> str:
    vmax = symmetric_vmax([s.relevance for s in exp.sentences])
    values = np.array([s.relevance for s in exp.sentences], dtype=np.float64)
    styles = _shades(values, vmax)
    return "\n".join(
        f'<div class="sentence" style="{style}" title="{_exact(s.relevance)}">'
        f'<span class="value">{_num(s.relevance)}</span>{escape(_shortened(s.text, shorten))}</div>'
        for s, style in zip(exp.sentences, styles)
    )


def _shortened(text: str, limit: int | None) -> str:
    """``text`` cut to ``limit`` characters and an ellipsis (None: whole)."""
    if limit is None or len(text) <= limit:
        return text
    return text[:limit].rstrip() + " …"


def _top_html(exp: Explanation, sign: int, heading: str, leave_out: Sequence[str], vmax: float) -> str:
    """A chart and a list of the top words on one side, as the corpus report draws them."""
    terms = exp.top_terms(TOP_WORDS_PAGE, sign, leave_out)
    side = "for" if sign > 0 else "against"
    color = hex_color(POSITIVE_RGB if sign > 0 else NEGATIVE_RGB)
    rows = [(_counted(t), t.relevance, f"{t.text}: {_exact(t.relevance)} over {t.count} occurrence(s)")
            for t in terms]
    chart = bar_chart_svg(rows, color, f"top words {heading}") if rows else ""
    if not terms:
        listed = '<p class="meta">none</p>'
    else:
        items = "".join(f'<li>{_chip(t, vmax)}{" ×" + str(t.count) if t.count > 1 else ""} '
                        f'<span class="value">{_num(t.relevance)}</span></li>' for t in terms)
        listed = f"<ol>{items}</ol>"
    return f'<div class="{side}"><h3>{escape(heading[:1].upper() + heading[1:])}</h3>{chart}{listed}</div>'


def _counted(term: Term) -> str:
    return f"{term.text} ×{term.count}" if term.count > 1 else term.text


def _chip(word: WordRelevance | Term, vmax: float) -> str:
    return (
        f'<span class="chip" style="{_shade(word.relevance, vmax)}" title="{_exact(word.relevance)}" '
        f'data-v="{_exact(word.relevance)}" tabindex="0">{escape(word.text)}</span>'
    )


def _output_names(exp: Explanation, n: int) -> list[str]:
    return [exp.labels[i] if i < len(exp.labels) else f"output {i}" for i in range(n)]


def _predicted_label(exp: Explanation, index: int) -> str:
    p = exp.prediction
    return p.label if p.label is not None else _output_names(exp, index + 1)[index]


def _prediction_html(exp: Explanation) -> str:
    p = exp.prediction
    probabilities = p.probabilities or []
    n = max(len(p.values), len(probabilities))
    names = _output_names(exp, n)
    head = "<tr><th>output</th><th>value</th>" + ("<th>probability</th>" if probabilities else "") + "</tr>"
    rows = []
    for i, name in enumerate(names):
        value = _num(p.values[i]) if i < len(p.values) else ""
        probability = f'<td class="num">{probabilities[i]:.3f}</td>' if probabilities else ""
        marked = ' class="predicted"' if i == p.index else ""
        rows.append(f'<tr{marked}><td>{escape(name)}</td><td class="num">{value}</td>{probability}</tr>')
    lead = ""
    if exp.task == "classification" and p.index is not None:
        lead = f'<p>predicted: <strong class="predicted-label">{escape(_predicted_label(exp, p.index))}</strong></p>\n'
    return (f'{lead}<div class="scroll"><table class="outputs"><thead>{head}</thead><tbody>{"".join(rows)}</tbody>'
            '</table></div>')


def _prediction_short(exp: Explanation) -> str:
    p = exp.prediction
    if exp.task == "classification" and p.index is not None:
        label = escape(_predicted_label(exp, p.index))
        if p.probabilities and p.index < len(p.probabilities):
            return f'{label} <span class="value">{p.probabilities[p.index]:.2f}</span>'
        return label
    names = _output_names(exp, len(p.values))
    return ", ".join(f'{escape(name)} <span class="value">{_num(v)}</span>' for name, v in zip(names, p.values))


def _special_html(exp: Explanation) -> str:
    prompt = f", prompt {_num(math.fsum(p.relevance for p in exp.prompt))}" if exp.prompt else ""
    return prompt + "".join(f", {escape(name)} {_num(value)}" for name, value in exp.special.items())


def _prompt_html(exp: Explanation, vmax: float) -> str:
    """A language model's prompt template, its words shaded on the document's scale, the document
    standing where it goes (nothing for other models)."""
    if not exp.prompt:
        return ""
    def chip(text: str, value: float) -> str:
        return (f'<span class="chip" style="{_shade(value, vmax)}" title="{_exact(value)}" tabindex="0">'
                f"{escape(text)}</span>")
    before = " ".join(chip(p.text, p.relevance) for p in exp.prompt if p.before)
    after = " ".join(chip(p.text, p.relevance) for p in exp.prompt if not p.before)
    return (f'<dt>prompt</dt><dd class="prompt">{before} <span class="meta">[document]</span> {after}</dd>\n')


# Browsers ignore ASCII control characters and spaces inside a scheme
# ("java\tscript:"), so they are removed before the check.
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20]")
_UNSAFE_SCHEMES = ("javascript:", "vbscript:", "data:")


def _safe_href(href: str) -> str:
    if _IGNORED_IN_SCHEME.sub("", str(href)).lower().startswith(_UNSAFE_SCHEMES):
        raise DoclrpError(f"refusing link {href!r}: index links must be paths or http(s) URLs")
    return str(href)
