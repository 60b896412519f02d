"""`read_source`: a file (or its bytes) of any kind doclrp reads, as `SourceText`.

>>> read_source(b"%PDF-1.7 ...", name="scan.bin")
Traceback (most recent call last):
doclrp.errors.DoclrpError: scan.bin is not a readable PDF (PDFium: Data format error)
>>> read_source("Grüße aus Bonn".encode("utf-16"), name="note").kind
'text'
>>> detect_kind(b"<!DOCTYPE html><p>Hi", ".txt"), detect_kind(b"PK\\x03\\x04...", ""), detect_kind(b"Hi", ".html")
('html', 'docx', 'text')
>>> detect_kind(b"<div>Hi</div>"), detect_kind(b"<3 you"), detect_kind(b"<note>x</note>", ".htm")
('html', 'text', 'html')

The kind comes from the content (magic bytes), the suffix only breaking ties a content cannot
(an ``.eml`` with a single header; an ``.html`` fragment that opens with a tag): a PDF named
``.txt`` is read as a PDF, a text file named ``.pdf`` as text.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from doclrp.documents.docx import read_docx
from doclrp.documents.limits import Deadline, Limits
from doclrp.documents.mail import looks_like_email, read_email
from doclrp.documents.pdf import read_pdf
from doclrp.documents.plain import BOMS, decode_text
from doclrp.documents.source import SourceText
from doclrp.documents.webpage import INVISIBLE, LINES, PARAGRAPHS, read_html
from doclrp.errors import DoclrpError

__all__ = ["read_source", "detect_kind", "read_bytes"]

#: Binary files that are not documents doclrp reads, by their first bytes, with what to do.
OTHER_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office file (Word 97-2003 .doc or Outlook .msg): save it as "
                                          ".docx or .eml"),
    (b"{\\rtf", "an RTF file: save it as .docx"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image: doclrp reads text and does no OCR"),
    (b"\xff\xd8\xff", "a JPEG image: doclrp reads text and does no OCR"),
    (b"GIF8", "a GIF image: doclrp reads text and does no OCR"),
    (b"II*\x00", "a TIFF image: doclrp reads text and does no OCR"),
    (b"MM\x00*", "a TIFF image: doclrp reads text and does no OCR"),
    (b"\x1f\x8b", "a gzip archive: unpack it first"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-zip archive: unpack it first"),
    (b"Rar!", "a RAR archive: unpack it first"),
    (b"\x7fELF", "a program, not a document"),
    (b"MZ", "a program, not a document"),
)
#: A text that opens with one of these elements (or a doctype or comment) is HTML, whatever its name.
_HTML_NAMES = PARAGRAPHS | LINES | INVISIBLE | {"link", "meta", "span", "a", "b", "i", "img", "br", "td", "th", "tbody"}
_HTML_OPENING = re.compile(("<(?:!doctype\\s+html|!--|(?:" + "|".join(sorted(_HTML_NAMES, key=len, reverse=True))
                            + ")[\\s/>])").encode())
_HTML_SUFFIXES = (".html", ".htm", ".xhtml")


def detect_kind(data: bytes, suffix: str = "") -> str:
    """``"pdf"``, ``"docx"``, ``"html"``, ``"email"`` or ``"text"`` from the file's content;
    a one-line error for a binary kind doclrp does not read."""
    suffix = suffix.lower()
    head = data[:4096]
    if b"%PDF-" in head[:1024]:  # PDF readers accept junk before the header; so does PDFium
        return "pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "docx"
    for magic, what in OTHER_KINDS:
        if head.startswith(magic):
            raise DoclrpError(f"{what} (not PDF, Word .docx, HTML, e-mail or text)")
    start = head
    for bom, encoding in BOMS:
        if head.startswith(bom):
            start = head.decode(encoding, "ignore").encode("utf-8", "ignore")
            break
    opening = start.lstrip().lower()
    if _HTML_OPENING.match(opening):
        return "html"
    if suffix in _HTML_SUFFIXES and opening.startswith(b"<"):
        return "html"
    if looks_like_email(start, suffix):
        return "email"
    return "text"


def read_bytes(data: bytes, name: str, limits: Limits | None = None, deadline: Deadline | None = None) -> SourceText:
    """``data`` (the bytes of a file called ``name``) read by the reader of its kind."""
    limits = limits or Limits()
    limits.check_bytes(len(data), name)
    deadline = deadline or limits.deadline()
    try:
        kind = detect_kind(data, os.path.splitext(name)[1])
    except DoclrpError as error:
        raise DoclrpError(f"{name} is {error}") from None
    if kind == "pdf":
        return read_pdf(data, name, limits, deadline)
    if kind == "docx":
        return read_docx(data, name, limits, deadline)
    if kind == "email":
        return read_email(data, name, limits, deadline)
    if kind == "html":
        return read_html(data, name, limits, deadline)
    return SourceText(decode_text(data, name), kind="text", name=name)


def read_source(source: str | os.PathLike[str] | bytes, name: str | None = None, limits: Limits | None = None,
                deadline: Deadline | None = None) -> SourceText:
    """A document file (a path) or its bytes (``name``: what messages call it) as `SourceText`:
    PDF, Word ``.docx``, HTML, e-mail ``.eml`` or plain text, within ``limits``
    (``--max-bytes``, ``--max-pages``, zip-bomb caps, nesting, time)."""
    limits = limits or Limits()
    if isinstance(source, (bytes, bytearray)):
        return read_bytes(bytes(source), name or "the document", limits, deadline)
    path = Path(source)
    shown = name or str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DoclrpError(f"no such file: {path}") from None
    except OSError as error:
        raise DoclrpError(f"cannot read {path}: {error.strerror or error}") from None
    if not stat.S_ISREG(info.st_mode):
        raise DoclrpError(f"{path} is not a regular file (a folder, a device or a pipe): give a document file")
    limits.check_bytes(info.st_size, shown)
    try:
        with open(path, "rb") as stream:
            data = stream.read(limits.max_bytes + 1)  # a file that grew since stat is still bounded
    except OSError as error:
        raise DoclrpError(f"cannot read {path}: {error.strerror or error}") from None
    return read_bytes(data, shown, limits, deadline)
