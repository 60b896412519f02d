"""The page of ``doclrp serve`` in a real headless Chromium (Debian's ``chromium``, driven by
Playwright) against a uvicorn server on a free loopback port: type, explain, coloured words;
change method and target and see exactly what the API returns; a permalink reopens the view;
hostile text stays text; compare two methods on one scale; colour maps, contrast and a tap;
contrasts and weights; export; browse corpus results and open a document; draw a digit.
``DOCLRP_SCREENSHOT=1`` also writes ``docs/serve*.png`` (the README's)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="doclrp serve needs the serve extra: pip install 'doclrp[serve]'")
pytest.importorskip("uvicorn", reason="doclrp serve needs the serve extra: pip install 'doclrp[serve]'")
from references import served, skip_module_without_browser  # noqa: E402

skip_module_without_browser()


import doclrp  # noqa: E402
from doclrp.corpus.output import read_results  # noqa: E402
from doclrp.corpus.run import explain_corpus  # noqa: E402
from doclrp.serve import create_app  # noqa: E402

pytestmark = pytest.mark.slow

DOCUMENT = ("Manchester United came from behind to beat Chelsea 2-1 at Old Trafford on Sunday, with a late header "
            "from the captain sealing a win that lifts them to third in the Premier League table.\n\n"
            "The manager praised the players' spirit after a difficult first half, while the club's shares rose "
            "on the stock market as investors welcomed the result and the new sponsorship deal.")
HOSTILE = ('<script>window.pwned = 1</script> <img src=x onerror="window.pwned = 2"> '
           '<b onmouseover="window.pwned = 3">bold</b> & "quotes" fell sharply.')
TIMEOUT_MS = 60_000
CORPUS = [
    {"id": "s1", "label": "sports", "text": "The striker scored twice and the team won the cup final."},
    {"id": "s2", "label": "sports", "text": "The coach praised the players after the match on Sunday."},
    {"id": "b1", "label": "business", "text": "Shares rose after the bank reported strong profits."},
    {"id": "b2", "label": "business", "text": "The film won an award at the festival."},
    {"id": "<img src=x onerror=\"window.pwned=4\">", "label": "tech", "text": HOSTILE},
]


@pytest.fixture(scope="module")
def results_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results")
    corpus = folder / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in CORPUS))
    out = folder / "news.jsonl"
    explain_corpus(doclrp.pretrained_path(), str(corpus), out, progress=False)
    return out


@pytest.fixture(scope="module")
def server(results_file):
    with served(create_app(models={"bbc-cnn": doclrp.pretrained_path()}, results=[results_file])) as url:
        yield url


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.problems = problems
    yield page
    context.close()


def api_explain(server: str, **request) -> dict:
    """What the API answers to ``request``, asked directly (not through the page)."""
    body = json.dumps(request).encode()
    req = urllib.request.Request(f"{server}/api/explain", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as reply:
        return json.load(reply)


def explain_and_wait(page, times: int) -> None:
    # The page wires its controls once the server has listed models and methods: not before.
    page.wait_for_selector("body[data-ready='1']")
    page.click("#explain")
    page.wait_for_selector(f"body[data-explained='{times}']")


def shown_relevance(page, box: str = "#document") -> list[float]:
    return [float(r) for r in page.eval_on_selector_all(f"{box} span.unit", "s => s.map(e => e.dataset.relevance)")]


def shown_colours(page, box: str = "#document") -> list[str]:
    return page.eval_on_selector_all(f"{box} span.unit", "s => s.map(e => e.style.backgroundColor)")


def colormaps(server: str) -> dict[str, list[str]]:
    with urllib.request.urlopen(f"{server}/api/colormaps", timeout=60) as reply:
        return {m["name"]: m["stops"] for m in json.load(reply)}


def expected_colour(value: float, vmax: float, stops: list[str], gamma: float = 1.0) -> str:
    """The page's colour of ``value`` on a scale ending at ``vmax`` (its colorOf, in Python)."""
    t = max(-1.0, min(1.0, value / vmax)) if vmax > 0 else 0.0
    t = math.copysign(abs(t) ** gamma, t)
    x = (t + 1) / 2 * (len(stops) - 1)
    i = min(len(stops) - 2, math.floor(x))
    f = x - i
    low, high = ([int(s[k:k + 2], 16) for k in (1, 3, 5)] for s in (stops[i], stops[i + 1]))
    r, g, b = (math.floor(a + f * (c - a) + 0.5) for a, c in zip(low, high))
    return f"rgb({r}, {g}, {b})"


