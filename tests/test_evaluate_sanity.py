"""Model randomization (Adebayo et al. 2018) and the planted-trigger task on a tiny CNN."""

import numpy as np
import pytest
import torch
from torch import nn

from doclrp import explain
from doclrp.errors import DoclrpError
from doclrp.evaluate import (planted_documents, randomization_check, randomized_model, spearman,
                             train_planted_model, trigger_recovery)
from doclrp.evaluate.sanity import explain_same_targets, randomized_pipeline

EXACT = 1e-12


@pytest.fixture(scope="module")
def planted():
    task = planted_documents(100, seed=0)
    pipeline = train_planted_model(task, seed=0)
    return pipeline, planted_documents(30, seed=1)


def test_spearman_equals_pearson_of_ranks_with_ties_averaged():
    a, b = [3.0, 1.0, 1.0, 7.0, 2.0], [0.5, 0.1, 0.3, 0.2, 0.9]
    ranks_a, ranks_b = np.array([4, 1.5, 1.5, 5, 3]), np.array([4, 1, 3, 2, 5])
    assert spearman(a, b) == pytest.approx(np.corrcoef(ranks_a, ranks_b)[0, 1], abs=EXACT)
    assert np.isnan(spearman([1.0], [2.0])) and np.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_randomization_copies_and_resets_only_the_chosen_layers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(9, 4), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    top, every = randomized_model(model, "top", seed=1), randomized_model(model, "all", seed=1)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the model is untouched
    assert torch.equal(top[1].weight, model[1].weight) and not torch.equal(top[3].weight, model[3].weight)
    assert all(not torch.equal(p, q) for p, q in zip(every.parameters(), model.parameters()))
    with pytest.raises(DoclrpError, match="layers must be one of top, all"):
        randomized_model(model, "middle")


@pytest.mark.slow  # trains the tiny CNN (a few seconds on a busy machine)
def test_planted_trigger_is_found_by_lrp_epsilon(planted):
    pipeline, test = planted
    assert [p.label for p in pipeline.predict(test.texts)] == test.classes
    hits = trigger_recovery(explain(pipeline, test.texts, method="epsilon"), test.triggers, k=3)
    assert hits["top1"].mean() >= 0.9 and hits["topk"].mean() == 1.0
    chance = trigger_recovery(explain(pipeline, test.texts, method="random"), test.triggers, k=3)
    assert chance["top1"].mean() < 0.5


@pytest.mark.slow
def test_a_random_model_gives_uncorrelated_relevance(planted):
    pipeline, test = planted
    explanations = explain(pipeline, test.texts, method="epsilon")
    same = explain_same_targets(randomized_pipeline(pipeline, "top", seed=0), explanations[:3], "epsilon")
    assert [e.target for e in same] == [e.target for e in explanations[:3]]  # the same class explained
    correlations = randomization_check(pipeline, explanations, "epsilon", seed=0)
    assert set(correlations) == {"top", "all"} and correlations["all"]["all"].shape == (3, 30)
    assert abs(np.nanmean(correlations["all"]["all"])) < 0.3
    unchanged = explain(pipeline, test.texts, method="epsilon")
    np.testing.assert_allclose([spearman([w.relevance for w in a.words], [w.relevance for w in b.words])
                                for a, b in zip(explanations, unchanged)], 1.0)
