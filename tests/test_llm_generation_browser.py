"""The generation page in a real headless Chromium: it fits 360, 390 and 1280 px; choosing a token
colours the document (prompt words and earlier tokens too) by that token's relevance, a span by the
sum over its tokens, in the library's colours."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from references import skip_module_without_browser  # noqa: E402

skip_module_without_browser()
pytest.importorskip("transformers")

import torch  # noqa: E402

from doclrp._generate import explain_generation  # noqa: E402
from doclrp.models.hf.prompted import PromptedLM  # noqa: E402
from doclrp.render.colors import diverging_color  # noqa: E402
from doclrp.render.generation import generation_html  # noqa: E402
from references import tiny_causal_lm, word_tokenizer  # noqa: E402

pytestmark = pytest.mark.slow
LONG_WORD = "https://example.org/" + "averyveryverylongpathsegment" * 8
N = 5


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    lm = PromptedLM(tiny_causal_lm("llama").to(torch.float64), word_tokenizer("llama", max_length=64), "the {text} on")
    result = explain_generation(lm, f"the cat sat on the mat {LONG_WORD} <b>good</b>", max_new_tokens=N)
    path = tmp_path_factory.mktemp("page") / "generation.html"
    path.write_text(generation_html(result, title="tiny"), encoding="utf-8")
    return path, result


def open_page(browser, path, width):
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto(path.as_uri())
    return page


def rgb(hex_color):
    return f"rgb({int(hex_color[1:3], 16)}, {int(hex_color[3:5], 16)}, {int(hex_color[5:7], 16)})"


def expected(result, first, last):
    """The colours of document words, prompt words and earlier tokens for tokens first..last."""
    chosen = result.generated[first : last + 1]
    words = np.sum([t.words for t in chosen], axis=0)
    prompt = np.sum([t.prompt for t in chosen], axis=0)
    previous = np.sum([t.previous + [0.0] * (N - len(t.previous)) for t in chosen], axis=0)
    vmax = float(np.abs(np.concatenate([words, prompt, previous])).max())
    return ([rgb(diverging_color(v, vmax)) for v in words], [rgb(diverging_color(v, vmax)) for v in prompt],
            [rgb(diverging_color(v, vmax)) for v in previous])


def shown(page):
    return tuple(page.eval_on_selector_all(f".doc {css}", "nodes => nodes.map(n => getComputedStyle(n).backgroundColor)")
                 for css in (".w", ".pw", ".gt"))


@pytest.mark.parametrize("width", (360, 390, 1280))
def test_the_page_fits_the_width(generated, browser, width):
    path, _ = generated
    page = open_page(browser, path, width)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.context.close()


def test_choosing_a_token_or_a_span_colours_the_document_by_its_relevance(generated, browser):
    path, result = generated
    page = open_page(browser, path, 390)
    tokens = page.locator(".tok")
    assert tokens.count() == N
    assert shown(page) == expected(result, 0, N - 1)   # at first: the whole continuation
    tokens.nth(2).click()
    assert shown(page) == expected(result, 2, 2)
    assert page.eval_on_selector_all(".tok", "ns => ns.map(n => n.getAttribute('aria-pressed'))") == \
        ["false", "false", "true", "false", "false"]
    assert page.text_content("#chosen") == "token 3"
    tokens.nth(4).click(modifiers=["Shift"])            # a span from the last chosen token
    assert shown(page) == expected(result, 2, 4)
    assert page.text_content("#chosen") == "tokens 3–5"
    tokens.nth(0).click()
    page.check("#span")                                  # the span switch, for touch screens
    tokens.nth(1).click()
    assert shown(page) == expected(result, 0, 1)
    page.click("#all")
    assert shown(page) == expected(result, 0, N - 1)
    # the document's text is shown escaped, never as markup
    assert page.locator(".doc b").count() == 0 and "<b>" in page.text_content(".doc")
    page.context.close()
