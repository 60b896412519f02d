"""Summaries of corpus results: relevance per word and class, and an HTML report.

>>> from doclrp.corpus.summarize import summarize_results
>>> records = [
...     {"id": "1", "label": "pos", "skipped": None, "task": "classification", "labels": ["neg", "pos"],
...      "target": "pos", "target_value": 2.0, "delta": 0.0, "special": {}, "text": "Good good bad",
...      "prediction": {"label": "pos", "index": 1, "probabilities": [0.1, 0.9], "values": [0.0, 2.0]},
...      "sentences": [[0, 13, 2.0]], "words": [["Good", 0, 4, 1.5], ["good", 5, 9, 1.0], ["bad", 10, 13, -0.5]]},
... ]
>>> summary = summarize_results(records)
>>> stat = summary.groups["pos"]["good"]
>>> stat.sum, stat.count, stat.df, stat.mean
(2.5, 2, 1, 1.25)
>>> [word for word, _ in summary.top_words("pos", sign=-1, min_df=1)]
['bad']

Words are lower-cased. A record's class (its *group*) is, with ``group_by="auto"``,
its true label when it has one, else the predicted label; for regression the
explained output. The relevance summed is always the record's relevance for
its explained target (by default the predicted class), so the words "for" a
class are the words that pushed the documents of that class toward what was
explained.

Lexicon check (Part 2 of issue 4): for regression results explaining ``compound``
(or its deviation from a reference, ``compound − mean``), the summary calls
``doclrp.corpus.lexicon.vader_correlation(word_means)`` when that module can be
imported, with ``word_means`` the mean relevance per occurrence of each word of that
group seen at least ``lexicon_min_count`` times, and shows the ``(r, words)`` it returns.

The report (:func:`render_report`, pure) is one self-contained page: all text
from data is escaped, bar charts are inline SVG, no script.
"""

from __future__ import annotations

import csv
import heapq
import html
import io
import json
import math
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doclrp.errors import DoclrpError
from doclrp.render.colors import NEGATIVE_RGB, POSITIVE_RGB

__all__ = ["WordStat", "CorpusSummary", "summarize_results", "render_report", "bar_chart_svg", "summarize",
           "GROUP_BY"]

GROUP_BY = ("auto", "label", "predicted", "target")
REPORT_TAG = "corpus-report"
NO_LABEL = "(no label)"
#: Skipped ids listed per reason in the report.
SKIPPED_SHOWN = 20
#: Occurrences a word needs to enter the lexicon correlation (rarer words' means are noise).
LEXICON_MIN_COUNT = 5


@dataclass
class WordStat:
    """One word in one group: summed relevance, occurrences, documents."""

    sum: float = 0.0
    count: int = 0
    df: int = 0

    @property
    def mean(self) -> float:
        """Mean relevance per occurrence."""
        return self.sum / self.count if self.count else 0.0


