"""What every HTML page of doclrp shares: escaping and the page around a body.

>>> from doclrp.render.page import escape, html_page
>>> escape('<b title="x">\\r\\n')
'&lt;b title=&quot;x&quot;&gt;&#13;\\n'
>>> html_page("a < b", "<p>hi</p>", "p { color: red; }").splitlines()[5]
'<title>a &lt; b</title>'
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable

__all__ = ["escape", "html_page", "fixed", "bar_chart_svg", "FITS_WIDTH", "TAP_VALUES"]

#: Style shared by every page so that it fits any width from 360 px up: long words and paths
#: wrap, tables scroll inside their own box (``div.scroll``), charts shrink with the page.
FITS_WIDTH = """
html { -webkit-text-size-adjust: 100%; }
body { overflow-wrap: anywhere; }
.scroll { max-width: 100%; overflow-x: auto; }
/* cells keep their words whole (anywhere would squeeze a column to one letter): the box scrolls */
table { overflow-wrap: normal; }
svg.bars { max-width: 100%; height: auto; }
dl.facts dd, dl.facts dt { min-width: 0; }
"""

#: Exact values on touch screens and keyboards, not only on hover: an element with ``data-v``
#: and ``tabindex="0"`` shows its value while it has the focus (a tap or Tab gives it).
TAP_VALUES = """
[data-v]:focus { outline: 2px solid #222; outline-offset: 1px; }
[data-v]:focus::after { content: " " attr(data-v); font: .8rem ui-monospace, monospace; background: #222;
                        color: #fff; border-radius: 3px; padding: 0 .25rem; margin-left: .2rem; }
"""


def escape(text: object) -> str:
    """``str(text)`` safe inside HTML text and quoted attributes."""
    # html.escape leaves "\r" alone, and HTML parsers turn "\r\n" into "\n";
    # a character reference keeps the original text exact.
    return html.escape(str(text), quote=True).replace("\r", "&#13;")


def html_page(title: str, body: str, style: str) -> str:
    """A complete HTML5 page: ``body`` (already escaped HTML) with one inline style sheet, no script;
    it fits any width from 360 px up (:data:`FITS_WIDTH`)."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{FITS_WIDTH}{style}</style>
</head>
<body>
{body}
</body>
</html>
"""


def fixed(value: float, vmax: float, digits: int = 3) -> str:
    """``value`` with a sign and fixed decimals: ``digits`` significant digits of ``vmax``, the
    largest value shown beside it, so a column of values lines up and never turns scientific.

    >>> fixed(1.7234, 1.7234), fixed(0.5, 1.7234), fixed(0.00123, 0.0123), fixed(172.4, 172.4)
    ('+1.72', '+0.50', '+0.0012', '+172')
    """
    vmax = abs(vmax)
    decimals = 0 if not math.isfinite(vmax) or vmax == 0 else max(0, digits - 1 - math.floor(math.log10(vmax)))
    return f"{value:+.{min(decimals, 12)}f}"


def bar_chart_svg(rows: Iterable[tuple[str, float, str]], color: str, label: str, width: int = 460,
                  bar_height: int = 18) -> str:
    """An inline SVG of horizontal bars, one per ``(name, value, tooltip)``, lengths ∝ |value|;
    values written beside the bars with fixed decimals; the chart shrinks with a narrow page.

    >>> svg = bar_chart_svg([("<b>", 2.0, "sum 2"), ("ok", 1.0, "sum 1")], "#b2182b", "top words")
    >>> svg.startswith("<svg") and "&lt;b&gt;" in svg and "<b>" not in svg, "+1.00" in svg
    (True, True)
    """
    rows = list(rows)
    if not rows:
        return '<p class="meta">none</p>'
    name_width, value_width = 150, 64
    span = width - name_width - value_width
    vmax = max(abs(v) for _, v, _ in rows) or 1.0
    height = bar_height * len(rows) + 4
    parts = [f'<svg class="bars" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">']
    for i, (name, value, tooltip) in enumerate(rows):
        y = 2 + i * bar_height
        length = max(1.0, span * abs(value) / vmax)
        shown = name if len(name) <= 22 else name[:21] + "…"
        parts.append(
            f'<g><title>{escape(tooltip)}</title>'
            f'<text x="{name_width - 6}" y="{y + bar_height - 5}" text-anchor="end">{escape(shown)}</text>'
            f'<rect x="{name_width}" y="{y + 2}" width="{length:.1f}" height="{bar_height - 4}" fill="{color}"/>'
            f'<text x="{name_width + length + 4:.1f}" y="{y + bar_height - 5}" class="v">{fixed(value, vmax)}</text>'
            '</g>')
    parts.append("</svg>")
    return "".join(parts)
