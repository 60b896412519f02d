"""explain() on documents longer than the model takes: overlapping windows, stitched per word.

A tiny TextCNN classifier that takes 6 words at a time explains documents of up to
40 words. Every reference here is computed by hand from the model itself.
"""

import numpy as np
import pytest
import torch

from doclrp.core import attribute
from doclrp import explain
from doclrp._explain import window_starts  # internal: no public name for the window layout
from doclrp.models import IdEncoder, TextCNN, TextPipeline

WORDS = "markets rose shares fell the film won awards players scored goals in a late match".split()
LABELS = ["business", "entertainment", "sport"]
SIZE, OVERLAP = 6, 2
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def pipeline():
    torch.manual_seed(2)  # a model whose windows of one document often disagree
    encoder = IdEncoder.fit([" ".join(WORDS)], max_len=SIZE)
    model = TextCNN(len(encoder.vocabulary), embed_dim=5, widths=(2, 3), channels=4, n_outputs=3).eval()
    return TextPipeline(model, encoder, LABELS)


def documents(count=12, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 40)))) for _ in range(count)]


def by_hand(pipeline, text):
    """Class, target value and word relevance of ``text`` from its windows, one at a time."""
    ids = pipeline.encoder.vocabulary.encode(text.split())
    starts = window_starts(len(ids), SIZE, OVERLAP)
    windows = [torch.tensor([ids[s : s + SIZE]]) for s in starts]
    with torch.no_grad():
        mean_logits = torch.stack([pipeline.model(w)[0] for w in windows]).mean(0)
    label = int(mean_logits.argmax())
    relevance = np.zeros(len(ids))
    for start, window in zip(starts, windows):
        attr = attribute(pipeline.model, window, target=label, composite="epsilon")
        relevance[start : start + window.shape[1]] += attr.relevance[0].double().numpy() / len(starts)
    return label, float(mean_logits[label]), relevance


def windows_disagree(pipeline, text):
    ids = pipeline.encoder.vocabulary.encode(text.split())
    with torch.no_grad():
        return len({int(pipeline.model(torch.tensor([ids[s : s + SIZE]])).argmax())
                    for s in window_starts(len(ids), SIZE, OVERLAP)}) > 1


@pytest.mark.parametrize("batch_size", [1, 3, 64])  # windows of one document in one batch, or spread over several
def test_long_documents_explain_the_class_of_their_mean_output(pipeline, batch_size):
    texts = documents()
    assert max(len(window_starts(len(t.split()), SIZE, OVERLAP)) for t in texts) > 3  # some span batches of 3
    assert sum(windows_disagree(pipeline, t) for t in texts) >= 3  # the class of the mean output matters
    for text, explanation in zip(texts, explain(pipeline, texts, batch_size=batch_size, overlap=OVERLAP)):
        label, value, relevance = by_hand(pipeline, text)
        assert str(explanation.target) == LABELS[label] == explanation.prediction.label
        assert explanation.target_value == pytest.approx(value, abs=TOLERANCE)
        np.testing.assert_allclose(explanation.relevance, relevance, atol=TOLERANCE)
        total = explanation.relevance.sum() + sum(explanation.special.values()) + explanation.delta
        assert total == pytest.approx(explanation.target_value, abs=TOLERANCE)


def test_result_does_not_depend_on_batch_size(pipeline):
    texts = documents(seed=1)
    one, many = explain(pipeline, texts, batch_size=1), explain(pipeline, texts, batch_size=32)
    for a, b in zip(one, many):
        assert a.target == b.target
        np.testing.assert_allclose(a.relevance, b.relevance, atol=TOLERANCE)


def test_one_text_is_the_document_in_messages_several_are_named():
    from doclrp.errors import DoclrpError
    from doclrp.models import EmbeddingBagModel

    encoder = IdEncoder.fit(["good fun", "bad dull"])
    pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
    with pytest.raises(DoclrpError, match="^the document is empty: nothing to explain$"):
        explain(pipe, "   ")
    with pytest.raises(DoclrpError, match="^the document has an invalid character"):
        explain(pipe, "good \ud800")
    with pytest.raises(DoclrpError, match="^document 1 is empty"):
        explain(pipe, ["good", " "])
    with pytest.raises(DoclrpError, match="^document b is empty"):
        explain(pipe, ["good", " "], ids=["a", "b"])
