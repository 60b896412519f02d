"""The evaluation report: one self-contained HTML page from the plain data of ``doclrp evaluate``.

>>> data = {"shares": [0.0, 0.5, 1.0], "documents": ["a", "b"], "seed": 0, "methods": [
...     {"name": "epsilon", "curves": {"deletion": {"morf": [2.0, 0.5, 0.0], "lerf": [2.0, 1.5, 0.0]}},
...      "summary": {"deletion": {"abpc": {"mean": 0.33, "low": 0.2, "high": 0.4, "n": 2}}},
...      "time": {"mean": 0.01, "low": 0.01, "high": 0.01, "n": 2}}]}
>>> page = render_evaluation(data, {"model": "<m>"})
>>> page.startswith("<!DOCTYPE html>"), "&lt;m&gt;" in page, "<svg" in page, "0.330 [0.200, 0.400]" in page
(True, True, True, True)

Rendered from plain data (the dictionary written to ``results.json``), never from
``doclrp.evaluate``'s objects: rendering sits below evaluation. Every text is escaped;
curves are inline SVG; the page loads nothing from anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from doclrp.render.page import escape, html_page

__all__ = ["render_evaluation", "MEASURE_NAMES"]

MEASURE_NAMES = {
    "abpc": "ABPC ↑", "comprehensiveness": "comprehensiveness ↑", "sufficiency": "sufficiency ↓",
    "aopc": "AOPC ↑", "normalized_aopc": "normalized AOPC ↑",
}
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f")
_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: .5rem 0 1.2rem; }
.wide { overflow-x: auto; max-width: 100%; }
svg { max-width: 100%; height: auto; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; } figcaption { font-weight: 600; }
.legend span { display: inline-block; margin-right: 1rem; }
.legend i { display: inline-block; width: 1.2rem; height: .25rem; vertical-align: middle; margin-right: .3rem; }
.note { color: #555; max-width: 60rem; }
.sig { font-weight: 600; }
code { font-size: 90%; }
"""


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{float(value):.{digits}f}"


def _interval(summary: Mapping[str, Any] | None, digits: int = 3) -> str:
    if not summary or summary.get("mean") is None or summary.get("n", 1) == 0:
        return "–"
    return f"{_number(summary['mean'], digits)} [{_number(summary.get('low'), digits)}, " \
           f"{_number(summary.get('high'), digits)}]"


def _chart(title: str, shares: Sequence[float], lines: Sequence[tuple[str, Sequence[Any], str, bool]]) -> str:
    """One SVG line chart: x the share of words removed, y the explained value."""
    # right margin: room for half of the "100%" label centred on the last tick
    width, height, left, bottom, top, right = 360, 230, 48, 30, 10, 22
    values = [float(v) for _, ys, _, _ in lines for v in ys if v is not None]
    if not values or not shares:
        return ""
    low, high = min(values), max(values)
    if high - low < 1e-12:
        low, high = low - 1, high + 1

    def x(share: float) -> float:
        return left + (width - left - right) * share / max(shares[-1], 1e-12)

    def y(value: float) -> float:
        return top + (height - top - bottom) * (high - value) / (high - low)

    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}">',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#888"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#888"/>']
    for value in (low, high):
        parts.append(f'<text x="{left - 4}" y="{y(value) + 4:.1f}" font-size="10" text-anchor="end">'
                     f'{escape(_number(value, 2))}</text>')
    for share in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{x(share):.1f}" y="{height - bottom + 14}" font-size="10" text-anchor="middle">'
                     f'{share:.0%}</text>')
    parts.append(f'<text x="{(left + width) / 2:.1f}" y="{height - 2}" font-size="10" text-anchor="middle">'
                 'share of words removed</text>')
    drawn: list[tuple[str, list[float | None]]] = []
    same: list[str] = []
    for name, ys, color, dashed in lines:
        curve: list[float | None] = [None if v is None else float(v) for v in ys]
        twin = next((other for other, seen in drawn if _same_curve(curve, seen)), None)
        drawn.append((name, curve))
        points = " ".join(f"{x(float(s)):.1f},{y(v):.1f}" for s, v in zip(shares, curve) if v is not None)
        # a curve on top of an earlier one is drawn in dashes over it, so that both show
        dash = ' stroke-dasharray="4 3"' if dashed else ' stroke-dasharray="6 6"' if twin else ""
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8"{dash} points="{points}">'
                     f'<title>{escape(name)}</title></polyline>')
        if twin:
            same.append(f"{name} is the same as {twin}")
    parts.append("</svg>")
    note = f'<p class="note">{escape("; ".join(same))} (drawn dashed over it)</p>' if same else ""
    return f"<figure><figcaption>{escape(title)}</figcaption>{''.join(parts)}{note}</figure>"


