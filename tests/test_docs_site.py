"""The documentation site: it builds strictly (a warning fails, as `make docs`), every internal link
and anchor of the built pages resolves, nothing is loaded from outside the site, and the reference
pages hold what the code has (every public name, every command, every HTTP route)."""

from __future__ import annotations

import argparse
import html.parser
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = pytest.mark.slow  # one Sphinx build of the whole site: about a minute on 2 cores

CSS_URL = re.compile(r"""url\(['"]?((?:https?:)?//[^)'"]+)""")


class _Page(html.parser.HTMLParser):
    """Links, loaded resources and element ids of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.resources: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("script", "img", "iframe", "source") and attrs.get("src"):
            self.resources.append(attrs["src"])
        if tag == "link" and attrs.get("href") and attrs.get("rel") not in ("canonical",):
            self.resources.append(attrs["href"])


def _pages(site: Path) -> dict[Path, _Page]:
    parsed = {}
    for path in site.rglob("*.html"):
        page = _Page()
        page.feed(path.read_text(encoding="utf-8"))
        parsed[path.resolve()] = page
    return parsed


@pytest.mark.parametrize("module", ["markdown", "docstrings", "api_pages", "cli_page", "http_page", "mathml",
                                    "benchmark_page"])
def test_site_generators_docstring_examples(module):
    """The examples in docs/_ext/doclrp_site's docstrings (pytest's --doctest-modules covers doclrp/ only)."""
    import doctest
    import importlib
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "_ext"))
    try:
        result = doctest.testmod(importlib.import_module(f"doclrp_site.{module}"))
    finally:
        sys.path.pop(0)
    assert result.attempted and not result.failed


def _text(path: Path) -> str:
    """A page's text, tags removed and whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")).split())


def test_every_internal_link_and_anchor_resolves(built_site):
    pages = _pages(built_site)
    assert len(pages) > 40
    broken = []
    for path, page in pages.items():
        for href in page.links + page.resources:
            parts = urlsplit(href)
            if parts.scheme or href.startswith("//") or href.startswith("mailto:"):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if not target.exists():
                broken.append(f"{path.relative_to(built_site)}: {href} (no such file)")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in pages[target].ids:
                broken.append(f"{path.relative_to(built_site)}: {href} (no such anchor)")
    assert not broken, "\n".join(broken[:30])


def test_nothing_is_loaded_from_outside_the_site(built_site):
    """Scripts, styles, fonts and images are the site's own files: the pages work offline."""
    outside = []
    for path, page in _pages(built_site).items():
        outside += [f"{path.name}: {src}" for src in page.resources if urlsplit(src).scheme or src.startswith("//")]
    for css in built_site.rglob("*.css"):
        outside += [f"{css.name}: {url}" for url in CSS_URL.findall(css.read_text(encoding="utf-8"))]
    assert not outside, "\n".join(outside[:20])


def test_math_is_mathml_written_at_build_time(built_site):
    rules = (built_site / "concepts" / "rules.html").read_text(encoding="utf-8")
    assert rules.count("<math") >= 8
    assert not re.search(r"<script[^>]*mathjax", rules, re.I), "math must not need MathJax (a CDN script)"


def test_python_reference_documents_every_public_name(built_site):
    import doclrp

    page = (built_site / "reference" / "python" / "doclrp.html").read_text(encoding="utf-8")
    for name in doclrp.__all__:
        if name not in ("__version__", "render"):
            assert f'id="doclrp.{name}"' in page, name
    assert (built_site / "reference" / "python" / "doclrp.core.html").exists()


def test_command_line_reference_has_every_command_and_option(built_site):
    from doclrp.cli.parsers import build_parser

    page = (built_site / "reference" / "cli.html").read_text(encoding="utf-8")
    found = 0

    def walk(parser: argparse.ArgumentParser) -> None:
        nonlocal found
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    assert sub.prog in page, sub.prog
                    walk(sub)
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert flag in page, f"{parser.prog} {flag}"
                    found += 1

    walk(build_parser())
    assert found > 50


def test_http_reference_has_every_route(built_site):
    from doclrp.serve import create_app

    page = _text(built_site / "reference" / "http.html")
    for path, methods in create_app(digits=False).openapi()["paths"].items():
        for method in methods:
            assert f"{method.upper()} {path}" in page, (method, path)


def test_benchmark_results_page_has_every_results_file(built_site):
    page = (built_site / "reference" / "benchmark-results.html").read_text(encoding="utf-8")
    results = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    for path in results.glob("*.json"):
        assert path.name in page, path.name
