"""Notebooks and DataFrames: explanations, lists of them and corpus summaries show themselves as
their escaped pages; an Attribution prints a short summary; words and corpus results become
pandas DataFrames, with a one-line message when pandas is missing."""

import html
import re
import sys

import pytest
import torch

import doclrp
from doclrp.corpus import explain_corpus, read_results
from doclrp.corpus.summary import summarize_results
from doclrp.errors import DoclrpError
from doclrp.models.loading import load_model
from doclrp.render import to_html
from doclrp.text import Explanations

HOSTILE = "a late goal <script>alert(1)</script> & more"


def _frame_page(cell: str) -> str:
    """The page inside a notebook cell's iframe (what the browser shows)."""
    match = re.fullmatch(r'<iframe srcdoc="([^"]*)"[^>]*></iframe>', cell)
    assert match, cell[:200]
    return html.unescape(match.group(1))


@pytest.fixture(scope="module")
def explanations(topic_model_dir):
    pipeline = load_model(topic_model_dir)
    return doclrp.explain(pipeline, [HOSTILE, "the new phone chip\n\nsoftware update"], ids=["d<1>", "d2"])


def test_explanation_shows_its_escaped_page_in_a_notebook(explanations):
    exp = explanations[0]
    cell = exp._repr_html_()
    assert "<script>" not in cell
    assert _frame_page(cell) == to_html(exp)
    assert "&lt;script&gt;" in _frame_page(cell)


def test_a_list_of_explanations_shows_an_index(explanations):
    cell = Explanations(explanations)._repr_html_()
    page = _frame_page(cell)
    assert "<script>" not in cell and "2 documents" in page and "d&lt;1&gt;" in page


def test_corpus_summary_shows_its_report(topic_model_dir, topic_corpus_dir, tmp_path):
    out = tmp_path / "r.jsonl"
    explain_corpus(topic_model_dir, topic_corpus_dir, out, progress=False)
    page = _frame_page(summarize_results(out)._repr_html_())
    assert page.startswith("<!DOCTYPE html>") and "24 documents" in page and "sport" in page


def test_attribution_repr_is_a_short_summary():
    net = torch.nn.Sequential(torch.nn.Linear(4, 3))
    attr = doclrp.attribute(net, torch.rand(100, 4), target=0)
    text = repr(attr)
    assert len(text) < 200 and "\n" not in text
    assert text.startswith("Attribution(method='epsilon', relevance=(100, 4) float32, output=(100, 3)")
    assert "max |delta|=" in text


def test_explanation_to_frame(explanations):
    pytest.importorskip("pandas")
    exp = explanations[1]
    frame = exp.to_frame()
    assert list(frame.columns) == ["word", "start", "end", "sentence", "relevance"]
    assert frame["word"].tolist() == [w.text for w in exp.words]
    assert all(exp.text[s:e] == w for w, s, e in zip(frame["word"], frame["start"], frame["end"]))
    assert frame["sentence"].tolist() == [0, 0, 0, 0, 1, 1]
    assert frame["relevance"].sum() == pytest.approx(float(exp.relevance.sum()))
    both = Explanations(explanations).to_frame()
    assert list(both.columns)[0] == "document" and set(both["document"]) == {"d<1>", "d2"}


def test_corpus_results_as_frames(topic_model_dir, topic_corpus_dir, tmp_path):
    pytest.importorskip("pandas")
    out = tmp_path / "r.jsonl"
    explain_corpus(topic_model_dir, topic_corpus_dir, out, progress=False)
    results = read_results(out)
    documents = results.to_frame()
    records = list(results)
    assert len(documents) == len(records) == 24
    assert documents["id"].tolist() == [r["id"] for r in records]
    assert documents["predicted"].tolist() == [r["prediction"]["label"] for r in records]
    words = results.words_frame()
    assert len(words) == sum(len(r["words"]) for r in records)
    assert list(words.columns) == ["id", "label", "predicted", "target", "word", "start", "end", "sentence",
                                   "relevance"]
    first = words[words["id"] == records[0]["id"]]
    assert first["relevance"].tolist() == [w[3] for w in records[0]["words"]]


def test_frames_without_pandas_say_what_to_install(explanations, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(DoclrpError, match=r"pip install pandas"):
        explanations[0].to_frame()
    assert explanations[0].to_dict()["words"]  # the JSON form needs no pandas