def ready(page, server, query: str = "") -> None:
    page.goto(server + query)
    page.wait_for_selector("body[data-ready='1']")


def test_type_explain_change_method_and_target(page, server):
    page.goto(server)
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#text", DOCUMENT)
    explain_and_wait(page, 1)

    words = page.eval_on_selector_all("#document span.unit", "s => s.map(e => e.textContent)")
    expected = api_explain(server, text=DOCUMENT, model="bbc-cnn", method="epsilon", params={"eps": 1e-6},
                           target="predicted")
    assert words == [w["text"] for w in expected["words"]]
    assert shown_relevance(page) == pytest.approx([w["relevance"] for w in expected["words"]], rel=1e-9)
    colours = set(page.eval_on_selector_all("#document span.unit", "s => s.map(e => e.style.backgroundColor)"))
    assert len(colours) > 5 and "rgb(255, 255, 255)" not in colours or len(colours) > 6
    assert page.inner_text("#document").replace("\n", " ").split() == DOCUMENT.split()
    assert page.inner_text("#summary .target-name") == expected["target"]["name"] == "sports"
    assert page.locator("#prediction tr.predicted").inner_text().startswith("sports")
    assert page.locator("#top-for .bar").count() > 0 and page.locator("#top-against .bar").count() > 0
    page.hover("#document span.unit >> nth=2")
    assert f"relevance {expected['words'][2]['relevance']:.6g}"[:16] in page.inner_text("#hover")

    # Another method, with a parameter, and another target: the page shows what the API returns.
    page.select_option("#method", "integrated-gradients")
    page.fill("#params input[data-param='steps']", "8")
    page.select_option("#target", "business-vs-rest")
    explain_and_wait(page, 2)
    changed = api_explain(server, text=DOCUMENT, model="bbc-cnn", method="integrated-gradients", params={"steps": 8},
                          target="business-vs-rest")
    shown = shown_relevance(page)
    assert shown == pytest.approx([w["relevance"] for w in changed["words"]], rel=1e-9)
    assert shown != pytest.approx([w["relevance"] for w in expected["words"]], rel=1e-3)
    assert page.inner_text("#summary .target-name") == "business-vs-rest"
    assert "integrated-gradients (steps=8)" in page.inner_text("#summary .method-name")
    rows = page.eval_on_selector_all("#conservation tr", "rs => rs.map(r => r.cells[1].textContent)")
    assert float(rows[0]) == pytest.approx(changed["conservation"]["explained"], rel=1e-5)

    # The URL holds the view: opening it again shows the same numbers.
    url = page.url
    assert "method=integrated-gradients" in url and "p.steps=8" in url and "target=business-vs-rest" in url
    again = page.context.new_page()
    again.goto(url)
    again.wait_for_selector("body[data-explained='1']")
    assert shown_relevance(again) == pytest.approx(shown, rel=1e-9)
    assert again.input_value("#method") == "integrated-gradients" and again.input_value("#target") == "business-vs-rest"

    # Sentences: one coloured span each, their sums.
    page.select_option("#granularity", "sentence")
    explain_and_wait(page, 3)
    assert shown_relevance(page) == pytest.approx([s["relevance"] for s in changed["sentences"]], rel=1e-9)
    assert page.problems == []


