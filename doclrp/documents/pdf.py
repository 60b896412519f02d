"""PDF files through PDFium (``pypdfium2``): the text layer in reading order with each
character's page and box, and the pages drawn as images.

>>> from doclrp.documents.pdf import read_pdf
>>> read_pdf(b"%PDF-1.4 not really", "x.pdf", Limits())
Traceback (most recent call last):
doclrp.errors.DoclrpError: x.pdf is not a readable PDF (PDFium: Data format error)

Only the document is opened: no form environment is made (``init_forms`` is never called), so
PDF JavaScript, form actions and an OpenAction have nothing to run in; pages are drawn without
forms. Line breaks become ``"\\n"``, a vertical gap larger than a line's height ``"\\n\\n"``
(a paragraph, which spaCy's sentences respect) and pages are separated by ``"\\n\\n"``.
A hyphen PDFium marks at a line end is dropped and the two halves joined ("docu-" +
"ment" → "document"); every character left keeps its own box, so offsets stay exact.
"""

from __future__ import annotations

import ctypes
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from doclrp.documents.limits import Deadline, Limits
from doclrp.documents.source import CharLayout, SourceText
from doclrp.errors import DoclrpError

__all__ = ["read_pdf", "render_pages", "PageImage", "MAX_PAGE_WIDTH", "PAGE_IMAGE_QUALITY"]

#: Widest page image drawn, in pixels (the bounded resolution of page views): a letter page
#: 1000 px wide is 120 dpi, sharp on a phone and a laptop alike.
MAX_PAGE_WIDTH = 1000
#: Pages are drawn at most at this many pixels per point (2: 144 dpi) whatever their size.
MAX_SCALE = 2.0
#: JPEG quality of page images with pictures (pages of text alone are PNGs of few colours).
PAGE_IMAGE_QUALITY = 80
#: Colours of a page drawn as a palette PNG: a page of print (at most 256 colours drawn, the
#: grey steps of smoothed glyphs) keeps its look in 32 and costs ~75 kB instead of ~190 kB as JPEG.
PRINT_COLOURS = 32
#: A line whose top is further below the previous line's bottom than this share of that
#: line's height starts a paragraph.
PARAGRAPH_GAP = 0.6

#: Characters PDFium reports that are not text: its end-of-line hyphen mark (U+0002, shown
#: as U+FFFE by its text ranges), and other controls.
_HYPHEN_MARKS = {"\x02", "\ufffe"}


@dataclass(frozen=True)
class PageImage:
    """One page drawn: ``data`` (``mime``-encoded: PNG for print, JPEG for pictures), ``width`` ×
    ``height`` pixels, its index."""

    page: int
    width: int
    height: int
    data: bytes
    mime: str = "image/jpeg"


def _pdfium() -> Any:
    try:
        import pypdfium2  # type: ignore[import-untyped]  # ships no type information
    except ImportError:  # pragma: no cover - a dependency; the message says what to install
        raise DoclrpError("reading PDF files needs pypdfium2: pip install pypdfium2") from None
    return pypdfium2


def _open(data: bytes, name: str) -> Any:
    pdfium = _pdfium()
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        reason = str(error)
        if "password" in reason.lower():
            raise DoclrpError(f"{name} is an encrypted PDF: save it without a password first") from None
        detail = reason.split("(", 1)[-1].rstrip(").") if "(" in reason else reason
        raise DoclrpError(f"{name} is not a readable PDF ({detail.strip()})") from None


def read_pdf(data: bytes, name: str, limits: Limits, deadline: Deadline | None = None) -> SourceText:
    """The text layer of a PDF in reading order with each character's page and box."""
    deadline = deadline or limits.deadline()
    pdf = _open(data, name)
    try:
        pages = len(pdf)
        limits.check_pages(pages, name)
        text: list[str] = []
        page_of: list[int] = []
        line_of: list[int] = []
        boxes: list[np.ndarray] = []
        sizes: list[tuple[float, float]] = []
        empty: list[int] = []
        line = 0
        for index in range(pages):
            deadline.check(f"reading page {index + 1} of {name}")
            page = pdf[index]
            try:
                chars, page_boxes, breaks, size = _page_chars(page)
            finally:
                page.close()
            sizes.append(size)
            if not chars.strip():
                empty.append(index)
                continue
            if text:  # pages are paragraphs apart
                _add(text, page_of, line_of, boxes, "\n\n", -1, -1)
            line = _lay_out_page(chars, page_boxes, breaks, index, line, text, page_of, line_of, boxes)
        if len(empty) == pages:
            raise DoclrpError(f"{name} has no text layer on any of its {pages} page(s) (a scanned document?): "
                              "doclrp reads the text a PDF carries and does no OCR")
        notes = [f"no text on page(s) {_ranges(empty)} (scanned?)"] if empty else []
        joined = "".join(text)
        layout = CharLayout(np.array(page_of, dtype=np.int32), np.array(line_of, dtype=np.int32),
                            np.vstack(boxes) if boxes else np.zeros((0, 4), np.float32), sizes)
        return SourceText(joined, kind="pdf", name=name, pages=pages, chars=layout, notes=notes, data=data)
    finally:
        pdf.close()


