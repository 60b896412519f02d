"""doclrp.text.Explanation: building, JSON round trip, top words, totals."""

import json
import math

import numpy as np
import pytest

from doclrp.errors import DoclrpError
from doclrp.text import Explanation, Prediction, build_explanation, tokenize

LABELS = ["business", "sport"]
SUM_TOL = 1e-12


def make(relevance=(2.0, 0.5, 0.0, -1.0, 0.25, 0.0), task="classification", special=None, id="doc-1"):
    doc = tokenize("Great match. Poor ref.", pipeline="blank")
    spans = [(0, 0)] + [(w.start, w.end) for w in doc.words] + [(0, 0)]
    token_relevance = [0.125, *relevance, -0.0625]
    prediction = Prediction.from_logits([0.0, 2.0] if task == "classification" else [1.5], LABELS, task=task)
    return build_explanation(
        doc, spans, token_relevance,
        labels=LABELS if task == "classification" else ["score"], task=task, prediction=prediction,
        target="sport" if task == "classification" else "score",
        target_value=sum(token_relevance) + 0.01, delta=0.01, special=special, id=id,
    )


def test_words_sentences_and_special_are_filled():
    exp = make(special=["[CLS]", "Great", "match", ".", "Poor", "ref", ".", "[SEP]"])
    assert [(w.text, w.relevance) for w in exp.words][:2] == [("Great", 2.0), ("match", 0.5)]
    assert [(s.text, s.relevance) for s in exp.sentences] == [("Great match.", 2.5), ("Poor ref.", -0.75)]
    assert exp.special == {"[CLS]": 0.125, "[SEP]": -0.0625}
    assert make().special == {"unassigned": 0.0625}


def test_total_plus_delta_is_the_target_value():
    exp = make()
    assert math.isclose(exp.total + exp.delta, exp.target_value, abs_tol=SUM_TOL)
    assert exp.relevance.dtype == np.float64 and exp.relevance.tolist() == [2.0, 0.5, 0.0, -1.0, 0.25, 0.0]


def test_json_round_trip():
    for exp in [make(), make(task="regression", id=None), make(special=["a"] * 8)]:
        data = json.loads(json.dumps(exp.to_dict()))
        again = Explanation.from_dict(data)
        assert again == exp
        assert again.to_dict() == exp.to_dict()


def test_top_words_by_sign():
    exp = make(relevance=(2.0, 0.5, 0.0, -1.0, 0.5, -3.0))
    assert [w.text for w in exp.top_words(2)] == ["Great", "match"]  # ties: earlier word first
    assert [w.text for w in exp.top_words(10)] == ["Great", "match", "ref"]
    assert [w.text for w in exp.top_words(10, sign=-1)] == [".", "Poor"]
    assert exp.top_words(0) == []
    with pytest.raises(DoclrpError, match="sign"):
        exp.top_words(3, sign=0)


def test_prediction_from_logits():
    p = Prediction.from_logits([1.0, 3.0, 2.0], ["a", "b", "c"])
    assert (p.label, p.index) == ("b", 1)
    assert math.isclose(sum(p.probabilities), 1.0) and p.probabilities[1] == max(p.probabilities)
    binary = Prediction.from_logits([0.0])
    assert binary.probabilities == [0.5, 0.5] and binary.index == 0 and binary.label is None
    assert Prediction.from_logits([-2.0]).index == 0 and Prediction.from_logits([2.0]).index == 1
    reg = Prediction.from_logits([0.25, -1.0], task="regression")
    assert (reg.label, reg.index, reg.probabilities, reg.values) == (None, None, None, [0.25, -1.0])
    # Large logits do not overflow.
    assert Prediction.from_logits([1000.0, 0.0]).probabilities == [1.0, 0.0]


def test_prediction_may_be_given_as_dict():
    doc = tokenize("a", pipeline="blank")
    exp = build_explanation(
        doc, [(0, 1)], [1.0], labels=["y"], task="regression",
        prediction={"label": None, "index": None, "probabilities": None, "values": [1.0]},
        target="y", target_value=1.0, delta=0.0,
    )
    assert exp.prediction.values == [1.0] and exp.special == {}