def test_a_parameter_that_takes_text_is_a_list_of_its_values(page, server):
    # recurrent: Arras et al.'s mode for LSTM/GRU models, chosen from the values the API lists
    ready(page, server)
    page.fill("#text", DOCUMENT)
    page.select_option("#method", "epsilon")
    choice = "#params select[data-param='recurrent']"
    options = page.eval_on_selector_all(f"{choice} option", "os => os.map(o => o.value)")
    assert options == ["", "doclrp", "arras"] and page.input_value(choice) == ""
    page.select_option(choice, "arras")
    explain_and_wait(page, 1)
    assert "recurrent=arras" in page.inner_text("#summary .method-name")
    expected = api_explain(server, text=DOCUMENT, model="bbc-cnn", method="epsilon", params={"recurrent": "arras"})
    assert shown_relevance(page) == pytest.approx([w["relevance"] for w in expected["words"]], rel=1e-9)
    assert "p.recurrent=arras" in page.url
    again = page.context.new_page()
    again.goto(page.url)
    again.wait_for_selector("body[data-explained='1']")
    assert again.input_value(choice) == "arras"
    assert page.problems == []


def test_an_error_is_one_line_on_the_page(page, server):
    page.goto(server)
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#text", "   ")
    page.click("#explain")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == "text is empty: paste or type a document"


def test_hostile_text_is_rendered_inert(page, server):
    page.goto(server)
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#text", HOSTILE)
    explain_and_wait(page, 1)
    page.hover("#document span.unit >> nth=0")
    assert page.evaluate("window.pwned") is None
    assert page.locator("#document img, #document script, #document b").count() == 0
    assert page.inner_text("#document") == HOSTILE
    # The same text through the URL (a shared link) is inert too.
    other = page.context.new_page()
    other.goto(page.url)
    other.wait_for_selector("body[data-explained='1']")
    assert other.evaluate("window.pwned") is None and other.inner_text("#document") == HOSTILE
    assert other.locator("#top-for img, #top-against img").count() == 0


def test_screenshot(page, server, tmp_path):
    """The README's picture: a BBC-style paragraph under the default method."""
    page.goto(server)
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#text", DOCUMENT)
    explain_and_wait(page, 1)
    page.hover("#document span.unit >> nth=22")
    out = Path(__file__).resolve().parent.parent / "docs" / "serve.png" if os.environ.get("DOCLRP_SCREENSHOT") \
        else tmp_path / "serve.png"
    page.screenshot(path=str(out), full_page=True)
    assert out.stat().st_size > 10_000


@pytest.mark.parametrize("width", [390, 1280])
def test_the_explained_page_fits_its_width(page, server, width):
    # A phone must not scroll sideways: the result column and the legend shrink with the window.
    page.set_viewport_size({"width": width, "height": 860})
    page.goto(server)
    page.fill("#text", DOCUMENT)
    explain_and_wait(page, 1)
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_on_a_phone_the_result_comes_into_view_and_top_words_are_grouped(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 700}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    ready(page, server)
    page.fill("#text", DOCUMENT + " The club, the club, the club!")
    assert page.evaluate("document.getElementById('result').hidden")
    explain_and_wait(page, 1)
    # Below the fold before: brought into view once explained (a smooth scroll: waited for).
    # (polled from here: the page's policy forbids the string evaluation wait_for_function uses)
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while abs(page.evaluate("document.getElementById('result').getBoundingClientRect().top")) >= 2:
        assert time.monotonic() < deadline, "the result never came into view"
        page.wait_for_timeout(50)
    assert page.evaluate("window.scrollY") > 0
    names = page.locator("#top-for .word, #top-against .word").all_inner_texts()
    words = [name.split(" ×")[0].lower() for name in names]
    assert len(words) == len(set(words)) and not {",", "!", ".", "-"} & set(words)
    assert any(" ×" in name for name in names)  # "club ×4", "the ×…": occurrences counted
    context.close()


