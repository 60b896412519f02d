"""doclrp.render.html and colors: structure, escaping, exact whitespace, colours."""

from html.parser import HTMLParser

import numpy as np
import pytest

from doclrp.errors import DoclrpError
from doclrp.render import diverging_color, diverging_rgb, to_html, render_index, symmetric_vmax, text_color
from doclrp.text import Prediction, build_explanation, tokenize

LABELS = ["business", "sport", "tech"]
VOID = {"meta", "br", "link", "img", "input", "hr", "wbr", "source"}


class Node:
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.iter()

    def find_all(self, tag=None, cls=None, **attrs):
        return [
            n for n in self.iter()
            if (tag is None or n.tag == tag)
            and (cls is None or cls in n.attrs.get("class", "").split())
            and all(n.attrs.get(k) == v for k, v in attrs.items())
        ]

    def find(self, tag=None, cls=None, **attrs):
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag} class={cls} {attrs}>"
        return found[0]


class Tree(HTMLParser):
    """A minimal DOM: enough to check structure the way a browser would see it."""

    def __init__(self, page):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#root", {})
        self.declarations = []
        self.feed(page)
        self.close()

    def handle_decl(self, decl):
        self.declarations.append(decl)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag):
        assert self.current.tag == tag, f"</{tag}> closes <{self.current.tag}>"
        self.current = self.current.parent

    def handle_data(self, data):
        self.current.children.append(data)


def explain(text, relevance=None, task="classification", id="doc-1", labels=LABELS, target="sport"):
    doc = tokenize(text, pipeline="blank")
    if relevance is None:
        relevance = np.random.default_rng(0).normal(size=len(doc))
    spans = [(0, 0)] + [(w.start, w.end) for w in doc.words]
    logits = [0.5, 2.0, -1.0] if task == "classification" else [0.7]
    return build_explanation(
        doc, spans, [0.5, *relevance], labels=labels, task=task,
        prediction=Prediction.from_logits(logits, labels, task=task),
        target=target, target_value=float(np.sum(relevance)) + 0.5, delta=0.0,
        special=["[CLS]"] + ["w"] * len(doc), id=id,
    )


def parse(page):
    tree = Tree(page)
    assert tree.current is tree.root, "unclosed elements"
    return tree


TEXT = "Markets rallied.\n\nThe  sport section:\tgoals, goals!\r\nEnd."


def test_page_structure():
    exp = explain(TEXT)
    tree = parse(to_html(exp, title="A title"))
    root = tree.root
    assert tree.declarations == ["DOCTYPE html"]
    assert root.find("title").text() == "A title"
    assert root.find("meta").attrs == {"charset": "utf-8"}
    # One span per word, in order, with its exact value in the title attribute.
    spans = root.find("div", id="document").find_all("span")
    assert [s.text() for s in spans] == [w.text for w in exp.words]
    assert [float(s.attrs["title"]) for s in spans] == [w.relevance for w in exp.words]
    assert all(s.attrs["class"] == "w" and "background-color:#" in s.attrs["style"] for s in spans)
    # Header: predicted label and one probability row per class, predicted row marked.
    assert root.find(cls="predicted-label").text() == "sport"
    rows = root.find("table", cls="outputs").find("tbody").find_all("tr")
    assert [r.find_all("td")[0].text() for r in rows] == LABELS
    assert [r.attrs.get("class") for r in rows] == [None, "predicted", None]
    assert rows[1].find_all("td")[2].text() == f"{exp.prediction.probabilities[1]:.3f}"
    facts = root.find("dl", cls="facts").text()
    assert "conservation delta" in facts and "target value" in facts and "[CLS]" in facts
    # Legend: a gradient bar between -vmax and +vmax.
    legend = root.find(cls="legend")
    vmax = np.abs(exp.relevance).max()
    assert "linear-gradient" not in legend.find(cls="bar").attrs.get("style", "")  # from the style sheet
    assert [v.text() for v in legend.find_all(cls="value")] == [f"{-vmax:+.4g}", f"{vmax:+.4g}"]
    assert "linear-gradient(to right, #2166ac, #ffffff, #b2182b)" in root.find("style").text()
    # Sentence view: one shaded block per sentence with its value.
    blocks = root.find_all("div", cls="sentence")
    assert [float(b.attrs["title"]) for b in blocks] == [s.relevance for s in exp.sentences]
    assert [b.text().endswith(s.text) for b, s in zip(blocks, exp.sentences)] == [True] * len(blocks)
    # Top words for and against: repeated words grouped, punctuation left out (issue 16).
    top_for = [li.find(cls="chip").text() for li in root.find(cls="for").find_all("li")]
    top_against = [li.find(cls="chip").text() for li in root.find(cls="against").find_all("li")]
    assert top_for == [t.text for t in exp.top_terms(10, +1)]
    assert top_against == [t.text for t in exp.top_terms(10, -1)]


