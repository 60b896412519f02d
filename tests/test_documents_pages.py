"""A PDF's explanation on its pages without a browser: the page view's HTML (escaped, bounded),
`Explanation.page_images` (boxes coloured on the drawn page) and the JSON form with page and box."""

import json

import numpy as np
import pytest

from doclrp.documents import read_source, render_pages
from doclrp.errors import DoclrpError
from doclrp.render import to_html
from doclrp.render.colors import POSITIVE_RGB
from doclrp.render.pages import PAGE_VIEW_PAGES
from doclrp.text import Explanation, Prediction, build_explanation, tokenize
from references import pdf_bytes


def explained(data, name="a.pdf", relevance=None):
    """An explanation of a PDF's text (one relevance per word, the first word's by default 1)."""
    source = read_source(data, name=name)
    document = tokenize(source.text, pipeline="blank")
    values = relevance if relevance is not None else [1.0] + [0.0] * (len(document.words) - 1)
    exp = build_explanation(document, [(w.start, w.end) for w in document.words], values,
                            labels=["business", "sport"], task="classification",
                            prediction=Prediction.from_logits([0.0, 1.0], ["business", "sport"]),
                            target="sport", target_value=float(sum(values)), delta=0.0)
    return source, source.attach(exp)


def test_page_view_html_escapes_words_and_embeds_each_page_once():
    data = pdf_bytes([["<script>alert(1)</script> & \"quotes\" win"], ["second page"]])
    source, exp = explained(data)
    page = to_html(exp, pages=render_pages(data))
    assert "<script" not in page and "</script" not in page
    assert 'data-w="alert(1)&lt;/script"' in page and 'data-w="&quot;"' in page
    assert page.count("data:image/png;base64,") == 2 and page.count('class="bx"') == len(exp.words)
    assert 'id="mode-pages" checked' in page


def test_page_view_says_which_pages_are_not_drawn():
    data = pdf_bytes([["page text"]] * 3)
    _, exp = explained(data)
    page = to_html(exp, pages=render_pages(data, pages=[0]))
    assert "2 of 3 pages are not drawn here" in page and page.count("<figure") == 1
    assert PAGE_VIEW_PAGES >= 10


def test_page_view_needs_a_layout():
    data = pdf_bytes([["page text"]])
    source, exp = explained(data)
    with pytest.raises(DoclrpError, match="needs an explanation with a layout"):
        to_html(Explanation.from_dict({**exp.to_dict(), "layout": None}), pages=render_pages(data))


def test_page_images_colour_the_relevant_word_and_leave_the_rest(tmp_path):
    data = pdf_bytes([[(72, 700, "Goal scored today"), (72, 400, "nothing here")]])
    path = tmp_path / "match.pdf"
    path.write_bytes(data)
    source, exp = explained(data, name=str(path))
    image, = exp.page_images()  # the file the layout names
    pixels = np.asarray(image, dtype=np.int32)
    height, width = pixels.shape[:2]
    x0, y0, x1, y1 = exp.layout.box[0]
    inside = pixels[int(y0 * height) + 1:int(y1 * height) - 1, int(x0 * width) + 1:int(x1 * width) - 1]
    # Paper inside the box takes the colour of the top of the scale (multiply: white × red = red).
    brightness = inside.sum(axis=2)
    paper = inside[brightness >= np.percentile(brightness, 75)]  # not the ink
    assert np.abs(np.median(paper, axis=0) - POSITIVE_RGB).max() <= 12
    plain, = render_pages(data)
    assert image.size == (plain.width, plain.height)
    untouched = np.asarray(image)[int(0.6 * height):, :]
    assert (untouched > 240).all(axis=2).mean() > 0.95  # zero-relevance words: the page as drawn
    assert exp.page_images(data, cmap="bwr")[0].size == image.size


def test_page_images_refuse_an_explanation_without_pages():
    _, exp = explained(pdf_bytes([["words"]]))
    with pytest.raises(DoclrpError, match="no page layout"):
        Explanation.from_dict({**exp.to_dict(), "layout": None}).page_images()


def test_json_round_trip_keeps_page_box_and_parts():
    data = pdf_bytes([["a docu-", "ment here"]])
    _, exp = explained(data)
    again = Explanation.from_dict(json.loads(json.dumps(exp.to_dict())))
    assert again.layout == exp.layout and again == exp
    word = next(w for w in exp.to_dict()["words"] if w["text"] == "document")
    assert len(word["parts"]) == 2 and word["box"] == word["parts"][0][1:]
    assert all(set(w) >= {"page", "box"} for w in exp.to_dict()["words"])
