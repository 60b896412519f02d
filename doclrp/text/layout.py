"""`WordLayout`: where each word of a document stands on its pages (PDF files).

>>> import numpy as np
>>> layout = WordLayout(page=np.array([0, 1]), box=np.array([[.1, .1, .2, .15], [.1, .5, .3, .55]]),
...                     page_sizes=[(612.0, 792.0), (612.0, 792.0)], source="report.pdf",
...                     parts={1: [(1, (.1, .5, .3, .55)), (1, (.1, .6, .2, .65))]})
>>> layout.word(1)
{'page': 1, 'box': [0.1, 0.5, 0.3, 0.55], 'parts': [[1, 0.1, 0.5, 0.3, 0.55], [1, 0.1, 0.6, 0.2, 0.65]]}
>>> WordLayout.from_dict(layout.to_dict(), [layout.word(0), layout.word(1)]) == layout
True
>>> layout.boxes_on(1)
[(1, (0.1, 0.5, 0.3, 0.55)), (1, (0.1, 0.6, 0.2, 0.65))]

A side structure of `Explanation` (``Explanation.layout``), indexed like its words, kept as
arrays (one row per word) rather than fields of each word: corpus runs hold millions of words,
and words without a place (plain text) cost nothing. ``page`` is 0-based, ``-1`` for a word
with no box (one made of generated characters only); ``box`` is ``[x0, y0, x1, y1]`` as
fractions of the page's width and height measured from its top-left corner, as the page is
shown (rotation applied). A word broken over two lines (a hyphen joined at a line end) has
one box per line in ``parts``; ``box`` is then its first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from doclrp.errors import DoclrpError

__all__ = ["WordLayout", "Box"]

#: ``(x0, y0, x1, y1)``: fractions of the page's width and height from its top-left corner.
Box = tuple[float, float, float, float]


@dataclass(frozen=True, eq=False)
class WordLayout:
    """Page and box of every word (see the module docstring); ``page_sizes``: each page's
    ``(width, height)`` in points as shown; ``source``: the file's name."""

    page: np.ndarray  # (words,) int32, -1: no box
    box: np.ndarray  # (words, 4) float32
    page_sizes: list[tuple[float, float]] = field(default_factory=list)
    source: str | None = None
    parts: dict[int, list[tuple[int, Box]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        page = np.asarray(self.page, dtype=np.int32).reshape(-1)
        # Six decimals (a thousandth of a point on any page): what JSON keeps, so a layout read
        # back equals the one written.
        box = np.round(np.asarray(self.box, dtype=np.float64), 6).astype(np.float32).reshape(-1, 4)
        if len(page) != len(box):
            raise DoclrpError(f"a word layout needs one page per box: {len(page)} pages, {len(box)} boxes")
        object.__setattr__(self, "page", page)
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "parts", _plain_parts(self.parts))

    def __len__(self) -> int:
        return len(self.page)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WordLayout):
            return NotImplemented
        return (np.array_equal(self.page, other.page) and np.array_equal(self.box, other.box)
                and [tuple(s) for s in self.page_sizes] == [tuple(s) for s in other.page_sizes]
                and self.source == other.source and _plain_parts(self.parts) == _plain_parts(other.parts))

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside

    def boxes_on(self, index: int) -> list[tuple[int, Box]]:
        """Every ``(page, box)`` of word ``index``: one, several for a word broken over lines,
        none for a word without a place."""
        if index in self.parts:
            return [(int(p), _rounded(b)) for p, b in self.parts[index]]
        page = int(self.page[index])
        return [] if page < 0 else [(page, _rounded(self.box[index]))]

    def word(self, index: int) -> dict[str, Any]:
        """Word ``index``'s ``page`` and ``box`` (and ``parts`` when it has several) as plain data."""
        data: dict[str, Any] = {"page": int(self.page[index]), "box": list(_rounded(self.box[index]))}
        if index in self.parts:
            data["parts"] = [[int(p), *b] for p, b in self.boxes_on(index)]
        return data

    def to_columns(self) -> dict[str, Any]:
        """The whole layout as columns (corpus records): ``page`` and ``box`` one entry per word,
        ``parts`` as ``[word, page, x0, y0, x1, y1]`` rows, ``page_sizes``, ``source``.

        >>> layout = WordLayout(np.array([0]), np.array([[.1, .2, .3, .4]]), [(10.0, 20.0)], "a.pdf")
        >>> WordLayout.from_columns(layout.to_columns()) == layout
        True
        """
        return {"page_sizes": [list(size) for size in self.page_sizes], "source": self.source,
                "page": self.page.tolist(), "box": [list(_rounded(b)) for b in self.box],
                "parts": [[index, page, *box] for index in sorted(self.parts) for page, box in self.boxes_on(index)]}

    @classmethod
    def from_columns(cls, data: Mapping[str, Any]) -> WordLayout:
        """The layout `to_columns` wrote."""
        try:
            parts: dict[int, list[tuple[int, Box]]] = {}
            for index, page, x0, y0, x1, y1 in data.get("parts") or ():
                parts.setdefault(int(index), []).append((int(page), (float(x0), float(y0), float(x1), float(y1))))
            return cls(np.array(data["page"], dtype=np.int32), np.array(data["box"], dtype=np.float32).reshape(-1, 4),
                       _sizes(data), data.get("source"), parts)
        except (KeyError, TypeError, ValueError) as error:
            raise DoclrpError(f"not a word layout's columns ({error!r})") from None

    def to_dict(self) -> dict[str, Any]:
        """The parts that are not per word: page sizes and the source (words carry `word`)."""
        return {"page_sizes": [list(size) for size in self.page_sizes], "source": self.source}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], words: Sequence[Mapping[str, Any]] | int) -> WordLayout:
        """The layout of `to_dict` and the words' own ``page``/``box``/``parts`` (a count of words
        when the words are not given: every word then has no box).

        >>> WordLayout.from_dict({"page_sizes": [[10, 20]]}, [{"page": 0, "box": [0, 0, .5, .5]}]).box.tolist()
        [[0.0, 0.0, 0.5, 0.5]]
        """
        if isinstance(words, int):
            return cls(np.full(words, -1), np.zeros((words, 4)), _sizes(data), data.get("source"))
        try:
            page = [int(w.get("page", -1)) for w in words]
            box = [list(w.get("box") or (0.0, 0.0, 0.0, 0.0)) for w in words]
            parts = {n: [(int(p[0]), (float(p[1]), float(p[2]), float(p[3]), float(p[4]))) for p in w["parts"]]
                     for n, w in enumerate(words) if w.get("parts")}
        except (TypeError, ValueError, IndexError, AttributeError) as error:
            raise DoclrpError(f"not a word layout ({error}): words need page and box [x0, y0, x1, y1]") from None
        return cls(np.array(page, dtype=np.int32), np.array(box, dtype=np.float32).reshape(-1, 4),
                   _sizes(data), data.get("source"), parts)


def _sizes(data: Mapping[str, Any]) -> list[tuple[float, float]]:
    return [(float(w), float(h)) for w, h in data.get("page_sizes") or ()]


def _rounded(box: Any) -> Box:
    # float32 arrays hold the boxes at six decimals; their float64 forms read back the same.
    x0, y0, x1, y1 = (round(float(v), 6) for v in box)
    return (x0, y0, x1, y1)


def _plain_parts(parts: Mapping[int, Sequence[tuple[int, Sequence[float]]]]) -> dict[int, list[tuple[int, Box]]]:
    return {int(k): [(int(p), _rounded(np.round(np.asarray(b, dtype=np.float64), 6).astype(np.float32)))
                     for p, b in v] for k, v in parts.items()}