@dataclass
class CorpusSummary:
    """Aggregates of a results file (see the module docstring)."""

    header: dict[str, Any]
    group_by: str
    task: str | None = None
    groups: dict[str, dict[str, WordStat]] = field(default_factory=dict)
    group_documents: Counter = field(default_factory=Counter)
    documents: int = 0
    explained: int = 0
    skipped: Counter = field(default_factory=Counter)
    skipped_ids: dict[str, list[str]] = field(default_factory=dict)
    confusion: Counter = field(default_factory=Counter)  # (true, predicted) → documents
    delta_abs_sum: float = 0.0
    delta_abs_max: float = 0.0
    score_name: str = "explained value"
    most_confident: list[dict[str, Any]] = field(default_factory=list)
    least_confident: list[dict[str, Any]] = field(default_factory=list)
    lexicon: dict[str, Any] | None = None
    #: The report's index.html, once written by :func:`summarize`.
    report: Path | None = None

    @property
    def labelled(self) -> int:
        return sum(self.confusion.values())

    @property
    def accuracy(self) -> float | None:
        if not self.labelled:
            return None
        return sum(n for (true, predicted), n in self.confusion.items() if true == predicted) / self.labelled

    @property
    def delta_abs_mean(self) -> float:
        return self.delta_abs_sum / self.explained if self.explained else 0.0

    def top_words(self, group: str, k: int = 20, sign: int = +1, min_df: int = 2) -> list[tuple[str, WordStat]]:
        """The ``k`` words with the largest summed relevance for (``sign=+1``) or against
        (``-1``) ``group``'s explained target, among words in ``min_df`` documents or more."""
        if sign not in (1, -1):
            raise DoclrpError(f"sign must be +1 or -1, got {sign!r}")
        words = [(w, s) for w, s in self.groups.get(group, {}).items() if s.df >= min_df and s.sum * sign > 0]
        return heapq.nsmallest(k, words, key=lambda item: (-item[1].sum * sign, item[0]))

    def lines(self, top: int = 5, min_df: int = 2) -> list[str]:
        """A few lines for a terminal."""
        skipped = sum(self.skipped.values())
        out = [f"report: {self.report}"] if self.report is not None else []
        out += [f"{self.documents} documents: {self.explained} explained, {skipped} skipped"
               + (f" ({', '.join(f'{n} {reason}' for reason, n in self.skipped.most_common())})" if skipped else "")]
        if self.accuracy is not None:
            out.append(f"accuracy {self.accuracy:.4f} on {self.labelled} labelled documents")
        up, down = ("raise", "lower") if self.task == "regression" else ("for", "against")
        for group in sorted(self.groups):
            pro = ", ".join(w for w, _ in self.top_words(group, top, +1, min_df)) or "-"
            con = ", ".join(w for w, _ in self.top_words(group, top, -1, min_df)) or "-"
            out.append(f"{group}: {up}: {pro}; {down}: {con}")
        if self.explained:
            out.append(f"conservation |delta|: mean {self.delta_abs_mean:.3g}, max {self.delta_abs_max:.3g}")
        if self.lexicon is not None:
            out.append(f"{self.lexicon['name']}: {_lexicon_text(self.lexicon)}")
        return out


def _group(record: Mapping[str, Any], group_by: str) -> str:
    predicted = (record["prediction"] or {}).get("label")
    if group_by == "label":
        return record["label"] if record["label"] is not None else NO_LABEL
    if group_by == "target" or (record["task"] == "regression" and group_by == "auto"):
        return str(record["target"])
    if group_by == "predicted" or record["label"] is None:
        return predicted if predicted is not None else str(record["target"])
    return record["label"]


def _score(record: Mapping[str, Any]) -> float:
    """Confidence: the probability of the explained class, else the explained value."""
    probabilities = record["prediction"].get("probabilities")
    labels = record.get("labels") or []
    if probabilities and record["target"] in labels:
        return float(probabilities[labels.index(record["target"])])
    return float(record["target_value"])


