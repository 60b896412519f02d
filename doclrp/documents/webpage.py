"""HTML as a reader sees it: the visible text only, blocks as paragraphs, entities decoded.

>>> read_html("<h1>Q3 &amp; Q4</h1><p>Sales <b>rose</b>.<script>alert(1)</script>"
...           "<p hidden>secret</p><style>p {}</style><!-- note -->", "page.html", Limits()).text
'Q3 & Q4\\n\\nSales rose.'

The standard library's tokenizer (``html.parser``) reads the markup in one linear pass;
elements are tracked on a stack with the end tags HTML lets a page leave out (a new ``<p>``
closes an open one, ``<li>`` the previous item, ``<td>`` the previous cell), so an element
left open never hides or nests the rest of the page. Left out: ``script``, ``style``,
``template``, ``noscript``, the ``head``, comments, and every element that is ``hidden``,
``aria-hidden="true"`` or styled ``display: none`` / ``visibility: hidden`` inline. Nothing is
fetched: images, frames and style sheets are never followed. Nesting deeper than
``Limits.max_nesting`` elements is refused (a browser's HTML parser slows down on such pages).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from doclrp.documents.limits import Deadline, Limits
from doclrp.documents.source import SourceText
from doclrp.errors import DoclrpError

__all__ = ["read_html", "html_text"]

#: Elements whose content is never shown.
INVISIBLE = frozenset({"script", "style", "template", "noscript", "head", "title", "iframe", "object", "embed",
                       "canvas", "svg", "math", "select", "datalist", "audio", "video", "map"})
#: Elements that stand as paragraphs of their own.
PARAGRAPHS = frozenset({"address", "article", "aside", "blockquote", "details", "dialog", "div", "dl", "fieldset",
                        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
                        "hgroup", "hr", "main", "nav", "ol", "p", "pre", "section", "table", "ul", "summary",
                        "caption", "center", "body", "html"})
#: Elements that start a line (list items, table rows, definition terms).
LINES = frozenset({"li", "dt", "dd", "tr", "legend", "option"})
#: Elements that never have content (no end tag).
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                  "track", "wbr", "keygen", "basefont", "bgsound", "frame"})
#: An open element that a new element of these names closes (HTML's optional end tags), with
#: the elements that bound the search (a ``<li>`` closes the previous item of its own list only).
CLOSES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "li": (frozenset({"li"}), frozenset({"ul", "ol", "menu"})),
    "dt": (frozenset({"dt", "dd"}), frozenset({"dl"})),
    "dd": (frozenset({"dt", "dd"}), frozenset({"dl"})),
    "tr": (frozenset({"tr", "td", "th"}), frozenset({"table", "thead", "tbody", "tfoot"})),
    "td": (frozenset({"td", "th"}), frozenset({"tr", "table"})),
    "th": (frozenset({"td", "th"}), frozenset({"tr", "table"})),
    "thead": (frozenset({"thead", "tbody", "tfoot", "tr", "td", "th"}), frozenset({"table"})),
    "tbody": (frozenset({"thead", "tbody", "tfoot", "tr", "td", "th"}), frozenset({"table"})),
    "tfoot": (frozenset({"thead", "tbody", "tfoot", "tr", "td", "th"}), frozenset({"table"})),
    "option": (frozenset({"option"}), frozenset({"select", "datalist"})),
}
_CLOSES_P = PARAGRAPHS | LINES | frozenset({"td", "th"})
#: Containers a new block does not close an open ``<p>`` across.
_P_BOUNDS = INVISIBLE | frozenset({"div", "td", "th", "li", "blockquote", "section", "article", "body", "table",
                                   "button", "dd", "dt", "figure", "fieldset", "details", "dialog", "main", "nav",
                                   "header", "footer", "aside", "form"})
#: Breaks by strength: of several in a row, the strongest stands.
_STRENGTH = {"\t": 1, "\n": 2, "\n\n": 3}
_HIDDEN_STYLE = re.compile(r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)\s*(?:!important\s*)?(?:;|$)",
                           re.IGNORECASE)
_SPACE = re.compile(r"[ \t\n\r\f\v\u200b]+")


class _VisibleText(HTMLParser):
    """The text a browser shows, as runs of words and break marks (``\\n``, ``\\n\\n``, ``\\t``)."""

    def __init__(self, name: str, limits: Limits, deadline: Deadline) -> None:
        super().__init__(convert_charrefs=True)
        self.name, self.limits, self.deadline = name, limits, deadline
        self.stack: list[tuple[str, bool]] = []  # (tag, hidden from here down)
        self.out: list[tuple[str, str]] = []  # ("text" | "pre" | "break", characters)
        self.pre = 0
        self.fed = 0

    @property
    def hidden(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._close_implied(tag)
        if tag in VOID:
            if tag == "br" and not self.hidden:
                self.out.append(("pre" if self.pre else "break", "\n"))
            elif tag == "hr" and not self.hidden:
                self.out.append(("break", "\n\n"))
            return
        self._block(tag)
        hidden = self.hidden or tag in INVISIBLE or _is_hidden(attrs)
        self.stack.append((tag, hidden))
        if len(self.stack) > self.limits.max_nesting:
            raise DoclrpError(f"{self.name} nests its elements deeper than {self.limits.max_nesting}: refused "
                              "(HTML parsers slow down on such pages)")
        if tag in ("pre", "textarea", "listing"):
            self.pre += 1
        if tag in ("td", "th") and not hidden:
            self.out.append(("break", "\t"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:  # <div/> is an open <div> in HTML; treated as empty here
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "br":  # </br> is a line break in browsers too
            self.handle_starttag("br", [])
            return
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                while len(self.stack) > depth:
                    self._pop()
                return
        # An end tag with nothing open to close is ignored, as browsers do.

    def handle_data(self, data: str) -> None:
        self.fed += len(data)
        if self.fed > 1_000_000:
            self.fed = 0
            self.deadline.check(f"reading {self.name}")
        if self.hidden or not data:
            return
        self.out.append(("pre", data) if self.pre else ("text", _SPACE.sub(" ", data)))

    def _pop(self) -> None:
        tag, hidden = self.stack.pop()
        if tag in ("pre", "textarea", "listing"):
            self.pre -= 1
        self._block(tag)

    def _block(self, tag: str) -> None:
        if self.hidden:
            return
        if tag in PARAGRAPHS:
            self.out.append(("break", "\n\n"))
        elif tag in LINES:
            self.out.append(("break", "\n"))

    def _close_implied(self, tag: str) -> None:
        if tag in _CLOSES_P:  # a block closes an open paragraph (up to its own container)
            self._close_open(frozenset({"p"}), _P_BOUNDS)
        if tag in CLOSES:
            self._close_open(*CLOSES[tag])

    def _close_open(self, closed: frozenset[str], bounds: frozenset[str]) -> None:
        for depth in range(len(self.stack) - 1, -1, -1):
            open_tag = self.stack[depth][0]
            if open_tag in closed:
                while len(self.stack) > depth:
                    self._pop()
                return
            if open_tag in bounds:
                return


def _is_hidden(attrs: list[tuple[str, str | None]]) -> bool:
    for key, value in attrs:
        if key == "hidden" or (key == "aria-hidden" and (value or "").strip().lower() == "true"):
            return True
        if key == "style" and value and _HIDDEN_STYLE.search(value):
            return True
        if key == "type" and (value or "").lower() == "hidden":
            return True
    return False


def html_text(markup: str, name: str, limits: Limits, deadline: Deadline | None = None) -> str:
    """The visible text of ``markup``: paragraphs ``\\n\\n`` apart, lines ``\\n``, cells a tab apart,
    other whitespace made one space as a browser does (kept inside ``pre``)."""
    parser = _VisibleText(name, limits, deadline or limits.deadline())
    try:
        parser.feed(markup)
        parser.close()
    except DoclrpError:
        raise
    except (AssertionError, ValueError) as error:  # html.parser's own complaints about broken markup
        raise DoclrpError(f"{name} is malformed HTML ({error})") from None
    return _assemble(parser.out)


def _assemble(pieces: list[tuple[str, str]]) -> str:
    """Runs of text and breaks as one text: of breaks in a row the strongest, none at either end;
    spaces beside a break or another space dropped (``pre`` text kept as it is).

    >>> _assemble([("text", " a "), ("break", "\\n"), ("break", "\\n\\n"), ("text", " b "), ("text", " c"),
    ...            ("break", "\\t"), ("pre", "  d  ")])
    'a\\n\\nb c\\t  d  '
    """
    out: list[str] = []
    pending = ""
    for kind, chars in pieces:
        if kind == "break":
            if _STRENGTH[chars] > _STRENGTH.get(pending, 0):
                pending = chars
            continue
        if kind == "text":
            if pending or not out or out[-1].endswith((" ", "\n", "\t")):
                chars = chars.lstrip(" ")
            if not chars:
                continue
        if pending and out:
            out[-1] = out[-1].rstrip(" ")
            out.append(pending)
        pending = ""
        out.append(chars)
    if out and pieces and pieces[-1][0] != "pre":
        out[-1] = out[-1].rstrip(" ")
    return "".join(out)


def read_html(data: bytes | str, name: str, limits: Limits, deadline: Deadline | None = None) -> SourceText:
    """An HTML file's visible text (bytes decoded as UTF-8, or as the BOM says)."""
    markup = data if isinstance(data, str) else decode_markup(data, name)
    text = html_text(markup, name, limits, deadline)
    if not text:
        raise DoclrpError(f"{name} is an HTML page without visible text")
    return SourceText(text, kind="html", name=name)


def decode_markup(data: bytes, name: str) -> str:
    """HTML bytes as text: UTF-8 or UTF-16 by their BOM, else UTF-8, else the charset the page declares."""
    from doclrp.documents.plain import decode_text

    try:
        return decode_text(data, name)
    except DoclrpError:
        declared = re.search(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", data[:4096], re.IGNORECASE)
        if declared is None:
            raise
        charset = declared.group(1).decode("ascii")
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError) as error:
            raise DoclrpError(f"{name} declares charset {charset!r} but cannot be read with it ({error})") from None
