"""The VADER sentiment lexicon, and how well word relevance agrees with it.

>>> from doclrp.corpus.sources.lexicon import vader_lexicon, vader_correlation
>>> lexicon = vader_lexicon()
>>> lexicon["good"], lexicon["terrible"]
(1.9, -2.1)
>>> r, n = vader_correlation({"good": 0.4, "great": 0.5, "terrible": -0.3, "bad": -0.2, "table": 0.1})
>>> round(r, 3), n
(0.985, 4)

This is the sanity check of a regressor trained on VADER scores (``doclrp
corpus summarize`` prints it): a word's mean relevance for ``compound``
should rise with the word's valence in the lexicon. The lexicon file,
``vader_lexicon.txt``, is read from the installed ``vaderSentiment``
package (MIT license; C. J. Hutto and E. Gilbert, ICWSM 2014); its Python
module is not imported.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from collections.abc import Mapping
from pathlib import Path

from doclrp.corpus.registry import TargetCheck
from doclrp.errors import DoclrpError

__all__ = ["vader_lexicon", "vader_lexicon_path", "vader_correlation", "VADER_CHECK"]


def vader_lexicon_path() -> Path:
    """``vader_lexicon.txt`` inside the installed ``vaderSentiment`` package.

    >>> vader_lexicon_path().name
    'vader_lexicon.txt'
    """
    spec = importlib.util.find_spec("vaderSentiment")
    if spec is None or not spec.submodule_search_locations:
        raise DoclrpError("the VADER lexicon needs the vaderSentiment package: "
                          "pip install --no-deps vaderSentiment==3.3.2")
    path = Path(spec.submodule_search_locations[0]) / "vader_lexicon.txt"
    if not path.is_file():
        raise DoclrpError(f"vaderSentiment is installed but has no {path}: reinstall vaderSentiment==3.3.2")
    return path


@functools.lru_cache(maxsize=1)
def _lexicon() -> dict[str, float]:
    path = vader_lexicon_path()
    lexicon: dict[str, float] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        token, _, rest = line.partition("\t")
        # VADER looks up the lower-cased word, so keys with capitals (":D",
        # "O.o") never match: they are left out. A repeated key keeps its last
        # value, as VADER's own dict does.
        if token != token.lower():
            continue
        try:
            lexicon[token] = float(rest.split("\t", 1)[0])
        except ValueError:
            raise DoclrpError(f"{path} line {number}: no valence after {token!r}; reinstall vaderSentiment") from None
    return lexicon


def vader_lexicon() -> dict[str, float]:
    """Lower-cased word (or emoticon) → mean valence, from −4 (most negative) to +4.

    >>> len(vader_lexicon()) > 7000
    True

    A new dict on every call (the file is read once), so callers may change it.
    """
    return dict(_lexicon())


def vader_correlation(word_stats: Mapping[str, float], lexicon: Mapping[str, float] | None = None) -> tuple[float, int]:
    """Pearson correlation between ``word_stats`` (lower-cased word → mean relevance
    per occurrence) and the words' VADER valence, over the words in both; returns
    ``(r, number of words)``.

    >>> vader_correlation({"good": 1.0, "bad": -1.0, "happy": 2.0}, lexicon={"good": 1, "bad": -1, "happy": 2})
    (1.0, 3)
    >>> vader_correlation({"table": 1.0})
    (nan, 0)

    ``r`` is NaN when it is undefined (fewer than two shared words, or one side
    constant): a summary prints it rather than failing. Words are lower-cased
    before the look-up; choose which words enter (e.g. at least five
    occurrences) before calling.
    """
    lexicon = _lexicon() if lexicon is None else lexicon
    pairs: dict[str, tuple[float, float]] = {}
    for word, relevance in word_stats.items():
        key = str(word).lower()
        relevance = float(relevance)
        # "Good" and "good" may both be given: the first wins, so the result
        # does not depend on which spelling a summary happened to store last.
        if key in lexicon and math.isfinite(relevance) and key not in pairs:
            pairs[key] = (relevance, float(lexicon[key]))
    return _pearson(list(pairs.values())), len(pairs)


def _pearson(pairs: list[tuple[float, float]]) -> float:
    n = len(pairs)
    if n < 2:
        return math.nan
    mean_x = math.fsum(x for x, _ in pairs) / n
    mean_y = math.fsum(y for _, y in pairs) / n
    sxy = math.fsum((x - mean_x) * (y - mean_y) for x, y in pairs)
    sxx = math.fsum((x - mean_x) ** 2 for x, _ in pairs)
    syy = math.fsum((y - mean_y) ** 2 for _, y in pairs)
    if sxx == 0.0 or syy == 0.0:
        return math.nan
    # Rounding can push |r| a hair past 1 for perfectly collinear data.
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


#: What ``summarize`` runs for results explaining a regressor's ``compound`` (registered as the
#: entry point ``doclrp.target_checks: vader-lexicon``).
VADER_CHECK = TargetCheck("VADER lexicon correlation", "regression", "compound", vader_correlation)