def _add(text: list[str], page_of: list[int], line_of: list[int], boxes: list[np.ndarray], chars: str,
         page: int, line: int) -> None:
    """Characters reading made (no place on a page)."""
    text.append(chars)
    page_of.extend([page] * len(chars))
    line_of.extend([line] * len(chars))
    boxes.append(np.zeros((len(chars), 4), np.float32))


def _page_chars(page: Any) -> tuple[str, np.ndarray, np.ndarray, tuple[float, float]]:
    """A page's characters as PDFium orders them, their boxes as fractions of the shown page
    (0 where PDFium made the character: spaces and line breaks it inserted) and whether each
    is a line break PDFium made (``\\r\\n``) or an end-of-line hyphen."""
    pdfium_c = _pdfium().raw
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        chars = textpage.get_text_range(0, count) if count else ""
        if len(chars) != count:  # characters outside the BMP: one index each, two UTF-16 units in the range
            chars = "".join(chr(pdfium_c.FPDFText_GetUnicode(textpage, i)) for i in range(count))
        raw = np.zeros((count, 4), np.float64)
        rect = pdfium_c.FS_RECTF()
        get_box = pdfium_c.FPDFText_GetLooseCharBox
        pointer = ctypes.byref(rect)
        for i in range(count):
            if get_box(textpage, i, pointer):
                raw[i] = (rect.left, rect.top, rect.right, rect.bottom)
        hyphen = np.array([c in _HYPHEN_MARKS for c in chars], dtype=bool)
    finally:
        textpage.close()
    left, bottom, right, top = page.get_bbox()
    width, height = max(right - left, 1e-6), max(top - bottom, 1e-6)
    u0, u1 = (raw[:, 0] - left) / width, (raw[:, 2] - left) / width
    v0, v1 = (top - raw[:, 1]) / height, (top - raw[:, 3]) / height
    rotation = page.get_rotation() % 360
    # The page as shown: PDFium draws a /Rotate page turned clockwise.
    if rotation == 90:
        box = np.stack([1 - v1, u0, 1 - v0, u1], axis=1)
    elif rotation == 180:
        box = np.stack([1 - u1, 1 - v1, 1 - u0, 1 - v0], axis=1)
    elif rotation == 270:
        box = np.stack([v0, 1 - u1, v1, 1 - u0], axis=1)
    else:
        box = np.stack([u0, v0, u1, v1], axis=1)
    box = np.clip(box, 0.0, 1.0).astype(np.float32)
    placed = (raw[:, 2] > raw[:, 0]) & (raw[:, 1] != raw[:, 3])
    box[~placed] = 0.0
    shown = (height, width) if rotation in (90, 270) else (width, height)
    breaks = np.array([c in "\r\n" for c in chars], dtype=bool) & ~placed
    return chars, np.where(placed[:, None], box, -1.0).astype(np.float32), breaks | hyphen, shown


