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