def test_compare_two_methods_on_one_colour_scale_then_edit_and_explain_again(page, server):
    ready(page, server)
    page.fill("#text", DOCUMENT)
    page.check("#compare")
    page.select_option("#method-b", "alpha2-beta1")
    explain_and_wait(page, 1)
    a = api_explain(server, text=DOCUMENT, model="bbc-cnn", method="epsilon", params={"eps": 1e-6}, target="predicted")
    b = api_explain(server, text=DOCUMENT, model="bbc-cnn", method="alpha2-beta1", params={}, target="predicted")
    assert shown_relevance(page) == pytest.approx([w["relevance"] for w in a["words"]], rel=1e-9)
    assert shown_relevance(page, "#document-b") == pytest.approx([w["relevance"] for w in b["words"]], rel=1e-9)
    assert "alpha2-beta1" in page.inner_text("#summary-b .method-name")
    # One scale: the largest |relevance| of both panels ends it, and both are coloured on it.
    vmax = max(abs(w["relevance"]) for w in a["words"] + b["words"])
    assert page.inner_text("#legend-max") == f"+{vmax:.4f}"
    stops = colormaps(server)["rdbu"]
    for box, result in (("#document", a), ("#document-b", b)):
        assert shown_colours(page, box) == [expected_colour(w["relevance"], vmax, stops) for w in result["words"]]
    # Edit the text and explain again: both panels follow.
    short = DOCUMENT.split("\n\n")[1]
    page.fill("#text", short)
    explain_and_wait(page, 2)
    assert page.inner_text("#document") == short and page.inner_text("#document-b") == short
    assert "compare=1" in page.url and "b.method=alpha2-beta1" in page.url
    again = page.context.new_page()
    again.goto(page.url)
    again.wait_for_selector("body[data-explained='1']")
    assert again.inner_text("#document-b") == short and again.input_value("#method-b") == "alpha2-beta1"
    assert page.problems == []


def test_colour_map_contrast_and_granularity_recolour_without_asking_again(page, server):
    ready(page, server)
    page.fill("#text", DOCUMENT)
    explain_and_wait(page, 1)
    words = shown_relevance(page)
    vmax = max(map(abs, words))
    maps = colormaps(server)
    page.select_option("#colormap", "black-firered")
    assert shown_colours(page) == [expected_colour(r, vmax, maps["black-firered"]) for r in words]
    page.eval_on_selector("#gamma", "e => { e.value = '0.5'; e.dispatchEvent(new Event('input')); }")
    assert shown_colours(page) == [expected_colour(r, vmax, maps["black-firered"], 0.5) for r in words]
    assert "cmap=black-firered" in page.url and "gamma=0.5" in page.url
    page.select_option("#colormap", "blue-black-yellow")
    page.select_option("#granularity", "sentence")
    sentences = api_explain(server, text=DOCUMENT, model="bbc-cnn", method="epsilon", params={"eps": 1e-6})["sentences"]
    assert shown_relevance(page) == pytest.approx([s["relevance"] for s in sentences], rel=1e-9)
    assert page.get_attribute("body", "data-explained") == "1"  # no new request
    assert page.problems == []


def test_a_tap_shows_a_words_exact_relevance(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 800}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    ready(page, server)
    page.fill("#text", DOCUMENT)
    explain_and_wait(page, 1)
    relevance = shown_relevance(page)[4]
    page.tap("#document span.unit >> nth=4")
    assert f"relevance {relevance:.6g}"[:16] in page.inner_text("#hover")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_a_contrast_and_weights_in_the_page(page, server):
    ready(page, server)
    page.fill("#text", DOCUMENT)
    page.select_option("#target", "__contrast")
    page.select_option("#target-extra select[data-role='pos']", "business")
    page.select_option("#target-extra select[data-role='neg']", "sports")
    explain_and_wait(page, 1)
    expected = api_explain(server, text=DOCUMENT, model="bbc-cnn", method="epsilon", params={"eps": 1e-6},
                           target={"business": 1, "sports": -1})
    assert shown_relevance(page) == pytest.approx([w["relevance"] for w in expected["words"]], rel=1e-9)
    assert page.inner_text("#summary .target-name") == expected["target"]["name"]

    page.select_option("#target", "__weights")
    page.fill("#target-extra input[data-label='politics']", "0.5")
    page.fill("#target-extra input[data-label='tech']", "0.5")
    explain_and_wait(page, 2)
    expected = api_explain(server, text=DOCUMENT, model="bbc-cnn", method="epsilon", params={"eps": 1e-6},
                           target={"politics": 0.5, "tech": 0.5})
    assert shown_relevance(page) == pytest.approx([w["relevance"] for w in expected["words"]], rel=1e-9)
    again = page.context.new_page()
    again.goto(page.url)
    again.wait_for_selector("body[data-explained='1']")
    assert again.input_value("#target") == "__weights"
    assert shown_relevance(again) == pytest.approx(shown_relevance(page), rel=1e-9)
    # The same class twice is no contrast: said on the page, nothing sent.
    page.select_option("#target", "__contrast")
    page.select_option("#target-extra select[data-role='neg']", "business")
    page.click("#explain")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == "a contrast needs two different classes"


