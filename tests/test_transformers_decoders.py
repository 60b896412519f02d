"""Attention-aware LRP on Hugging Face decoder classifiers (Llama, Mistral, Qwen2, Qwen3, Gemma, Phi-3, GPT-2):
exact forward, conservation under CP-LRP, and the attention and gated-MLP rules against
explicit references. Tiny random-config models built from configs (no downloads).
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from torch import nn

transformers = pytest.importorskip("transformers")

import doclrp  # noqa: E402
from doclrp.core.attachment import attach  # noqa: E402
from doclrp.errors import DoclrpError  # noqa: E402
from references import (  # noqa: E402
    COMPOSITES,
    CONSERVATION_TOLERANCE,
    DECODERS,
    FORWARD_TOLERANCE,
    REFERENCE_TOLERANCE,
    WORDS,
    batch,
    bpe_tokenizer,
    decoder_batch,
    model_state,
    reference_run,
    tiny_decoder,
    tiny_model,
    word_tokenizer,
    zero_biases,
)


@pytest.mark.parametrize("family", DECODERS)
@pytest.mark.parametrize("composite", COMPOSITES)
def test_forward_is_exact_and_model_unchanged(family, composite):
    model = tiny_decoder(family)
    ids, kwargs = decoder_batch()
    before = model_state(model)
    with torch.no_grad():
        plain = model(ids, **kwargs).logits
    attribution = doclrp.attribute(model, ids, composite=composite, forward_kwargs=kwargs)
    assert (attribution.logits - plain).abs().max() < FORWARD_TOLERANCE
    hooks, params, implementation, training = model_state(model)
    assert (hooks, implementation, training) == before[0:1] + before[2:]
    for name, (value, flag) in params.items():
        assert torch.equal(value, before[1][name][0]) and flag == before[1][name][1], name
    assert torch.isfinite(attribution.relevance).all() and attribution.relevance.shape == ids.shape


@pytest.mark.parametrize("family", DECODERS)
def test_cp_lrp_conserves_without_biases(family):
    model = zero_biases(tiny_decoder(family)).double()
    ids, kwargs = decoder_batch()
    attribution = doclrp.attribute(model, ids, composite="cp-lrp", forward_kwargs=kwargs)
    # rotary positions take no share; GPT-2's learned position embeddings theirs, reported apart
    assert list(attribution.other_relevance) == (["transformer.wpe"] if family == "gpt2" else [])
    assert (attribution.delta.abs() <= CONSERVATION_TOLERANCE * attribution.target_output.abs()).all()
    # right padding: what the padded positions of row 1 get is nothing
    assert attribution.relevance[1, 6:].abs().max() == 0


@pytest.mark.parametrize("family", DECODERS)
@pytest.mark.parametrize("composite", COMPOSITES)
@pytest.mark.parametrize("eps", [0.0, 1e-6])
def test_attention_and_gate_rules_equal_explicit_reference(family, composite, eps, reference_attention):
    model = tiny_decoder(family).double()
    ids, kwargs = decoder_batch()
    ours = doclrp.attribute(model, ids, composite=doclrp.get_composite(composite, eps=eps), forward_kwargs=kwargs)
    reference = reference_run(model, composite, reference_attention[composite], ids, kwargs, eps)
    if reference is None:
        pytest.skip(f"{family} in transformers {transformers.__version__} computes attention outside the "
                    "AttentionInterface registry: no place to swap in the reference")
    assert torch.allclose(ours.logits, reference.logits, rtol=0, atol=1e-12)
    assert torch.allclose(ours.relevance, reference.relevance, rtol=REFERENCE_TOLERANCE, atol=1e-15)


@pytest.mark.parametrize("norm", ["torch", "llama", "gemma"])
def test_rms_norm_rule_equals_gradient_with_constant_rms(norm):
    # identity rule (what the composites give RMSNorm) == LRP-0 of RMSNorm with its rms held constant
    torch.manual_seed(0)
    if norm == "torch":
        module = nn.RMSNorm(6, eps=1e-6).double()
    else:  # Gemma's scales by (1 + w)
        name = "LlamaRMSNorm" if norm == "llama" else "GemmaRMSNorm"
        module = getattr(__import__(f"transformers.models.{norm}.modeling_{norm}", fromlist=[name]), name)
        module = module(6, eps=1e-6).double()
    with torch.no_grad():
        module.weight.uniform_(0.5, 1.5)
    x = torch.randn(4, 3, 6, dtype=torch.float64, requires_grad=True)
    g = torch.randn(4, 3, 6, dtype=torch.float64)
    composite = doclrp.get_composite("cp-lrp")
    rule = composite.rule_for("norm", module)
    with attach(module, composite):
        (ours,) = torch.autograd.grad(module(x), x, g)
    y = module(x).detach()
    scale = (y / x).detach()  # w / rms(x), per element, held constant
    (expected,) = torch.autograd.grad(x * scale, x, g)
    assert type(rule).__name__ == "Pass"
    assert torch.allclose(ours, expected, rtol=1e-12, atol=1e-14)
    assert torch.allclose((x * ours).sum(), (y * g).sum())  # R_in = R_out


def test_gated_mlp_of_unknown_layout_is_refused():
    class Block(nn.Module):  # an up projection with no gate: not the product the rules assume
        def __init__(self):
            super().__init__()
            self.up_proj, self.down_proj, self.act_fn = nn.Linear(4, 8), nn.Linear(8, 4), nn.SiLU()

        def forward(self, x):
            return self.down_proj(self.act_fn(self.up_proj(x)))

    model = nn.Sequential()
    model.add_module("mlp", Block())
    with pytest.raises(DoclrpError, match="gate or up projection but not a layout"):
        doclrp.attribute(model, torch.randn(2, 4), target=0, composite="attnlrp")


def test_unequal_fused_projections_are_refused():
    # Phi-3 with fewer key/value heads than query heads: q|k|v are not three equal parts
    config = transformers.AutoConfig.for_model(
        "phi3", vocab_size=60, num_labels=2, pad_token_id=0, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=4, num_key_value_heads=2, intermediate_size=32)
    model = transformers.AutoModelForSequenceClassification.from_config(config).eval()
    with pytest.raises(DoclrpError, match="does not split into three equal parts"):
        doclrp.attribute(model, torch.randint(3, 60, (2, 5)), composite="cp-lrp")


def test_decoder_pipeline_explains_long_documents_word_by_word():
    from doclrp import explain
    from doclrp.models.hf import HFPipeline

    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(
        "llama", vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, pad_token_id=WORDS.index("[PAD]"), num_labels=2, initializer_range=0.2)
    model = transformers.AutoModelForSequenceClassification.from_config(config)
    pipeline = HFPipeline(model, word_tokenizer("llama", max_length=8))
    assert pipeline.max_tokens == 7  # the start token takes one place
    text = "The cat sat on the mat and the dog ran very fast , the team won"
    explanation = explain(pipeline, text, composite="cp-lrp")
    assert [w.text for w in explanation.words][:4] == ["The", "cat", "sat", "on"]
    assert len(explanation.words) == 16  # every word, over three windows
    assert set(explanation.special) == {"<s>"}  # every piece is placed in a word
    assert all(w.relevance != 0 for w in explanation.words)
    # a document of one window: the words and <s> hold the whole logit (no biases, CP-LRP)
    short = explain(pipeline, "the cat sat", composite="cp-lrp")
    assert set(short.special) == {"<s>"}
    total = sum(w.relevance for w in short.words) + short.special["<s>"]
    assert abs(total - short.target_value) <= 1e-4 * abs(short.target_value)


def test_pad_token_comes_from_the_model_config_and_must_agree_with_it():
    from doclrp.models.hf import HFPipeline

    config = transformers.AutoConfig.for_model(
        "llama", vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, pad_token_id=WORDS.index("</s>"), num_labels=2)
    model = transformers.AutoModelForSequenceClassification.from_config(config)
    tokenizer = word_tokenizer("llama")
    tokenizer.pad_token = None  # as many decoder tokenizers come
    pipeline = HFPipeline(model, tokenizer)
    assert pipeline.tokenizer.pad_token == "</s>"
    # a tokenizer padding with another id than the model skips would be read as text
    with pytest.raises(DoclrpError, match=r"pads with id 0 but the model's config.pad_token_id is 5"):
        HFPipeline(model, word_tokenizer("llama"))


@pytest.mark.parametrize("family", ["bert", "llama"])
@pytest.mark.parametrize("composite", COMPOSITES)
def test_bfloat16_models_are_explained_like_float32_ones(family, composite):
    model = tiny_model(family) if family == "bert" else tiny_decoder(family)
    ids, kwargs = batch(model) if family == "bert" else decoder_batch()
    full = doclrp.attribute(model, ids, composite=composite, forward_kwargs=kwargs)
    half = model.to(torch.bfloat16)
    with torch.no_grad():
        plain = half(ids, **kwargs).logits
    attribution = doclrp.attribute(half, ids, composite=composite, forward_kwargs=kwargs)
    assert attribution.relevance.dtype == torch.bfloat16 and torch.equal(attribution.logits, plain)
    # bfloat16 keeps 8 bits of mantissa: the relevance follows the float32 one to a few percent
    error = (attribution.relevance.float() - full.relevance).norm() / full.relevance.norm()
    assert error < 0.05, float(error)


@pytest.mark.parametrize("style", ["byte-level", "metaspace"])
def test_bpe_pieces_of_decoder_tokenizers_are_summed_into_words(style):
    from doclrp import explain
    from doclrp.models.hf import HFPipeline

    tokenizer = bpe_tokenizer(style)
    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(
        "llama", vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=2, pad_token_id=tokenizer.pad_token_id, initializer_range=0.2)
    pipeline = HFPipeline(transformers.AutoModelForSequenceClassification.from_config(config), tokenizer)
    text = "The  striker scored twice, as the home side won the final."   # two spaces: a piece of its own
    pieces = tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])
    assert any(p in ("Ġ", "▁") for p in pieces) and len(pieces) > 12   # words split into pieces
    explanation = explain(pipeline, text, composite="cp-lrp")
    assert [w.text for w in explanation.words][:4] == ["The", "striker", "scored", "twice"]
    # a piece is never split: a word inside another word's piece ('.' of '▁final.') holds nothing
    assert all(w.relevance != 0 for w in explanation.words[:-1])
    # what no word holds: the start token and the lone-space piece, reported apart, nothing lost
    assert set(explanation.special) <= {"<s>", "unassigned"}
    total = sum(w.relevance for w in explanation.words) + sum(explanation.special.values())
    assert total == pytest.approx(explanation.target_value - explanation.delta, rel=1e-5, abs=1e-7)