@pytest.mark.parametrize(
    "text",
    [TEXT, "  lead\n", "\n\nx  \t y\r\n\r\n", "", "   ", "a\u00a0b \u2003 c", "tab\there\u2028next"],
)
def test_document_text_is_exactly_the_original(text):
    exp = explain(text)
    page = to_html(exp)
    root = parse(page).root
    assert root.find("div", id="document").text() == text
    assert "white-space: pre-wrap" in root.find("style").text()
    # Browsers turn a raw "\r\n" into "\n"; only a character reference keeps it.
    assert "\r" not in page


def test_escaping_of_text_labels_titles_and_ids():
    evil = '<script>alert(1)</script> "quoted" onmouseover="x" & <img src=x onerror=alert(2)>'
    labels = ["<b>bold</b>", 'x" onclick="steal()', "tech"]
    exp = explain(evil, labels=labels, target='"><script>t()</script>', id="<i>id</i>")
    page = to_html(exp, title="</title><script>bad()</script>")
    root = parse(page).root
    tags = {n.tag for n in root.iter()}
    assert "script" not in tags and "img" not in tags and "b" not in tags and "i" not in tags
    assert all(not k.startswith("on") for n in root.iter() for k in n.attrs), "an injected attribute"
    assert root.find("div", id="document").text() == evil
    assert root.find("title").text() == "</title><script>bad()</script>"
    assert "<b>bold</b>" in root.find("table", cls="outputs").text()
    href = 'a.html" onclick="x()'
    index = parse(render_index([(href, exp, '<script>x()</script>')], title="<script>")).root
    assert "script" not in {n.tag for n in index.iter()}
    assert all(not k.startswith("on") for n in index.iter() for k in n.attrs)
    assert index.find("a").attrs["href"] == href


def test_colours_follow_the_sign():
    exp = explain("up down zero", relevance=[2.0, -1.0, 0.0])
    spans = parse(to_html(exp)).root.find("div", id="document").find_all("span")
    background = [s.attrs["style"].split("background-color:")[1][:7] for s in spans]
    assert background == [diverging_color(2.0, 2.0), diverging_color(-1.0, 2.0), "#ffffff"]
    red, blue = (diverging_rgb(v, 2.0).astype(int) for v in (2.0, -1.0))
    assert red[0] > red[2] and blue[2] > blue[0]
    # Strong shades get white text, pale ones black.
    assert "color:#ffffff" in spans[0].attrs["style"] and "color:#000000" in spans[2].attrs["style"]


def test_regression_shows_values_and_direction():
    exp = explain("Prices went up sharply.", task="regression", labels=["score"], target="score")
    root = parse(to_html(exp)).root
    assert not root.find_all(cls="predicted-label")
    assert root.find("table", cls="outputs").find("tbody").text() == "score+0.7"
    assert root.find(cls="for").find("h3").text() == "Raises score"
    assert root.find(cls="against").find("h3").text() == "Lowers score"


