"""Relevance on the pages of a PDF: each page drawn by PDFium with every word's box coloured,
as a section of the HTML page (`page_view`) or as images (`page_images`).

>>> import numpy as np
>>> from doclrp.documents.pdf import PageImage
>>> from doclrp.text import Explanation
>>> from doclrp.text.explanation import _EXAMPLE
>>> from doclrp.text.layout import WordLayout
>>> exp = Explanation.from_dict(_EXAMPLE)
>>> exp = type(exp)(**{**exp.__dict__, "layout": WordLayout(np.array([0, 0]),
...     np.array([[.1, .1, .2, .15], [.3, .1, .4, .15]]), [(612.0, 792.0)], "a.pdf")})
>>> html, style = page_view([exp], [PageImage(0, 10, 13, b"...")], '<div class="views"></div>')
>>> html.count('class="bx"'), "left:10%;top:10%;width:10%;height:5%" in html
(2, True)

The section is one more view beside the text: radio buttons switch between pages and text
(on a wide screen the pages stand beside the text), done in the style sheet as the target
switch is, so the page still needs no script. Boxes take the page's diverging scale (the
same colours and legend as the words of the text) and are laid over the page image in
multiply mode, so the print shows through; hovering, tapping or tabbing to a box shows its
word and exact value. With several targets each box carries one colour and one value per
target (CSS custom properties and ``data-v*`` attributes), not one copy of the boxes each.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from doclrp.documents import Limits, SourceText, read_source
from doclrp.documents.pdf import MAX_PAGE_WIDTH, PageImage, iter_page_images
from doclrp.errors import DoclrpError
from doclrp.render.colors import css_gradient, diverging_rgb, symmetric_vmax
from doclrp.render.image import colorize
from doclrp.render.page import escape
from doclrp.text.explanation import Explanation

__all__ = ["page_view", "page_images", "PAGE_VIEW_PAGES"]

#: Pages drawn into one HTML page (each ~100 kB); later pages are in the text view only.
PAGE_VIEW_PAGES = 50

_STYLE = f"""
.mode {{ position: absolute; opacity: 0; width: 1px; height: 1px; }}
.modes {{ display: flex; gap: .3rem; flex-wrap: wrap; align-items: center; margin: 1rem 0 .5rem; }}
.modes label {{ border: 1px solid #999; border-radius: 3px; padding: .1rem .6rem; cursor: pointer; }}
#mode-pages:checked ~ .modes label[for="mode-pages"], #mode-text:checked ~ .modes label[for="mode-text"] {{
  background: #222; color: #fff; }}
#mode-pages:focus-visible ~ .modes label[for="mode-pages"], #mode-text:focus-visible ~ .modes label[for="mode-text"] {{
  outline: 2px solid #1a73e8; }}
#mode-pages:checked ~ .layout > .views {{ display: none; }}
#mode-text:checked ~ .layout > .pageview {{ display: none; }}
@media (min-width: 1100px) {{
  body {{ max-width: 110rem; }}
  #mode-pages:checked ~ .layout {{ display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr);
                                   gap: 1.5rem; align-items: start; }}
  #mode-pages:checked ~ .layout > .views {{ display: block; }}
}}
.pageview .plegend {{ display: none; align-items: center; gap: .5rem; flex-wrap: wrap; font-size: .9rem; }}
.pageview .plegend-0 {{ display: flex; }}
.pageview .plegend .bar {{ display: inline-block; width: 12rem; max-width: 50vw; height: .9rem;
                           border: 1px solid #bbb; background: {css_gradient()}; }}
figure.sheet {{ margin: .8rem 0; }}
figure.sheet figcaption {{ color: #666; font-size: .85rem; }}
.paper {{ position: relative; border: 1px solid #ccc; box-shadow: 0 1px 3px rgba(0,0,0,.15); line-height: 0; }}
.paper img {{ width: 100%; height: auto; display: block; }}
.bx {{ position: absolute; mix-blend-mode: multiply; background: var(--c0); border-radius: 1px; }}
.bx:hover, .bx:focus {{ outline: 2px solid #222; outline-offset: 0; z-index: 3; }}
.bx:hover::after, .bx:focus::after {{ content: attr(data-w) " " attr(data-v0); position: absolute; left: 0;
  top: 100%; margin-top: 2px; white-space: pre; font: .8rem/1.3 ui-monospace, monospace; background: #222;
  color: #fff; border-radius: 3px; padding: .1rem .3rem; z-index: 4; }}
"""


def _value(value: float) -> str:
    return f"{value:+.4g}"


def _directions(exp: Explanation) -> tuple[str, str]:
    if exp.task == "regression":
        return f"raises {exp.target}", f"lowers {exp.target}"
    return f"for {exp.target}", f"against {exp.target}"


def page_view(views: Sequence[Explanation], images: Sequence[PageImage], views_html: str) -> tuple[str, str]:
    """The HTML that replaces ``views_html`` (the text views) on a page with a PDF's pages, and
    its style: the pages/text switch, the page images with every word's box, and the text views.

    ``views``: the explanation and its alternatives (other targets), all with the same
    `Explanation.layout`; ``images``: the drawn pages (`doclrp.documents.render_pages`); pages
    of the layout without an image are said to be in the text view only.
    """
    if not views or views[0].layout is None:
        raise DoclrpError("a page view needs an explanation with a layout (the words' pages and boxes of a PDF)")
    layout = views[0].layout
    for view in views[1:]:
        if view.layout is None or len(view.layout) != len(layout) or view.text != views[0].text:
            raise DoclrpError("every target of a page view must explain the same words of the same PDF")
    values = [view.relevance for view in views]
    scales = [symmetric_vmax(v) for v in values]
    # Whole arrays at once: a page view holds tens of thousands of boxes.
    colours = [[f"#{r:02x}{g:02x}{b:02x}" for r, g, b in diverging_rgb(v, vmax).tolist()]
               for v, vmax in zip(values, scales)]
    texts = [w.text for w in views[0].words]
    by_page: dict[int, list[str]] = {image.page: [] for image in images}
    # Percentages of every box at once (tens of thousands of words): left, top, width, height.
    box = layout.box.astype(np.float64)
    places = np.round(np.hstack([box[:, :2], box[:, 2:] - box[:, :2]]) * 100, 2).tolist()
    pages_of = layout.page.tolist()
    shown_values = [[_value(x) for x in v.tolist()] for v in values]
    for index, page in enumerate(pages_of):
        if index in layout.parts:  # a word broken over lines: a box per line
            spots = [(p, [round(v * 100, 2) for v in (x0, y0, x1 - x0, y1 - y0)])
                     for p, (x0, y0, x1, y1) in layout.boxes_on(index)]
        elif page in by_page:
            spots = [(page, places[index])]
        else:
            continue
        custom = ";".join(f"--c{n}:{colours[n][index]}" for n in range(len(views)))
        data = " ".join(f'data-v{n}="{shown_values[n][index]}"' for n in range(len(views)))
        word = escape(texts[index])
        for spot_page, (left, top, width, height) in spots:
            if spot_page in by_page:
                by_page[spot_page].append(
                    f'<span class="bx" style="left:{left:g}%;top:{top:g}%;width:{width:g}%;height:{height:g}%;'
                    f'{custom}" data-w="{word}" {data} tabindex="0"></span>')
    sheets = []
    for image in images:
        source = f"data:{image.mime};base64,{base64.b64encode(image.data).decode('ascii')}"
        sheets.append(
            f'<figure class="sheet" id="page-{image.page + 1}"><div class="paper">'
            f'<img src="{source}" width="{image.width}" height="{image.height}" alt="page {image.page + 1}" '
            f'loading="lazy">{"".join(by_page[image.page])}</div>'
            f"<figcaption>page {image.page + 1}</figcaption></figure>")
    total = len(layout.page_sizes)
    shown = sorted(by_page)
    missing = [p for p in range(total) if p not in by_page]
    note = ""
    if missing:
        note = (f'<p class="meta">{len(missing)} of {total} pages are not drawn here (the page view shows at most '
                f"{len(shown)}); every word is in the text view.</p>\n")
    legends = "\n".join(
        f'<div class="plegend plegend-{n}"><span class="value">{_value(-vmax or 0.0)}</span>'
        f'<span class="bar" role="img" aria-label="colour scale"></span><span class="value">{_value(vmax)}</span>'
        f'<span class="meta">red: {escape(_directions(view)[0])} · blue: {escape(_directions(view)[1])}</span></div>'
        for n, (view, vmax) in enumerate(zip(views, scales)))
    html = f"""<input class="mode" type="radio" name="mode" id="mode-pages" checked><input class="mode" type="radio" name="mode" id="mode-text">
<section class="modes"><h2>View</h2><label for="mode-pages">Pages</label><label for="mode-text">Text</label></section>
<div class="layout">
<section class="pageview">
<h2>Pages</h2>
{legends}
<p class="meta">Each word's box coloured by its relevance, on the scale of the text; hover, tap or tab to a box for
the word and its exact value.</p>
{note}{"".join(sheets)}
</section>
{views_html}
</div>"""
    return html, _STYLE + _target_rules(len(views))


def _target_rules(n: int) -> str:
    """The target switch's rules inside the layout: text views, box colours, values and legends."""
    rules = []
    for i in range(n):
        rules.append(f"#pick-{i}:checked ~ .layout > .views > .view-{i} {{ display: block; }}")
        rules.append(f"#pick-{i}:checked ~ .layout .bx {{ background: var(--c{i}); }}")
        rules.append(f'#pick-{i}:checked ~ .layout .bx:hover::after, #pick-{i}:checked ~ .layout .bx:focus::after '
                     f'{{ content: attr(data-w) " " attr(data-v{i}); }}')
        rules.append(f"#pick-{i}:checked ~ .layout .plegend {{ display: none; }}")
        rules.append(f"#pick-{i}:checked ~ .layout .plegend-{i} {{ display: flex; }}")
    return "\n".join(rules) + "\n"


def _pdf_bytes(explanation: Explanation, source: Any) -> tuple[bytes, str]:
    """The PDF's bytes from ``source`` (bytes, a path, a `SourceText`) or the layout's file name."""
    if isinstance(source, SourceText):
        if source.data is None or source.kind != "pdf":
            raise DoclrpError(f"{source.name} is not a PDF read with its bytes: its pages cannot be drawn")
        return source.data, source.name or "the PDF"
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), "the PDF"
    path = source if source is not None else (explanation.layout.source if explanation.layout is not None else None)
    if path is None:
        raise DoclrpError("give the PDF (its path or bytes): this explanation does not name its file")
    read = read_source(os.fspath(path), limits=Limits())
    if read.kind != "pdf" or read.data is None:
        raise DoclrpError(f"{path} is not a PDF: only a PDF's pages can be drawn")
    return read.data, str(path)


def page_images(explanation: Explanation, source: Any = None, *, pages: Sequence[int] | None = None,
                max_width: int = MAX_PAGE_WIDTH, cmap: str = "rdbu", vmax: float | None = None) -> list[Image.Image]:
    """The PDF's pages as PIL images with every word's box coloured by its relevance.

    ``source``: the PDF (a path, its bytes or the `SourceText` it was read as; default: the file
    the layout names); ``pages``: 0-based pages (default all); ``cmap``: a colour map of
    :mod:`doclrp.render.image` (``"rdbu"``, the pages' own scale, by default; ``"bwr"``, the LRP
    Toolbox's maps ...), applied to relevance / ``vmax`` (default: the largest |word relevance|).
    Boxes multiply the page, so the print shows through; save one with
    ``doclrp.render.image.save_png`` or take ``png_bytes``.
    """
    layout = explanation.layout
    if layout is None:
        raise DoclrpError("this explanation has no page layout (only explanations of PDF files have one)")
    data, name = _pdf_bytes(explanation, source)
    values = explanation.relevance
    scale = symmetric_vmax(values) if vmax is None else float(vmax)
    normalized = np.clip(values / scale, -1.0, 1.0) if scale > 0 else np.zeros_like(values)
    colours = colorize(normalized, cmap).astype(np.float64) / 255.0
    chosen = list(range(len(layout.page_sizes))) if pages is None else list(pages)
    boxes: dict[int, list[tuple[int, tuple[float, float, float, float]]]] = {p: [] for p in chosen}
    for index in range(len(layout)):
        for page, box in layout.boxes_on(index):
            if page in boxes:
                boxes[page].append((index, box))
    out = []
    for page, image in zip(chosen, iter_page_images(data, name, pages=chosen, max_width=max_width, encode=False)):
        pixels = np.asarray(image, dtype=np.float64) / 255.0
        height, width = pixels.shape[:2]
        for index, (x0, y0, x1, y1) in boxes[page]:
            left, right = int(np.floor(x0 * width)), int(np.ceil(x1 * width))
            top, bottom = int(np.floor(y0 * height)), int(np.ceil(y1 * height))
            pixels[top:bottom, left:right] *= colours[index]  # multiply: the print shows through
        out.append(Image.fromarray(np.rint(pixels * 255.0).astype(np.uint8)))
    return out