def _lay_out_page(chars: str, box: np.ndarray, breaks: np.ndarray, page: int, line: int, text: list[str],
                  page_of: list[int], line_of: list[int], boxes: list[np.ndarray]) -> int:
    """Add one page's lines to the text (joined at marked hyphens, paragraphs at large gaps);
    the number of the next line."""
    # Lines: runs of characters between PDFium's line breaks and end-of-line hyphens.
    cuts = np.flatnonzero(breaks)
    starts = np.concatenate([[0], cuts + 1])
    ends = np.concatenate([cuts, [len(chars)]])
    previous: tuple[float, float] | None = None  # the last line's top and bottom
    joined = False  # the last line ended with a hyphen: the next one continues its word
    first = True
    for start, end in zip(starts.tolist(), ends.tolist()):
        piece = chars[start:end]
        ends_hyphen = end < len(chars) and chars[end] in _HYPHEN_MARKS
        if not piece.strip() and not ends_hyphen:
            continue
        piece_box = box[start:end].copy()
        placed = piece_box[:, 0] >= 0
        vertical = (float(piece_box[placed, 1].min()), float(piece_box[placed, 3].max())) if placed.any() else None
        if not first and not joined:
            gap = "\n"
            if previous is not None and vertical is not None:
                height = previous[1] - previous[0]
                if height > 0 and vertical[0] - previous[1] > PARAGRAPH_GAP * height:
                    gap = "\n\n"
            _add(text, page_of, line_of, boxes, gap, -1, -1)
        clean = "".join(c if c >= " " or c == "\t" else " " for c in piece)
        text.append(clean)
        page_of.extend(np.where(placed, page, -1).tolist())
        line_of.extend([line] * len(clean))
        piece_box[~placed] = 0.0
        boxes.append(piece_box)
        if vertical is not None:
            previous = vertical
        line += 1
        joined, first = ends_hyphen, False
    return line


def _ranges(pages: Sequence[int]) -> str:
    """1-based page numbers, runs written as ranges.

    >>> _ranges([0, 1, 2, 5])
    '1–3, 6'
    """
    runs: list[list[int]] = []
    for page in pages:
        if runs and runs[-1][-1] == page - 1:
            runs[-1].append(page)
        else:
            runs.append([page])
    return ", ".join(f"{r[0] + 1}–{r[-1] + 1}" if len(r) > 1 else str(r[0] + 1) for r in runs)


def render_pages(data: bytes, name: str = "the PDF", *, pages: Sequence[int] | None = None,
                 max_width: int = MAX_PAGE_WIDTH, quality: int = PAGE_IMAGE_QUALITY,
                 deadline: Deadline | None = None) -> list[PageImage]:
    """The PDF's pages (``pages``: 0-based indices, default all) drawn by PDFium at most
    ``max_width`` pixels wide (and at most 144 dpi), without forms: a page of print as a PNG of
    `PRINT_COLOURS` colours, a page with pictures as a JPEG."""
    return [image for image in iter_page_images(data, name, pages=pages, max_width=max_width, quality=quality,
                                                deadline=deadline, encode=True)]


def iter_page_images(data: bytes, name: str = "the PDF", *, pages: Sequence[int] | None = None,
                     max_width: int = MAX_PAGE_WIDTH, quality: int = PAGE_IMAGE_QUALITY,
                     deadline: Deadline | None = None, encode: bool = True) -> Iterator[Any]:
    """`PageImage` (``encode``) or PIL images of the chosen pages, one at a time."""
    if max_width < 16:
        raise DoclrpError(f"max_width must be at least 16 pixels, got {max_width}")
    pdf = _open(data, name)
    try:
        chosen = range(len(pdf)) if pages is None else pages
        for index in chosen:
            if deadline is not None:
                deadline.check(f"drawing page {index + 1} of {name}")
            if not 0 <= index < len(pdf):
                raise DoclrpError(f"{name} has no page {index + 1}")
            page = pdf[index]
            try:
                width, _ = page.get_size()  # as shown: a /Rotate 90 page is as wide as it is high unturned
                scale = min(MAX_SCALE, max_width / max(width, 1e-6))
                bitmap = page.render(scale=scale, may_draw_forms=False)
                image = bitmap.to_pil().convert("RGB")
                bitmap.close()
            finally:
                page.close()
            if not encode:
                yield image
                continue
            yield _encoded(index, image, quality)
    finally:
        pdf.close()


def _encoded(index: int, image: Any, quality: int) -> PageImage:
    """A page as PNG of few colours when it is print (≤ 256 colours drawn), else as JPEG."""
    from PIL import Image

    buffer = io.BytesIO()
    if image.getcolors(256) is not None:
        image.quantize(PRINT_COLOURS, method=Image.Quantize.FASTOCTREE).save(buffer, format="PNG")
        return PageImage(index, image.width, image.height, buffer.getvalue(), "image/png")
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return PageImage(index, image.width, image.height, buffer.getvalue())