def _same_curve(a: Sequence[float | None], b: Sequence[float | None]) -> bool:
    """Whether two curves coincide (to a millionth of their size): one would hide the other."""
    if len(a) != len(b) or not a:
        return False
    scale = max([abs(v) for v in (*a, *b) if v is not None] + [1e-12])
    return all((u is None) == (v is None) and (u is None or v is None or abs(u - v) <= 1e-6 * scale)
               for u, v in zip(a, b))


def _curves_section(data: Mapping[str, Any], methods: Sequence[Mapping[str, Any]], modes: Sequence[str]) -> str:
    shares = [float(s) for s in data.get("shares", [])]
    colors = {m["name"]: _COLORS[i % len(_COLORS)] for i, m in enumerate(methods)}
    legend = "".join(f'<span><i style="background:{colors[m["name"]]}"></i>{escape(m["name"])}</span>'
                     for m in methods)
    legend += '<span><i style="background:#000"></i>random order (dashed)</span>'
    out = [f'<h2>Perturbation curves</h2><p class="note">Mean explained value over the documents after removing '
           f'the most relevant (MoRF) or least relevant (LeRF) words first. Lower MoRF and higher LeRF curves are '
           f'more faithful.</p><p class="legend">{legend}</p>']
    for mode in modes:
        charts = []
        for direction, title in (("morf", "MoRF"), ("lerf", "LeRF")):
            lines = [(m["name"], m.get("curves", {}).get(mode, {}).get(direction, []), colors[m["name"]], False)
                     for m in methods]
            random = data.get("random_curves", {}).get(mode)
            if random:
                lines.append(("random order", random, "#000", True))
            charts.append(_chart(f"{title}, {mode}", shares, lines))
        out.append(f'<div class="charts">{"".join(charts)}</div>')
    return "".join(out)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table; cells are HTML already escaped by the caller."""
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    # in a box that scrolls sideways: a wide table never widens a phone's page
    return f'<div class="wide"><table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>'


def _measures_section(data: Mapping[str, Any], methods: Sequence[Mapping[str, Any]], modes: Sequence[str]) -> str:
    level = float(data.get("level", 0.95))
    out = [f"<h2>Faithfulness</h2><p class=\"note\">Means over the documents with {level:.0%} bootstrap intervals "
           f"({escape(data.get('resamples', '?'))} resamples, seed {escape(data.get('seed', '?'))}). ↑: higher is "
           "better, ↓: lower is better. Seconds: explaining one document (each batch's time shared by its "
           "documents).</p>"]
    for mode in modes:
        measures = [m for m in MEASURE_NAMES if any(m in x.get("summary", {}).get(mode, {}) for x in methods)]
        rows = [[escape(m["name"]), *[escape(_interval(m.get("summary", {}).get(mode, {}).get(k)))
                                      for k in measures], escape(_interval(m.get("time"), 4))] for m in methods]
        out.append(f"<h3>{escape(mode)}</h3>"
                   + _table(["method", *[MEASURE_NAMES[k] for k in measures], "seconds / document"], rows))
    return "".join(out)


def _paired_section(data: Mapping[str, Any], modes: Sequence[str]) -> str:
    paired = data.get("paired") or {}
    out = []
    for mode in modes:
        by_measure = paired.get(mode) or {}
        measures = [m for m in MEASURE_NAMES if by_measure.get(m)]
        if not measures:
            continue
        names = [d["method"] for d in by_measure[measures[0]]]
        baseline = by_measure[measures[0]][0].get("baseline", "")
        rows = []
        for i, name in enumerate(names):
            cells = [escape(name)]
            for m in measures:
                d = by_measure[m][i]
                excludes_zero = d.get("low") is not None and d.get("high") is not None and (
                    d["low"] > 0 or d["high"] < 0)
                text = escape(_interval(d))
                cells.append(f'<span class="sig">{text}</span>' if excludes_zero else text)
            rows.append(cells)
        out.append(f"<h3>{escape(mode)}: method − {escape(baseline)}</h3>"
                   + _table(["method", *[MEASURE_NAMES[k] for k in measures]], rows))
    if not out:
        return ""
    return ("<h2>Paired differences</h2><p class=\"note\">Per document, each method's value minus the first "
            "method's, averaged; bold: the interval excludes 0.</p>" + "".join(out))


def _seeds(entry: Mapping[str, Any]) -> str:
    """Each re-initialization's mean ρ, so that one lucky draw cannot pass for the method."""
    values = [v for v in entry.get("per_seed") or [] if v is not None]
    return "seeds " + " / ".join(f"{v:.2f}" for v in values) if values else ""


