"""The tests' shared slow references and tiny models (plain functions; no test module imports another).

- The rules of DESIGN.md §3.5 as explicit matrix forms of their equations, in float64,
  building the (batch, in, out) contribution tensor the engine never builds.
- The papers' attention and gated-MLP rules written out (CP-LRP, AttnLRP), swapped into
  Hugging Face models to check the transformer composites against.
- The gradient at an embedding by hand, the reference of the baselines.
- The LRP Toolbox's forward and ``net.lrp(R, method, param)`` in numpy, written from its
  published equations (Linear, Convolution, SumPool, MaxPool, Rect, Tanh, Flatten), and a
  writer of its plain-text model format.
- Tiny random-config Hugging Face encoders and decoders (no downloads), their batches and
  an in-memory word tokenizer; the CLI runner.

>>> import torch
>>> from doclrp.core.rules import Zero
>>> layer = torch.nn.Linear(3, 2, bias=False).double()
>>> x, g = torch.rand(4, 3, dtype=torch.float64), torch.ones(4, 2, dtype=torch.float64)
>>> torch.allclose(rule_reference(Zero(), layer, x, g).sum(1), layer(x).sum(1))
True

transformers and tokenizers are imported inside the functions that need them: the rule
references serve test modules that run without them.
"""

import contextlib
import inspect
import math
import os
import sys
import types
from collections.abc import Sequence

import numpy as np
import pytest
import torch
from torch import nn

import doclrp
from doclrp.cli import main
from doclrp.core import Gradient
from doclrp.core.linear import is_dense
from doclrp.core.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, Zero, ZPlus
from doclrp.models.hf.composites import _transformer_composite  # a composite of all-1 factors: no public maker
from doclrp.models.hf.layouts import is_disentangled_attention
from doclrp.models.hf.pipeline import takes_row_positions

__all__ = [
    "dense_matrix", "bias_vector", "rule_reference", "sum_reference", "product_reference",
    "Half", "attention_by_the_rules", "reference_run",
    "embedding_gradients",
    "FORWARD_TOLERANCE", "CONSERVATION_TOLERANCE", "REFERENCE_TOLERANCE",
    "FAMILIES", "DECODERS", "COMPOSITES", "WORDS",
    "tiny_model", "batch", "tiny_decoder", "decoder_batch", "zero_biases", "word_tokenizer", "model_state",
    "SUBWORDS", "subword_tokenizer",
    "run_cli",
    "toolbox_forward", "toolbox_lrp", "write_toolbox_model",
    "alpha_beta_dropping_reference", "window_membership", "pool_reference",
    "pdf_bytes", "pdf_of_text", "docx_bytes", "eml_bytes",
]


# -- the rules, by their equations ---------------------------------------------------------------
def dense_matrix(layer: nn.Module, weight: torch.Tensor, in_shape) -> torch.Tensor:
    """(in_features, out_features) matrix of the bias-free layer with ``weight``, column by basis vector."""
    n_in = int(torch.tensor(in_shape).prod())
    basis = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *in_shape)
    if isinstance(layer, nn.Linear):
        out = nn.functional.linear(basis, weight)
    else:
        out = layer._conv_forward(basis, weight, None)
    return out.reshape(n_in, -1)


def bias_vector(layer, out_shape):
    if layer.bias is None:
        return torch.zeros(int(torch.tensor(out_shape).prod()), dtype=torch.float64)
    if isinstance(layer, nn.Linear):
        return layer.bias.detach().clone()
    return layer.bias.detach().view(-1, *([1] * (len(out_shape) - 1))).expand(out_shape).reshape(-1)


def rule_reference(rule, layer, x, g):
    """R_j of ``rule`` for one layer, written as its equation over explicit contributions."""
    batch = x.shape[0]
    W = layer.weight.detach()
    M = dense_matrix(layer, W, x.shape[1:])
    xf = x.reshape(batch, -1)
    c = xf[:, :, None] * M[None]                      # (batch, in, out)
    out_shape = layer(x[:1]).shape[1:]
    b = bias_vector(layer, out_shape)[None]            # (1, out)
    z = c.sum(1) + b
    R = z * g.reshape(batch, -1)
    pos, neg = c.clamp(min=0), c.clamp(max=0)
    zp, zn = pos.sum(1) + b.clamp(min=0), neg.sum(1) + b.clamp(max=0)
    if isinstance(rule, Zero):
        share = c / z[:, None]
    elif isinstance(rule, Epsilon):
        share = c / (z + rule.eps * (2.0 * (z >= 0).double() - 1.0))[:, None]
    elif isinstance(rule, Gamma):
        up = (z >= 0)[:, None]
        num = c + rule.gamma * torch.where(up, pos, neg)
        den = z + rule.gamma * torch.where(z >= 0, zp, zn)
        share = num / den[:, None]
    elif isinstance(rule, (AlphaBeta, ZPlus)):
        alpha, beta = (1.0, 0.0) if isinstance(rule, ZPlus) else (rule.alpha, rule.beta)
        has_p, has_n = (zp > 0)[:, None], (zn < 0)[:, None]
        # Documented fallback: an output with no positive (negative) part hands all of
        # its relevance to the other side, so bias-free layers conserve.
        safe_zp, safe_zn = torch.where(zp > 0, zp, 1.0)[:, None], torch.where(zn < 0, zn, -1.0)[:, None]
        share = torch.where(has_p & has_n, alpha * pos / safe_zp - beta * neg / safe_zn,
                            torch.where(has_p, pos / safe_zp, torch.where(has_n, neg / safe_zn, 0.0)))
    elif isinstance(rule, Flat):
        M1 = dense_matrix(layer, torch.ones_like(W), x.shape[1:])[None].expand(batch, -1, -1)
        share = M1 / M1.sum(1, keepdim=True)
    elif isinstance(rule, WSquare):
        M2 = dense_matrix(layer, W**2, x.shape[1:])[None].expand(batch, -1, -1)
        share = M2 / M2.sum(1, keepdim=True)
    elif isinstance(rule, ZBox):
        Mp = dense_matrix(layer, W.clamp(min=0), x.shape[1:])
        Mn = dense_matrix(layer, W.clamp(max=0), x.shape[1:])
        cb = c - rule.low * Mp[None] - rule.high * Mn[None]
        share = cb / cb.sum(1, keepdim=True)
    else:
        raise AssertionError(rule)
    return (share * R[:, None, :]).sum(2).reshape(x.shape)


