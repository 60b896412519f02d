"""The VADER regression corpora and the lexicon sanity check: small inputs, no full build."""

import json
import math

import pytest

from doclrp.corpus import Record, open_corpus
from doclrp.corpus.sources import vader
from doclrp.corpus.sources.lexicon import vader_correlation, vader_lexicon, vader_lexicon_path
from doclrp.errors import DoclrpError

ARTICLES = [
    Record("sports/1", "Big win\n\nFans were thrilled by the superb goal. Awful traffic spoiled the trip home.\n\n"
                       "Ends.\n\nThe coach said   nothing\tat all.", "sports"),
    Record("tech/2", "Phones\n\nFans were thrilled by the superb goal. Battery life is terrible and sad.", "tech"),
]


def test_lexicon_is_vaders_own_file():
    lexicon = vader_lexicon()
    assert lexicon["good"] == 1.9 and lexicon["hate"] == -2.7
    assert len(lexicon) > 7000 and all(key == key.lower() for key in lexicon)
    # Keys with capitals can never match VADER's lower-cased look-up.
    raw_keys = {line.split("\t")[0] for line in vader_lexicon_path().read_text(encoding="utf-8").splitlines()}
    assert ":D" in raw_keys and ":D" not in lexicon
    lexicon["good"] = 99.0
    assert vader_lexicon()["good"] == 1.9  # every call is a fresh copy


def test_correlation_known_answers():
    lexicon = {"good": 2.0, "bad": -2.0, "ok": 0.5}
    assert vader_correlation({"good": 1.0, "bad": -1.0, "ok": 0.25}, lexicon) == (1.0, 3)
    assert vader_correlation({"good": -1.0, "bad": 1.0, "ok": -0.25}, lexicon) == (-1.0, 3)
    # Case folding, words outside the lexicon and NaN are ignored; the first spelling wins.
    r, n = vader_correlation({"GOOD": 1.0, "good": -5.0, "Bad": -1.0, "table": 9.0, "ok": float("nan")}, lexicon)
    assert (r, n) == (1.0, 2)
    for stats in ({}, {"good": 1.0}, {"good": 1.0, "bad": 1.0}):
        r, n = vader_correlation(stats, lexicon)
        assert math.isnan(r) and n == len(stats)


def test_rows_are_sentences_scored_by_vader_and_deterministic():
    rows = vader.build_vader_rows(articles=ARTICLES)
    assert vader.build_vader_rows(articles=ARTICLES) == rows
    ids = [row["id"] for row in rows]
    texts = [row["text"] for row in rows]
    # Headlines ("Big win", "Phones") and "Ends." are under MIN_WORDS; the sentence repeated in
    # tech/2 keeps only its first occurrence; whitespace collapses; indices count every sentence.
    assert ids == ["sports/1/1", "sports/1/2", "sports/1/4", "tech/2/2"]
    assert texts[2] == "The coach said nothing at all."
    assert [row["label"] for row in rows] == ["sports", "sports", "sports", "tech"]
    assert [row["compound"] > 0 for row in rows] == [True, False, False, False]
    assert rows[3]["compound"] < -0.5
    for row, scores in zip(rows, vader.vader_scores(texts)):
        assert {k: row[k] for k in vader.TARGETS} == scores
        assert row["neg"] + row["neu"] + row["pos"] == pytest.approx(1.0, abs=2e-3)


def test_open_corpus_builds_the_cache_once_and_selects_targets(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCLRP_CACHE", str(tmp_path))
    built, build = [], vader.build_vader_rows

    def small(name="vader", articles=None):
        built.append(name)
        return build(articles=ARTICLES)

    monkeypatch.setattr(vader, "build_vader_rows", small)
    records = list(open_corpus("vader"))
    assert [r.id for r in records] == ["sports/1/1", "sports/1/2", "sports/1/4", "tech/2/2"]
    assert len(records[0].targets) == 4 and records[0].label == "sports"
    compound = list(open_corpus("VADER", target_columns=["compound", "pos"], on_error="skip"))
    assert [r.targets for r in compound] == [(r.targets[3], r.targets[2]) for r in records]
    assert built == ["vader"]  # the second read used the cached file
    (path,) = (tmp_path / "vader").glob("vader-*.jsonl")
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == [r.id for r in records]
    assert not list((tmp_path / "vader").glob(".*tmp*"))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: vader.read_vader_corpus("vader-imdb"), "unknown VADER corpus"),
        (lambda: vader.read_vader_corpus(target_columns=["stars"]), "targets neg, neu, pos, compound"),
        (lambda: vader.read_vader_corpus(target_columns=[]), "targets neg, neu, pos, compound"),
        (lambda: vader.build_vader_rows("vader-rt", articles=ARTICLES), "articles= is for the 'vader' corpus"),
    ],
)
def test_bad_requests(call, message):
    with pytest.raises(DoclrpError, match=message):
        call()


def test_rotten_tomatoes_snippets_are_reviews():
    snippets = vader._rotten_tomatoes_snippets(vader._rotten_tomatoes_file())
    first = [next(snippets) for _ in range(50)]
    assert {label for _, _, label in first} <= {"fresh", "rotten"}
    assert all(i.startswith("rt/") for i, _, _ in first) and len({i for i, _, _ in first}) == 50
    assert first[0][1] == "A three-hour cinema master class."
    assert all(vader.MIN_WORDS <= len(text.split()) <= vader.MAX_WORDS for _, text, _ in first)
