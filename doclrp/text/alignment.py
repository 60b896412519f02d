"""Model tokens → words → sentences, by character offsets, and relevance sums.

>>> from doclrp.text import tokenize, align, aggregate
>>> doc = tokenize("Unbelievable film.", pipeline="blank")
>>> spans = [(0, 0), (0, 2), (2, 7), (7, 12), (13, 17), (17, 18), (0, 0)]  # [CLS] un ##believ ##able film . [SEP]
>>> alignment = align(spans, doc.words)
>>> alignment
[None, 0, 0, 0, 1, 2, None]
>>> agg = aggregate([0.5, 1.0, 2.0, 0.25, -1.0, 0.0, 0.125], alignment, doc)
>>> agg.words.tolist(), agg.sentences.tolist(), agg.unassigned
([3.25, -1.0, 0.0], [2.25], 0.625)

Relevance is only ever summed, never spread or rescaled, so conservation
survives: sum(words) + unassigned == sum(tokens) and sum(sentences) == sum(words).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from doclrp.errors import DoclrpError
from doclrp.text.columns import WordTable
from doclrp.text.words import Document, Token

__all__ = ["Aggregated", "aggregate", "align", "align_array", "as_vector", "word_offsets"]


class Aggregated(NamedTuple):
    """Relevance summed per word and per sentence (float64), and what no word took."""

    words: np.ndarray
    sentences: np.ndarray
    unassigned: float


def align(token_spans: Any, words: Document | Sequence[Token]) -> list[int | None]:
    """Index of the word each model token overlaps most (first on ties), or None.

    ``token_spans``: ``(start, end)`` character offsets per model token, e.g.
    a Hugging Face ``offset_mapping`` (list, array or tensor of shape (seq, 2)).
    Empty spans (special tokens such as ``[CLS]``) and spans over whitespace
    only map to None. Several pieces may map to one word; a token covering
    two words goes whole to the one it overlaps most.

    >>> from doclrp.text import tokenize
    >>> doc = tokenize("a  b\\nc", pipeline="blank")
    >>> align([(0, 1), (1, 3), (3, 4), (4, 5), (5, 6)], doc)
    [0, None, 1, None, 2]
    """
    return [None if i < 0 else i for i in align_array(token_spans, words).tolist()]


def align_array(token_spans: Any, words: Document | Sequence[Token]) -> np.ndarray:
    """:func:`align` as an int64 array (seq,), -1 for None: in numpy, a million tokens in a second.

    >>> from doclrp.text import tokenize
    >>> align_array([(0, 3), (0, 0), (2, 9)], tokenize("ab cd ef", pipeline="blank")).tolist()
    [0, -1, 1]
    """
    starts, ends = word_offsets(words)
    if (ends[:-1] > starts[1:]).any():
        raise DoclrpError("words must be sorted by offset and must not overlap; use the words of one tokenize() call")
    spans = _spans_array(token_spans)
    if spans.shape == (len(starts), 2) and np.array_equal(spans[:, 0], starts) and np.array_equal(spans[:, 1], ends):
        # One model token per word (word-id models): the common case, and a corpus run's hottest loop.
        return np.arange(len(starts), dtype=np.int64)
    token_starts, token_ends = spans[:, 0], spans[:, 1]
    # Words are sorted and disjoint: a token's candidates are the words from the first one
    # ending after its start to the last one starting before its end.
    first = np.searchsorted(ends, token_starts, side="right")
    last = np.searchsorted(starts, token_ends, side="left")  # one past the last candidate
    alignment = np.full(len(spans), -1, dtype=np.int64)
    one = np.flatnonzero(last - first == 1)
    if one.size:
        word = first[one]
        overlap = np.minimum(token_ends[one], ends[word]) - np.maximum(token_starts[one], starts[word])
        alignment[one[overlap > 0]] = word[overlap > 0]
    for i in np.flatnonzero(last - first > 1).tolist():  # a token over several words: few, so a loop
        candidates = np.arange(first[i], last[i])
        overlap = np.minimum(token_ends[i], ends[candidates]) - np.maximum(token_starts[i], starts[candidates])
        if overlap.max() > 0:
            alignment[i] = candidates[int(overlap.argmax())]
    return alignment


def word_offsets(words: Document | Sequence[Token]) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)`` of ``words`` (a document, its columns, or any sequence of words) as int64 arrays."""
    if isinstance(words, Document):
        words = words.words
    if isinstance(words, WordTable):
        return words.start, words.end
    return (np.fromiter((w.start for w in words), np.int64, len(words)),
            np.fromiter((w.end for w in words), np.int64, len(words)))


def _spans_array(token_spans: Any) -> np.ndarray:
    if hasattr(token_spans, "detach"):  # torch, without importing it
        token_spans = token_spans.detach().cpu().numpy()
    try:
        spans = np.asarray(token_spans)
        if spans.size == 0:
            return np.empty((0, 2), np.int64)
        if spans.ndim != 2 or spans.shape[1] != 2 or spans.dtype.kind not in "iubf":
            raise ValueError
        if spans.dtype.kind == "f" and not np.array_equal(spans, np.trunc(spans)):
            raise ValueError
    except (TypeError, ValueError):
        bad = next((span for span in token_spans if not _is_pair(span)), token_spans)
        raise DoclrpError(f"token spans must be (start, end) pairs of ints, got {bad!r}") from None
    return spans.astype(np.int64, copy=False)


def _is_pair(span: Any) -> bool:
    try:
        start, end = span
        return int(start) == start and int(end) == end and not isinstance(start, (str, bytes))
    except (TypeError, ValueError):
        return False


def aggregate(token_relevance: Any, alignment: Sequence[int | None] | np.ndarray, document: Document) -> Aggregated:
    """Sum ``token_relevance`` (seq,) into the words and sentences of ``document``.

    Tokens aligned to None (or -1: :func:`align_array`) add to ``unassigned`` instead of
    being dropped.
    """
    relevance = as_vector(token_relevance)
    if len(relevance) != len(alignment):
        raise DoclrpError(
            f"{len(relevance)} relevance values for {len(alignment)} aligned tokens; "
            "slice the relevance to the tokens you aligned (drop padding)"
        )
    n_words = len(document.words)
    if isinstance(alignment, np.ndarray):
        index = alignment.astype(np.int64, copy=False)
    else:
        index = np.array([-1 if a is None else a for a in alignment], dtype=np.int64)
    if index.size and index.max() >= n_words:
        raise DoclrpError(f"alignment names word {index.max()} but the document has {n_words} words")
    assigned = index >= 0
    words = np.bincount(index[assigned], weights=relevance[assigned], minlength=n_words)
    sentences = np.bincount(document.words.sentence, weights=words, minlength=len(document.sentences))
    return Aggregated(words, sentences, float(relevance[~assigned].sum()))


def as_vector(values: Any) -> np.ndarray:
    """``values`` (list, array or tensor on any device) as a float64 vector (n,)."""
    if hasattr(values, "detach"):  # torch, without importing it: bf16 and CUDA need the cast first
        values = values.detach().cpu().double().numpy()
    vector = np.asarray(values, dtype=np.float64)
    if vector.ndim != 1:
        raise DoclrpError(
            f"expected one number per token or output, shape (n,), got {vector.shape}; "
            "sum embedding relevance over its last dimension and take one sample of the batch"
        )
    return vector