def summarize_results(results: Iterable[Mapping[str, Any]] | str | Path, *, pages: int = 10,
                      group_by: str = "auto", lexicon_min_count: int = LEXICON_MIN_COUNT) -> CorpusSummary:
    """Aggregate records (or a results path) in one streaming pass; keeps ``pages`` documents
    with the highest and the lowest confidence for the report."""
    from doclrp.corpus.output import read_results

    if group_by not in GROUP_BY:
        raise DoclrpError(f"group_by must be one of {', '.join(GROUP_BY)}, got {group_by!r}")
    header: dict[str, Any] = {}
    if isinstance(results, (str, Path)):
        results = read_results(results)
        header = results.header
    summary = CorpusSummary(header=dict(header), group_by=group_by)
    most: list = []  # min-heaps of (score, order, record) and (-score, order, record)
    least: list = []
    for order, record in enumerate(results):
        summary.documents += 1
        if record.get("skipped"):
            summary.skipped[record["skipped"]] += 1
            shown = summary.skipped_ids.setdefault(record["skipped"], [])
            if len(shown) < SKIPPED_SHOWN:
                shown.append(str(record["id"]))
            continue
        summary.explained += 1
        if summary.task is None:
            summary.task = record["task"]
            if record["task"] == "classification" and record["target"] in (record.get("labels") or []):
                summary.score_name = "probability of the explained class"
        group = _group(record, group_by)
        summary.group_documents[group] += 1
        stats = summary.groups.setdefault(group, {})
        seen = set()
        for word in record["words"]:
            key = word[0].lower()
            stat = stats.get(key)
            if stat is None:
                stat = stats[key] = WordStat()
            stat.sum += word[3]
            stat.count += 1
            if key not in seen:
                seen.add(key)
                stat.df += 1
        if record["task"] == "classification" and record["label"] is not None:
            summary.confusion[(record["label"], record["prediction"]["label"])] += 1
        delta = abs(float(record["delta"]))
        summary.delta_abs_sum += delta
        summary.delta_abs_max = max(summary.delta_abs_max, delta)
        if pages > 0:
            score = _score(record)
            _keep(most, (score, -order, record), pages)
            _keep(least, (-score, -order, record), pages)
    summary.most_confident = [r for _, _, r in sorted(most, key=lambda e: (-e[0], -e[1]))]
    summary.least_confident = [r for _, _, r in sorted(least, key=lambda e: (-e[0], -e[1]))]
    summary.lexicon = _lexicon(summary, lexicon_min_count)
    return summary


def _keep(heap: list, entry: tuple, size: int) -> None:
    if len(heap) < size:
        heapq.heappush(heap, entry)
    elif entry[:2] > heap[0][:2]:
        heapq.heapreplace(heap, entry)


def _lexicon(summary: CorpusSummary, min_count: int) -> dict[str, Any] | None:
    """The VADER sanity check for regressors of ``compound``, if its module can be imported.

    Results explaining the deviation from a reference (target ``"compound − mean"``)
    qualify too: the reference moves the offset, not the words' relevance."""
    group = next((g for g in summary.groups if g == "compound" or g.startswith("compound − ")), None)
    if summary.task != "regression" or group is None:
        return None
    name = f"VADER lexicon correlation ({group}; words seen {min_count}+ times)"
    try:
        from doclrp.corpus.lexicon import vader_correlation
    except ImportError as error:
        return {"name": name, "error": f"not available ({error})"}
    try:
        means = {w: s.mean for w, s in summary.groups[group].items() if s.count >= min_count}
        return {"name": name, "result": vader_correlation(means)}
    except DoclrpError as error:
        return {"name": name, "error": str(error)}


