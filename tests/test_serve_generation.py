"""The web app's Generation view: ``POST /api/generate`` answers what ``explain_generation`` gives,
on the model's queue, with one-line refusals; in Chromium the view writes, and choosing a token
or a span colours the document by the API's numbers, at 390 px without sideways scrolling."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

pytest.importorskip("fastapi", reason="doclrp serve needs the serve extra: pip install 'doclrp[serve]'")
pytest.importorskip("transformers")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

import doclrp  # noqa: E402
from doclrp.models.hf import PromptedClassifier  # noqa: E402
from doclrp.render.colors import diverging_rgb  # noqa: E402
from doclrp.serve import create_app  # noqa: E402
from references import tiny_causal_lm, word_tokenizer  # noqa: E402

PROMPT = "the {text} on"
TEXT = "the cat sat on the mat"


def language_model():
    lm = tiny_causal_lm("llama").to(torch.float64)
    return PromptedClassifier(lm, word_tokenizer("llama", max_length=64), PROMPT, ["good", "bad"])


@pytest.fixture(scope="module")
def app():
    return create_app(models={"bbc-cnn": doclrp.pretrained_path(), "lm": language_model()}, digits=False)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield client


def test_the_model_list_says_which_models_write(client):
    assert {m["id"]: m["generates"] for m in client.get("/api/models").json()} == {"bbc-cnn": False, "lm": True}


def test_generate_answers_what_explain_generation_gives(client):
    reply = client.post("/api/generate", json={"model": "lm", "text": TEXT, "max_new_tokens": 3})
    assert reply.status_code == 200, reply.text
    data = reply.json()
    expected = doclrp.explain_generation(language_model(), TEXT, max_new_tokens=3).to_dict()
    assert data["model"] == "lm" and data["continuation"] == expected["continuation"]
    for ours, theirs in zip(data["generated"], expected["generated"]):
        assert ours["token"] == theirs["token"]
        assert ours["words"] == pytest.approx(theirs["words"], abs=1e-12)
        assert ours["previous"] == pytest.approx(theirs["previous"], abs=1e-12)
    given = client.post("/api/generate", json={"model": "lm", "text": TEXT, "continuation": "dog ran",
                                               "method": "cp-lrp"}).json()
    assert [t["token"] for t in given["generated"]] == ["dog", " ran"] and given["method"]["name"] == "cp-lrp"
    # the same model still explains its labels, the prompt's words in one entry of the conservation table
    explained = client.post("/api/explain", json={"model": "lm", "text": TEXT, "target": "bad"}).json()
    c = explained["conservation"]
    assert "[prompt]" in explained["special"]
    assert c["words"] + c["special"] + c["delta"] == pytest.approx(c["explained"], abs=1e-9)


@pytest.mark.parametrize("request_, status, message", [
    ({"model": "bbc-cnn", "text": TEXT}, 422, "model 'bbc-cnn' does not write text"),
    ({"model": "lm", "text": TEXT, "max_new_tokens": 65}, 422, "max_new_tokens"),
    ({"model": "lm", "text": TEXT, "max_new_tokens": 0}, 422, "max_new_tokens"),
    ({"model": "lm", "text": "   "}, 422, "text is empty"),
    ({"model": "lm", "text": TEXT, "continuation": ""}, 422, "continuation"),
    ({"model": "lm", "text": TEXT, "method": "occlusion"}, 422, "gradient-x-input, not occlusion"),
    ({"model": "nope", "text": TEXT}, 404, "unknown model id 'nope'"),
    ({"model": "lm", "text": TEXT, "extra": 1}, 422, "extra"),
])
def test_bad_requests_are_one_line(client, request_, status, message):
    reply = client.post("/api/generate", json=request_)
    assert reply.status_code == status and message in reply.json()["error"], reply.text
    assert "\n" not in reply.json()["error"]


# -- in Chromium ----------------------------------------------------------------------------------
def _rgb(values, vmax):
    return [f"rgb({r}, {g}, {b})" for r, g, b in diverging_rgb(values, vmax).tolist()]


@pytest.mark.slow
def test_the_view_writes_and_colours_the_document_by_the_chosen_tokens(app, browser):
    from references import served, skip_module_without_browser

    skip_module_without_browser()
    with served(app) as url:
        context = browser.new_context(viewport={"width": 390, "height": 800})
        page = context.new_page()
        problems = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(url)
        page.wait_for_selector("body[data-write-ready='1']")
        page.click(".tab[data-view='write']")
        page.fill("#write-text", TEXT + " <b>bold</b>")
        page.fill("#write-tokens", "4")
        page.click("#write-go")
        page.wait_for_selector("body[data-written='1']")
        data = doclrp.explain_generation(language_model(), TEXT + " <b>bold</b>", max_new_tokens=4)
        tokens = page.locator("#write-tokens-out button")
        assert tokens.count() == 4

        def shown():
            return page.eval_on_selector_all("#write-document .w", "ns => ns.map(n => getComputedStyle(n).backgroundColor)")

        def expected(a, b):
            chosen = data.generated[a : b + 1]
            words = np.sum([t.words for t in chosen], axis=0)
            prompt = np.sum([t.prompt for t in chosen], axis=0)
            previous = np.sum([t.previous + [0.0] * (4 - len(t.previous)) for t in chosen], axis=0)
            return _rgb(words, float(np.abs(np.concatenate([words, prompt, previous])).max()))

        assert shown() == expected(0, 3)
        tokens.nth(1).click()
        assert shown() == expected(1, 1)
        tokens.nth(3).click(modifiers=["Shift"])
        assert shown() == expected(1, 3)
        assert page.locator("#write-document b").count() == 0 and "<b>" in page.text_content("#write-document")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert problems == []
        context.close()