def test_errors_name_the_fix():
    with pytest.raises(DoclrpError, match="task"):
        make(task="ranking")
    with pytest.raises(DoclrpError, match="one name per token"):
        make(special=["[CLS]"])
    with pytest.raises(DoclrpError, match="to_dict"):
        Explanation.from_dict({"text": "x"})


# -- model tokens: a word's pieces ------------------------------------------------------------------
def test_tokens_are_the_pieces_the_words_were_summed_from():
    exp = make(special=["[CLS]", "Great", "match", ".", "Poor", "ref", ".", "[SEP]"])
    assert [(t.text, t.start, t.end, t.word) for t in exp.tokens] == [
        ("", 0, 0, None), ("Great", 0, 5, 0), ("match", 6, 11, 1), (".", 11, 12, 2),
        ("Poor", 13, 17, 3), ("ref", 18, 21, 4), (".", 21, 22, 5), ("", 0, 0, None)]
    # tokens sum to the words plus the special tokens, and each word's pieces to the word
    assert math.isclose(math.fsum(t.relevance for t in exp.tokens), exp.total, abs_tol=SUM_TOL)
    for index, word in enumerate(exp.words):
        assert math.isclose(sum(t.relevance for t in exp.tokens if t.word == index), word.relevance,
                            abs_tol=SUM_TOL)


def test_tokens_round_trip_and_old_dicts_without_tokens_load():
    exp = make()
    data = json.loads(json.dumps(exp.to_dict()))
    assert data["tokens"][1] == {"text": "Great", "start": 0, "end": 5, "word": 0, "relevance": 2.0}
    assert Explanation.from_dict(data).tokens == exp.tokens
    del data["tokens"]
    old = Explanation.from_dict(data)
    assert old.tokens == [] and old.words == exp.words and old == exp  # tokens are not compared


def test_corpus_records_do_not_store_tokens():
    from doclrp.corpus.output import explanation_record, record_to_explanation

    record = explanation_record(make())
    assert "tokens" not in record and "tokens" not in json.dumps(record)
    assert record_to_explanation(record).tokens == []


@pytest.mark.parametrize("overlap", [None, 0, 6])
def test_a_subword_model_gives_a_word_several_pieces_across_windows(overlap):
    from references import SUBWORDS, subword_tokenizer, tiny_model

    import doclrp
    from doclrp.models.hf.pipeline import HFPipeline

    # 12 positions: 10 tokens a window, so this text of 19 pieces is explained in overlapping windows.
    pipeline = HFPipeline(tiny_model("bert", n_labels=2, vocab=len(SUBWORDS), max_position_embeddings=12),
                          subword_tokenizer(12), labels=["neg", "pos"])
    text = "Unbelievable film. The players played a good match, the team was bad!"
    exp = doclrp.explain(pipeline, text, overlap=overlap)
    [(_, spans)] = pipeline.tokens([text])
    assert len(spans) > pipeline.max_tokens
    assert [(t.start, t.end) for t in exp.tokens] == [tuple(s) for s in spans]  # one piece per span
    assert [t.text for t in exp.tokens if t.word == 0] == ["Un", "believ", "able"]
    assert [t.text for t in exp.tokens if t.word == 4] == ["player", "s"]
    scale = max(abs(w.relevance) for w in exp.words)
    for index, word in enumerate(exp.words):
        pieces = [t.relevance for t in exp.tokens if t.word == index]
        assert pieces and math.fsum(pieces) == pytest.approx(word.relevance, abs=1e-12 * scale)
    # the tokens plus the special tokens and positions of the windows are all the relevance
    windows = math.fsum(exp.special.values())
    assert math.fsum(t.relevance for t in exp.tokens) + windows == pytest.approx(exp.total, abs=1e-12 * scale)
    assert exp.total + exp.delta == pytest.approx(exp.target_value, rel=1e-5, abs=1e-6)