def sum_reference(rule, coefficients, inputs, g):
    """``[R_i]`` of ``rule`` on the sum ``z = Σ_i c_i x_i`` (a merge layer), element by element from
    its terms ``c_i x_i``, as the rule's equation on a bias-free layer with weights ``c_i``; float64."""
    terms = torch.stack([c * x for c, x in zip(coefficients, inputs)])   # (n, *shape)
    z = terms.sum(0)
    R = z * g
    pos, neg = terms.clamp(min=0), terms.clamp(max=0)
    zp, zn = pos.sum(0), neg.sum(0)
    if isinstance(rule, Zero):
        share = terms / z
    elif isinstance(rule, Epsilon):
        share = terms / (z + rule.eps * (2.0 * (z >= 0).double() - 1.0))
    elif isinstance(rule, Gamma):
        share = (terms + rule.gamma * torch.where(z >= 0, pos, neg)) / (z + rule.gamma * torch.where(z >= 0, zp, zn))
    elif isinstance(rule, (AlphaBeta, ZPlus)):
        alpha, beta = (1.0, 0.0) if isinstance(rule, ZPlus) else (rule.alpha, rule.beta)
        safe_zp, safe_zn = torch.where(zp > 0, zp, 1.0), torch.where(zn < 0, zn, -1.0)
        share = torch.where((zp > 0) & (zn < 0), alpha * pos / safe_zp - beta * neg / safe_zn,
                            torch.where(zp > 0, pos / safe_zp, torch.where(zn < 0, neg / safe_zn, 0.0)))
    else:
        raise AssertionError(rule)
    return list((share * R).unbind(0))


def product_reference(keep, inputs, g):
    """``[R_i]`` on the product ``z = Π_i x_i``: ``R/n`` each (``keep`` None), or all to factor ``keep``."""
    z = torch.stack(inputs).prod(0)
    R = z * g
    if keep is None:
        return [R / len(inputs) for _ in inputs]
    return [R if i == keep else torch.zeros_like(R) for i in range(len(inputs))]


# -- attention and gated MLPs, by the papers' rules ----------------------------------------------
class Half(torch.autograd.Function):
    """The identity whose backward halves the gradient: the uniform rule on each operand of a product."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g / 2


def _rule_attention(rule, query, key, value, scaling, *biases):
    """``softmax(Q Kᵀ · scaling + biases) V`` with the papers' rules written out: CP-LRP holds
    P constant; AttnLRP halves the gradient of each bilinear product (uniform rule) and keeps
    softmax's gradient. Returns the output and P."""
    scores = query @ key.transpose(-1, -2)
    if rule == "attnlrp":
        scores = Half.apply(scores)
    scores = scores * scaling
    for bias in biases:
        if bias is not None:
            scores = scores + bias
    probabilities = torch.softmax(scores, dim=-1)
    if rule == "cp-lrp":
        probabilities = probabilities.detach()
    out = probabilities @ value
    return (Half.apply(out) if rule == "attnlrp" else out), probabilities


def attention_by_the_rules(rule):
    """The registry's attention function, by the rules."""

    def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        if key.shape[1] != query.shape[1]:  # grouped-query attention: a key/value head per group of queries
            groups = query.shape[1] // key.shape[1]
            key, value = key.repeat_interleave(groups, 1), value.repeat_interleave(groups, 1)
        if scaling is None:  # GPT-2 in transformers 4 leaves its default scale to the function
            scaling = query.shape[-1] ** -0.5
        out, probabilities = _rule_attention(rule, query, key, value, scaling, attention_mask)
        return out.transpose(1, 2).contiguous(), probabilities

    return attention


def _reference_mlp(rule):
    """Gated MLPs written out: CP-LRP holds the activated operand (the gate) constant; AttnLRP
    halves the gradient of each operand of the product (uniform rule). Llama's, ModernBERT's, Phi-3's."""

    def hook(mlp, args, output):
        x = args[0]
        if hasattr(mlp, "Wi"):
            a, b = mlp.Wi(x).chunk(2, dim=-1)
            gate, up, down = mlp.act(a), b, mlp.Wo
        elif hasattr(mlp, "gate_up_proj"):
            a, b = mlp.gate_up_proj(x).chunk(2, dim=-1)
            gate, up, down = mlp.activation_fn(a), b, mlp.down_proj
        else:
            gate, up, down = mlp.act_fn(mlp.gate_proj(x)), mlp.up_proj(x), mlp.down_proj
        if rule == "cp-lrp":
            gate = gate.detach()
        else:
            gate, up = Half.apply(gate), Half.apply(up)
        return down(gate * up)

    return hook


def _reference_mpnet_attention(rule):
    """MPNet's attention (outside the registry, with its relative position bias), by the rules."""

    def forward(self, *args, **kwargs):
        # the arguments as the model's own forward names them (transformers 4 passes a head mask too)
        call = inspect.signature(type(self).forward).bind(self, *args, **kwargs).arguments
        hidden_states, attention_mask, position_bias = (call.get(k) for k in ("hidden_states", "attention_mask",
                                                                                "position_bias"))
        shape = (*hidden_states.shape[:-1], -1, self.attention_head_size)
        query, key, value = (proj(hidden_states).view(shape).transpose(1, 2) for proj in (self.q, self.k, self.v))
        out, _ = _rule_attention(rule, query, key, value, 1 / math.sqrt(self.attention_head_size),
                                 position_bias, attention_mask)
        return (self.o(out.permute(0, 2, 1, 3).reshape(*hidden_states.shape[:-1], -1)),)

    return forward


class _Names:
    """A module-level name of one modeling file with some attributes replaced (test-only)."""

    def __init__(self, real, **replaced):
        self._real, self._replaced = real, replaced

    def __getattr__(self, name):
        return self._replaced[name] if name in self._replaced else getattr(self._real, name)


@contextlib.contextmanager
def _deberta_by_the_rules(model, rule):
    """DeBERTa's own attention code run with the rules: its softmax output held constant (CP-LRP),
    or its two bilinear products, Q Kᵀ and P V, halved in the backward pass (AttnLRP); the
    position terms (non-square products with constant position embeddings) untouched."""
    attention = [m for m in model.modules() if type(m).__name__ == "DisentangledSelfAttention"]
    if not attention:
        yield False
        return
    modeling = sys.modules[type(attention[0]).__module__]

    def bmm(a, b):
        out = torch.bmm(a, b)
        square = out.shape[-1] == out.shape[-2] or a.shape[-1] == a.shape[-2]   # Q Kᵀ, or P V
        return Half.apply(out) if rule == "attnlrp" and square else out

    def softmax(x, dim=-1, **kwargs):
        out = nn.functional.softmax(x, dim=dim, **kwargs)
        return out.detach() if rule == "cp-lrp" else out

    real = modeling.torch, modeling.nn
    modeling.torch = _Names(torch, bmm=bmm)
    modeling.nn = _Names(nn, functional=_Names(nn.functional, softmax=softmax))
    try:
        yield True
    finally:
        modeling.torch, modeling.nn = real


