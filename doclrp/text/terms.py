"""Top words as a reader wants them: the occurrences of one word grouped, punctuation and stop
words left out on request.

>>> from doclrp.text.terms import top_terms
>>> words = [("Sony", 0, 2.0), ("Sony", 10, 1.0), (",", 14, 0.5), ("sony", 20, 0.5), ("the", 30, 0.4)]
>>> top_terms(words, 3)
[Term(text='Sony', relevance=3.5, count=3, start=0), Term(text='the', relevance=0.4, count=1, start=30)]
>>> [t.text for t in top_terms(words, 3, leave_out=("punct", "stop"))], [t.text for t in top_terms(words, 3, leave_out=())]
(['Sony'], ['Sony', ',', 'the'])

Occurrences are grouped by the lower-cased word and their relevance is **summed** (a word's
whole share of the explained value in the document, as the corpus summary sums per class);
``count`` says how many occurrences the sum holds, and ``text`` is the word as it first occurs.
By default punctuation is left out and stop words are kept (:data:`DEFAULT_LEAVE_OUT`):
punctuation carries little meaning a reader can act on, while stop words such as "not" or
"no" can carry the prediction. Both follow spaCy's lexical attributes: ``is_punct`` (every
character a Unicode punctuation character) and ``is_stop`` (spaCy's English stop words).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from doclrp.errors import DoclrpError

__all__ = ["Term", "top_terms", "is_punct", "is_stop", "parse_leave_out", "LEAVE_OUT", "DEFAULT_LEAVE_OUT",
           "describe_leave_out"]

#: What top-word lists can leave out.
LEAVE_OUT = ("punct", "stop")
#: Left out unless asked otherwise: punctuation (stop words are kept).
DEFAULT_LEAVE_OUT: tuple[str, ...] = ("punct",)


class Term(NamedTuple):
    """One word of a top-word list: its first form, summed relevance, occurrences, first offset."""

    text: str
    relevance: float
    count: int  # type: ignore[assignment]  # occurrences; shadows tuple.count, which NamedTuple allows
    start: int


def is_punct(word: str) -> bool:
    """spaCy's ``is_punct``: every character is Unicode punctuation (category P).

    >>> is_punct("--"), is_punct("'s"), is_punct("£")
    (True, False, False)
    """
    return bool(word) and all(unicodedata.category(char).startswith("P") for char in word)


def is_stop(word: str) -> bool:
    """spaCy's ``is_stop`` for English: the lower-cased word is one of its stop words.

    >>> is_stop("The"), is_stop("Sony")
    (True, False)
    """
    return word.lower() in _stop_words()


@functools.cache
def _stop_words() -> frozenset[str]:
    # Imported on first use: spaCy takes seconds to import, and only a list that leaves stop words out needs it.
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


def parse_leave_out(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"punct,stop"``, ``"none"`` or a sequence of names as the tuple of what to leave out.

    >>> parse_leave_out("stop,punct"), parse_leave_out("none"), parse_leave_out(None)
    (('punct', 'stop'), (), ('punct',))
    >>> parse_leave_out("commas")
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: cannot leave out 'commas' from top words: give punct, stop, both (punct,stop) or none
    """
    if spec is None:
        return DEFAULT_LEAVE_OUT
    names = [p.strip() for p in spec.split(",")] if isinstance(spec, str) else [str(p) for p in spec]
    names = [n for n in names if n and n != "none"]
    for name in names:
        if name not in LEAVE_OUT:
            raise DoclrpError(f"cannot leave out {name!r} from top words: give punct, stop, both (punct,stop) or none")
    return tuple(n for n in LEAVE_OUT if n in names)


def describe_leave_out(leave_out: Sequence[str]) -> str:
    """What a list leaves out, in words.

    >>> describe_leave_out(("punct",)), describe_leave_out(())
    ('punctuation left out, stop words kept', 'punctuation and stop words kept')
    """
    punct = "punctuation left out" if "punct" in leave_out else "punctuation kept"
    stop = "stop words left out" if "stop" in leave_out else "stop words kept"
    if punct.endswith("kept") and stop.endswith("kept"):
        return "punctuation and stop words kept"
    return f"{punct}, {stop}"


def excluded(word: str, leave_out: Sequence[str]) -> bool:
    """Whether ``word`` is left out of a list that leaves out ``leave_out``."""
    return ("punct" in leave_out and is_punct(word)) or ("stop" in leave_out and is_stop(word))


def top_terms(words: Iterable[Any], k: int = 10, sign: int = +1,
              leave_out: Sequence[str] = DEFAULT_LEAVE_OUT) -> list[Term]:
    """The ``k`` words (grouped by lower-cased text, relevance summed) with the largest summed
    relevance for (``sign=+1``) or against (``-1``) the target; ``words`` are
    ``(text, start, relevance)`` triples or :class:`~doclrp.text.WordRelevance`\\ s."""
    if sign not in (1, -1):
        raise DoclrpError(f"sign must be +1 (for the target) or -1 (against it), got {sign!r}")
    groups: dict[str, list] = {}
    for text, start, relevance in _triples(words):
        group = groups.get(text.lower())
        if group is None:
            groups[text.lower()] = [text, relevance, 1, start]
            continue
        group[1] += relevance
        group[2] += 1
        if start < group[3]:
            group[0], group[3] = text, start
    # Whether a word is left out depends on its lower-cased form alone (punctuation has no
    # case; stop words are looked up lower-cased): decided once per group, not per occurrence.
    terms = [Term(text, total, count, start) for text, total, count, start in groups.values()
             if total * sign > 0 and not excluded(text, leave_out)]
    terms.sort(key=lambda t: (-t.relevance * sign, t.start))
    return terms[:k]


def _triples(words: Iterable[Any]) -> Iterator[tuple[str, int, float]]:
    """``(text, start, relevance)`` of each word: read from the columns of a
    :class:`~doclrp.text.columns.WordColumns` at once, else from each word or triple."""
    if hasattr(words, "column") and hasattr(words, "texts"):
        return zip(words.texts(), words.column("start").tolist(), words.column("relevance").tolist())
    return ((w.text, w.start, w.relevance) if hasattr(w, "relevance") else tuple(w) for w in words)
