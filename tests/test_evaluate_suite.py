"""The suite over several methods: the same numbers as the measures called one by one, for a
weighted target of a regressor, and its checks before any method runs."""

import numpy as np
import pytest
import torch

from doclrp import explain
from doclrp.errors import DoclrpError
from doclrp.evaluate import abpc, perturbation_curves, sufficiency
from doclrp.evaluate.suite import default_methods, evaluate_methods
from doclrp.models import IdEncoder, TextCNN, TextPipeline

TOLERANCE = 1e-6
TEXTS = ["shares rose after strong results", "the team won the cup final", "prices fell as the market slid",
         "a new phone with a fine screen", "the match ended in a draw"]


@pytest.fixture(scope="module")
def regressor():
    torch.manual_seed(2)
    encoder = IdEncoder.fit(TEXTS)
    model = TextCNN(len(encoder.vocabulary), 6, (1, 2), 4, 2).eval()
    return TextPipeline(model, encoder, ["price", "volume"], "regression")


def test_the_suite_reports_the_measures_of_the_explained_target(regressor):
    target = {"price": 1.0, "volume": -0.5}
    data = evaluate_methods(regressor, TEXTS, ["epsilon", "gradient-x-input", "random"], target=target,
                            ids=[f"d{i}" for i in range(5)], resamples=100, sanity_docs=2, planted_docs=0, seed=3)
    assert data["documents"] == ["d0", "d1", "d2", "d3", "d4"] and data["seed"] == 3
    explanations = explain(regressor, TEXTS, target=target, method="epsilon")
    assert explanations[0].target.weights == (1.0, -0.5)
    for mode in ("deletion", "replacement"):
        morf = perturbation_curves(regressor, explanations, direction="morf", mode=mode)
        lerf = perturbation_curves(regressor, explanations, direction="lerf", mode=mode)
        per_document = data["methods"][0]["per_document"][mode]
        np.testing.assert_allclose(per_document["abpc"], abpc(morf, lerf), atol=TOLERANCE)
        np.testing.assert_allclose(per_document["sufficiency"], sufficiency(lerf), atol=TOLERANCE)
        assert data["methods"][0]["summary"][mode]["abpc"]["mean"] == pytest.approx(abpc(morf, lerf).mean())
        normalized = [v for m in data["methods"] for v in m["per_document"][mode]["normalized_aopc"]
                      if v is not None]
        assert min(normalized) >= -TOLERANCE and max(normalized) <= 1 + TOLERANCE
    paired = data["paired"]["deletion"]["abpc"]
    assert [p["method"] for p in paired] == ["gradient-x-input", "random"] and paired[0]["baseline"] == "epsilon"
    assert set(data["methods"][0]["sanity"]) == {"top", "all"} and "planted" not in data


def test_default_methods_follow_the_model_and_bad_requests_fail_first(regressor):
    assert default_methods(regressor) == ["epsilon", "epsilon-plus", "alpha2-beta1", "gradient-x-input", "saliency",
                                          "integrated-gradients", "occlusion", "random"]
    for methods, kwargs, message in ((["epsilon", "sailency"], {}, "unknown method 'sailency'"),
                                     ([], {}, "no method to evaluate"),
                                     (["random"], {"sanity_docs": -1}, "sanity_docs must be a whole number"),
                                     (["random"], {"resamples": 0}, "resamples must be a positive integer")):
        with pytest.raises(DoclrpError, match=message):
            evaluate_methods(regressor, TEXTS, methods, **kwargs)