def _sanity_section(methods: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for m in methods:
        if not m.get("sanity"):
            continue
        cells = [escape(m["name"])]
        for layers in ("top", "all"):
            entry = m["sanity"].get(layers, {})
            for words in (entry, entry.get("nonzero", {})):
                spread = _seeds(words)
                cells.append(escape(_interval(words.get("summary")) + (f"; {spread}" if spread else "")))
        rows.append(cells)
    if not rows:
        return ""
    seeds = next((m["sanity"].get("all", {}).get("seeds") for m in methods if m.get("sanity")), None) or []
    return ("<h2>Sanity check: model randomization</h2><p class=\"note\">Spearman rank correlation of word "
            "relevance before and after re-initializing the top layer, and all layers (Adebayo et al. 2018), "
            f"averaged over {len(seeds) or 'the'} re-initializations (each one's mean after it), over all words "
            "and over the words whose relevance is non-zero under either model (words at 0 under any model "
            "agree in rank whatever the model). Near 0 after randomizing all layers: the method depends on what "
            "the model learned; near 1: it does not.</p>"
            + _table(["method", "top layer ρ", "top layer ρ, non-zero words", "all layers ρ",
                      "all layers ρ, non-zero words"], rows))


def _planted_section(data: Mapping[str, Any]) -> str:
    planted = data.get("planted")
    if not planted:
        return ""
    k = planted.get("k", "?")
    rows = []
    for name, result in (planted.get("methods") or {}).items():
        if "error" in result:
            rows.append([escape(name), escape("does not apply: " + str(result["error"])), ""])
        else:
            rows.append([escape(name), escape(_interval(result.get("top1"))), escape(_interval(result.get("topk")))])
    model = planted.get("model") or {"kind": "text-cnn", "reference": True}
    trained = ("the reference CNN (a tiny text CNN: doclrp cannot train this model's kind again) trained in the run"
               if model.get("reference") else
               f"a model of this model's kind ({model.get('kind')}: its architecture and training settings) "
               "trained in the run")
    return (f"<h2>Planted trigger</h2><p class=\"note\">{escape(planted.get('documents', '?'))} documents whose label "
            f"is decided by one trigger word; {escape(trained)} (test accuracy "
            f"{escape(_number(planted.get('accuracy'), 3))}). Share of documents whose trigger is the most relevant "
            f"word (top-1) and among the {escape(k)} most relevant (top-{escape(k)}).</p>"
            + _table(["method", "top-1", f"top-{k}"], rows))


def render_evaluation(data: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> str:
    """The report page for ``data`` (the ``results.json`` of ``doclrp evaluate``); ``meta`` is
    shown first as name/value lines (model, corpus, versions, machine)."""
    methods = list(data.get("methods", []))
    modes = [mode for mode in ("deletion", "replacement")
             if any(mode in m.get("summary", {}) for m in methods)]
    facts = dict(meta or {})
    facts.setdefault("documents", len(data.get("documents", [])))
    facts.setdefault("seed", data.get("seed"))
    if data.get("target"):
        facts.setdefault("target", data["target"])
    header = "".join(f"<tr><td>{escape(key)}</td><td>{escape(value)}</td></tr>" for key, value in facts.items())
    skipped = data.get("skipped") or {}
    skipped_html = ""
    if skipped:
        shown = ", ".join(f"{name} ({reason})" for name, reason in skipped.items())
        skipped_html = f"<p class=\"note\">Left out: {escape(shown)}</p>"
    ids = ", ".join(str(i) for i in data.get("documents", []))
    body = (
        "<h1>Faithfulness report</h1>"
        f"<div class=\"wide\"><table>{header}</table></div>{skipped_html}"
        + _measures_section(data, methods, modes)
        + _curves_section(data, methods, modes)
        + _paired_section(data, modes)
        + _sanity_section(methods)
        + _planted_section(data)
        + f"<h2>Documents</h2><details><summary>ids of the sample</summary><p>{escape(ids)}</p></details>"
    )
    return html_page("doclrp evaluation", body, _STYLE)
