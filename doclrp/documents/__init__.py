"""Documents as people have them: PDF, Word ``.docx``, HTML, e-mail ``.eml`` and plain text,
read into the text doclrp explains, with where each word stands on a PDF's pages.

>>> from doclrp.documents import read_source
>>> source = read_source(b"<html><body><h1>Invoice</h1><p>Total: 120 &euro;</p></body></html>", name="bill.html")
>>> source.kind, source.text
('html', 'Invoice\\n\\nTotal: 120 €')

``read_source`` detects the kind from the content, keeps the bounds of `Limits` (bytes,
pages, zip-bomb caps, nesting, time) and fails with one line (`DoclrpError`) for encrypted,
scanned (no text layer), oversized and malformed files. ``SourceText.attach`` gives an
explanation of its text the place of each word (`doclrp.text.layout.WordLayout`);
``render_pages`` draws a PDF's pages (PDFium, bounded resolution, no forms).
"""

from doclrp.documents.limits import MAX_BYTES, MAX_PAGES, Deadline, Limits
from doclrp.documents.pdf import PageImage, iter_page_images, render_pages
from doclrp.documents.read import detect_kind, read_bytes, read_source
from doclrp.documents.source import KINDS, CharLayout, SourceText

__all__ = [
    "CharLayout",
    "Deadline",
    "KINDS",
    "Limits",
    "MAX_BYTES",
    "MAX_PAGES",
    "PageImage",
    "SourceText",
    "detect_kind",
    "iter_page_images",
    "read_bytes",
    "read_source",
    "render_pages",
]
