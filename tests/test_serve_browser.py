"""The page of ``doclrp serve`` in a real headless Chromium (Debian's ``chromium``, driven by
Playwright) against a uvicorn server on a free loopback port: type, explain, coloured words;
change method and target and see exactly what the API returns; a permalink reopens the view;
hostile text stays text. ``DOCLRP_SCREENSHOT=1`` also writes ``docs/serve.png`` (the README's)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
pytest.importorskip("fastapi", reason="doclrp serve needs the serve extra: pip install 'doclrp[serve]'")
pytest.importorskip("uvicorn", reason="doclrp serve needs the serve extra: pip install 'doclrp[serve]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright (test extra)")
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"{CHROMIUM} is missing: the browser tests drive Debian's chromium (make install adds it)",
                allow_module_level=True)

import uvicorn  # noqa: E402

import doclrp  # noqa: E402
from doclrp.serve import create_app  # noqa: E402

pytestmark = pytest.mark.slow

DOCUMENT = ("Manchester United came from behind to beat Chelsea 2-1 at Old Trafford on Sunday, with a late header "
            "from the captain sealing a win that lifts them to third in the Premier League table.\n\n"
            "The manager praised the players' spirit after a difficult first half, while the club's shares rose "
            "on the stock market as investors welcomed the result and the new sponsorship deal.")
HOSTILE = ('<script>window.pwned = 1</script> <img src=x onerror="window.pwned = 2"> '
           '<b onmouseover="window.pwned = 3">bold</b> & "quotes" fell sharply.')
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def server():
    app = create_app(models={"bbc-cnn": doclrp.pretrained_path()})
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


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
    page.click("#explain")
    page.wait_for_selector(f"body[data-explained='{times}']")


def shown_relevance(page) -> list[float]:
    return [float(r) for r in page.eval_on_selector_all("#document span.unit", "s => s.map(e => e.dataset.relevance)")]


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