def test_export_html_json_and_csv_of_what_is_shown(page, server):
    ready(page, server)
    page.fill("#text", DOCUMENT)
    page.select_option("#method", "gradient-x-input")
    explain_and_wait(page, 1)
    request = {"text": DOCUMENT, "model": "bbc-cnn", "method": "gradient-x-input", "params": {},
               "target": "predicted", "reference": None, "granularity": "word"}
    body = json.dumps({**request, "format": "html"}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{server}/api/export", data=body, headers={
            "Content-Type": "application/json"}), timeout=60) as reply:
        expected_html = reply.read().decode()
    downloads = {}
    for fmt in ("html", "json", "csv"):
        with page.expect_download() as info:
            page.click(f"#panel button.export[data-format='{fmt}']")
        # named by model, method and target (the predicted class, named)
        assert re.fullmatch(rf"doclrp-bbc-cnn-gradient-x-input-[a-z]+\.{fmt}", info.value.suggested_filename)
        downloads[fmt] = Path(info.value.path()).read_text(encoding="utf-8")
    assert downloads["html"] == expected_html and "<!DOCTYPE html>" in expected_html
    shown = shown_relevance(page)
    assert [w["relevance"] for w in json.loads(downloads["json"])["words"]] == pytest.approx(shown, rel=1e-12)
    rows = list(csv.reader(io.StringIO(downloads["csv"])))
    assert [float(r[4]) for r in rows[1:]] == pytest.approx(shown, rel=1e-12)
    assert page.problems == []


def test_browse_corpus_results_and_open_a_document(page, server, results_file):
    records = list(read_results(results_file))
    ready(page, server, "/?view=corpus")
    page.wait_for_selector("body[data-corpus-loaded='1']")
    assert page.locator("#corpus-table tbody tr").count() == len(CORPUS)
    assert page.evaluate("window.pwned") is None and page.locator("#corpus-table img").count() == 0
    page.fill("#corpus-search", "shares")
    page.wait_for_selector("body[data-corpus-loaded='2']")
    assert page.eval_on_selector_all("#corpus-table td.id", "c => c.map(e => e.textContent)") == ["b1"]
    page.fill("#corpus-search", "")
    page.wait_for_selector("body[data-corpus-loaded='3']")
    page.select_option("#corpus-label", "sports")
    page.wait_for_selector("body[data-corpus-loaded='4']")
    assert sorted(page.eval_on_selector_all("#corpus-table td.id", "c => c.map(e => e.textContent)")) == ["s1", "s2"]
    page.select_option("#corpus-label", "")
    page.wait_for_selector("body[data-corpus-loaded='5']")
    page.click("button.sort[data-sort='confidence']")
    page.wait_for_selector("body[data-corpus-loaded='6']")
    confidence = [float(c) for c in page.eval_on_selector_all("#corpus-table td.num:nth-child(5)",
                                                              "c => c.map(e => e.textContent)")]
    assert confidence == sorted(confidence, reverse=True)
    page.wait_for_selector(".top-group")
    assert page.locator(".top-group").count() == 3

    # The hostile document: its id and text stay text, its stored relevance is shown.
    hostile = next(i for i, r in enumerate(records) if r["label"] == "tech")
    page.click(f"#corpus-table tr[data-index='{hostile}']")
    page.wait_for_selector("body[data-explained='1']")
    assert page.is_visible("#view-explain") and page.inner_text("#document") == HOSTILE
    assert shown_relevance(page) == [w[3] for w in records[hostile]["words"]]
    assert "as the results store it" in page.inner_text("#summary")
    assert page.evaluate("window.pwned") is None
    assert f"results=news&doc={hostile}" in page.url
    again = page.context.new_page()
    again.goto(page.url)
    again.wait_for_selector("body[data-explained='1']")
    assert shown_relevance(again) == shown_relevance(page) and again.evaluate("window.pwned") is None
    # Explain re-explains it with the results' model.
    explain_and_wait(page, 2)
    assert shown_relevance(page) == pytest.approx([w[3] for w in records[hostile]["words"]], rel=1e-5, abs=1e-7)
    assert page.problems == []