def _lexicon_text(lexicon: Mapping[str, Any]) -> str:
    if "error" in lexicon:
        return lexicon["error"]
    result = lexicon["result"]
    if isinstance(result, tuple) and len(result) == 2:  # (r, words), as doclrp.corpus.lexicon returns
        r, words = result
        return f"r undefined ({words} words in the lexicon)" if math.isnan(r) else f"r = {r:+.3f} over {words} words"
    if isinstance(result, (int, float)):
        return f"r = {result:+.3f}"
    if isinstance(result, Mapping):
        return ", ".join(f"{k} {v:+.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items())
    return str(result)


# -- HTML -----------------------------------------------------------------------------------------
def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def bar_chart_svg(rows: Iterable[tuple[str, float, str]], color: str, label: str, width: int = 460,
                  bar_height: int = 18) -> str:
    """An inline SVG of horizontal bars, one per ``(name, value, tooltip)``, lengths ∝ |value|.

    >>> svg = bar_chart_svg([("<b>", 2.0, "sum 2"), ("ok", 1.0, "sum 1")], "#b2182b", "top words")
    >>> svg.startswith("<svg") and "&lt;b&gt;" in svg and "<b>" not in svg
    True
    """
    rows = list(rows)
    if not rows:
        return '<p class="meta">none</p>'
    name_width, value_width = 150, 64
    span = width - name_width - value_width
    vmax = max(abs(v) for _, v, _ in rows) or 1.0
    height = bar_height * len(rows) + 4
    parts = [f'<svg class="bars" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(label)}">']
    for i, (name, value, tooltip) in enumerate(rows):
        y = 2 + i * bar_height
        length = max(1.0, span * abs(value) / vmax)
        shown = name if len(name) <= 22 else name[:21] + "…"
        parts.append(
            f'<g><title>{_esc(tooltip)}</title>'
            f'<text x="{name_width - 6}" y="{y + bar_height - 5}" text-anchor="end">{_esc(shown)}</text>'
            f'<rect x="{name_width}" y="{y + 2}" width="{length:.1f}" height="{bar_height - 4}" fill="{color}"/>'
            f'<text x="{name_width + length + 4:.1f}" y="{y + bar_height - 5}" class="v">{value:+.3g}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


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
.pair { display: flex; gap: 2rem; flex-wrap: wrap; }
svg.bars text { font: 12px system-ui, sans-serif; fill: #222; } svg.bars text.v { fill: #555; }
tr.miss td.label { color: #b2182b; font-weight: 600; }
"""


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{_esc(title)}</title>\n'
            f"<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def _facts(summary: CorpusSummary) -> str:
    h = summary.header
    rows = [("results", h.get("results_path")), ("model", h.get("model")),
            ("model sha256", (h.get("model_sha256") or "")[:16] or None), ("composite", h.get("composite")),
            ("target", json.dumps(h["target"]) if isinstance(h.get("target"), dict) else h.get("target")),
            ("input", h.get("input")), ("shard", "/".join(map(str, h["shard"])) if h.get("shard") else None),
            ("doclrp", h.get("doclrp_version")), ("grouped by", summary.group_by)]
    return '<dl class="facts">' + "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in rows
                                          if v is not None) + "</dl>"


def _confusion_html(summary: CorpusSummary) -> str:
    if summary.accuracy is None:
        return ""
    true = sorted({t for t, _ in summary.confusion})
    predicted = sorted({p for _, p in summary.confusion if p is not None} | set(true))
    head = "".join(f'<th class="num">{_esc(p)}</th>' for p in predicted)
    rows = []
    for t in true:
        cells = "".join(f'<td class="num{" hit" if t == p else ""}">{summary.confusion.get((t, p), 0)}</td>'
                        for p in predicted)
        rows.append(f"<tr><th>{_esc(t)}</th>{cells}</tr>")
    return (f'<section id="accuracy"><h2>Accuracy</h2><p><strong>{summary.accuracy:.4f}</strong> on '
            f'{summary.labelled} labelled documents.</p><p class="meta">Confusion matrix: rows true label, '
            f'columns predicted.</p><table class="confusion"><thead><tr><th>true \\ predicted</th>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></section>')


def _words_html(summary: CorpusSummary, top: int, min_df: int) -> str:
    regression = summary.task == "regression"
    up, down = ("raise", "lower") if regression else ("for", "against")
    sections = []
    for group in sorted(summary.groups):
        charts = []
        for sign, word, color in ((+1, up, _hex(POSITIVE_RGB)), (-1, down, _hex(NEGATIVE_RGB))):
            rows = [(w, s.sum, f"{w}: sum {s.sum:+.4g}, mean {s.mean:+.4g} per occurrence, "
                               f"{s.count} occurrences in {s.df} documents")
                    for w, s in summary.top_words(group, top, sign, min_df)]
            charts.append(f"<div><h4>{_esc(word)} {_esc(group)}</h4>"
                          f"{bar_chart_svg(rows, color, f'top words {word} {group}')}</div>")
        sections.append(f'<h3>{_esc(group)} <span class="meta">({summary.group_documents[group]} documents)</span>'
                        f'</h3><div class="pair">{"".join(charts)}</div>')
    what = "output: the words that raised and lowered it" if regression else \
        "class: the words whose relevance for the explained target was largest (for) and most negative (against)"
    return (f'<section id="words"><h2>Top words</h2><p class="meta">Per {what}, summed over the documents of the '
            f"group; words in at least {min_df} of its documents; hover a bar for mean per occurrence and document "
            f'frequency. All values: <a href="words.csv">words.csv</a>.</p>{"".join(sections)}</section>')


def _documents_table(records: list[dict[str, Any]], hrefs: Mapping[str, str], score_name: str) -> str:
    if not records:
        return '<p class="meta">none</p>'
    rows = []
    for n, record in enumerate(records, start=1):
        predicted = record["prediction"].get("label")
        miss = record["label"] is not None and predicted is not None and record["label"] != predicted
        link = hrefs.get(record["id"])
        name = _esc(record["id"])
        rows.append(f'<tr{" class=miss" if miss else ""}><td class="num">{n}</td>'
                    f'<td>{f"<a href={chr(34)}{_esc(link)}{chr(34)}>{name}</a>" if link else name}</td>'
                    f'<td class="label">{_esc(record["label"] if record["label"] is not None else "")}</td>'
                    f'<td>{_esc(predicted if predicted is not None else "")}</td><td>{_esc(record["target"])}</td>'
                    f'<td class="num">{_score(record):.4g}</td></tr>')
    return (f'<table><thead><tr><th>#</th><th>document</th><th>true label</th><th>predicted</th><th>target</th>'
            f'<th class="num">{_esc(score_name)}</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def render_report(summary: CorpusSummary, hrefs: Mapping[str, str] | None = None, top: int = 20,
                  min_df: int = 2, title: str = "doclrp corpus report") -> str:
    """The report page for ``summary``; ``hrefs`` maps document ids to their highlighted pages."""
    hrefs = hrefs or {}
    skipped = sum(summary.skipped.values())
    parts = [f"<header><h1>{_esc(title)}</h1><p class=\"meta\">{summary.documents} documents · "
             f"{summary.explained} explained · {skipped} skipped</p></header>",
             f"<section id=\"run\"><h2>Run</h2>{_facts(summary)}</section>",
             _confusion_html(summary), _words_html(summary, top, min_df)]
    if summary.lexicon is not None:
        parts.append(f'<section id="lexicon"><h2>Lexicon check</h2><p>{_esc(summary.lexicon["name"])}: '
                     f"<strong>{_esc(_lexicon_text(summary.lexicon))}</strong></p></section>")
    parts.append(f'<section id="confident"><h2>Most confident documents</h2><p class="meta">By '
                 f'{_esc(summary.score_name)}, highest first.</p>'
                 f"{_documents_table(summary.most_confident, hrefs, summary.score_name)}"
                 f'<h2>Least confident documents</h2><p class="meta">By {_esc(summary.score_name)}, lowest first.</p>'
                 f"{_documents_table(summary.least_confident, hrefs, summary.score_name)}</section>")
    if summary.explained:
        parts.append(f'<section id="conservation"><h2>Conservation</h2><p>|target value − total relevance|: mean '
                     f"{summary.delta_abs_mean:.3g}, max {summary.delta_abs_max:.3g}.</p></section>")
    if skipped:
        items = "".join(f"<li>{n} × {_esc(reason)}: {_esc(', '.join(summary.skipped_ids.get(reason, [])))}"
                        f"{' …' if n > SKIPPED_SHOWN else ''}</li>" for reason, n in summary.skipped.most_common())
        parts.append(f'<section id="skipped"><h2>Skipped documents</h2><ul>{items}</ul></section>')
    return _page(title, "\n".join(p for p in parts if p))


# -- writing --------------------------------------------------------------------------------------
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _page_name(number: int, id: str) -> str:
    return f"docs/{number:03d}-{_UNSAFE_NAME.sub('-', str(id)).strip('-.')[:60] or 'doc'}.html"


def _words_csv(summary: CorpusSummary) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["group", "word", "sum", "mean", "count", "df"])
    for group in sorted(summary.groups):
        for word, s in sorted(summary.groups[group].items(), key=lambda item: (-abs(item[1].sum), item[0])):
            writer.writerow([group, word, repr(s.sum), repr(s.mean), s.count, s.df])
    return buffer.getvalue()


def _summary_json(summary: CorpusSummary, top: int, min_df: int) -> str:
    data = {
        "doclrp": REPORT_TAG, "header": summary.header, "task": summary.task, "group_by": summary.group_by,
        "documents": summary.documents, "explained": summary.explained, "skipped": dict(summary.skipped),
        "accuracy": summary.accuracy, "labelled": summary.labelled,
        "confusion": [[t, p, n] for (t, p), n in sorted(summary.confusion.items(), key=str)],
        "delta_abs_mean": summary.delta_abs_mean, "delta_abs_max": summary.delta_abs_max,
        "top_words": {g: {side: [[w, s.sum, s.mean, s.df] for w, s in summary.top_words(g, top, sign, min_df)]
                          for side, sign in (("for", 1), ("against", -1))} for g in sorted(summary.groups)},
        "lexicon": summary.lexicon,
    }
    return json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n"


def _check_report_folder(out: Path) -> None:
    if out.exists():
        marker = out / "summary.json"
        ours = False
        try:
            ours = json.loads(marker.read_text(encoding="utf-8")).get("doclrp") == REPORT_TAG
        except (OSError, ValueError, AttributeError):
            pass
        if not out.is_dir() or (any(out.iterdir()) and not ours):
            raise DoclrpError(f"{out} exists and is not a doclrp corpus report: choose another --out or remove it")
    if not out.parent.is_dir():
        raise DoclrpError(f"folder {out.parent} does not exist: create it or choose another --out")


def summarize(results: str | Path, out: str | Path, *, top: int = 20, pages: int = 10, min_df: int = 2,
              group_by: str = "auto", lexicon_min_count: int = LEXICON_MIN_COUNT) -> CorpusSummary:
    """Summarize ``results`` and write the report folder ``out``: index.html, docs/*.html
    (the most and least confident documents, highlighted), words.csv and summary.json.

    The folder is built aside and renamed into place, so ``out`` is always a whole
    report, the old one or the new one; a folder that is not a report is never replaced.
    """
    from doclrp.corpus.output import record_to_explanation
    from doclrp.render import render_document

    out = Path(out)
    for name, value in (("top", top), ("pages", pages), ("min_df", min_df)):
        if int(value) != value or value < 0:
            raise DoclrpError(f"{name} must be a non-negative integer, got {value!r}")
    _check_report_folder(out)
    summary = summarize_results(results, pages=pages, group_by=group_by, lexicon_min_count=lexicon_min_count)
    summary.header.setdefault("results_path", str(Path(results).resolve()))
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        (staging / "docs").mkdir()
        hrefs: dict[str, str] = {}
        for record in summary.most_confident + summary.least_confident:
            if record["id"] in hrefs:
                continue
            name = _page_name(len(hrefs) + 1, record["id"])
            page = render_document(record_to_explanation(record), title=f"{record['id']} ({record['target']})")
            (staging / name).write_text(page, encoding="utf-8")
            hrefs[record["id"]] = name
        (staging / "index.html").write_text(render_report(summary, hrefs, top, min_df), encoding="utf-8")
        (staging / "words.csv").write_text(_words_csv(summary), encoding="utf-8")
        (staging / "summary.json").write_text(_summary_json(summary, top, min_df), encoding="utf-8")
        if out.exists():
            # A folder cannot be renamed over a non-empty one: move the old report aside first.
            old = out.with_name(f".{out.name}.{os.getpid()}.old")
            os.replace(out, old)
            os.replace(staging, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    summary.report = out / "index.html"
    return summary