def reference_run(model, rule, attention_name, ids, kwargs, eps):
    """Attribution with the attention and gated MLPs of the papers written out and plain
    projections, or None where the model computes attention outside the registry."""
    own = [m for m in model.modules() if type(m).__name__ == "MPNetSelfAttention"]
    for module in own:  # an instance attribute, deleted after: the class is untouched
        module.forward = types.MethodType(_reference_mpnet_attention(rule), module)
    gated = [m for n, m in model.named_modules()
             if n.endswith(".mlp") and any(hasattr(m, p) for p in ("Wi", "gate_proj", "gate_up_proj"))]
    handles = [m.register_forward_hook(_reference_mlp(rule)) for m in gated]
    plain_products = _transformer_composite("reference", query_key=1.0, value=1.0, gate=1.0, up=1.0, eps=eps)
    # DeBERTa: its own module code runs the rules (above), not doclrp's recomputation
    plain_products.rules[is_disentangled_attention] = Gradient()
    try:
        with _deberta_by_the_rules(model, rule) as deberta:
            if not (own or deberta):
                model.set_attn_implementation(attention_name)
                if model.config._attn_implementation != attention_name:
                    return None
            return doclrp.attribute(model, ids, composite=plain_products, forward_kwargs=kwargs)
    finally:
        for handle in handles:
            handle.remove()
        for module in own:
            del module.forward
        if not own and model.config._attn_implementation == attention_name:
            model.set_attn_implementation("sdpa")


# -- the baselines' reference ---------------------------------------------------------------------
def embedding_gradients(model, ids, weights, scale=1.0):
    """(embedding e, gradient of weights·f at scale·e), by hand: a hook swaps in the scaled leaf."""
    captured = {}

    def swap(module, args, output):
        captured["e"] = output.detach().requires_grad_(True)
        return captured["e"] * scale

    handle = model.embedding.register_forward_hook(swap)
    try:
        explained = (model(ids) * weights).sum()
    finally:
        handle.remove()
    (gradient,) = torch.autograd.grad(explained, captured["e"])
    return captured["e"].detach(), gradient


# -- tiny Hugging Face models ------------------------------------------------------------------------
FORWARD_TOLERANCE = 1e-5        # float32, max abs difference of logits
CONSERVATION_TOLERANCE = 1e-6   # float64, relative to the explained logit
REFERENCE_TOLERANCE = 1e-10     # float64, rule vs explicit reference
FAMILIES = ["bert", "distilbert", "roberta", "albert", "electra", "ernie", "xlm-roberta", "camembert", "mpnet",
            "modernbert", "deberta-v2"]
COMPOSITES = ["cp-lrp", "attnlrp"]
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "<s>", "</s>"] + (
    "the a cat dog sat ran on mat fast slow good bad very not stock market fell rose goal team won lost".split()
)


# Config fields of the families built from AutoConfig (BERT's layout, or ALBERT's).
_MORE_FAMILIES = {
    "albert": {"embedding_size": 8},
    "electra": {"embedding_size": 16},
    "ernie": {},
    "xlm-roberta": {"pad_token_id": 1, "max_position_embeddings": 42},
    "camembert": {"pad_token_id": 1, "max_position_embeddings": 42},
    # attention with a relative position bias, a RoBERTa-style head
    "mpnet": {"pad_token_id": 1, "max_position_embeddings": 42},
    # disentangled attention (DeBERTa v3's settings); 2 x 4 position buckets, unlike the 9 tokens of batch()
    "deberta-v2": {"relative_attention": True, "pos_att_type": ["p2c", "c2p"], "position_buckets": 4,
                   "max_relative_positions": -1, "share_att_key": True, "position_biased_input": False,
                   "norm_rel_ebd": "layer_norm", "type_vocab_size": 0, "pad_token_id": 0},
    # fused q|k|v and gate|up projections, rotary positions, a sliding-window layer
    "modernbert": {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "cls_token_id": 1, "sep_token_id": 2,
                   "global_attn_every_n_layers": 2, "local_attention": 4},
}

# Qwen2 has biases on q/k/v; Mistral and Qwen3 use grouped-query attention here; Qwen3
# normalizes queries and keys (RMSNorm per head); Gemma scales (1 + w) and gates with GELU.
DECODERS = {
    "llama": {},
    "mistral": {"num_key_value_heads": 1},
    "qwen2": {},
    "qwen3": {"num_key_value_heads": 1},
    "gemma": {},
    "phi3": {},  # fused q|k|v and gate|up projections
    "gpt2": {"bos_token_id": 1, "eos_token_id": 2, "n_inner": 32},  # Conv1D (transposed Linear) layers, fused q|k|v
}


def tiny_model(family: str, n_labels: int = 3, vocab: int = 60, seed: int = 0, **extra) -> nn.Module:
    """Two layers, hidden 16, two heads; ``extra`` overrides config fields."""
    transformers = pytest.importorskip("transformers")  # optional: skips only the tests that need it
    from transformers import (BertConfig, BertForSequenceClassification, DistilBertConfig,
                              DistilBertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification)

    torch.manual_seed(seed)
    if family == "distilbert":
        config = DistilBertConfig(**{"dim": 16, "n_layers": 2, "n_heads": 2, "hidden_dim": 32,
                                     "max_position_embeddings": 40, **extra})
        model = DistilBertForSequenceClassification
    else:
        fields = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
                  "max_position_embeddings": 40}
        if family == "bert":
            config, model = BertConfig(**{**fields, **extra}), BertForSequenceClassification
        elif family == "roberta":
            config = RobertaConfig(**{**fields, "max_position_embeddings": 42, "pad_token_id": 1, **extra})
            model = RobertaForSequenceClassification
        else:
            config = transformers.AutoConfig.for_model(family, **{**fields, **_MORE_FAMILIES[family], **extra})
            model = transformers.AutoModelForSequenceClassification.from_config
    config.vocab_size, config.num_labels = vocab, n_labels
    return model(config).eval()


