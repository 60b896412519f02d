"""The static pages (a demo index, a document page, a corpus report) in a real headless Chromium
(Debian's ``chromium``, driven by Playwright): every page fits 360, 390 and 1280 px without
sideways scrolling; a document page switches its target without re-running anything and shows
the library's numbers; a tap or keyboard focus shows a word's exact value (issue 16)."""

from __future__ import annotations


import pytest

from references import skip_module_without_browser  # noqa: E402

skip_module_without_browser()

import doclrp  # noqa: E402
from doclrp._explain import explain_targets  # noqa: E402
from doclrp.cli.demo import demo_documents  # noqa: E402
from doclrp.corpus import explain_corpus, summarize  # noqa: E402
from doclrp.render import render_index, to_html  # noqa: E402
from doclrp.render.colors import diverging_color, symmetric_vmax  # noqa: E402

pytestmark = pytest.mark.slow
WIDTHS = (360, 390, 1280)
# a word no line can break at a space: a page must still not scroll sideways
LONG_WORD = "https://example.org/" + "averyveryverylongpathsegment" * 8


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A demo-like index with two BBC documents' pages (every class, X-vs-rest) and a corpus report."""
    folder = tmp_path_factory.mktemp("site")
    pipeline = doclrp.load_model(doclrp.pretrained_path())
    records = demo_documents(pipeline.labels)[:2]
    records[1] = type(records[1])(records[1].id, records[1].text + " " + LONG_WORD, records[1].label)
    entries, views = [], {}
    for record in records:
        name = record.id.replace("/", "-") + ".html"
        explanations = explain_targets(pipeline, record.text, id=record.id)
        views[name] = explanations
        (folder / name).write_text(to_html(explanations[0], title=f"BBC {record.id}", alternatives=explanations[1:],
                                           back=("index.html", "the demo")), encoding="utf-8")
        entries.append((name, explanations[0], record.label))
    (folder / "index.html").write_text(render_index(entries, title="doclrp demo: BBC news types"), encoding="utf-8")
    corpus = demo_documents(pipeline.labels) + records
    explain_corpus(pipeline, [type(r)(f"{r.id}-{n}", r.text, r.label) for n, r in enumerate(corpus)],
                   folder / "results.jsonl", progress=False)
    summarize(folder / "results.jsonl", folder / "report", min_df=1, pages=3)
    return folder, views


def open_page(browser, path, width, touch=False):
    context = browser.new_context(viewport={"width": width, "height": 800}, has_touch=touch, is_mobile=touch)
    page = context.new_page()
    page.goto(path.as_uri())
    return page


@pytest.mark.parametrize("width", WIDTHS)
def test_pages_fit_the_width(site, browser, width):
    folder, views = site
    report_doc = sorted((folder / "report" / "docs").iterdir())[0]
    for path in [folder / "index.html", *(folder / name for name in views), folder / "report" / "index.html",
                 report_doc]:
        page = open_page(browser, path, width)
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, f"{path.name} is {scroll_width} px wide at {width} px"
        page.context.close()


def test_report_bar_labels_use_fixed_decimals(site):
    folder, _ = site
    page = (folder / "report" / "index.html").read_text(encoding="utf-8")
    labels = [part.split("<")[0] for part in page.split('class="v">')[1:]]
    assert labels and all("e" not in label and label[0] in "+-" for label in labels), labels


def visible_words(page):
    return page.evaluate("""() => [...document.querySelectorAll('.view .w')].filter(w => w.offsetParent !== null)
        .map(w => [w.textContent, w.getAttribute('data-v'), getComputedStyle(w).backgroundColor])""")


def rgb(hex_color):
    return f"rgb({int(hex_color[1:3], 16)}, {int(hex_color[3:5], 16)}, {int(hex_color[5:7], 16)})"


def test_the_target_switch_shows_the_library_numbers(site, browser):
    folder, views = site
    name, explanations = next(iter(views.items()))
    page = open_page(browser, folder / name, 390)
    labels = page.eval_on_selector_all(".switch label", "labels => labels.map(l => l.textContent)")
    assert labels == [str(e.target) for e in explanations]
    assert any(label.endswith("-vs-rest") for label in labels) and len(labels) == 2 * 5 - 1 + 1

    def check(explanation):
        shown = visible_words(page)
        vmax = symmetric_vmax(explanation.relevance)
        assert [w[0] for w in shown] == [w.text for w in explanation.words]
        assert [float(w[1]) for w in shown] == [w.relevance for w in explanation.words]
        assert [w[2] for w in shown[:20]] == [rgb(diverging_color(w.relevance, vmax)) for w in explanation.words[:20]]

    check(explanations[0])
    for n in (1, len(explanations) - 1):  # another class, and a contrast
        page.click(f'label[for="pick-{n}"]')
        check(explanations[n])
        assert page.locator(".view-0").is_hidden()
    page.context.close()


def test_a_tap_or_the_keyboard_shows_a_words_exact_value(site, browser):
    folder, views = site
    name, explanations = next(iter(views.items()))
    page = open_page(browser, folder / name, 390, touch=True)
    word = page.locator(".view-0 .w").nth(3)
    word.tap()
    shown = page.evaluate("el => getComputedStyle(el, '::after').content", word.element_handle())
    assert shown == f'" {explanations[0].words[3].relevance!r}"'
    page.keyboard.press("Tab")  # the next word takes the focus, and shows its value
    following = page.evaluate("document.activeElement.getAttribute('data-v')")
    assert following == repr(explanations[0].words[4].relevance)
    page.context.close()


def test_document_pages_link_back_and_chart_their_top_words(site, browser):
    folder, views = site
    name, explanations = next(iter(views.items()))
    page = open_page(browser, folder / name, 1280)
    assert page.get_attribute("nav.back a", "href") == "index.html"
    bars = page.locator(".view-0 .for svg.bars text.v").all_text_contents()
    terms = explanations[0].top_terms(10, +1)
    assert len(bars) == len(terms) and float(bars[0]) == pytest.approx(terms[0].relevance, abs=0.01)
    page.context.close()


def test_a_corpus_reports_document_page_switches_the_class(site, browser):
    folder, _ = site
    pipeline = doclrp.load_model(doclrp.pretrained_path())  # the run's model, in memory as the run had it
    report = folder / "report-switch"
    summary = summarize(folder / "results.jsonl", report, min_df=1, pages=1, model=pipeline, progress=False)
    assert "with a switch" in summary.pages_note
    path = sorted((report / "docs").iterdir())[0]
    text = next(r["text"] for r in doclrp.corpus.read_results(folder / "results.jsonl")
                if path.stem.split("-", 1)[1] == r["id"].replace("/", "-"))
    expected = explain_targets(pipeline, text)
    for width in (360, 1280):
        page = open_page(browser, path, width)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        labels = page.eval_on_selector_all(".switch label", "labels => labels.map(l => l.textContent)")
        assert labels == [str(e.target) for e in expected]
        assert page.get_attribute("nav.back a", "href") == "../index.html"
        n = len(expected) - 1  # the last contrast
        page.click(f'label[for="pick-{n}"]')
        shown = visible_words(page)
        assert [float(w[1]) for w in shown] == pytest.approx([w.relevance for w in expected[n].words], abs=1e-6)
        assert page.locator(".view-0").is_hidden()
        page.context.close()
