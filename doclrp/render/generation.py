"""A generation explanation as one self-contained page: the continuation as tokens to choose, the
document coloured by what made the chosen token (or span of tokens).

>>> from doclrp.text import tokenize
>>> from doclrp.text.generation import GeneratedToken, GenerationExplanation
>>> doc = tokenize("Shares <b>fell</b>.", pipeline="blank")
>>> token = GeneratedToken(" down", 7, 2.0, 0.5, [1.0] + [0.0] * (len(doc) - 1), [], [], {}, 1.0)
>>> page = generation_html(GenerationExplanation.build(doc, [token]), title="news")
>>> page.startswith("<!DOCTYPE html>"), "<b>" in page, "&lt;" in page
(True, False, True)

Unlike the other pages this one has a small inline script: a span of tokens sums their
relevance, and there are too many spans to write out as style rules. The numbers it reads are
a JSON block (numbers only); every text on the page is escaped HTML. Without the script the
document shows the relevance of the whole continuation. The colours are those of
:mod:`doclrp.render.colors` (the script computes them the same way).
"""

from __future__ import annotations

import json
import math

from doclrp.render.colors import NEGATIVE_RGB, POSITIVE_RGB, ZERO_RGB, css_gradient, diverging_color, text_color
from doclrp.render.page import TAP_VALUES, escape, html_page
from doclrp.text.generation import GenerationExplanation

__all__ = ["generation_html"]

_STYLE = f"""
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; line-height: 1.5; }}
h1 {{ font-size: 1.4rem; margin-bottom: .3rem; }}
h2 {{ font-size: 1.1rem; margin: 1.4rem 0 .4rem; }}
.meta {{ color: #666; margin: 0; }}
.tokens {{ display: flex; flex-wrap: wrap; gap: .25rem; }}
.tok {{ font: 1rem ui-monospace, monospace; white-space: pre; border: 1px solid #999; border-radius: 3px;
        background: #fff; color: #222; padding: .1rem .3rem; cursor: pointer; max-width: 100%; overflow: hidden; }}
.tok[aria-pressed="true"] {{ background: #222; color: #fff; border-color: #222; }}
.controls {{ display: flex; flex-wrap: wrap; gap: .8rem; align-items: center; margin: .4rem 0; }}
.doc {{ white-space: pre-wrap; overflow-wrap: anywhere; font-family: Georgia, "Times New Roman", serif;
        font-size: 1.05rem; line-height: 1.9; border: 1px solid #ddd; border-radius: 4px; padding: 1rem; }}
.w, .pw, .gt {{ border-radius: 3px; }}
.pw, .gt {{ font-family: ui-monospace, monospace; font-size: .9rem; }}
.gt {{ outline: 1px dashed #999; }}
.legend {{ display: flex; align-items: center; gap: .5rem; flex-wrap: wrap; font-size: .9rem; }}
.legend .bar {{ display: inline-block; width: 12rem; max-width: 60%; height: .9rem; border: 1px solid #bbb;
               background: {css_gradient()}; }}
dl.facts {{ display: grid; grid-template-columns: max-content auto; gap: .1rem 1rem; margin: 0; }}
dl.facts dt {{ color: #666; }} dl.facts dd {{ margin: 0; font-variant-numeric: tabular-nums; }}
{TAP_VALUES}"""

# The colour scale of doclrp.render.colors and the text colour rule, for the chosen span.
_SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById("doclrp-data").textContent);
  var POS = %(positive)s, NEG = %(negative)s, ZERO = %(zero)s;
  var n = data.value.length, anchor = 0;
  function rgb(v, vmax) {
    if (!(vmax > 0) || !isFinite(v)) return ZERO;
    var t = Math.max(-1, Math.min(1, v / vmax)), end = t >= 0 ? POS : NEG;
    return ZERO.map(function (z, k) { return Math.round(z + Math.abs(t) * (end[k] - z)); });
  }
  function hex(c) { return "#" + c.map(function (x) { return (x < 16 ? "0" : "") + x.toString(16); }).join(""); }
  function ink(c) {
    var l = c.map(function (x) { x /= 255; return x <= 0.04045 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
    return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2] > 0.179 ? "#000000" : "#ffffff";
  }
  function sum(rows, a, b, length) {
    var out = new Array(length).fill(0);
    for (var t = a; t <= b; t++) for (var k = 0; k < rows[t].length; k++) out[k] += rows[t][k];
    return out;
  }
  function paint(nodes, values, vmax) {
    nodes.forEach(function (node, k) {
      var c = rgb(values[k], vmax), v = values[k].toPrecision(6);
      node.style.background = hex(c); node.style.color = ink(c); node.title = v; node.dataset.v = v;
    });
  }
  function fixed(v) { return (v >= 0 ? "+" : "") + v.toPrecision(4); }
  function choose(a, b) {
    var words = sum(data.words, a, b, data.words[0].length), prompt = sum(data.prompt, a, b, data.prompt[0].length);
    var previous = sum(data.previous, a, b, n), value = 0, delta = 0, special = 0;
    for (var t = a; t <= b; t++) { value += data.value[t]; delta += data.delta[t]; special += data.special[t]; }
    var vmax = 0;
    words.concat(prompt, previous).forEach(function (v) { vmax = Math.max(vmax, Math.abs(v)); });
    paint(Array.prototype.slice.call(document.querySelectorAll(".doc .w")), words, vmax);
    paint(Array.prototype.slice.call(document.querySelectorAll(".doc .pw")), prompt, vmax);
    paint(Array.prototype.slice.call(document.querySelectorAll(".doc .gt")), previous, vmax);
    document.querySelectorAll(".tok").forEach(function (node, t) { node.setAttribute("aria-pressed", t >= a && t <= b); });
    var total = function (xs) { return xs.reduce(function (s, x) { return s + x; }, 0); };
    document.getElementById("chosen").textContent = a === b ? "token " + (a + 1) : "tokens " + (a + 1) + "–" + (b + 1);
    document.getElementById("value").textContent = fixed(value);
    document.getElementById("shares").textContent = "words " + fixed(total(words)) + ", earlier tokens " +
      fixed(total(previous)) + ", prompt " + fixed(total(prompt)) + ", special " + fixed(special) +
      ", delta " + fixed(delta);
    document.getElementById("vmin").textContent = fixed(-vmax);
    document.getElementById("vmax").textContent = fixed(vmax);
  }
  document.querySelectorAll(".tok").forEach(function (node, t) {
    node.addEventListener("click", function (event) {
      if (event.shiftKey || document.getElementById("span").checked) {
        choose(Math.min(anchor, t), Math.max(anchor, t));
      } else { anchor = t; choose(t, t); }
    });
  });
  document.getElementById("all").addEventListener("click", function () { anchor = 0; choose(0, n - 1); });
  choose(0, n - 1);
})();
"""


def _shown(token: str) -> str:
    """A token's text as a button shows it: line breaks and tabs visible."""
    return token.replace("\n", "↵").replace("\t", "⇥") or "∅"