def batch(model: nn.Module, seed: int = 1):
    """Token ids (3, 9) with padding in row 1, and the forward kwargs HFPipeline.collate gives."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, model.config.vocab_size, (3, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    ids[1, 6:] = model.config.pad_token_id
    kwargs = {"attention_mask": mask}
    if takes_row_positions(model):
        kwargs["position_ids"] = torch.arange(9).expand(3, 9)
    return ids, kwargs


def zero_biases(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        for module in model.modules():
            if (isinstance(module, nn.LayerNorm) or is_dense(module)) and module.bias is not None:
                module.bias.zero_()
    return model


def word_tokenizer(style: str = "bert", max_length: int = 12):
    """A fast word-level tokenizer built in memory, with BERT, RoBERTa or Llama (start token only) specials."""
    pytest.importorskip("transformers")  # optional: skips only the tests that need it
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    if style == "bert":
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
        specials = dict(cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]")
    elif style == "llama":  # a start token only
        tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 4)])
        specials = dict(bos_token="<s>", pad_token="[PAD]")
    else:
        tokenizer.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", special_tokens=[("<s>", 4), ("</s>", 5)])
        specials = dict(bos_token="<s>", eos_token="</s>", pad_token="[PAD]")
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", model_max_length=max_length,
                                   **specials)


# A WordPiece vocabulary: "Unbelievable" is un ##believ ##able, "players" player ##s.
SUBWORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + (
    "un ##believ ##able film match the a was player ##s team good bad play ##ed ##ing . , !".split()
)


def subword_tokenizer(max_length: int = 40):
    """A fast BERT-style WordPiece tokenizer built in memory (``SUBWORDS``): several pieces per word."""
    pytest.importorskip("transformers")  # optional: skips only the tests that need it
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece({w: i for i, w in enumerate(SUBWORDS)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", model_max_length=max_length,
                                   cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]")


BPE_TEXTS = ("The striker scored twice as the home side won the cup final.",
             "Shares in the chip maker rose after strong results.")


def bpe_tokenizer(style: str, max_length: int = 16, texts: Sequence[str] = BPE_TEXTS):
    """A BPE tokenizer trained in memory: GPT-2's byte level (spaces as 'Ġ', offsets trimmed) or
    SentencePiece's metaspace (spaces as '▁' inside the pieces' offsets), with a start token."""
    pytest.importorskip("transformers")  # optional: skips only the tests that need it
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if style == "byte-level":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        alphabet = []
    tokenizer.train_from_iterator(list(texts) * 20, trainers.BpeTrainer(vocab_size=300, initial_alphabet=alphabet,
                                                             special_tokens=["<unk>", "<pad>", "<s>"]))
    tokenizer.post_processor = processors.Sequence([processors.ByteLevel(trim_offsets=True)] * (style == "byte-level")
                                                   + [processors.TemplateProcessing(single="<s> $A",
                                                                                    special_tokens=[("<s>", 2)])])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                   model_max_length=max_length)


# Causal language models: the decoder families, Gemma 2 (soft-capped logits and attention scores) too.
CAUSAL_LMS = {"llama": {}, "qwen2": {}, "gemma2": {}, "mistral": {"num_key_value_heads": 1}, "phi3": {},
              "gpt2": {"n_inner": 32, "bos_token_id": 4, "eos_token_id": 5}}


def tiny_causal_lm(family: str, vocab: int = len(WORDS), seed: int = 0, positions: int = 64, **extra) -> nn.Module:
    """An ``AutoModelForCausalLM`` of two layers, hidden 16, random weights (biases too)."""
    transformers = pytest.importorskip("transformers")  # optional: skips only the tests that need it
    torch.manual_seed(seed)
    fields = {"vocab_size": vocab, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
              "num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 32, "pad_token_id": 0,
              "initializer_range": 0.2, "max_position_embeddings": positions, "bos_token_id": 4, "eos_token_id": 5}
    config = transformers.AutoConfig.for_model(family, **{**fields, **CAUSAL_LMS[family], **extra})
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.uniform_(-0.5, 0.5)
    return model


def model_state(model: nn.Module):
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())
    params = {name: (p.detach().clone(), p.requires_grad) for name, p in model.named_parameters()}
    return hooks, params, model.config._attn_implementation, model.training


def tiny_decoder(family: str, n_labels: int = 3, seed: int = 0) -> nn.Module:
    transformers = pytest.importorskip("transformers")  # optional: skips only the tests that need it
    torch.manual_seed(seed)
    fields = {"vocab_size": 60, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
              "num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 32, "pad_token_id": 0,
              "num_labels": n_labels, "initializer_range": 0.2}
    config = transformers.AutoConfig.for_model(family, **{**fields, **DECODERS[family]})
    model = transformers.AutoModelForSequenceClassification.from_config(config).eval()
    with torch.no_grad():  # random biases, so that conservation tests see them zeroed, not absent
        for module in model.modules():
            if isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.uniform_(-0.5, 0.5)
    return model


def decoder_batch(seed: int = 1):
    """Ids (3, 9), right-padded in row 1 (the classifier reads the last token before padding)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 60, (3, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    ids[1, 6:] = 0
    return ids, {"attention_mask": mask}


# -- the command line -----------------------------------------------------------------------------
def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- the LRP Toolbox, by its equations (numpy, images (batch, height, width, depth)) --------------------
# Layers are tuples: ("Linear", W (m, n), b), ("Convolution", W (h, w, d, n), b, (s0, s1)),
# ("SumPool" | "MaxPool", (h, w), (s0, s1)), ("Rect",), ("Tanh",), ("Flatten",), ("SoftMax",).
def _np_safe_div(num, den):
    """num / den with 0/0 = 0 (the toolbox's stabilizers make it so)."""
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def _np_sign(z):
    return (z >= 0) * 2.0 - 1.0


def _toolbox_windows(shape, size, stride):
    """(i, j, rows, cols) of every window of an (N, H, W, D) input."""
    rows_out, cols_out = (shape[1] - size[0]) // stride[0] + 1, (shape[2] - size[1]) // stride[1] + 1
    for i in range(rows_out):
        for j in range(cols_out):
            yield i, j, slice(i * stride[0], i * stride[0] + size[0]), slice(j * stride[1], j * stride[1] + size[1])


def toolbox_forward(layers, x):
    """The inputs of every layer and the output: ``(inputs, y)``."""
    inputs = []
    for layer in layers:
        inputs.append(x)
        kind = layer[0]
        if kind == "Linear":
            x = x @ layer[1] + layer[2]
        elif kind == "Convolution":
            _, weight, bias, stride = layer
            h, w, _, n = weight.shape
            rows, cols = (x.shape[1] - h) // stride[0] + 1, (x.shape[2] - w) // stride[1] + 1
            out = np.zeros((x.shape[0], rows, cols, n))
            for i, j, r, c in _toolbox_windows(x.shape, (h, w), stride):
                out[:, i, j, :] = np.tensordot(x[:, r, c, :], weight, axes=([1, 2, 3], [0, 1, 2])) + bias
            x = out
        elif kind in ("SumPool", "MaxPool"):
            _, size, stride = layer
            rows, cols = (x.shape[1] - size[0]) // stride[0] + 1, (x.shape[2] - size[1]) // stride[1] + 1
            out = np.zeros((x.shape[0], rows, cols, x.shape[3]))
            for i, j, r, c in _toolbox_windows(x.shape, size, stride):
                patch = x[:, r, c, :]
                out[:, i, j, :] = patch.sum((1, 2)) / np.sqrt(size[0] * size[1]) if kind == "SumPool" \
                    else patch.max((1, 2))
            x = out
        elif kind == "Flatten":
            x = x.reshape(x.shape[0], -1)
        elif kind == "Rect":
            x = np.maximum(x, 0)
        elif kind == "Tanh":
            x = np.tanh(x)
        elif kind == "SoftMax":
            e = np.exp(x - x.max(1, keepdims=True))
            x = e / e.sum(1, keepdims=True)
    return inputs, x


def _toolbox_shares(method, param, Z, bias, axes, weights=None):
    """(…, out) shares of one output's relevance over its inputs, for contributions ``Z``
    (batch, *inputs, out) summed over ``axes``, ``bias`` (out,)."""
    keep = dict(axis=axes, keepdims=True)
    if method == "flat":
        ones = np.ones_like(Z)
        return ones / ones.sum(**keep)
    if method == "ww":
        square = np.broadcast_to(weights ** 2, Z.shape)
        return square / square.sum(**keep)
    Zs = Z.sum(**keep) + bias
    if method == "simple":
        return Z / (Zs + 1e-16 * _np_sign(Zs))
    if method == "epsilon":
        return Z / (Zs + param * _np_sign(Zs))
    alpha, beta = param, 1 - param  # the toolbox's α + β = 1 with β added: doclrp's β is −(1 − α)
    Zp, Zn = Z * (Z > 0), Z * (Z < 0)
    return (alpha * _np_safe_div(Zp, Zp.sum(**keep) + np.maximum(bias, 0))
            + beta * _np_safe_div(Zn, Zn.sum(**keep) + np.minimum(bias, 0)))


def _toolbox_layer_lrp(layer, x, R, method, param):
    kind = layer[0]
    if kind in ("Rect", "Tanh", "SoftMax"):
        return R
    if kind == "Flatten":
        return R.reshape(x.shape)
    if kind == "Linear":
        _, W, B = layer
        Z = x[:, :, None] * W[None]                                   # (N, m, n)
        return (_toolbox_shares(method, param, Z, B, (1,), W[None]) * R[:, None, :]).sum(2)
    Rx = np.zeros_like(x)
    if kind == "Convolution":
        _, W, B, stride = layer
        for i, j, r, c in _toolbox_windows(x.shape, W.shape[:2], stride):
            Z = W[None] * x[:, r, c, :, None]                          # (N, h, w, d, n)
            shares = _toolbox_shares(method, param, Z, B, (1, 2, 3), W[None])
            Rx[:, r, c, :] += (shares * R[:, i:i + 1, j:j + 1, None, :]).sum(4)
        return Rx
    _, size, stride = layer
    for i, j, r, c in _toolbox_windows(x.shape, size, stride):
        Z = x[:, r, c, :]                                              # (N, h, w, D)
        if method in ("flat", "ww"):
            shares = np.ones_like(Z) / (size[0] * size[1])
        elif kind == "MaxPool":                                        # every method: the maxima, ties split
            winners = (Z == Z.max((1, 2), keepdims=True)).astype(float)
            shares = winners / winners.sum((1, 2), keepdims=True)
        elif method == "simple":                                       # on the unscaled window sum
            Zs = Z.sum((1, 2), keepdims=True)
            shares = Z / (Zs + 1e-12 * _np_sign(Zs))
        else:
            shares = _toolbox_shares(method, param, Z, np.zeros(Z.shape[-1]), (1, 2))
        Rx[:, r, c, :] += shares * R[:, i:i + 1, j:j + 1, :]
    return Rx


def toolbox_lrp(layers, x, method, param=None, first=None):
    """The toolbox's ``net.lrp(Y * onehot(argmax Y), method, param)`` on the model without its
    SoftMax, with ``first`` (a method) for the first layer; returns ``(relevance, explained logit)``."""
    layers = [layer for layer in layers if layer[0] != "SoftMax"]
    inputs, y = toolbox_forward(layers, x)
    R = y * (y == y.max(1, keepdims=True))
    for index in reversed(range(len(layers))):
        m = first if index == 0 and first is not None else method
        R = _toolbox_layer_lrp(layers[index], inputs[index], R, m, param)
    return R, y.max(1)


def write_toolbox_model(path, layers):
    """The layers in the toolbox's plain-text format (what its model_io.write produces)."""
    lines = []
    for layer in layers:
        kind = layer[0]
        if kind == "Linear":
            lines += [f"Linear {layer[1].shape[0]} {layer[1].shape[1]}",
                      " ".join(repr(float(v)) for v in layer[1].ravel()), " ".join(repr(float(v)) for v in layer[2])]
        elif kind == "Convolution":
            lines += ["Convolution " + " ".join(map(str, (*layer[1].shape, *layer[3]))),
                      " ".join(repr(float(v)) for v in layer[1].ravel()), " ".join(repr(float(v)) for v in layer[2])]
        elif kind in ("SumPool", "MaxPool"):
            lines.append(f"{kind} {layer[1][0]} {layer[1][1]} {layer[2][0]} {layer[2][1]}")
        else:
            lines.append(kind)
    path.write_text("\n".join(lines) + "\n")
    return path


# -- rules beyond the input layer, by their equations ----------------------------------------------------
def alpha_beta_dropping_reference(rule, layer, x, g):
    """αβ with the toolbox's 0/0 = 0: ``R_j = Σ_k (α c⁺_jk / z⁺_k − β c⁻_jk / z⁻_k) R_k``, each ratio 0
    where its denominator is."""
    batch = x.shape[0]
    M = dense_matrix(layer, layer.weight.detach(), x.shape[1:])
    c = x.reshape(batch, -1)[:, :, None] * M[None]
    b = bias_vector(layer, layer(x[:1]).shape[1:])[None]
    R = (c.sum(1) + b) * g.reshape(batch, -1)
    pos, neg = c.clamp(min=0), c.clamp(max=0)
    zp, zn = pos.sum(1) + b.clamp(min=0), neg.sum(1) + b.clamp(max=0)
    up = torch.where(zp != 0, rule.alpha / torch.where(zp != 0, zp, 1.0), 0.0)[:, None]
    down = torch.where(zn != 0, rule.beta / torch.where(zn != 0, zn, 1.0), 0.0)[:, None]
    return ((pos * up - neg * down) * R[:, None, :]).sum(2).reshape(x.shape)


def window_membership(pool, in_shape):
    """(in, out) 0/1 matrix: input j lies in the window of output k (padding excluded), column by basis vector."""
    n_in = int(torch.tensor(in_shape).prod())
    basis = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *in_shape)
    dims = len(in_shape) - 1
    average = getattr(nn.functional, f"avg_pool{dims}d")
    kernel = pool.kernel_size if isinstance(pool.kernel_size, tuple) else (pool.kernel_size,) * dims
    out = average(basis, pool.kernel_size, pool.stride, pool.padding, count_include_pad=True) * math.prod(kernel)
    return out.reshape(n_in, -1).round()


