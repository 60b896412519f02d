"""MoRF and LeRF curves on token ids against explicit loops over the model: deletion and
replacement, word-id models and a Hugging Face model, weighted targets and regression."""

import math

import numpy as np
import pytest
import torch

from doclrp import explain
from doclrp.errors import DoclrpError
from doclrp.evaluate import SHARES, perturbation_curves, removal_order
from doclrp.evaluate.perturbation import removed_count, replacement_id
from doclrp.models import BowMLP, IdEncoder, TextCNN, TextPipeline, TfidfEncoder
from references import WORDS, tiny_model, word_tokenizer

TOLERANCE = 1e-5  # float32 outputs, summed in float64
TEXTS = ["good fun film with great acting and a fine plot", "bad dull film, awful plot", "the film runs two hours"]


def cnn_pipeline(task="classification", labels=("neg", "pos", "meh")):
    torch.manual_seed(0)
    encoder = IdEncoder.fit(TEXTS)
    model = TextCNN(len(encoder.vocabulary), 6, (1, 2), 4, len(labels)).eval()
    return TextPipeline(model, encoder, list(labels), task)


def loop_curve(pipeline, explanation, order, mode):
    """The explained value with the first round(share · n) words of ``order`` gone, one forward each."""
    ids = pipeline.encoder.vocabulary.encode([w.text for w in explanation.words])  # one id per word
    weights = torch.tensor(explanation.target.weights, dtype=torch.float64)
    values = []
    for share in SHARES:
        removed = set(order[: math.floor(share * len(order) + 0.5 + 1e-9)])
        if mode == "deletion":
            kept = [t for i, t in enumerate(ids) if i not in removed]
        else:
            kept = [pipeline.encoder.vocabulary.oov_id if i in removed else t for i, t in enumerate(ids)]
        kept = kept or [0]  # an empty document is one padding token, as collate makes it
        with torch.no_grad():
            values.append(float(pipeline.model(torch.tensor([kept])).double()[0] @ weights))
    return values


@pytest.mark.parametrize("mode", ["deletion", "replacement"])
@pytest.mark.parametrize("direction", ["morf", "lerf", "random"])
def test_curves_equal_the_loop_over_token_ids(mode, direction):
    pipeline = cnn_pipeline()
    explanations = explain(pipeline, TEXTS, method="epsilon")
    curves = perturbation_curves(pipeline, explanations, direction=direction, mode=mode, seed=4)
    for i, e in enumerate(explanations):
        expected = loop_curve(pipeline, e, removal_order(e, direction, seed=4 + i), mode)
        np.testing.assert_allclose(curves[i], expected, atol=TOLERANCE, rtol=0)
    assert curves[:, 0] == pytest.approx([e.target_value for e in explanations], abs=TOLERANCE)


def test_orders_are_reverses_and_seeded():
    e = explain(cnn_pipeline(), TEXTS[0])
    morf = removal_order(e, "morf")
    assert [e.words[i].relevance for i in morf] == sorted((w.relevance for w in e.words), reverse=True)
    assert removal_order(e, "lerf") == morf[::-1]
    assert removal_order(e, "random", 3) == removal_order(e, "random", 3) != removal_order(e, "random", 4)
    assert [removed_count(s, 10) for s in SHARES] == list(range(11))


def test_weighted_targets_and_regression_are_measured_by_their_weights():
    pipeline = cnn_pipeline()
    weighted = explain(pipeline, TEXTS, target={"neg": 1.0, "pos": -0.5})
    curves = perturbation_curves(pipeline, weighted)
    for i, e in enumerate(weighted):
        np.testing.assert_allclose(curves[i], loop_curve(pipeline, e, removal_order(e, "morf"), "deletion"),
                                   atol=TOLERANCE, rtol=0)
    regressor = cnn_pipeline("regression", ("price", "volume"))
    second = explain(regressor, TEXTS, target="volume")
    assert second[0].target.weights == (0.0, 1.0)
    np.testing.assert_allclose(perturbation_curves(regressor, second, direction="lerf")[:, 0],
                               [e.target_value for e in second], atol=TOLERANCE)


def test_a_hugging_face_model_loses_token_ids_and_gets_its_unknown_token():
    from doclrp.models.hf import HFPipeline

    model = tiny_model("bert", n_labels=2, vocab=len(WORDS), max_position_embeddings=12).eval()
    pipeline = HFPipeline(model, word_tokenizer())
    texts = ["the cat sat on the mat", "stock market fell very fast"]
    explanations = explain(pipeline, texts, method="gradient-x-input")
    assert replacement_id(pipeline) == pipeline.tokenizer.unk_token_id  # this tokenizer has no mask token
    for mode in ("deletion", "replacement"):
        curves = perturbation_curves(pipeline, explanations, mode=mode)
        for row, e in enumerate(explanations):
            ids = pipeline.tokenizer([e.text], add_special_tokens=False)["input_ids"][0]
            order = removal_order(e, "morf")
            weights = torch.tensor(e.target.weights, dtype=torch.float64)
            for column, share in enumerate(SHARES):
                removed = set(order[: removed_count(share, len(order))])
                kept = ([t for i, t in enumerate(ids) if i not in removed] if mode == "deletion" else
                        [replacement_id(pipeline) if i in removed else t for i, t in enumerate(ids)])
                with torch.no_grad():
                    logits = model(torch.tensor([[2, *kept, 3]])).logits.double()[0]
                assert curves[row, column] == pytest.approx(float(logits @ weights), abs=TOLERANCE)


def test_bag_models_cut_words_and_bad_options_fail():
    torch.manual_seed(0)
    encoder = TfidfEncoder.fit(TEXTS, min_df=1)
    pipeline = TextPipeline(BowMLP(encoder.n_features, hidden=(4,), n_outputs=2), encoder, ["neg", "pos"])
    explanations = explain(pipeline, TEXTS)
    curves = perturbation_curves(pipeline, explanations)
    first = explanations[0]
    top = removal_order(first, "morf")[: removed_count(0.1, len(first.words))]
    text = first.text
    for i in sorted(top, reverse=True):  # the words cut out of the text, the whitespace kept
        text = text[: first.words[i].start] + text[first.words[i].end :]
    weights = torch.tensor(first.target.weights)
    assert curves[0, 1] == pytest.approx(float(pipeline.outputs([text])[0] @ weights), abs=TOLERANCE)
    np.testing.assert_allclose(perturbation_curves(pipeline, explanations, mode="replacement"), curves)
    with pytest.raises(DoclrpError, match="mode must be one of deletion, replacement"):
        perturbation_curves(pipeline, explanations, mode="masking")
    with pytest.raises(DoclrpError, match="direction must be one of morf, lerf, random"):
        perturbation_curves(pipeline, explanations, direction="up")
    with pytest.raises(DoclrpError, match="shares must rise from 0"):
        perturbation_curves(pipeline, explanations, shares=[0.5, 1.0])
