"""Baseline attributions against explicit references, and faithfulness by deletion.

Each baseline is checked against a slow loop written here from its definition (float64
where exactness matters); the deletion measures against texts cut by hand.
"""

import numpy as np
import pytest
import torch
from torch import nn

from doclrp import explain
from doclrp.core import attribute
from doclrp.errors import DoclrpError
from doclrp.core import (GradientXInput, IntegratedGradients, Occlusion, RandomRelevance, Saliency,
                         resolve_method)
from doclrp.evaluate import aopc, compare_methods, deletion_curve, deletion_drops, skipped_line
from doclrp._explain import document_outputs  # internal: no public name for it
from doclrp.models import BowMLP, EmbeddingBagModel, IdEncoder, TextCNN, TextPipeline, TfidfEncoder
from references import batch, embedding_gradients, tiny_model

EXACT = 1e-10        # float64: method vs its explicit loop
TOLERANCE = 1e-5     # float32 sums
TEXTS = ["good fun film with great acting", "bad dull film, awful plot", "the film runs two hours"]
LABELS = ["neg", "pos"]


def cnn(seed=0):
    torch.manual_seed(seed)
    return TextCNN(vocab_size=30, embed_dim=5, widths=(2, 3), channels=4, n_outputs=3).double().eval()


def ids_with_padding():
    ids = torch.randint(1, 30, (3, 8), generator=torch.Generator().manual_seed(1))
    ids[1, 5:] = 0
    return ids


