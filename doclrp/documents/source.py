"""`SourceText`: the text read from a file, with where each character stood (PDF pages).

>>> import numpy as np
>>> chars = CharLayout(page=np.array([0, 0, -1, 0, 0, 0]), line=np.array([0, 0, -1, 1, 1, 1]),
...                    box=np.array([[.1, .1, .2, .2], [.2, .1, .3, .2], [0, 0, 0, 0],
...                                  [.1, .3, .2, .4], [.2, .3, .3, .4], [.3, .3, .4, .4]]),
...                    page_sizes=[(612.0, 792.0)])
>>> source = SourceText("ab cde", kind="pdf", name="a.pdf", pages=1, chars=chars)
>>> layout = source.word_layout([(0, 2), (3, 6)])
>>> layout.page.tolist(), [[round(v, 2) for v in box] for box in layout.box.tolist()]
([0, 0], [[0.1, 0.1, 0.3, 0.2], [0.1, 0.3, 0.4, 0.4]])

A word's box is the union of its characters' boxes; a word whose characters stand on two
lines (a hyphenated line end that reading joined) gets one box per line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from doclrp.errors import DoclrpError
from doclrp.text.explanation import Explanation
from doclrp.text.layout import Box, WordLayout

__all__ = ["SourceText", "CharLayout", "KINDS"]

#: The kinds of file doclrp reads, by the name `SourceText.kind` gives them.
KINDS = ("pdf", "docx", "html", "email", "text")


@dataclass(frozen=True, eq=False)
class CharLayout:
    """Per character of the read text: its ``page`` (-1: a character reading made, such as a
    line break), its ``line`` (numbered through the document) and ``box`` (fractions of the
    page from its top-left corner); ``page_sizes``: ``(width, height)`` of each page in points."""

    page: np.ndarray  # (chars,) int32
    line: np.ndarray  # (chars,) int32
    box: np.ndarray  # (chars, 4) float32
    page_sizes: list[tuple[float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "page", np.asarray(self.page, dtype=np.int32).reshape(-1))
        object.__setattr__(self, "line", np.asarray(self.line, dtype=np.int32).reshape(-1))
        object.__setattr__(self, "box", np.asarray(self.box, dtype=np.float32).reshape(-1, 4))
        if not len(self.page) == len(self.line) == len(self.box):
            raise DoclrpError("a character layout needs one page, line and box per character")


@dataclass(frozen=True, eq=False)
class SourceText:
    """What a reader made of a file: the ``text`` to explain, the file's ``kind`` (one of
    `KINDS`), its ``name``, its ``pages`` (PDF), the place of each character (``chars``, PDF),
    ``attachments`` listed by name (e-mail; never read), ``notes`` on what was left out and
    the file's bytes (``data``, kept to draw a PDF's pages)."""

    text: str
    kind: str
    name: str | None = None
    pages: int | None = None
    chars: CharLayout | None = None
    attachments: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DoclrpError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.chars is not None and len(self.chars.page) != len(self.text):
            raise DoclrpError(f"a character layout of {len(self.chars.page)} characters for a text of "
                              f"{len(self.text)}: they must match")

    def word_layout(self, spans: Any) -> WordLayout | None:
        """Page and box of each word ``(start, end)`` of the text (None without a character layout)."""
        if self.chars is None:
            return None
        return word_layout(self.chars, spans, source=self.name)

    def attach(self, explanation: Explanation) -> Explanation:
        """``explanation`` of this text with the place of each of its words (`Explanation.layout`)
        and, as its id when it has none, the file's name.

        >>> from doclrp.text import Explanation
        >>> from doclrp.text.explanation import _EXAMPLE
        >>> SourceText("Up down", kind="text", name="a.txt").attach(Explanation.from_dict(_EXAMPLE)).id
        'd1'
        """
        if explanation.text != self.text:
            raise DoclrpError("the explanation is of another text than the file's")
        spans = np.array([(w.start, w.end) for w in explanation.words], dtype=np.int64).reshape(-1, 2)
        return replace(explanation, layout=self.word_layout(spans),
                       id=explanation.id if explanation.id is not None else self.name)


def word_layout(chars: CharLayout, spans: Any, source: str | None = None) -> WordLayout:
    """The `WordLayout` of the words ``spans`` ((words, 2) start/end offsets, in text order)."""
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    n = len(spans)
    if n == 0:
        return WordLayout(np.zeros(0), np.zeros((0, 4)), list(chars.page_sizes), source)
    if (spans[:, 0] >= spans[:, 1]).any() or (np.diff(spans[:, 0]) < 0).any() or spans[-1, 1] > len(chars.page):
        raise DoclrpError("word spans must be non-empty, in text order and inside the text")
    valid = chars.page >= 0
    inf = np.float32(np.inf)
    # One sentinel row so that a word ending at the text's end is a valid reduceat bound.
    lows = np.vstack([np.where(valid[:, None], chars.box[:, :2], inf), [[inf, inf]]])
    highs = np.vstack([np.where(valid[:, None], chars.box[:, 2:], -inf), [[-inf, -inf]]])
    big = np.iinfo(np.int32).max
    first_line = np.append(np.where(valid, chars.line, big), big)
    last_line = np.append(np.where(valid, chars.line, -1), -1)
    bounds = spans.reshape(-1)  # start0, end0, start1, end1, ...: every other reduction is a word
    low = np.minimum.reduceat(lows, bounds, axis=0)[::2]
    high = np.maximum.reduceat(highs, bounds, axis=0)[::2]
    line_min = np.minimum.reduceat(first_line, bounds)[::2]
    line_max = np.maximum.reduceat(last_line, bounds)[::2]
    placed = line_max >= 0
    # The page of a word is the page of its first placed character.
    first_char = np.minimum.reduceat(np.append(np.where(valid, np.arange(len(valid)), big), big), bounds)[::2]
    page = np.where(placed, chars.page[np.minimum(first_char, len(valid) - 1)], -1)
    box = np.where(placed[:, None], np.hstack([low, high]), 0.0).astype(np.float32)
    parts: dict[int, list[tuple[int, Box]]] = {}
    for index in np.flatnonzero(placed & (line_min != line_max)).tolist():
        start, end = int(spans[index, 0]), int(spans[index, 1])
        parts[index] = _line_boxes(chars, start, end)
        box[index] = parts[index][0][1]
    return WordLayout(page, box, list(chars.page_sizes), source, parts)


def _line_boxes(chars: CharLayout, start: int, end: int) -> list[tuple[int, Box]]:
    """One box per line of the characters ``start:end`` (the rare words broken over lines)."""
    boxes: list[tuple[int, Box]] = []
    lines: dict[int, list[int]] = {}
    for i in range(start, end):
        if chars.page[i] >= 0:
            lines.setdefault(int(chars.line[i]), []).append(i)
    for members in lines.values():
        part = chars.box[members]
        x0, y0 = part[:, :2].min(axis=0).tolist()
        x1, y1 = part[:, 2:].max(axis=0).tolist()
        boxes.append((int(chars.page[members[0]]), (x0, y0, x1, y1)))
    return boxes


def join_texts(parts: Sequence[str]) -> str:
    """Blocks of text as paragraphs: empty ones left out, runs of blank lines made one.

    >>> join_texts(["Title", "", "  body\\n\\n\\n\\nmore  "])
    'Title\\n\\nbody\\n\\nmore'
    """
    import re

    text = "\n\n".join(p.strip() for p in parts if p.strip())
    return re.sub(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", text)
