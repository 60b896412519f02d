"""Long documents (issue 28): a time budget that holds in every stage (a fake clock), words kept as
columns that round-trip through JSON, records and Parquet unchanged, pages that stay usable."""

import json

import numpy as np
import orjson
import pytest
import torch

import doclrp._budget
import doclrp._explain
import doclrp.corpus.output
import doclrp.cli.explain
import doclrp.render.html
from doclrp import explain
from doclrp._budget import Budget, DocumentTimeout
from doclrp.cli import main
from doclrp.core.targets import Target
import doclrp.corpus.output.records
from doclrp.corpus.output import (WordRows, explanation_record, open_results_writer, read_results,
                                  record_to_explanation, run_header)
from doclrp.corpus.output.records import dumps_bytes
from doclrp.models import IdEncoder, TextCNN, TextPipeline, save_pipeline
from doclrp.render import to_html
from doclrp.text import Explanation, Prediction, WordRelevance, build_explanation, tokenize
from doclrp.text.columns import TokenColumns, WordColumns
from doclrp.text.terms import DEFAULT_LEAVE_OUT

WORDS = "goal match team cup chip phone laptop vote party minister win code".split()
LABELS = ["sport", "tech", "politics"]


def long_text(sentences=60):
    """Sentences of known words, a paragraph break every fifth: several windows of 12 tokens."""
    parts = []
    for i in range(sentences):
        parts.append(" ".join(WORDS[(i + 5 * k) % len(WORDS)] for k in range(4 + i % 7)) + ".")
        parts.append("\n\n" if i % 5 == 4 else " ")
    return "".join(parts).strip()


@pytest.fixture(scope="module")
def pipeline():
    torch.manual_seed(0)
    encoder = IdEncoder.fit([" ".join(WORDS) + " ."], max_len=12)
    model = TextCNN(len(encoder.vocabulary), embed_dim=8, widths=(2, 3), channels=4, n_outputs=3)
    return TextPipeline(model.eval(), encoder, LABELS)


@pytest.fixture(scope="module")
def model_dir(pipeline, tmp_path_factory):
    return save_pipeline(pipeline, tmp_path_factory.mktemp("model") / "cnn")


# -- the budget in every stage, on a fake clock ---------------------------------------------------------
@pytest.fixture
def clock(monkeypatch):
    now = {"t": 0.0}
    monkeypatch.setattr(doclrp._budget, "_clock", lambda: now["t"])
    return now


def slow(monkeypatch, clock, module, name, seconds=1000.0):
    """Make ``module.name`` take ``seconds`` on the fake clock (each call)."""
    original = getattr(module, name)

    def slower(*args, **kwargs):
        clock["t"] += seconds
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, slower)


STAGES = {
    # stage made slow → where the budget stops the document
    "reading": ((doclrp.cli.explain, "read_file"), "before splitting words"),
    "splitting words": ((doclrp._explain, "tokenize_many"), "while splitting words"),
    "encoding": ((doclrp._explain, "_word_spans"), "while encoding"),
    "model passes": ((doclrp._explain, "output_tensor"), "between model passes"),
    "words and sentences": ((doclrp._explain, "_finish"), "while building words and sentences"),
    "page": ((doclrp.render.html, "_shades"), "while writing the page"),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_explain_doc_timeout_stops_the_document_in_each_stage(stage, model_dir, tmp_path, clock, monkeypatch, capsys):
    (module, name), where = STAGES[stage]
    slow(monkeypatch, clock, module, name)
    document = tmp_path / "doc.txt"
    document.write_text(long_text(), encoding="utf-8")
    page = tmp_path / "page.html"
    code = main(["explain", "--model", str(model_dir), "--file", str(document), "--out", str(page),
                 "--doc-timeout", "10", "--timings"])
    captured = capsys.readouterr()
    assert code == 2
    errors = [line for line in captured.err.splitlines() if line.startswith("doclrp: error:")]
    assert errors == [f"doclrp: error: the document took longer than doc_timeout=10 s (stopped {where}); "
                      "raise --doc-timeout or split the document"]
    assert not page.exists()
    timings = json.loads(next(line for line in captured.err.splitlines() if line.startswith("timings "))[8:])
    assert all(seconds >= 0 for seconds in timings.values())


def test_explain_without_a_budget_reports_every_stage(model_dir, tmp_path, capsys):
    document = tmp_path / "doc.txt"
    document.write_text(long_text(), encoding="utf-8")
    assert main(["explain", "--model", str(model_dir), "--file", str(document), "--out", str(tmp_path / "p.html"),
                 "--timings"]) == 0
    line = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("timings "))
    assert list(json.loads(line[8:])) == ["reading", "splitting words", "encoding",
                                          "predicting (documents over several batches)", "attributing",
                                          "building words and sentences", "making the page", "writing the page"]


def test_a_budget_passed_to_explain_stops_it_and_times_it(pipeline, clock, monkeypatch):
    slow(monkeypatch, clock, doclrp._explain, "output_tensor", seconds=30.0)
    with pytest.raises(DocumentTimeout, match=r"doc_timeout=100 s \(stopped (between model passes|before attributing)\)"):
        explain(pipeline, long_text(), budget=100)
    budget = Budget(None)
    explanation = explain(pipeline, long_text(), budget=budget)
    assert len(explanation.words) > 100 and budget.seconds["predicting (documents over several batches)"] >= 30


