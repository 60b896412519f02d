"""What every HTML page of doclrp shares: escaping and the page around a body.

>>> from doclrp.render.page import escape, html_page
>>> escape('<b title="x">\\r\\n')
'&lt;b title=&quot;x&quot;&gt;&#13;\\n'
>>> html_page("a < b", "<p>hi</p>", "p { color: red; }").splitlines()[5]
'<title>a &lt; b</title>'
"""

from __future__ import annotations

import html

__all__ = ["escape", "html_page"]


def escape(text: object) -> str:
    """``str(text)`` safe inside HTML text and quoted attributes."""
    # html.escape leaves "\r" alone, and HTML parsers turn "\r\n" into "\n";
    # a character reference keeps the original text exact.
    return html.escape(str(text), quote=True).replace("\r", "&#13;")


def html_page(title: str, body: str, style: str) -> str:
    """A complete HTML5 page: ``body`` (already escaped HTML) with one inline style sheet, no script."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{style}</style>
</head>
<body>
{body}
</body>
</html>
"""
