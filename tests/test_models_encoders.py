"""Encoders (ids, tf-idf), relevance mapping back to text, and GloVe initialisation."""

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

from doclrp.errors import DoclrpError
from doclrp.models import IdEncoder, TfidfEncoder, load_glove
from doclrp.text import Vocabulary

TOLERANCE = 1e-9
TEXTS = [
    "Shares rose as the market rallied.",
    "The market fell; shares fell too.",
    "A quiet day for the market, shares flat.",
]


def test_id_encoder_spans_point_at_the_words():
    encoder = IdEncoder.fit(TEXTS, max_len=50)
    text = "The market rallied, then fell."
    ids, spans = encoder.encode([text, ""])
    assert ids.dtype == torch.long and ids.shape == (2, len(spans[0]))
    assert [text[s:e] for s, e in spans[0]] == ["The", "market", "rallied", ",", "then", "fell", "."]
    assert spans[1] == [] and ids[1].tolist() == [0] * ids.shape[1]  # empty text: all padding
    assert encoder.vocabulary.decode(ids[0, :3].tolist()) == ["the", "market", "rallied"]
    assert ids[0, 4] == encoder.vocabulary.oov_id  # "then" is not in the training texts


def test_id_encoder_truncates_and_reports_padding_as_unassigned():
    encoder = IdEncoder.fit(TEXTS, max_len=3)
    ids, spans = encoder.encode(["a b c d e", "x"])
    assert ids.shape == (2, 3) and len(spans[0]) == 3 and ids[1, 1:].tolist() == [0, 0]
    relevance = torch.tensor([0.5, -0.25, 0.125])
    result = encoder.token_relevance("x", relevance)
    assert result.spans == [(0, 1)] and result.relevance == [0.5] and result.unassigned == pytest.approx(-0.125)
    with pytest.raises(DoclrpError, match="1-d"):
        encoder.token_relevance("x", relevance[None])


def test_tfidf_encoder_equals_scikit_learn_and_survives_json():
    encoder = TfidfEncoder.fit(TEXTS, min_df=1)
    lowered = [
        [w for w in "shares rose as the market rallied".split()],
        [w for w in "the market fell shares fell too".split()],
        [w for w in "a quiet day for the market shares flat".split()],
    ]
    reference = TfidfVectorizer(analyzer=lambda words: words, sublinear_tf=True).fit(lowered)
    assert encoder.terms == reference.get_feature_names_out().tolist()
    expected = reference.transform(lowered).toarray()
    assert np.allclose(encoder.encode(TEXTS).numpy(), expected, atol=1e-6)
    rebuilt = TfidfEncoder.from_parts(encoder.config, encoder.state())
    assert torch.equal(rebuilt.encode(TEXTS), encoder.encode(TEXTS))


def test_tfidf_min_df_and_errors():
    assert TfidfEncoder.fit(TEXTS, min_df=2).terms == ["market", "shares", "the"]  # in 2+ texts; "fell" twice in one
    with pytest.raises(DoclrpError, match="cannot fit tf-idf"):
        TfidfEncoder.fit(["...", "!"], min_df=1)


def test_tfidf_relevance_spread_conserves_the_sum():
    encoder = TfidfEncoder.fit(TEXTS, min_df=1)
    text = "Market up, market down: shares and the market."
    relevance = torch.randn(encoder.n_features, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    result = encoder.token_relevance(text, relevance)
    assert sum(result.relevance) + result.unassigned == pytest.approx(float(relevance.sum()), abs=TOLERANCE)
    words = [text[s:e].lower() for s, e in result.spans]
    assert words == ["market", "market", "shares", "the", "market"]
    market = float(relevance[encoder.index["market"]])
    assert result.relevance[0] == result.relevance[1] == pytest.approx(market / 3)
    present = [encoder.index[w] for w in {"market", "shares", "the"}]
    assert result.unassigned == pytest.approx(float(relevance.sum() - relevance[present].sum()), abs=TOLERANCE)
    with pytest.raises(DoclrpError, match="features"):
        encoder.token_relevance(text, relevance[:-1])


def test_tfidf_feature_spans():
    encoder = TfidfEncoder.fit(TEXTS, min_df=1)
    spans = encoder.feature_spans("Shares ROSE!")
    assert spans == [(0, 6, encoder.index["shares"]), (7, 11, encoder.index["rose"])]


@pytest.mark.slow  # reads the GloVe package's files: about 5 s on 2 cores with a cold cache
def test_glove_rows_match_the_package_files():
    vocabulary = Vocabulary().build([["the", "market", "qqqzzxq"]])
    weights, found = load_glove(vocabulary)
    assert weights.shape == (5, 50) and found == 2
    assert torch.count_nonzero(weights[vocabulary.pad_id]) == 0
    the = vocabulary.encode(["the"])[0]
    assert weights[the, :3].tolist() == pytest.approx([0.418, 0.24968, -0.41242], abs=1e-6)  # GloVe's "the"
    unknown = vocabulary.encode(["qqqzzxq"])[0]
    assert 0 < float(weights[unknown].norm()) < float(weights[the].norm()) * 3