def draw_a_seven(page) -> None:
    box = page.locator("#digit-canvas").bounding_box()
    scale = box["width"] / 280

    def at(x, y):
        return box["x"] + x * scale, box["y"] + y * scale

    page.mouse.move(*at(70, 50))
    page.mouse.down()
    for k in range(1, 15):
        page.mouse.move(*at(70 + 10 * k, 50))
    for k in range(1, 30):
        page.mouse.move(*at(210 - 3 * k, 50 + 7 * k))
    page.mouse.up()


def test_draw_a_digit_and_see_a_prediction(page, server):
    ready(page, server, "/?view=digits")
    draw_a_seven(page)
    page.wait_for_selector("body[data-digits]")
    assert page.inner_text("#digit-prediction").startswith("prediction: ")
    assert page.locator("#digit-probabilities tr").count() == 10
    # Another method explains the same drawing again (requests made while one runs are folded into one).
    page.select_option("#digit-method", "gradient-x-input")
    page.wait_for_selector("#digit-status:has-text('with gradient-x-input')")
    page.select_option("#digit-colormap", "gray-red")
    assert page.problems == []


def test_screenshots_of_compare_corpus_and_digits(page, server, tmp_path):
    out = Path(__file__).resolve().parent.parent / "docs" if os.environ.get("DOCLRP_SCREENSHOT") else tmp_path
    ready(page, server)
    page.fill("#text", DOCUMENT)
    page.check("#compare")
    page.select_option("#target-b", "business")
    explain_and_wait(page, 1)
    page.screenshot(path=str(out / "serve-compare.png"), full_page=True)
    page.click(".tab[data-view='corpus']")
    page.wait_for_selector(".top-group")
    page.screenshot(path=str(out / "serve-corpus.png"), full_page=True)
    page.click(".tab[data-view='digits']")
    draw_a_seven(page)
    page.wait_for_selector("body[data-digits]")
    page.screenshot(path=str(out / "serve-digits.png"), full_page=True)
    assert all((out / f"serve-{name}.png").stat().st_size > 10_000 for name in ("compare", "corpus", "digits"))


# -- model tokens: a subword model's pieces ------------------------------------------------------------
SUBWORD_TEXT = "Unbelievable film. The players played a good match, the team was bad!"


@pytest.fixture(scope="module")
def subword_server():
    """A tiny BERT with a WordPiece tokenizer ("Unbelievable" is Un ##believ ##able) beside the CNN."""
    from references import SUBWORDS, subword_tokenizer, tiny_model

    from doclrp.models.hf.pipeline import HFPipeline

    pipeline = HFPipeline(tiny_model("bert", n_labels=2, vocab=len(SUBWORDS), max_position_embeddings=12),
                          subword_tokenizer(12), labels=["neg", "pos"])
    with served(create_app(models={"subword": pipeline, "bbc-cnn": doclrp.pretrained_path()}, digits=False)) as url:
        yield url


def hover_relevance(page) -> float:
    """The exact relevance the hover line gives (six significant digits)."""
    return float(page.inner_text("#hover").split("relevance ", 1)[1].split(",")[0].split(" ")[0])


def shown_request(page, side: str = "a") -> dict:
    """The request the page sent for a panel (its own record of what it shows)."""
    return page.evaluate(f"state.shown.{side}.source.request")


