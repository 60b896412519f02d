"""A PDF's page view in a real headless Chromium (Debian's ``chromium``, driven by Playwright):
each page drawn with every word's box coloured as the text colours the word, boxes on the
words' ink, the switch between pages and text, the target switch recolouring the boxes,
a box's word and value on focus, and the page fitting 390 and 1280 px.
``DOCLRP_SCREENSHOT=1`` also writes ``docs/pdf-page-view.png`` (the README's)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from references import pdf_of_text, skip_module_without_browser  # noqa: E402

skip_module_without_browser()

import doclrp  # noqa: E402
from doclrp._explain import explain_targets  # noqa: E402
from doclrp.cli.demo import demo_documents  # noqa: E402
from doclrp.cli.explain import drawn_pages  # noqa: E402
from doclrp.documents import read_source  # noqa: E402
from doclrp.render import to_html  # noqa: E402
from doclrp.render.colors import diverging_color, symmetric_vmax  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pdf_page(tmp_path_factory):
    """A two-page PDF of a BBC business story explained by the shipped CNN for every target."""
    folder = tmp_path_factory.mktemp("pdf")
    pipeline = doclrp.load_model(doclrp.pretrained_path())
    record = next(r for r in demo_documents(pipeline.labels) if r.label == "business")
    title, *paragraphs = [p for p in record.text.split("\n") if p.strip()]
    data = pdf_of_text(title, paragraphs * 2)
    (folder / "story.pdf").write_bytes(data)
    source = read_source(folder / "story.pdf", name="story.pdf")
    explanations = [source.attach(e) for e in explain_targets(pipeline, source.text)]
    path = folder / "story.html"
    path.write_text(to_html(explanations[0], title="story.pdf", alternatives=explanations[1:],
                            pages=drawn_pages(source)), encoding="utf-8")
    return path, source, explanations


def open_page(browser, path, width, touch=False):
    context = browser.new_context(viewport={"width": width, "height": 900}, has_touch=touch, is_mobile=touch)
    page = context.new_page()
    page.goto(path.as_uri())
    return page


def boxes(page):
    return page.evaluate("""() => [...document.querySelectorAll('.pageview .bx')].map(b => {
        const r = b.getBoundingClientRect(), img = b.parentElement.querySelector('img').getBoundingClientRect();
        return {w: b.dataset.w, bg: getComputedStyle(b).backgroundColor, box: [r.left, r.top, r.right, r.bottom],
                img: [img.left, img.top, img.right, img.bottom], visible: b.offsetParent !== null};
    })""")


def rgb(hex_colour):
    return f"rgb({int(hex_colour[1:3], 16)}, {int(hex_colour[3:5], 16)}, {int(hex_colour[5:7], 16)})"


@pytest.mark.parametrize("width", [390, 1280])
def test_page_view_boxes_coloured_as_the_words_inside_their_page_and_fitting(pdf_page, browser, width):
    path, source, explanations = pdf_page
    exp = explanations[0]
    page = open_page(browser, path, width)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.locator(".pageview figure.sheet").count() == source.pages == 2
    shown = boxes(page)
    placed = sum(len(exp.layout.boxes_on(i)) for i in range(len(exp.words)))
    assert len(shown) == placed and placed >= len(exp.words) - 1
    vmax = symmetric_vmax(exp.relevance)
    expected = [rgb(diverging_color(w.relevance, vmax)) for i, w in enumerate(exp.words)
                for _ in exp.layout.boxes_on(i)]
    assert [b["bg"] for b in shown] == expected
    assert [b["w"] for b in shown] == [w.text for i, w in enumerate(exp.words) for _ in exp.layout.boxes_on(i)]
    for b in shown:
        left, top, right, bottom = b["box"]
        assert b["img"][0] - 0.5 <= left < right <= b["img"][2] + 0.5
        assert b["img"][1] - 0.5 <= top < bottom <= b["img"][3] + 0.5
    if width >= 1100:  # the pages stand beside the text
        pages_box = page.locator(".pageview").bounding_box()
        text_box = page.locator(".views").bounding_box()
        assert pages_box["x"] + pages_box["width"] <= text_box["x"] + 1
    else:  # one at a time: the pages first
        assert not page.locator(".views").is_visible()
    page.context.close()


def test_switch_between_pages_and_text_and_between_targets(pdf_page, browser):
    path, _, explanations = pdf_page
    page = open_page(browser, path, 390)
    page.click('label[for="mode-text"]')
    assert page.locator(".views").is_visible() and not page.locator(".pageview").is_visible()
    page.click('label[for="mode-pages"]')
    assert page.locator(".pageview").is_visible()
    other = explanations[2]
    page.click('label[for="pick-2"]')
    vmax = symmetric_vmax(other.relevance)
    shown = [b["bg"] for b in boxes(page)]
    assert shown == [rgb(diverging_color(w.relevance, vmax)) for i, w in enumerate(other.words)
                     for _ in other.layout.boxes_on(i)]
    assert page.locator(".plegend-2").is_visible() and not page.locator(".plegend-0").is_visible()
    page.context.close()


def test_tapping_a_box_shows_its_word_and_value(pdf_page, browser):
    path, _, explanations = pdf_page
    exp = explanations[0]
    page = open_page(browser, path, 390, touch=True)
    index = max(range(len(exp.words)), key=lambda i: abs(exp.words[i].relevance))
    nth = sum(len(exp.layout.boxes_on(i)) for i in range(index))
    box = page.locator(".pageview .bx").nth(nth)
    box.scroll_into_view_if_needed()
    box.tap()
    content = box.evaluate("b => getComputedStyle(b, '::after').content")
    assert content == f'"{exp.words[index].text} {exp.words[index].relevance:+.4g}"'
    page.context.close()


def test_screenshot_of_the_page_view(pdf_page, browser, tmp_path):
    path, _, _ = pdf_page
    page = open_page(browser, path, 1280)
    page.set_viewport_size({"width": 1280, "height": 1000})
    out = Path(__file__).resolve().parent.parent / "docs" if os.environ.get("DOCLRP_SCREENSHOT") else tmp_path
    page.evaluate("document.querySelector('.modes').scrollIntoView()")
    page.locator(".pageview .bx").nth(12).hover()
    page.screenshot(path=str(out / "pdf-page-view.png"))
    assert (out / "pdf-page-view.png").stat().st_size > 10_000
    page.context.close()
