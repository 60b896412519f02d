"""The words of a prompt template around a document, and the model tokens that carry them.

>>> words = prompt_words("Article: ", [(0, 7), (7, 8), (8, 9)])
>>> words
[('Article:', [0, 1, 2])]
>>> column = PromptColumn("Article", word=0)
>>> column == "Article", column == PromptColumn("Article", word=0), {column: 1.0}[PromptColumn("Article", 0)]
(False, True, 1.0)
>>> import pickle
>>> pickle.loads(pickle.dumps(column))
PromptColumn('Article', word=0)

A language model used as a classifier reads ``prefix + document + suffix`` (``"Article: {text}
Topic:"``): relevance lands on the document's words and, apart from them, on the template's
words (:class:`PromptWord`, ``Explanation.prompt``), so that words + prompt + special tokens +
delta still make the explained value. A pipeline marks the template's columns with
:class:`PromptColumn` names among its special-token names; ``doclrp.explain`` collects them
by word.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["PromptWord", "PromptColumn", "prompt_words"]


class PromptWord(NamedTuple):
    """A word of the prompt template, its relevance, and whether it stands before the document."""

    text: str
    relevance: float
    before: bool = True


class PromptColumn(str):
    """The name of a model-token column that holds a piece of the prompt template: the piece's
    text, and the index of its word in the pipeline's ``prompt_words``.

    A ``str`` (the protocol's special-token names are strings) that equals only a column of the
    same word: two pieces ``":"`` of different words stay apart as dictionary keys.
    """

    word: int

    def __new__(cls, text: str, word: int) -> PromptColumn:
        column = super().__new__(cls, text)
        column.word = int(word)
        return column

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PromptColumn) and other.word == self.word and str.__eq__(self, other)

    def __hash__(self) -> int:
        return hash((str(self), self.word))

    def __repr__(self) -> str:
        return f"PromptColumn({str(self)!r}, word={self.word})"

    def __reduce__(self) -> tuple[type[PromptColumn], tuple[str, int]]:
        # pickled with its word (Ray ships pipelines to its workers by pickle)
        return PromptColumn, (str(self), self.word)


_WORD = re.compile(r"\S+")


def prompt_words(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[str, list[int]]]:
    """``(word, [token indices])`` for the whitespace-separated words of ``text``, each with the
    tokens (character ``spans``) that overlap it; a token over whitespace only joins the word
    before it (the one after, at the start), or is a word of its own when ``text`` has no word.

    >>> prompt_words("\\nTopic:", [(0, 1), (1, 6), (6, 7)])
    [('Topic:', [0, 1, 2])]
    """
    words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    if not words:
        return [(text, list(range(len(spans))))] if spans else []
    members: list[list[int]] = [[] for _ in words]
    for index, (start, end) in enumerate(spans):
        overlapping = [w for w, (a, b) in enumerate(words) if start < b and a < end]
        if overlapping:
            members[overlapping[0]].append(index)
        else:  # whitespace, or an empty span: the word before it, else the first
            before = [w for w, (a, _) in enumerate(words) if a < max(start, end)]
            members[before[-1] if before else 0].append(index)
    return [(text[a:b], sorted(m)) for (a, b), m in zip(words, members)]