# -- columns, and the forms an explanation travels in ---------------------------------------------------
def test_words_are_columns_and_read_as_the_tuples_they_were(pipeline):
    explanation = explain(pipeline, long_text())
    words = explanation.words
    assert isinstance(words, WordColumns) and isinstance(explanation.tokens, TokenColumns)
    tuples = list(words)
    assert all(type(w) is WordRelevance and explanation.text[w.start:w.end] == w.text for w in tuples)
    assert words == tuples and tuples == words and words[3] == tuples[3] and words[-1] == tuples[-1]
    assert words[2:5] == tuples[2:5] and len(words[::2]) == len(tuples[::2])
    assert np.array_equal(explanation.relevance, [w.relevance for w in tuples])
    with pytest.raises(ValueError):
        words.relevance[0] = 1.0  # an explanation is a value
    # built by hand from tuples: stored as columns, equal to the one made by explain
    rebuilt = Explanation(**{**{f: getattr(explanation, f) for f in explanation.__dataclass_fields__},
                             "words": tuples, "tokens": list(explanation.tokens)})
    assert rebuilt == explanation and isinstance(rebuilt.words, WordColumns)


def test_hand_made_words_keep_their_own_text():
    words = [WordRelevance("Hello", 0, 5, 0, 1.0), WordRelevance("WORLD", 6, 11, 0, -1.0)]
    explanation = Explanation(text="hello world", words=words, sentences=[], labels=["a"], task="regression",
                              prediction=Prediction(None, None, None, [0.0]), target=Target.output(0, ["a"]),
                              target_value=0.0, delta=0.0)
    assert [w.text for w in explanation.words] == ["Hello", "WORLD"]
    assert Explanation.from_dict(json.loads(json.dumps(explanation.to_dict()))) == explanation


def test_json_round_trip_is_exact(pipeline):
    explanation = explain(pipeline, long_text())
    data = json.loads(json.dumps(explanation.to_dict()))
    assert data["words"][0] == dict(zip(WordRelevance._fields, explanation.words[0]))
    back = Explanation.from_dict(data)
    assert back == explanation and back.words == list(explanation.words)
    assert list(back.tokens) == list(explanation.tokens)
    assert back.to_dict() == explanation.to_dict()


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_records_round_trip_through_results_files_unchanged(pipeline, tmp_path, suffix, monkeypatch):
    if suffix == "parquet":
        pytest.importorskip("pyarrow")
    explanations = explain(pipeline, [long_text(), "goal match.", long_text(7)], ids=["a", "b", "c"])
    monkeypatch.setattr(doclrp.corpus.output.records, "ROW_COLUMNS_WORDS", 100)
    records = [explanation_record(e, label="sport") for e in explanations]
    assert [isinstance(r["words"], WordRows) for r in records] == [True, False, False]
    out = tmp_path / f"results.{suffix}"
    header = run_header(model_sha256="0" * 64, method={"name": "epsilon"}, target={"name": "predicted"},
                        input="records", shard=None)
    with open_results_writer(out, header) as writer:
        writer.write_batch(records)
        writer.finish()
    back = list(read_results(out))
    assert back == records  # lists read back equal the columns written
    for record, explanation in zip(back, explanations):
        assert record_to_explanation(record, explanation.method) == explanation
    assert record_to_explanation(records[0], explanations[0].method) == explanations[0]


def test_words_are_written_byte_for_byte_as_lists(pipeline, monkeypatch):
    monkeypatch.setattr(doclrp.corpus.output.records, "ROW_COLUMNS_WORDS", 100)
    record = explanation_record(explain(pipeline, long_text(200)), label="sport")
    assert isinstance(record["words"], WordRows)
    as_lists = {**record, "words": [list(w) for w in record["words"]]}
    assert dumps_bytes(record) == orjson.dumps(as_lists, option=orjson.OPT_SERIALIZE_NUMPY)
    small = WordRows(record["words"].columns)
    small_blocks = list(small.blocks(7))
    assert sum(map(len, small_blocks)) == len(small) and small_blocks[0] == list(small)[:7]


# -- pages of very large documents -------------------------------------------------------------------
def test_a_page_over_the_word_limit_highlights_the_strongest_sentences_and_says_so():
    text = " ".join(f"Sentence {i} has words." for i in range(400))
    document = tokenize(text, pipeline="blank")
    rng = np.random.default_rng(0)
    relevance = rng.normal(size=len(document)) * 0.01
    strong = [w for w in document.words if w.sentence in (17, 250)]
    for word in strong:
        relevance[document.words.start.tolist().index(word.start)] = 5.0
    explanation = build_explanation(document, np.stack([document.words.start, document.words.end], 1), relevance,
                                    labels=["a"], task="regression",
                                    prediction=Prediction(None, None, None, [1.0]), target="a",
                                    target_value=float(relevance.sum()), delta=0.0)
    whole = to_html(explanation, max_words=None)
    page = to_html(explanation, max_words=30)
    assert "not highlighted" not in whole and "at most 30 words a page" in page
    assert page.count('class="w"') <= 30 and whole.count('class="w"') == len(document)
    assert "Sentence 17 has words" in page and "Sentence 250 has words" in page
    assert page.count("not highlighted") >= 2
    # sentence bars and top words are over the whole document, on both pages
    assert page.count('class="sentence"') == whole.count('class="sentence"') == 400
    top = doclrp.render.html._top_html(explanation, +1, "raises a", DEFAULT_LEAVE_OUT, 5.0)
    assert top in page and top in whole