def test_model_tokens_are_coloured_and_a_word_shows_its_pieces(page, subword_server):
    ready(page, subword_server)
    page.fill("#text", SUBWORD_TEXT)
    page.select_option("#granularity", "token")
    explain_and_wait(page, 1)
    expected = api_explain(subword_server, **shown_request(page))
    tokens = [t for t in expected["tokens"] if t["end"] > t["start"]]
    assert page.get_attribute("#document", "data-granularity") == "token"
    assert page.eval_on_selector_all("#document span.unit", "s => s.map(e => e.textContent)") == \
           [t["text"] for t in tokens] and len(tokens) > len(expected["words"])
    assert shown_relevance(page) == pytest.approx([t["relevance"] for t in tokens], rel=1e-12)
    vmax = max(abs(t["relevance"]) for t in tokens)
    stops = colormaps(subword_server)["rdbu"]
    assert shown_colours(page) == [expected_colour(t["relevance"], vmax, stops) for t in tokens]
    assert page.inner_text("#document") == SUBWORD_TEXT  # the spaces between tokens shown plainly
    assert "granularity=token" in page.url

    # A token: its relevance, its word and the word's pieces.
    page.hover("#document span.unit >> nth=1")
    hover = page.inner_text("#hover")
    assert "token “believ” of “Unbelievable”" in hover
    assert hover_relevance(page) == pytest.approx(tokens[1]["relevance"], rel=1e-5)
    pieces = [t for t in tokens if t["word"] == 0]
    assert page.eval_on_selector_all("#hover .piece", "s => s.map(e => Number(e.dataset.relevance))") == \
           pytest.approx([t["relevance"] for t in pieces], rel=1e-12)
    assert page.inner_text("#hover .piece.current").startswith("“believ”")

    # By word (no new request): hovering a word shows its exact relevance and its pieces.
    page.select_option("#granularity", "word")
    assert page.get_attribute("body", "data-explained") == "1"
    players = next(i for i, w in enumerate(expected["words"]) if w["text"] == "players")
    page.hover(f"#document span.unit >> nth={players}")
    hover = page.inner_text("#hover")
    assert hover_relevance(page) == pytest.approx(expected["words"][players]["relevance"], rel=1e-5)
    assert "2 pieces" in hover
    assert [p.split("”")[0].lstrip("“") for p in page.eval_on_selector_all(
        "#hover .piece", "s => s.map(e => e.textContent)")] == ["player", "s"]
    assert page.eval_on_selector_all("#hover .piece", "s => s.map(e => Number(e.dataset.relevance))") == \
           pytest.approx([t["relevance"] for t in tokens if t["word"] == players], rel=1e-12)

    # The permalink reopens the token view.
    page.select_option("#granularity", "token")
    again = page.context.new_page()
    again.goto(page.url)
    again.wait_for_selector("body[data-explained='1']")
    assert again.input_value("#granularity") == "token"
    assert shown_relevance(again) == pytest.approx(shown_relevance(page), rel=1e-12)
    assert page.problems == [] and again.evaluate("window.pwned") is None