def _number(value: float) -> str:
    return f"{value:+.4g}"


def _chip(css: str, index: int, text: str, value: float, vmax: float) -> str:
    background = diverging_color(value, vmax)
    return (f'<span class="{css}" data-i="{index}" style="background:{background};color:{text_color(background)}" '
            f'title="{value:.6g}" data-v="{value:.6g}" tabindex="0">{escape(text)}</span>')


def _document_html(g: GenerationExplanation, vmax: float) -> str:
    """The prompt's words, the document's words in their own spacing, and the generated tokens: the
    whole text the model read, coloured by the continuation's relevance."""
    parts = [_chip("pw", i, p.text, p.relevance, vmax) + " " for i, p in enumerate(g.prompt) if p.before]
    position = 0
    for index, word in enumerate(g.words):
        parts.append(escape(g.text[position : word.start]))
        parts.append(_chip("w", index, g.text[word.start : word.end], word.relevance, vmax))
        position = word.end
    parts.append(escape(g.text[position:]))
    parts += [" " + _chip("pw", i, p.text, p.relevance, vmax) for i, p in enumerate(g.prompt) if not p.before]
    previous = [sum(t.previous[s] for t in g.generated if s < len(t.previous)) for s in range(len(g.generated))]
    parts += [_chip("gt", s, token.token, previous[s], vmax) for s, token in enumerate(g.generated)]
    return "".join(parts)


def _data(g: GenerationExplanation) -> str:
    """The numbers the script reads, as JSON safe inside a script element (no ``<`` left)."""
    n = len(g.generated)
    data = {
        "value": [t.value for t in g.generated],
        "delta": [t.delta for t in g.generated],
        "special": [math.fsum(t.special.values()) for t in g.generated],
        "words": [t.words for t in g.generated],
        "prompt": [t.prompt for t in g.generated],
        "previous": [t.previous + [0.0] * (n - len(t.previous)) for t in g.generated],
    }
    return json.dumps(data, allow_nan=False).replace("<", "\\u003c")


def generation_html(explanation: GenerationExplanation, title: str | None = None) -> str:
    """The page of ``explanation``: the continuation's tokens (choose one, or a span with shift or
    the span switch), the prompt, document and earlier tokens coloured by their relevance."""
    g = explanation
    vmax = max([abs(w.relevance) for w in g.words] + [abs(p.relevance) for p in g.prompt] + [0.0])
    heading = title or "What made the model write this"
    method = g.method.get("name", "")
    tokens = "".join(
        f'<button type="button" class="tok" aria-pressed="true" title="logit {t.value:.4g}, p {t.probability:.3g}">'
        f"{escape(_shown(t.token))}</button>" for t in g.generated)
    body = f"""<h1>{escape(heading)}</h1>
<p class="meta">{escape(method)} · {len(g.generated)} tokens {"generated (greedy)" if g.greedy else "given"};
choose a token to colour what made it; shift-choose, or switch on “span”, for a span of tokens.</p>
<section class="continuation">
<h2>Continuation</h2>
<div class="tokens">{tokens}</div>
<div class="controls"><label><input type="checkbox" id="span"> span from the last chosen token</label>
<button type="button" id="all">whole continuation</button></div>
<dl class="facts">
<dt>chosen</dt><dd id="chosen">tokens 1–{len(g.generated)}</dd>
<dt>explained logits</dt><dd id="value">{_number(math.fsum(t.value for t in g.generated))}</dd>
<dt>relevance</dt><dd id="shares">words {_number(math.fsum(w.relevance for w in g.words))}</dd>
</dl>
</section>
<section class="document">
<h2>Prompt, document and earlier tokens</h2>
<div class="legend"><span class="value" id="vmin">{_number(-vmax)}</span>
<span class="bar" role="img" aria-label="colour scale"></span><span class="value" id="vmax">{_number(vmax)}</span>
<span class="meta">red: for the chosen tokens · blue: against</span></div>
<div class="doc">{_document_html(g, vmax)}</div>
</section>
<script type="application/json" id="doclrp-data">{_data(g)}</script>
<script>{_SCRIPT % {"positive": list(POSITIVE_RGB), "negative": list(NEGATIVE_RGB), "zero": list(ZERO_RGB)}}</script>"""
    return html_page(heading, body, _STYLE)
