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

import bisect
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from doclrp.errors import DoclrpError
from doclrp.text.words import Document, Token

__all__ = ["Aggregated", "aggregate", "align", "as_vector"]


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
    if isinstance(words, Document):
        words = words.words
    starts = [w.start for w in words]
    ends = [w.end for w in words]
    if any(a > b for a, b in zip(ends, starts[1:])):
        raise DoclrpError("words must be sorted by offset and must not overlap; use the words of one tokenize() call")
    if hasattr(token_spans, "tolist"):  # numpy arrays and torch tensors
        token_spans = token_spans.tolist()
    if isinstance(token_spans, list) and token_spans == list(zip(starts, ends)):
        # One model token per word (word-id models): the common case, and a corpus
        # run's hottest loop, answered by one list comparison.
        return list(range(len(starts)))
    alignment: list[int | None] = []
    for span in token_spans:
        try:
            start, end = (int(x) for x in span)
        except (TypeError, ValueError) as err:
            raise DoclrpError(f"token spans must be (start, end) pairs of ints, got {span!r}") from err
        best, best_overlap = None, 0
        # Words are sorted and disjoint, so candidates are the run of words
        # from the first one ending after `start`: O(log words) per token.
        i = bisect.bisect_right(ends, start)
        while i < len(starts) and starts[i] < end:
            overlap = min(end, ends[i]) - max(start, starts[i])
            if overlap > best_overlap:
                best, best_overlap = i, overlap
            i += 1
        alignment.append(best)
    return alignment


def aggregate(token_relevance: Any, alignment: Sequence[int | None], document: Document) -> Aggregated:
    """Sum ``token_relevance`` (seq,) into the words and sentences of ``document``.

    Tokens aligned to None (special tokens, padding, whitespace) add to
    ``unassigned`` instead of being dropped.
    """
    relevance = as_vector(token_relevance)
    if len(relevance) != len(alignment):
        raise DoclrpError(
            f"{len(relevance)} relevance values for {len(alignment)} aligned tokens; "
            "slice the relevance to the tokens you aligned (drop padding)"
        )
    n_words = len(document.words)
    index = np.array([-1 if a is None else a for a in alignment], dtype=np.int64)
    if index.size and index.max() >= n_words:
        raise DoclrpError(f"alignment names word {index.max()} but the document has {n_words} words")
    assigned = index >= 0
    words = np.bincount(index[assigned], weights=relevance[assigned], minlength=n_words)
    sentence_of = np.fromiter((w.sentence for w in document.words), dtype=np.int64, count=n_words)
    sentences = np.bincount(sentence_of, weights=words, minlength=len(document.sentences))
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