def test_gradient_x_input_equals_its_definition():
    model, ids = cnn(), ids_with_padding()
    result = GradientXInput().attribute(model, ids, 2)
    e, gradient = embedding_gradients(model, ids, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(result.relevance, (e * gradient).sum(-1), atol=EXACT, rtol=0)
    assert result.method == "gradient-x-input"


def test_saliency_is_the_gradient_norm_per_token():
    model, ids = cnn(), ids_with_padding()
    result = Saliency().attribute(model, ids, 0)
    _, gradient = embedding_gradients(model, ids, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(result.relevance, gradient.norm(dim=-1), atol=EXACT, rtol=0)
    assert result.method == "saliency" and (result.relevance >= 0).all()


def test_integrated_gradients_equals_the_midpoint_rule_and_is_complete():
    model, ids = cnn(), ids_with_padding()
    steps = 64
    result = IntegratedGradients(steps=steps).attribute(model, ids, 1)
    weights = result.target
    e = None
    total = 0
    for step in range(steps):
        alpha = (step + 0.5) / steps
        e, gradient = embedding_gradients(model, ids, weights, scale=alpha)
        total = total + gradient / alpha  # the gradient w.r.t. e of f(αe) is α ∇f(αe)
    torch.testing.assert_close(result.relevance, (e * total / steps).sum(-1), atol=EXACT, rtol=0)
    # Completeness: the words hold f(x) − f(zero embeddings); delta is what is left, f(0).
    handle = model.embedding.register_forward_hook(lambda module, args, output: torch.zeros_like(output))
    try:
        with torch.no_grad():
            at_zero = model(ids)[:, 1]
    finally:
        handle.remove()
    with torch.no_grad():
        at_x = model(ids)[:, 1]
    path = result.relevance.sum(1)
    assert torch.allclose(path, at_x - at_zero, atol=0.02 * float((at_x - at_zero).abs().max()))
    torch.testing.assert_close(result.delta, at_x - path, atol=EXACT, rtol=0)


def test_occlusion_equals_the_loop_over_tokens_and_features():
    model, ids = cnn(), ids_with_padding()
    result = Occlusion(batch_size=5).attribute(model, ids, 0)
    expected = torch.zeros(ids.shape, dtype=torch.float64)
    with torch.no_grad():
        full = model(ids)[:, 0]
        for row in range(ids.shape[0]):
            for column in range(ids.shape[1]):
                if ids[row, column] != 0:
                    changed = ids.clone()
                    changed[row, column] = 0
                    expected[row, column] = full[row] - model(changed)[row, 0]
    torch.testing.assert_close(result.relevance, expected, atol=EXACT, rtol=0)
    torch.manual_seed(0)
    mlp = BowMLP(n_features=6, hidden=(4,), n_outputs=2).double().eval()
    x = torch.tensor([[0.5, 0.0, 1.0, 0.0, 0.25, 2.0]], dtype=torch.float64)
    bag = Occlusion().attribute(mlp, x, 1).relevance
    with torch.no_grad():
        for j in range(6):
            changed = x.clone()
            changed[0, j] = 0
            assert float(bag[0, j]) == pytest.approx(float(mlp(x)[0, 1] - mlp(changed)[0, 1]), abs=EXACT)


def test_occlusion_keeps_each_samples_own_attention_mask():
    model = tiny_model("bert", n_labels=2).double()
    ids, kwargs = batch(model)
    result = Occlusion(batch_size=4).attribute(model, ids, 1, forward_kwargs=kwargs)
    row, column = 1, 2
    changed = ids[row : row + 1].clone()
    changed[0, column] = model.config.pad_token_id
    single = {key: value[row : row + 1] for key, value in kwargs.items()}
    with torch.no_grad():
        drop = model(ids[row : row + 1], **single).logits[0, 1] - model(changed, **single).logits[0, 1]
    assert float(result.relevance[row, column]) == pytest.approx(float(drop), abs=EXACT)
    assert (result.relevance[1, 6:] == 0).all()  # padding is never occluded


def test_random_relevance_is_seeded_and_skips_padding():
    model, ids = cnn(), ids_with_padding()
    a, b, c = (RandomRelevance(seed=s).attribute(model, ids) for s in (3, 3, 4))
    assert torch.equal(a.relevance, b.relevance) and not torch.equal(a.relevance, c.relevance)
    assert (a.relevance[1, 5:] == 0).all() and (a.relevance[0] != 0).all()


def test_reference_moves_only_the_explained_value():
    model, ids = cnn(), ids_with_padding()
    reference = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    for method in (GradientXInput(), Saliency(), Occlusion(), RandomRelevance()):
        plain = method.attribute(model, ids, 1)
        shifted = method.attribute(model, ids, 1, reference=reference)
        torch.testing.assert_close(shifted.relevance, plain.relevance)
        torch.testing.assert_close(shifted.target_output, plain.target_output + 1.0)


@pytest.fixture(scope="module")
def pipeline():
    torch.manual_seed(0)
    encoder = IdEncoder.fit(TEXTS, max_len=4)  # the texts need several windows
    return TextPipeline(TextCNN(len(encoder.vocabulary), 6, (2, 3), 5, n_outputs=2), encoder, LABELS)


@pytest.mark.parametrize("method", ["gradient-x-input", "saliency", "integrated-gradients", "occlusion", "random"])
def test_explain_runs_every_baseline_by_name(pipeline, method):
    for explanation in explain(pipeline, TEXTS, method=method, target="pos"):
        assert explanation.method["name"] == method
        assert len(explanation.words) > 4
        total = explanation.relevance.sum() + sum(explanation.special.values()) + explanation.delta
        assert total == pytest.approx(explanation.target_value, abs=TOLERANCE)


def test_explain_accepts_method_objects_and_bag_models():
    encoder = TfidfEncoder.fit(TEXTS, min_df=1)
    torch.manual_seed(0)
    bag = TextPipeline(BowMLP(encoder.n_features, hidden=(4,), n_outputs=2), encoder, LABELS)
    explanation = explain(bag, TEXTS[0], composite=Occlusion(batch_size=3), target="neg")
    assert {w.text for w in explanation.words if w.relevance != 0} <= set(TEXTS[0].split())
    assert explanation.method == {"name": "occlusion", "params": {"batch_size": 3}}
    assert resolve_method(IntegratedGradients(4)) == IntegratedGradients(4)


def test_deletion_drops_equal_hand_cut_texts(pipeline):
    explanations = explain(pipeline, TEXTS, target="pos")
    drops = deletion_drops(pipeline, explanations, k=2)
    for explanation, drop in zip(explanations, drops):
        top = sorted(explanation.words, key=lambda w: -w.relevance)[:2]
        text = explanation.text
        for word in sorted(top, key=lambda w: -w.start):
            text = text[: word.start] + text[word.end :]
        before, after = document_outputs(pipeline, [explanation.text, text])[:, 1]
        assert drop == pytest.approx(float(before - after), abs=TOLERANCE)
    assert not np.allclose(deletion_drops(pipeline, explanations, k=2, order="random", seed=1), drops)


def test_weighted_targets_are_re_measured_by_their_weights(pipeline):
    # A weighted target (here with a reference subtracted too) is carried as weights, not as a name to parse.
    explanations = explain(pipeline, TEXTS, target={"pos": 1, "neg": -1}, reference=[0.5, -0.5])
    drops = deletion_drops(pipeline, explanations, k=2)
    for explanation, drop in zip(explanations, drops):
        assert str(explanation.target) == "+1·pos -1·neg − reference"
        top = sorted(explanation.words, key=lambda w: -w.relevance)[:2]
        text = explanation.text
        for word in sorted(top, key=lambda w: -w.start):
            text = text[: word.start] + text[word.end :]
        before, after = document_outputs(pipeline, [explanation.text, text]) @ torch.tensor([-1.0, 1.0]).double()
        assert drop == pytest.approx(float(before - after), abs=TOLERANCE)


def test_document_outputs_are_what_explain_explains(pipeline):
    explanations = explain(pipeline, TEXTS, target="pos")
    outputs = document_outputs(pipeline, TEXTS)
    assert [e.target_value for e in explanations] == pytest.approx(outputs[:, 1].tolist(), abs=TOLERANCE)


def test_faithful_explanations_beat_random_words():
    # "good"/"bad" alone decide the class; the other words carry nothing.
    texts = [f"{w} film with the plot" for w in ("good", "bad")] * 3
    encoder = IdEncoder.fit(texts)
    model = EmbeddingBagModel(len(encoder.vocabulary), 2, 2)
    with torch.no_grad():
        model.embedding.weight.zero_()
        model.embedding.weight[encoder.vocabulary.encode(["good"])[0]] = torch.tensor([3.0, 0.0])
        model.embedding.weight[encoder.vocabulary.encode(["bad"])[0]] = torch.tensor([0.0, 3.0])
        model.head.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
        model.head.bias.zero_()
    pipe = TextPipeline(model, encoder, LABELS)
    explanations = explain(pipe, texts)
    assert deletion_drops(pipe, explanations, k=1).min() > 0.5
    assert deletion_drops(pipe, explanations, k=1, order="random", seed=0).mean() < 0.5
    curve = deletion_curve(pipe, explanations, steps=5)
    assert curve.shape == (6, 6) and (curve[:, 1:] <= curve[:, :1] + TOLERANCE).all()
    assert aopc(curve) > aopc(deletion_curve(pipe, explanations, steps=5, order="random"))


@pytest.mark.parametrize("call, message", [
    (lambda p, e: deletion_drops(p, e, k=0), "k must be a positive integer"),
    (lambda p, e: deletion_curve(p, e, steps=1.5), "steps must be a positive integer"),
    (lambda p, e: deletion_drops(p, e, order="worst"), "order must be one of relevance, random"),
    (lambda p, e: aopc(np.zeros((2, 1))), "steps >= 1"),
    (lambda p, e: IntegratedGradients(steps=0), "steps must be a positive integer"),
    (lambda p, e: explain(p, TEXTS[0], composite="integrated-gradient"),
     "unknown method 'integrated-gradient' .did you mean 'integrated-gradients'.."),
    (lambda p, e: explain(p, TEXTS[0], method="epsilon", composite="zero"), "not both"),
])
def test_bad_requests_name_the_fix(pipeline, call, message):
    explanations = explain(pipeline, TEXTS[:1], target="pos")
    with pytest.raises(DoclrpError, match=message):
        call(pipeline, explanations)


def test_occlusion_needs_a_padding_id():
    model = nn.Sequential(nn.Embedding(10, 3), nn.Flatten(), nn.Linear(6, 2))
    with pytest.raises(DoclrpError, match="no padding_idx"):
        Occlusion().attribute(model, torch.tensor([[1, 2]]))


def test_lrp_and_baselines_share_the_engine_target():
    # A callable target is resolved once, at x, by every method.
    model, ids = cnn(), ids_with_padding()
    chosen = attribute(model, ids, None, "epsilon").target
    for method in (GradientXInput(), Saliency(), IntegratedGradients(steps=2), Occlusion(), RandomRelevance()):
        assert torch.equal(method.attribute(model, ids).target, chosen)


def bow_pipeline():
    torch.manual_seed(0)
    encoder = TfidfEncoder.fit(TEXTS, min_df=1)
    return TextPipeline(BowMLP(encoder.n_features, hidden=(8,), n_outputs=2).eval(), encoder, LABELS)


def test_one_document_without_known_words_does_not_end_the_evaluation():
    texts = [*TEXTS, "Mene, mene, tekel, upharsen.", " "]
    ids = ["d0", "d1", "d2", "fortune-53", "blank"]
    scores = compare_methods(bow_pipeline(), texts, ["epsilon", "random"], k=1, steps=2, ids=ids)
    for score in scores:
        assert score.documents == ("d0", "d1", "d2")
        assert score.skipped == {"fortune-53": "has no word the model knows", "blank": "is empty"}
    assert skipped_line(scores[0].skipped, len(texts)) == (
        "skipped 2 of 5 documents: fortune-53 (has no word the model knows), blank (is empty)")
    with pytest.raises(DoclrpError, match="none of the 1 documents can be explained"):
        compare_methods(bow_pipeline(), ["Mene, mene."], ["random"])


@pytest.mark.parametrize("kind", ["bow", "ids"])
def test_explain_names_unexplainable_documents_by_id(pipeline, kind):
    pipe = bow_pipeline() if kind == "bow" else pipeline
    with pytest.raises(DoclrpError, match=r"^document fortune-53 has (no|only) word"):
        explain(pipe, [TEXTS[0], "Mene mene tekel"], ids=["d0", "fortune-53"])