def test_model_tokens_in_compare_mode_export_and_a_tap(browser, subword_server):
    context = browser.new_context(viewport={"width": 390, "height": 800}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    ready(page, subword_server)
    page.fill("#text", SUBWORD_TEXT)
    page.select_option("#granularity", "token")
    page.check("#compare")
    page.select_option("#model-b", "bbc-cnn")
    explain_and_wait(page, 1)
    a = api_explain(subword_server, **shown_request(page, "a"))
    b = api_explain(subword_server, **shown_request(page, "b"))
    # The CNN's tokens are its words; both panels on one scale, the largest |token relevance| of the two.
    assert [t["text"] for t in b["tokens"]] == [w["text"] for w in b["words"]]
    assert shown_relevance(page, "#document-b") == pytest.approx([t["relevance"] for t in b["tokens"]], rel=1e-12)
    vmax = max(abs(t["relevance"]) for t in a["tokens"] + b["tokens"])
    assert page.inner_text("#legend-max") == f"+{vmax:.4f}"
    # A tap on "Unbelievable"'s first piece lists the word's three pieces.
    page.tap("#document span.unit >> nth=0")
    assert page.eval_on_selector_all("#hover .piece", "s => s.map(e => e.textContent.split('”')[0])") == \
           ["“Un", "“believ", "“able"]
    assert page.inner_text("#hover").startswith("A: token “Un” of “Unbelievable”")
    # Export: the JSON holds the tokens, the CSV lists them.
    downloads = {}
    for fmt in ("json", "csv"):
        with page.expect_download() as info:
            page.click(f"#panel button.export[data-format='{fmt}']")
        downloads[fmt] = Path(info.value.path()).read_text(encoding="utf-8")
    assert json.loads(downloads["json"])["tokens"] == a["tokens"]
    rows = list(csv.reader(io.StringIO(downloads["csv"])))
    assert rows[0][0] == "token" and [r[0] for r in rows[1:]] == [t["text"] for t in a["tokens"]]
    context.close()


# -- document files: upload, a PDF's pages with coloured boxes (issue 24) ------------------------------
def upload_and_wait(page, path, times: int = 1) -> None:
    page.wait_for_selector("body[data-ready='1']")
    page.set_input_files("#upload", str(path))
    page.wait_for_selector(f"body[data-uploaded='{times}']")


@pytest.fixture(scope="module")
def story_pdf(tmp_path_factory):
    from references import pdf_of_text

    paragraphs = [p for p in DOCUMENT.split("\n\n")]
    path = tmp_path_factory.mktemp("upload") / "story.pdf"
    path.write_bytes(pdf_of_text("United beat Chelsea", paragraphs * 3))
    return path


@pytest.mark.parametrize("width", [390, 1280])
def test_upload_a_pdf_shows_its_pages_with_boxes_coloured_as_the_words(browser, server, story_pdf, width):
    context = browser.new_context(viewport={"width": width, "height": 860}, has_touch=width < 500,
                                  is_mobile=width < 500)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    ready(page, server)
    upload_and_wait(page, story_pdf)
    assert page.locator("#pages .sheet img").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    boxes = page.eval_on_selector_all("#pages .bx", "bs => bs.map(b => [Number(b.dataset.index), "
                                                     "getComputedStyle(b).backgroundColor])")
    words = page.eval_on_selector_all("#document span.unit", "us => us.map(u => u.style.backgroundColor)")
    assert len(boxes) >= len(words) - 2 and all(colour == words[index] for index, colour in boxes)
    text_shown = page.locator("#document").is_visible()
    if width >= 1100:  # the pages beside the text
        assert text_shown
        pages_box, text_box = page.locator("#pages").bounding_box(), page.locator("#document").bounding_box()
        assert pages_box["x"] + pages_box["width"] <= text_box["x"] + 1
    else:  # one at a time; the switch shows the text
        assert not text_shown
        page.click("#page-switch button[data-mode='text']")
        assert page.locator("#document").is_visible() and not page.locator("#pages").is_visible()
        page.click("#page-switch button[data-mode='pages']")
    box = page.locator("#pages .bx").nth(5)
    box.scroll_into_view_if_needed()
    if width < 500:
        box.tap()
    else:
        box.hover()
    # The box that took the tap or the pointer is marked, and the line above the panels names its word.
    index = int(page.get_attribute("#pages .bx.focus", "data-index"))
    word, relevance = page.eval_on_selector_all(
        "#document span.unit", f"us => [us[{index}].textContent, Number(us[{index}].dataset.relevance)]")
    assert page.inner_text("#hover").startswith(f"“{word}” (sentence") and f"{relevance:.5g}"[:5] in \
        page.inner_text("#hover")
    context.close()


def test_upload_export_and_a_bad_file(page, server, story_pdf, tmp_path):
    ready(page, server)
    upload_and_wait(page, story_pdf)
    with page.expect_download() as info:
        page.click("#panel button.export[data-format='json']")
    exported = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert exported["text"] == page.input_value("#text") and "United beat Chelsea" in exported["text"]
    locked = tmp_path / "locked.pdf"
    from references import pdf_bytes

    locked.write_bytes(pdf_bytes([["secret"]], encrypted=True))
    page.set_input_files("#upload", str(locked))
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == "locked.pdf is an encrypted PDF: save it without a password first"
    assert page.problems == [] or all("422" in p for p in page.problems)


def test_screenshot_of_an_uploaded_pdf(browser, server, story_pdf, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    ready(page, server)
    upload_and_wait(page, story_pdf)
    page.locator("#pages .bx").nth(8).hover()
    out = Path(__file__).resolve().parent.parent / "docs" if os.environ.get("DOCLRP_SCREENSHOT") else tmp_path
    page.screenshot(path=str(out / "serve-upload.png"), full_page=True)
    assert (out / "serve-upload.png").stat().st_size > 10_000
    context.close()