def pool_reference(kind, pool, x, g):
    """``R_j`` of a pooling layer with ``R_k = y_k g_k``: ``"flat"`` (even over each window) or
    ``"split"`` (the window's maxima, ties evenly)."""
    batch = x.shape[0]
    M = window_membership(pool, x.shape[1:])[None].expand(batch, -1, -1)
    y = pool(x).reshape(batch, -1)
    R = y * g.reshape(batch, -1)
    if kind == "split":
        M = M * (x.reshape(batch, -1)[:, :, None] == y[:, None, :])
    return ((M / M.sum(1, keepdim=True)) * R[:, None, :]).sum(2).reshape(x.shape)


# -- recurrent layers: Arras et al. (2017) unrolled in numpy, one sample at a time ---------------
def _np_sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _np_epsilon_share(z, eps):
    """``1 / (z + ε·sign(z))`` with sign(0) = +1; 0 where the denominator is 0 (ε = 0, z = 0)."""
    den = z + eps * np.where(z >= 0, 1.0, -1.0)
    return _np_safe_div(np.ones_like(z), den)


def recurrent_reference(module, x, relevance_out, eps):
    """Relevance at the input ``(T, in)`` of ``module`` (an ``nn.LSTM``/``nn.GRU``, batch_first,
    float64) for one sample ``x (T, in)``, given the relevance of its outputs ``(T, D·H)``.

    Written from Arras et al. (2017) step by step: forward in numpy with the torch equations;
    backward: ``h = o·tanh(c)`` gives all of ``R_h`` to ``c``; ``c_t = f c_{t−1} + i g`` splits
    ``R_c`` in proportion ``f c_{t−1} / c_t`` and ``i g / c_t`` (doclrp's plain sum), ``g`` keeps
    its share through tanh; the joint map ``[x_t; h_{t−1}] → z_g`` (both biases in ``z_g``) takes
    LRP-ε: ``R_j = Σ_k a_j w_kj / (z_k + ε sign z_k) R_k`` (biases absorb their share). GRU:
    ``h = (1−z) n + z h_{t−1}`` splits in proportion, ``n`` through tanh to ``z_n = W_in x + b_in +
    r (W_hn h + b_hn)``, the joint map with weight ``[W_in, diag(r) W_hn]`` under ε; a GRU with its
    reset gate before the product (``ResetBeforeGRU``): ``z_n = W_in x + b_in + W_hn (r h) + b_hn``,
    weight ``[W_in, W_hn diag(r)]``.
    """
    lstm = isinstance(module, nn.LSTM)
    before = type(module).__name__ == "ResetBeforeGRU"
    H = module.hidden_size
    D = 2 if module.bidirectional else 1
    params = {k: v.detach().double().numpy() for k, v in module.named_parameters()}
    layer_inputs, traces = [np.asarray(x, dtype=np.float64)], []
    for layer in range(module.num_layers):
        outputs, layer_traces = [], []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            W_ih, W_hh = params["weight_ih" + sfx], params["weight_hh" + sfx]
            b_ih = params.get("bias_ih" + sfx, np.zeros(W_ih.shape[0]))
            b_hh = params.get("bias_hh" + sfx, np.zeros(W_hh.shape[0]))
            inp = layer_inputs[-1]
            T = inp.shape[0]
            order = range(T - 1, -1, -1) if d else range(T)
            h, c = np.zeros(H), np.zeros(H)
            y, steps = np.zeros((T, H)), []
            for t in order:
                if lstm:
                    z = W_ih @ inp[t] + b_ih + W_hh @ h + b_hh
                    i, f, zg, o = _np_sigmoid(z[:H]), _np_sigmoid(z[H:2 * H]), z[2 * H:3 * H], _np_sigmoid(z[3 * H:])
                    g = np.tanh(zg)
                    c_new = f * c + i * g
                    h_new = o * np.tanh(c_new)
                    steps.append(dict(t=t, h_prev=h, c_prev=c, c=c_new, i=i, f=f, g=g, zg=zg))
                    h, c = h_new, c_new
                else:
                    a, m = W_ih @ inp[t] + b_ih, W_hh @ h + b_hh
                    r, u = _np_sigmoid(a[:H] + m[:H]), _np_sigmoid(a[H:2 * H] + m[H:2 * H])
                    zn = a[2 * H:] + (W_hh[2 * H:] @ (r * h) + b_hh[2 * H:] if before else r * m[2 * H:])
                    n = np.tanh(zn)
                    h_new = (1 - u) * n + u * h
                    steps.append(dict(t=t, h_prev=h, h=h_new, r=r, u=u, n=n, zn=zn))
                    h = h_new
                y[t] = h
            outputs.append(y)
            layer_traces.append((W_ih, W_hh, steps))
        layer_inputs.append(np.concatenate(outputs, 1))
        traces.append(layer_traces)
    R_y = np.asarray(relevance_out, dtype=np.float64)
    for layer in reversed(range(module.num_layers)):
        inp = layer_inputs[layer]
        R_x = np.zeros_like(inp)
        for d, (W_ih, W_hh, steps) in enumerate(traces[layer]):
            R_out = R_y[:, d * H:(d + 1) * H]
            R_h, R_c = np.zeros(H), np.zeros(H)
            for s in reversed(steps):
                t = s["t"]
                R_h = R_h + R_out[t]
                if lstm:
                    R_c = R_c + R_h                                      # o is a gate, tanh passes
                    R_g = _np_safe_div(s["i"] * s["g"], s["c"]) * R_c    # i·g: all to g
                    R_c = _np_safe_div(s["f"] * s["c_prev"], s["c"]) * R_c
                    rows = slice(2 * H, 3 * H)
                    share = R_g * _np_epsilon_share(s["zg"], eps)       # R_z = R_g (tanh passes)
                    R_x[t] += inp[t] * (W_ih[rows].T @ share)
                    R_h = s["h_prev"] * (W_hh[rows].T @ share)
                else:
                    R_n = _np_safe_div((1 - s["u"]) * s["n"], s["h"]) * R_h
                    R_direct = _np_safe_div(s["u"] * s["h_prev"], s["h"]) * R_h
                    rows = slice(2 * H, 3 * H)
                    share = R_n * _np_epsilon_share(s["zn"], eps)
                    R_x[t] += inp[t] * (W_ih[rows].T @ share)
                    gated = W_hh[rows] * s["r"][None, :] if before else s["r"][:, None] * W_hh[rows]
                    R_h = R_direct + s["h_prev"] * (gated.T @ share)
        R_y = R_x
    return R_y


