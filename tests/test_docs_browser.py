"""The built documentation site in a real headless Chromium (Debian's, driven by Playwright), served
from its folder by a plain static HTTP server on a loopback port, at a phone's width (390 px) and a
laptop's (1280 px): the navigation opens and leads to a page, search finds a page, no request
leaves the site, and no page is wider than a phone."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from references import skip_module_without_browser

skip_module_without_browser()

pytestmark = pytest.mark.slow

TIMEOUT_MS = 30_000


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site_url(built_site):
    """The built site on a static file server at a free loopback port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(built_site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=[390, 1280], ids=["390px", "1280px"])
def page(request, browser, site_url):
    context = browser.new_context(viewport={"width": request.param, "height": 844})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.outside = []  # every request for something that is not a file of the site
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(site_url)
               else (page.outside.append(route.request.url), route.abort()))
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.base, page.width = site_url, request.param
    yield page
    context.close()


def _open(page, relative: str) -> None:
    page.goto(f"{page.base}/{relative}")


def test_navigation_leads_to_a_page(page):
    _open(page, "index.html")
    assert page.locator("h1").first.inner_text().strip().startswith("doclrp")
    link = page.locator(".sidebar-tree a", has_text="Getting started").first
    if page.width < 700:  # the sidebar is a drawer behind the menu button
        toggle = page.locator("#__navigation")
        assert not toggle.is_checked()
        page.locator(".mobile-header label[for='__navigation']").click()
        assert toggle.is_checked()
    link.wait_for(state="visible")
    link.click()
    page.wait_for_url("**/getting-started.html")
    assert page.locator("h1").first.inner_text().strip().startswith("Getting started")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.width + 1, f"the page is {width} px wide at {page.width} px"
    assert not page.outside and not page.problems, (page.outside, page.problems)


def test_search_finds_a_page(page):
    _open(page, "search.html?q=conservation")
    results = page.locator("#search-results li a")
    results.first.wait_for(state="attached")
    hrefs = [results.nth(i).get_attribute("href") for i in range(results.count())]
    assert any("concepts/conservation.html" in href for href in hrefs), hrefs
    assert not page.outside and not page.problems, (page.outside, page.problems)


def test_no_page_is_wider_than_a_phone(browser, built_site, site_url):
    """Every page fits 390 px: wide tables and code scroll inside their own box."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    wide = []
    for path in sorted(built_site.rglob("*.html")):
        if "_static" in path.parts:
            continue
        relative = path.relative_to(built_site).as_posix()
        page.goto(f"{site_url}/{relative}")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 391:
            wide.append(f"{relative}: {width} px")
    context.close()
    assert not wide, wide