def test_all_zero_relevance_renders_white():
    exp = explain("nothing here", relevance=[0.0, 0.0])
    spans = parse(to_html(exp)).root.find("div", id="document").find_all("span")
    assert all("background-color:#ffffff" in s.attrs["style"] for s in spans)


def test_pages_are_self_contained():
    for page in [to_html(explain(TEXT)), render_index([("d.html", explain(TEXT))])]:
        root = parse(page).root
        assert not root.find_all("link") and not root.find_all("script")
        assert not [n for n in root.iter() if "src" in n.attrs]
        assert "http://" not in page and "https://" not in page and "@import" not in page


def test_index_lists_documents():
    a, b = explain(TEXT, id="a-1"), explain("Tech news today.", id=None)
    entries = [("docs/a.html", a, "sport"), ("docs/b&c.html", b, "tech"), ("c.html", a)]
    root = parse(render_index(entries, title="Run")).root
    rows = root.find("table", cls="index").find("tbody").find_all("tr")
    assert len(rows) == 3
    links = [r.find("a") for r in rows]
    assert [x.attrs["href"] for x in links] == ["docs/a.html", "docs/b&c.html", "c.html"]
    assert [x.text() for x in links] == ["a-1", "docs/b&c.html", "a-1"]
    # Predicted "sport": the row with true label "tech" is marked as a miss.
    assert [r.attrs.get("class") for r in rows] == [None, "miss", None]
    cells = rows[0].find_all("td")
    assert cells[2].text() == "sport" and cells[3].text().startswith("sport")
    assert [c.text() for c in cells[5].find_all(cls="chip")] == [t.text for t in a.top_terms(5, +1)]
    assert root.find("h1").text() == "Run"


def test_index_refuses_script_links():
    for href in ["javascript:alert(1)", " JaVa\tScRiPt:alert(1)", "data:text/html,<script>"]:
        with pytest.raises(DoclrpError, match="link"):
            render_index([(href, explain("x"))])
    with pytest.raises(DoclrpError, match="href"):
        render_index([("only-href",)])


def test_overlapping_words_are_refused():
    exp = explain("a b")
    broken = type(exp)(**{**exp.__dict__, "words": [exp.words[1], exp.words[1]]})
    with pytest.raises(DoclrpError, match="overlaps"):
        to_html(broken)


def test_colour_scale():
    assert diverging_color(1.0, 1.0) == "#b2182b" and diverging_color(-1.0, 1.0) == "#2166ac"
    assert diverging_color(5.0, 1.0) == diverging_color(1.0, 1.0)  # saturates
    assert diverging_color(0.3, 0.0) == diverging_color(float("nan"), 1.0) == "#ffffff"
    # Symmetric: equal |value| moves equally far from white on both sides.
    white = np.array([255, 255, 255])
    for v in [0.1, 0.5, 0.9]:
        pos = np.abs(diverging_rgb(v, 1.0).astype(int) - white).sum()
        neg = np.abs(diverging_rgb(-v, 1.0).astype(int) - white).sum()
        full_pos = np.abs(diverging_rgb(1.0, 1.0).astype(int) - white).sum()
        full_neg = np.abs(diverging_rgb(-1.0, 1.0).astype(int) - white).sum()
        assert abs(pos / full_pos - neg / full_neg) < 0.02
    assert diverging_rgb(np.zeros((2, 3)), 1.0).shape == (2, 3, 3)
    assert symmetric_vmax([1.0, -3.0, float("inf")]) == 3.0 and symmetric_vmax([]) == 0.0
    assert text_color("#ffffff") == "#000000" and text_color("#2166ac") == "#ffffff"


def test_page_names_the_method_and_its_parameters_escaped():
    from dataclasses import replace

    page = to_html(replace(explain("Good match."), method={"name": "<epsilon>", "params": {"eps": 0.01}}))
    assert "<dt>method</dt><dd>&lt;epsilon&gt; (eps=0.01)</dd>" in page
    assert "<dt>method</dt>" not in to_html(explain("Good match."))  # an explanation without one shows none