# -- Arras et al.'s published procedure (ArrasL/LRP_for_LSTM, code/LSTM), transcribed ------------
def arras_linear(h_in, weight, bias, h_out, relevance_out, n_units, eps, bias_factor):
    """Their ``lrp_linear``: ``R_j = Σ_k (h_j w_jk + bias_factor·(b_k + ε s_k)/N) / (h_out_k + ε s_k) · R_k``
    with ``s_k = sign(h_out_k)`` (+1 at 0) and ``N = n_units``; ``weight`` is ``(in, out)``, ``h_out``
    the layer's whole output (other inputs included)."""
    sign = np.where(h_out >= 0, 1.0, -1.0)
    numerator = h_in[:, None] * weight + bias_factor * (bias + eps * sign)[None, :] / n_units
    return (numerator / (h_out + eps * sign)[None, :] * relevance_out[None, :]).sum(1)


def arras_lstm_lrp(embeddings, lstm, head, ids, target, eps=0.001, bias_factor=0.0):
    """Relevance per word of ``ids`` (one document, no padding) by Arras et al.'s ``LSTM_bidi.lrp``:
    a bidirectional one-layer LSTM (``lstm``, torch's parameters, gates i|f|g|o), its two last
    states into a bias-free ``head`` (``(classes, 2·hidden)``) on the class ``target``.

    Their steps, in their order: the output layer by ``lrp_linear`` with the whole score ``s`` as
    its output and ``R = s·[target]`` (N = 2d); per step, backwards: ``R_c += R_h``; the cell sum
    ``c_t = f ⊙ c_{t−1} + i ⊙ g`` by ``lrp_linear`` with identity weights, no bias and ``c_t`` as
    output (N = 2d) for ``c_{t−1}`` and for ``i ⊙ g`` (all of it to ``g``); ``g = tanh(z_g)`` passes;
    ``z_g = W_xg x_t + W_hg h_{t−1} + b_xg + b_hg`` by ``lrp_linear`` for ``x_t`` and for
    ``h_{t−1}`` (N = d + e). The right encoder reads the reversed words. Numpy, float64.
    """
    params = {k: v.detach().double().numpy() for k, v in lstm.named_parameters()}
    E = embeddings.detach().double().numpy()
    Why = head.detach().double().numpy()
    d = lstm.hidden_size
    x = E[np.asarray(ids)]
    T, e = x.shape
    i_, f_, g_, o_ = (slice(k * d, (k + 1) * d) for k in range(4))  # torch's gate order
    runs = []
    for suffix, inputs in (("_l0", x), ("_l0_reverse", x[::-1])):
        W_x, W_h = params["weight_ih" + suffix], params["weight_hh" + suffix]
        b = params.get("bias_ih" + suffix, np.zeros(4 * d)) + params.get("bias_hh" + suffix, np.zeros(4 * d))
        h, c = np.zeros((T + 1, d)), np.zeros((T + 1, d))  # row −1 (= T) is the zero initial state
        pre, gates = np.zeros((T, 4 * d)), np.zeros((T, 4 * d))
        for t in range(T):
            pre[t] = W_x @ inputs[t] + W_h @ h[t - 1] + b
            gates[t] = _np_sigmoid(pre[t])
            gates[t, g_] = np.tanh(pre[t, g_])
            c[t] = gates[t, f_] * c[t - 1] + gates[t, i_] * gates[t, g_]
            h[t] = gates[t, o_] * np.tanh(c[t])
        runs.append(dict(x=inputs, W_x=W_x, W_h=W_h, b=b, h=h, c=c, pre=pre, gates=gates))
    Why_parts = (Why[:, :d], Why[:, d:])
    s = Why_parts[0] @ runs[0]["h"][T - 1] + Why_parts[1] @ runs[1]["h"][T - 1]
    mask = np.zeros(len(s))
    mask[target] = 1.0
    relevance = []
    for run, W_y in zip(runs, Why_parts):
        R_h, R_c = np.zeros((T + 1, d)), np.zeros((T + 1, d))
        R_x = np.zeros((T, e))
        R_h[T - 1] = arras_linear(run["h"][T - 1], W_y.T, np.zeros(len(s)), s, s * mask, 2 * d, eps, bias_factor)
        gates, c, identity = run["gates"], run["c"], np.identity(d)
        for t in reversed(range(T)):
            R_c[t] += R_h[t]
            R_c[t - 1] = arras_linear(gates[t, f_] * c[t - 1], identity, np.zeros(d), c[t], R_c[t], 2 * d, eps,
                                      bias_factor)
            R_g = arras_linear(gates[t, i_] * gates[t, g_], identity, np.zeros(d), c[t], R_c[t], 2 * d, eps,
                               bias_factor)
            R_x[t] = arras_linear(run["x"][t], run["W_x"][g_].T, run["b"][g_], run["pre"][t, g_], R_g, d + e, eps,
                                  bias_factor)
            R_h[t - 1] = arras_linear(run["h"][t - 1], run["W_h"][g_].T, run["b"][g_], run["pre"][t, g_], R_g,
                                      d + e, eps, bias_factor)
        relevance.append(R_x)
    return relevance[0].sum(1) + relevance[1][::-1].sum(1), s


