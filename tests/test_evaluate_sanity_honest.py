"""Sanity checks that cannot be fooled: several re-initializations reported one by one, ρ over the
words non-zero under either model as well as over all, and the planted trigger trained into the
evaluated model's own kind (or the row labelled as the reference CNN's)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from doclrp.evaluate.suite import evaluate_methods
from doclrp.evaluate.sanity import randomization_check, relevance_correlations
from doclrp.models import BowMLP, TextPipeline, TfidfEncoder
from doclrp.render.evaluation import render_evaluation
from doclrp.training.planted import planted_trainer

TEXTS = ["the market rose on strong results", "the team won the cup final", "shares fell as the market slid",
         "a late goal won the match", "profits rose at the bank", "the striker scored twice"]


def _explanation(*relevance):
    return SimpleNamespace(words=[SimpleNamespace(relevance=r) for r in relevance])


def test_words_at_zero_under_both_models_do_not_count_as_agreement():
    # unsigned relevance (saliency): six words no model ever gives any (not features) tie at the
    # bottom under both models and make the ranks agree whatever the model
    before = _explanation(0.9, 0.1, 0.4, 0, 0, 0, 0, 0, 0)
    after = _explanation(0.4, 0.9, 0.1, 0, 0, 0, 0, 0, 0)
    everything = relevance_correlations([before], [after])[0]
    present = relevance_correlations([before], [after], "nonzero")[0]
    assert everything > 0.6 and present == pytest.approx(-0.5)
    # a word non-zero under one model only is kept
    assert relevance_correlations([_explanation(1, 0, 2)], [_explanation(0, 3, 2)], "nonzero")[0] < 1


@pytest.fixture(scope="module")
def bow():
    torch.manual_seed(0)
    encoder = TfidfEncoder.fit(TEXTS, min_df=1)
    return TextPipeline(BowMLP(encoder.n_features, hidden=(8,), n_outputs=2).eval(), encoder, ["a", "b"])


def test_randomization_is_reported_per_seed(bow):
    from doclrp import explain

    explanations = explain(bow, TEXTS, method="epsilon")
    rho = randomization_check(bow, explanations, "epsilon", seed=5, seeds=3)
    assert set(rho) == {"top", "all"} and set(rho["all"]) == {"all", "nonzero"}
    assert rho["all"]["all"].shape == (3, len(TEXTS))
    # every seed is its own draw: not the same ρ three times
    assert len({tuple(np.round(row, 12)) for row in rho["all"]["all"]}) == 3
    # the random baseline's noise is the document's own: randomizing the model changes nothing
    noise = explain(bow, TEXTS, method="random")
    same = randomization_check(bow, noise, "random", seeds=2)
    assert np.allclose(same["all"]["all"], 1.0)


def test_the_report_shows_every_seed_and_the_non_zero_words(bow):
    data = evaluate_methods(bow, TEXTS, ["epsilon", "random"], resamples=50, sanity_docs=4, planted_docs=0,
                            sanity_seeds=3)
    sanity = data["methods"][0]["sanity"]["all"]
    assert sanity["seeds"] == [0, 1, 2] and len(sanity["per_seed"]) == 3 and len(sanity["per_document"]) == 4
    assert len(sanity["nonzero"]["per_document"]) == 4 and "summary" in sanity["nonzero"]
    page = render_evaluation(data)
    assert "non-zero words" in page and "seeds " in page


@pytest.mark.slow  # trains a BowMLP on the planted documents (seconds)
def test_the_trigger_is_planted_into_the_models_own_kind(bow):
    data = evaluate_methods(bow, TEXTS[:2], ["epsilon", "epsilon-gamma-box"], resamples=50, sanity_docs=0,
                            planted_docs=40, planted_trainer=planted_trainer(bow))
    planted = data["planted"]
    assert planted["model"] == {"kind": "bow-mlp", "reference": False}
    assert planted["accuracy"] > 0.9  # the BowMLP learned the trigger
    assert set(planted["methods"]) == {"epsilon", "epsilon-gamma-box"}
    assert "a model of this model&#x27;s kind (bow-mlp" in render_evaluation(data)
    reference = evaluate_methods(bow, TEXTS[:2], ["epsilon"], resamples=50, sanity_docs=0, planted_docs=20)
    assert reference["planted"]["model"] == {"kind": "text-cnn", "reference": True}
    assert "the reference CNN" in render_evaluation(reference)


def test_models_doclrp_cannot_train_again_get_the_reference_cnn():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from doclrp.models.sklearn import from_sklearn

    fitted = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(TEXTS, [0, 1, 0, 1, 0, 1])
    assert planted_trainer(from_sklearn(fitted)) is None
