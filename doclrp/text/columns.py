"""Words and model tokens stored as columns (numpy arrays), made into named tuples on access.

>>> text = "Rates rose."
>>> words = WordColumns(text, start=[0, 6, 10], end=[5, 10, 11], sentence=[0, 0, 0], relevance=[1.0, -0.5, 0.0])
>>> words[1]
WordRelevance(text='rose', start=6, end=10, sentence=0, relevance=-0.5)
>>> [w.text for w in words], words.relevance.tolist()
(['Rates', 'rose', '.'], [1.0, -0.5, 0.0])
>>> words == list(words), words[1:].start.tolist()
(True, [6, 10])

A long document has a million words: as Python objects (a tuple, its string, its numbers) they
cost some 300 bytes each and dominate the memory of an explanation; as columns they cost the
32 bytes of their four numbers. A word's text is read from the document's text by its offsets,
so it is stored only where it differs from that slice (explanations built by hand).

Columns beyond the named tuple's fields (e.g. a page number and a box per word from a PDF
reader) can ride along in ``extra``: arrays indexed by word, sliced and compared with the rest,
not part of the tuples.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar, overload

import numpy as np

__all__ = ["Token", "WordRelevance", "TokenPiece", "TextColumns", "WordTable", "WordSpans", "WordColumns",
           "TokenColumns"]


class Token(NamedTuple):
    """A word: its text, character offsets ``text[start:end]`` and sentence index."""

    text: str
    start: int
    end: int
    sentence: int


class WordRelevance(NamedTuple):
    """A word, its character offsets in the text, its sentence and its relevance."""

    text: str
    start: int
    end: int
    sentence: int
    relevance: float


class TokenPiece(NamedTuple):
    """One model token: its text and character offsets in the document, the index of the word
    it was aligned to (None: a special token, or one over no word), and its relevance.

    A word's pieces are the tokens whose ``word`` is its index; their relevance sums to the word's.
    """

    text: str
    start: int
    end: int
    word: int | None
    relevance: float


Row = TypeVar("Row", bound=tuple)
_C = TypeVar("_C", bound="TextColumns[Any]")
#: Rows made at a time when iterating: bounded memory, numpy's tolist() speed.
_BLOCK = 8192


class TextColumns(Sequence[Row], Generic[Row]):
    """Rows of ``ROW`` (a named tuple whose first field is ``text``) kept as one array per other field.

    ``text``: the document's text; a row's ``text`` is ``text[start:end]`` unless ``texts`` gives
    the rows' own strings. Arrays are read-only: an explanation is a value.
    """

    ROW: ClassVar[type[Any]]
    #: The fields stored as arrays, in the row's order after ``text``, and their dtypes.
    FIELDS: ClassVar[tuple[tuple[str, Any], ...]]

    def __init__(self, text: str, texts: Sequence[str] | None = None, extra: Mapping[str, Any] | None = None,
                 **columns: Any) -> None:
        self.text = text
        names = [name for name, _ in self.FIELDS]
        if sorted(columns) != sorted(names):
            raise TypeError(f"{type(self).__name__} takes the columns {names}, got {sorted(columns)}")
        self._columns = {name: _frozen(columns[name], dtype) for name, dtype in self.FIELDS}
        lengths = {len(column) for column in self._columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"{type(self).__name__}: columns of different lengths {sorted(lengths)}")
        self._length = lengths.pop()
        self._texts = None if texts is None else list(texts)
        if self._texts is not None and len(self._texts) != self._length:
            raise ValueError(f"{len(self._texts)} texts for {self._length} rows")
        self.extra = {name: _frozen(values, None) for name, values in (extra or {}).items()}
        if any(len(values) != self._length for values in self.extra.values()):
            raise ValueError(f"extra columns must have one value per row ({self._length})")

    @property
    def start(self) -> np.ndarray:
        """Each row's first character in ``text`` (every kind of text columns has offsets)."""
        return self._columns["start"]

    @property
    def end(self) -> np.ndarray:
        """Each row's end in ``text`` (exclusive)."""
        return self._columns["end"]

    @classmethod
    def from_rows(cls: type[_C], text: str, rows: Sequence[Any]) -> _C:
        """Columns of ``rows`` (named tuples or plain tuples in the row's field order)."""
        if isinstance(rows, cls) and rows.text == text:
            return rows
        rows = list(rows)
        names = [name for name, _ in cls.FIELDS]
        columns: dict[str, Any] = {name: [row[i + 1] for row in rows] for i, name in enumerate(names)}
        texts = [row[0] for row in rows]
        own = [cls._slice(text, row[1], row[2]) for row in rows]
        return cls(text, texts=None if texts == own else texts, **columns)

    @staticmethod
    def _slice(text: str, start: int, end: int) -> str:
        return text[start:end]

    def column(self, name: str) -> np.ndarray:
        """The read-only array of field ``name``."""
        return self._columns[name]

    def texts(self) -> list[str]:
        """Each row's text."""
        if self._texts is not None:
            return list(self._texts)
        text = self.text
        return [text[s:e] for s, e in zip(self._columns["start"].tolist(), self._columns["end"].tolist())]

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self: _C, index: slice) -> _C: ...

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            texts = None if self._texts is None else self._texts[index]
            return type(self)(self.text, texts=texts, extra={k: v[index] for k, v in self.extra.items()},
                              **{name: column[index] for name, column in self._columns.items()})
        i = operator.index(index)
        if i < 0:
            i += self._length
        if not 0 <= i < self._length:
            raise IndexError(f"row {index} of {self._length}")
        values = [column[i].item() for column in self._columns.values()]
        text = self._texts[i] if self._texts is not None else self.text[values[0]:values[1]]
        return self._row(text, values)

    def _row(self, text: str, values: list[Any]) -> Row:
        row: Row = tuple.__new__(self.ROW, (text, *values))
        return row

    def __iter__(self) -> Iterator[Row]:
        for begin in range(0, self._length, _BLOCK):
            lists = [column[begin : begin + _BLOCK].tolist() for column in self._columns.values()]
            if self._texts is not None:
                texts: Any = self._texts[begin : begin + _BLOCK]
            else:
                text = self.text
                texts = (text[s:e] for s, e in zip(lists[0], lists[1]))
            for word, values in zip(texts, zip(*lists)):
                yield self._row(word, list(values))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TextColumns) and type(other) is type(self):
            return (len(self) == len(other)
                    and all(np.array_equal(a, b) for a, b in zip(self._columns.values(), other._columns.values()))
                    and self.texts() == other.texts()
                    and self.extra.keys() == other.extra.keys()
                    and all(np.array_equal(v, other.extra[k]) for k, v in self.extra.items()))
        if isinstance(other, (list, tuple, TextColumns)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # sequences compared by value (as lists) are not hashable

    def __repr__(self) -> str:
        shown = [repr(row) for row in self[:6]]
        more = f", … {len(self) - 6} more" if len(self) > 6 else ""
        return f"{type(self).__name__}([{', '.join(shown)}{more}])"

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt through __init__: pickles (Ray, multiprocessing) carry the arrays, not rows
        return (_rebuild, (type(self), self.text, self._texts, self.extra, self._columns))

    @property
    def nbytes(self) -> int:
        """Bytes the arrays hold (the text is the document's, shared)."""
        return sum(column.nbytes for column in self._columns.values()) + sum(v.nbytes for v in self.extra.values())


def _rebuild(cls: type[_C], text: str, texts: list[str] | None, extra: dict[str, Any], columns: dict[str, Any]) -> _C:
    return cls(text, texts=texts, extra=extra, **columns)


def _frozen(values: Any, dtype: Any) -> np.ndarray:
    array = np.asarray(values, dtype=dtype)
    if array.ndim == 0 or (dtype is not None and array.ndim != 1):
        raise ValueError(f"a column must be one-dimensional, got shape {array.shape}")
    if array.flags.writeable:
        if array is values:  # the caller's array: a copy, so that theirs stays writeable and ours unchanged
            array = array.copy()
        array.flags.writeable = False
    return array


class WordTable(TextColumns[Row]):
    """Words with their offsets and sentence index as arrays: what documents and explanations share."""

    @property
    def sentence(self) -> np.ndarray:
        return self._columns["sentence"]


class WordSpans(WordTable[Token]):
    """The words of a text (:class:`Token`): offsets and sentence index per word."""

    ROW = Token
    FIELDS = (("start", np.int64), ("end", np.int64), ("sentence", np.int64))


class WordColumns(WordTable[WordRelevance]):
    """The words of an explanation (:class:`WordRelevance`): offsets, sentence and relevance per word."""

    ROW = WordRelevance
    FIELDS = (("start", np.int64), ("end", np.int64), ("sentence", np.int64), ("relevance", np.float64))

    @property
    def relevance(self) -> np.ndarray:
        return self._columns["relevance"]


class TokenColumns(TextColumns[TokenPiece]):
    """The model tokens of an explanation (:class:`TokenPiece`); ``word`` is -1 where a piece has no word."""

    ROW = TokenPiece
    FIELDS = (("start", np.int64), ("end", np.int64), ("word", np.int64), ("relevance", np.float64))

    @classmethod
    def from_rows(cls, text: str, rows: Sequence[Any]) -> TokenColumns:
        if isinstance(rows, TokenColumns) and rows.text == text:
            return rows
        return super().from_rows(text, [(t, s, e, -1 if w is None else w, r) for t, s, e, w, r in rows])

    def _row(self, text: str, values: list[Any]) -> TokenPiece:
        start, end, word, relevance = values
        return tuple.__new__(TokenPiece, (text, start, end, None if word < 0 else word, relevance))

    @property
    def word(self) -> np.ndarray:
        return self._columns["word"]

    @property
    def relevance(self) -> np.ndarray:
        return self._columns["relevance"]