# -- the browser tests' Chromium ------------------------------------------------------------------
#: Debian's chromium (Playwright's own download needs the network); the Makefile installs it.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def skip_module_without_browser():
    """Skip the calling test module (before its fixtures build anything) without playwright or chromium."""
    pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright (test extra)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing: the browser tests drive Debian's chromium (make install adds it)",
                    allow_module_level=True)


# -- a real server for the tests that talk HTTP ---------------------------------------------------
@contextlib.contextmanager
def served(app):
    """``app`` on uvicorn in a thread, on a free loopback port; its URL while the block runs."""
    import socket
    import threading
    import time

    import uvicorn  # the serve extra: only the web app's tests call this

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


# -- documents built in code: a minimal PDF writer, Word files, e-mails ---------------------------
def _pdf_string(text: str) -> str:
    """A PDF literal string in WinAnsi (Latin-1 here): parentheses and backslashes escaped."""
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def pdf_bytes(pages, *, size=(612, 792), font_size=12, javascript=False, encrypted=False, count=None,
              shared_pages=None, hyphen=False, rotate=0):
    """A PDF with a text layer, written object by object with exact cross-reference offsets.

    ``pages``: per page a list of lines, each ``(x, y, text)`` or ``(x, y, text, size)`` in points
    from the bottom-left corner (PDF's own coordinates) or a plain string (placed top-down at ``font_size`` × 1.5
    line spacing from 72 pt). Helvetica, one ``Tj`` per line. ``javascript``: an OpenAction
    and a document-level JavaScript action (a hostile file; nothing may run it).
    ``encrypted``: a standard security handler whose user password is not empty (so opening
    it needs a password). ``count``: the page count the page tree claims (default: the truth).
    ``shared_pages``: that many pages all drawing the first page's content stream (a 10,000-page
    file stays small). An empty page list entry is a page with no text (a scan without OCR).
    """
    if shared_pages is not None:
        pages = [pages[0]] * shared_pages
    objects: list[bytes] = []

    def add(body) -> int:
        objects.append(body if isinstance(body, bytes) else body.encode("latin-1"))
        return len(objects)

    catalog, tree, font = add(""), add(""), add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                                                   "/Encoding /WinAnsiEncoding >>")
    streams: dict[int, int] = {}
    kids = []
    for lines in pages:
        key = id(lines)
        if key not in streams:
            ops = []
            for n, line in enumerate(lines):
                x, y, text, *points = line if isinstance(line, tuple) else (72, size[1] - 72 - n * font_size * 1.5,
                                                                            line)
                ops.append(f"BT /F1 {points[0] if points else font_size} Tf {x:g} {y:g} Td {_pdf_string(text)} Tj ET")
            content = "\n".join(ops).encode("latin-1")
            streams[key] = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        kids.append(add(f"<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 {size[0]} {size[1]}] "
                        f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {streams[key]} 0 R"
                        + (f" /Rotate {rotate}" if rotate else "") + " >>"))
    extra = ""
    if javascript:
        script = add("<< /S /JavaScript /JS (app.alert\\('ran'\\); this.submitForm\\('http://example.invalid'\\);) >>")
        names = add(f"<< /Names [(run) {script} 0 R] >>")
        extra = f" /OpenAction {script} 0 R /Names << /JavaScript {names} 0 R >> /AcroForm << /Fields [] >>"
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {tree} 0 R{extra} >>".encode()
    objects[tree - 1] = (f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] "
                         f"/Count {len(kids) if count is None else count} >>").encode()
    trailer_extra = ""
    if encrypted:
        encrypt = add("<< /Filter /Standard /V 1 /R 2 /Length 40 /P -4 "
                      "/O <" + "11" * 32 + "> /U <" + "22" * 32 + "> >>")
        trailer_extra = f" /Encrypt {encrypt} 0 R /ID [<{'33' * 16}> <{'33' * 16}>]"
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R{trailer_extra} >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


