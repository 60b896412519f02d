"""ABPC, comprehensiveness, sufficiency, AOPC and its normalization against explicit loops
over a tiny model, and bootstrap intervals against a loop with the same seed."""

import numpy as np
import pytest
import torch

from doclrp import explain
from doclrp.errors import DoclrpError
from doclrp.evaluate import (SHARES, abpc, aopc, aopc_bounds, aopc_per_document, bootstrap_interval,
                             comprehensiveness, normalized_aopc, paired_difference, perturbation_curves,
                             removal_order, sufficiency)
from doclrp.evaluate.perturbation import removed_count
from doclrp.models import IdEncoder, TextCNN, TextPipeline

EXACT = 1e-10
TOLERANCE = 1e-5
TEXTS = ["good fun film with great acting and a fine plot", "bad dull film, awful plot", "the film runs two hours",
         "a fine cast and a dull ending"]


@pytest.fixture(scope="module")
def explained():
    torch.manual_seed(1)
    encoder = IdEncoder.fit(TEXTS)
    pipeline = TextPipeline(TextCNN(len(encoder.vocabulary), 6, (1, 2), 4, 2).eval(), encoder, ["neg", "pos"])
    return pipeline, explain(pipeline, TEXTS, method="epsilon")


def value_without(pipeline, explanation, removed):
    """The explained value with the words ``removed`` deleted from the token ids, one forward."""
    ids = [t for i, t in enumerate(pipeline.encoder.vocabulary.encode([w.text for w in explanation.words]))
           if i not in removed] or [0]
    with torch.no_grad():
        logits = pipeline.model(torch.tensor([ids])).double()[0]
    return float(logits @ torch.tensor(explanation.target.weights, dtype=torch.float64))


def test_measures_equal_their_definitions_on_a_tiny_model(explained):
    pipeline, explanations = explained
    morf = perturbation_curves(pipeline, explanations, direction="morf")
    lerf = perturbation_curves(pipeline, explanations, direction="lerf")
    for row, e in enumerate(explanations):
        n, full = len(e.words), value_without(pipeline, e, set())
        ranked = removal_order(e, "morf")
        top = lambda share: set(ranked[: removed_count(share, n)])  # noqa: E731
        bottom = lambda share: set(ranked[::-1][: removed_count(share, n)])  # noqa: E731
        comp = np.mean([full - value_without(pipeline, e, top(s)) for s in SHARES[1:]])
        # sufficiency: keep the top 100 % … 10 %, i.e. remove the least relevant 0 % … 90 %
        suff = np.mean([full - value_without(pipeline, e, bottom(round(1 - keep, 10))) for keep in SHARES[:0:-1]])
        area = np.mean([value_without(pipeline, e, bottom(s)) - value_without(pipeline, e, top(s)) for s in SHARES])
        over = np.mean([full - value_without(pipeline, e, top(s)) for s in SHARES])
        assert comprehensiveness(morf)[row] == pytest.approx(comp, abs=TOLERANCE)
        assert sufficiency(lerf)[row] == pytest.approx(suff, abs=TOLERANCE)
        assert abpc(morf, lerf)[row] == pytest.approx(area, abs=TOLERANCE)
        assert aopc_per_document(morf)[row] == pytest.approx(over, abs=TOLERANCE)
    assert aopc(morf) == pytest.approx(aopc_per_document(morf).mean(), abs=EXACT)  # the 0.x AOPC, per document


def test_normalized_aopc_maps_the_bounds_to_0_and_1(explained):
    pipeline, explanations = explained
    orders = {d: aopc_per_document(perturbation_curves(pipeline, explanations, direction=d, seed=2))
              for d in ("morf", "lerf", "random")}
    lower, upper = aopc_bounds(orders.values())
    for row in range(len(explanations)):
        values = [orders[d][row] for d in orders]
        assert (lower[row], upper[row]) == (min(values), max(values))
    normalized = {d: normalized_aopc(a, lower, upper) for d, a in orders.items()}
    expected = (orders["random"] - lower) / (upper - lower)
    np.testing.assert_allclose(normalized["random"], expected, atol=EXACT)
    assert ((0 <= normalized["random"]) & (normalized["random"] <= 1)).all()
    np.testing.assert_allclose(np.maximum(normalized["morf"], normalized["lerf"]), 1.0)


def test_bootstrap_interval_equals_the_loop_with_the_same_seed():
    values = np.random.default_rng(5).normal(1.0, 2.0, 30)
    interval = bootstrap_interval(values, seed=7, resamples=500, level=0.9)
    draws = np.random.default_rng(7).integers(0, 30, size=(500, 30))
    means = [np.mean([values[i] for i in row]) for row in draws]
    assert interval.mean == pytest.approx(values.mean(), abs=EXACT)
    assert interval.low == pytest.approx(np.quantile(means, 0.05), abs=EXACT)
    assert interval.high == pytest.approx(np.quantile(means, 0.95), abs=EXACT)
    assert bootstrap_interval(values, seed=7, resamples=500, level=0.9) == interval  # seeded
    with_nan = bootstrap_interval(np.r_[values, np.nan], seed=7, resamples=500, level=0.9)
    assert with_nan == interval  # NaN left out


def test_paired_differences_resample_documents_together():
    rng = np.random.default_rng(0)
    hardness = rng.normal(0, 5, 40)  # documents differ a lot; the methods differ a little
    a, b = hardness + 1.0 + rng.normal(0, 0.1, 40), hardness + rng.normal(0, 0.1, 40)
    difference = paired_difference(a, b, seed=1)
    loop = bootstrap_interval(a - b, seed=1)
    assert difference == loop and 0.9 < difference.low < difference.high < 1.1
    apart = bootstrap_interval(a, seed=1), bootstrap_interval(b, seed=1)
    assert apart[0].low < apart[1].high  # unpaired, the two intervals overlap
    with pytest.raises(DoclrpError, match="same documents"):
        paired_difference([1.0, 2.0], [1.0])


def test_bad_curves_and_intervals_fail():
    with pytest.raises(DoclrpError, match="curves must have shape"):
        comprehensiveness(np.zeros(3))
    with pytest.raises(DoclrpError, match="differ in shape"):
        abpc(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(DoclrpError, match="resamples must be a positive integer"):
        bootstrap_interval([1.0], resamples=0)