def pdf_of_text(title, paragraphs, *, width=78, font_size=11, size=(612, 792)):
    """A report-like PDF: a title and paragraphs wrapped at ``width`` characters, pages filled
    top-down with a gap between paragraphs (a paragraph break for the reader)."""
    import textwrap

    pages, lines, y = [], [(72, size[1] - 80, title, 18)], size[1] - 120
    for paragraph in paragraphs:
        for line in textwrap.wrap(paragraph, width):
            if y < 72:
                pages.append(lines)
                lines, y = [], size[1] - 72
            lines.append((72, y, line, font_size))
            y -= font_size * 1.45
        y -= font_size * 1.2
    pages.append(lines)
    return pdf_bytes(pages, size=size, font_size=font_size)


def docx_bytes(body, *, headers=(), footers=(), extra_parts=None, compression=None):
    """A Word .docx built from parts: ``body`` a list of paragraphs (strings) and tables (lists of
    rows of cell strings); ``headers``/``footers`` paragraph texts, one part each, referenced by
    the section in order. ``extra_parts``: more ``{name: bytes}`` (a macro, a bomb)."""
    import io
    import zipfile
    from xml.sax.saxutils import escape

    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    r = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'

    def paragraph(text):
        runs = "".join(f'<w:r><w:t xml:space="preserve">{escape(piece)}</w:t></w:r>' + ("<w:r><w:tab/></w:r>"
                       if n < text.count("\t") else "") for n, piece in enumerate(text.split("\t")))
        return f"<w:p>{runs}</w:p>"

    blocks = []
    for block in body:
        if isinstance(block, str):
            blocks.append(paragraph(block))
        else:
            rows = "".join("<w:tr>" + "".join(f"<w:tc>{paragraph(cell)}</w:tc>" for cell in row) + "</w:tr>"
                           for row in block)
            blocks.append(f"<w:tbl>{rows}</w:tbl>")
    refs, rels, parts = [], [], {}
    for kind, texts in (("header", headers), ("footer", footers)):
        for n, text in enumerate(texts):
            rid, part = f"rId{kind}{n}", f"{kind}{n + 1}.xml"
            tag = "hdr" if kind == "header" else "ftr"
            parts[f"word/{part}"] = f'<w:{tag} {w}>{paragraph(text)}</w:{tag}>'
            refs.append(f'<w:{kind}Reference w:type="default" r:id="{rid}"/>')
            rels.append(f'<Relationship Id="{rid}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                        f'relationships/{kind}" Target="{part}"/>')
    document = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {w} {r}><w:body>'
                f'{"".join(blocks)}<w:sectPr>{"".join(refs)}</w:sectPr></w:body></w:document>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression or zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                         'package/2006/content-types"/>')
        archive.writestr("word/document.xml", document)
        archive.writestr("word/_rels/document.xml.rels",
                         '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                         f'relationships">{"".join(rels)}</Relationships>')
        for name, data in {**parts, **(extra_parts or {})}.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def eml_bytes(subject, text=None, html=None, attachments=()):
    """An e-mail message (bytes) with a plain and/or an HTML body and named attachments."""
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "ann@example.com", "bob@example.com", subject
    if text is not None:
        message.set_content(text)
    if html is not None:
        if text is None:
            message.set_content(html, subtype="html")
        else:
            message.add_alternative(html, subtype="html")
    for name, data in attachments:
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return message.as_bytes()


# -- Keras (the importer's tests) ------------------------------------------------------------------
KERAS_FORMATS = ("keras", "h5")


def import_keras():
    """Keras with the torch backend (no TensorFlow), or the calling test module skipped. Imported
    with the real stderr: absl's logging handler keeps the sys.stderr of the moment (see
    tests/conftest.py, which imports absl the same way first)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    captured, sys.stderr = sys.stderr, sys.__stderr__
    try:
        return pytest.importorskip("keras")
    finally:
        sys.stderr = captured


def randomized_keras(model, seed=0):
    """``model`` with random weights (biases, BatchNorm statistics, gate biases all nonzero) so
    that every reordered array is tested; variances stay positive."""
    rng = np.random.default_rng(seed)
    model.set_weights([
        (np.abs(rng.normal(size=w.shape)) + 0.5 if "variance" in v.path else rng.normal(size=w.shape) * 0.5)
        .astype("float32")
        for w, v in zip(model.get_weights(), model.weights)
    ])
    return model


def save_keras(model, folder, name="model"):
    """``model`` saved in both formats: ``{"keras": path, "h5": path}``."""
    paths = {fmt: folder / f"{name}.{fmt}" for fmt in KERAS_FORMATS}
    for path in paths.values():
        model.save(path)
    return paths
