"""The ``cp-lrp`` and ``attnlrp`` composites: which rule goes where in Hugging Face transformers.

>>> import torch
>>> from doclrp.core import get_composite
>>> composite = get_composite("attnlrp")
>>> composite.rule_for("bert.encoder.layer.0.attention.self.query", torch.nn.Linear(4, 4))
AttentionOperand(factor=0.25, eps=0.0)

The generic rules and their equations are :mod:`doclrp.core.attention_rules`; where their
operands are in each family (module paths, class names) is :mod:`doclrp.models.hf.layouts`.
The core knows these composites by name and location and imports this module on first use.

Linear layers get LRP-ε; the composites' default ``eps=0`` is LRP-0, which in gradient
form is the layer's own gradient: no division, so nothing to stabilize, and no cost over
gradient × input (``get_composite("attnlrp", eps=1e-6)`` for ε > 0). Element-wise
activations (``GELUActivation`` and kin, ``nn.GELU``, the pooler's ``nn.Tanh``) get the
identity rule, dropout nothing.

Decoders (Llama, Mistral, Qwen2/3, Gemma, Phi-3) add three parts (GPT-2 none of them): a
gated MLP (which ModernBERT has too), RMSNorm, which with its normalizer constant is a
diagonal linear map whose LRP-0 is the identity rule, and rotary position tables, constants
whose rotation is linear and needs no rule. GPT-2's ``Conv1D`` layers are Linear layers
stored transposed (declared as :data:`doclrp.models.hf.layouts.CONV1D`): they get
the Linear rules; q|k|v in one projection get their factors per output chunk.

Any other module that looks like attention (class name ending in ``Attention`` with Linear
children) or like a gated MLP fails loudly, once, when the hooks are planned. RoBERTa's
classification head and its copies in XLM-RoBERTa, CamemBERT and others call ``torch.tanh``
as a function, out of reach of a module hook: they get
:class:`~doclrp.models.hf.rules.FirstTokenTanhHead`. RMSNorm modules and rotary position
tables are matched by class name (``…RMSNorm``, ``…RotaryEmbedding``); so is the logit cap
``c·tanh(z/c)`` a language model's next-token scores go through (Gemma 2:
:class:`~doclrp.models.hf.prompted.LogitSoftcap`), which gets the identity rule (Gemma 2's cap on
attention scores, a function inside its attention, keeps its gradient: ≈ 1 for scores well
below the cap). MPNet's table of
relative position biases is a constant, not an input: what it takes in the softmax shows in
delta. DeBERTa v2/v3's disentangled attention and its ``ContextPooler`` (whose activation
is built inside ``forward``) are recomputed by their own rules,
:class:`~doclrp.models.hf.rules.DisentangledAttention` and
:class:`~doclrp.models.hf.rules.FirstTokenPooler`. Tested with transformers 4.57.6 and 5.24
(BERT, DistilBERT and RoBERTa also 4.48.3 and 5.17).
"""

from __future__ import annotations

from torch import nn

from doclrp.core.attention_rules import AttentionOperand, LayerNormCP
from doclrp.core.composites import Composite, Key
from doclrp.core.rules import Epsilon, Gradient, Pass, Rule
from doclrp.errors import DoclrpError
from doclrp.models.hf.layouts import (HF_ACTIVATIONS, AttentionCheck, GatedMLPCheck, hf_types, is_context_pooler,
                                      is_disentangled_attention, is_fused_gate_up, is_fused_qkv, is_gate,
                                      is_logit_softcap, is_query_or_key, is_relative_position_bias, is_rms_norm, is_rotary_embedding,
                                      is_tanh_head, is_up, is_value, looks_like_attention, looks_like_gated_mlp)
from doclrp.models.hf.rules import DisentangledAttention, FirstTokenPooler, FirstTokenTanhHead

__all__ = ["cp_lrp", "attnlrp"]


# -- composites ------------------------------------------------------------------------
def _transformer_composite(name: str, query_key: float, value: float, gate: float, up: float,
                           eps: float) -> Composite:
    if not eps >= 0:
        raise DoclrpError(f"{name}: eps must be >= 0, got {eps}")
    # LRP-0 in gradient form is the plain gradient (no division, nothing to stabilize):
    # with eps=0 the Linear layers keep theirs and cost nothing over gradient × input.
    linear = Epsilon(eps) if eps else Gradient()
    rules: dict[Key, Rule] = {
        is_query_or_key: AttentionOperand(query_key, eps),
        is_value: AttentionOperand(value, eps),
        is_fused_qkv: AttentionOperand((query_key, query_key, value), eps),
        is_gate: AttentionOperand(gate, eps),
        is_up: AttentionOperand(up, eps),
        is_fused_gate_up: AttentionOperand((gate, up), eps),
        is_disentangled_attention: DisentangledAttention(product_factor=value, constant_probabilities=query_key == 0),
        looks_like_attention: AttentionCheck(),
        looks_like_gated_mlp: GatedMLPCheck(),
        is_tanh_head: FirstTokenTanhHead(),
        is_context_pooler: FirstTokenPooler(),
        is_rms_norm: Pass(),
        is_logit_softcap: Pass(),
        is_rotary_embedding: Gradient(),
        is_relative_position_bias: Gradient(),
        nn.Linear: linear,
        nn.LayerNorm: LayerNormCP(),
        nn.GELU: Pass(),
    }
    for cls in hf_types("transformers.activations", HF_ACTIVATIONS):
        rules[cls] = Pass()
    return Composite(rules, name=name)


def cp_lrp(eps: float = 0.0) -> Composite:
    """CP-LRP: attention probabilities and LayerNorm's σ constant, LRP-ε on Linear layers (``eps=0``: LRP-0).

    >>> cp_lrp().name
    'cp-lrp'
    """
    return _transformer_composite("cp-lrp", query_key=0.0, value=1.0, gate=0.0, up=1.0, eps=eps)


def attnlrp(eps: float = 0.0) -> Composite:
    """AttnLRP: softmax Taylor rule, uniform rule on ``Q Kᵀ`` and ``P V``, LayerNorm's σ constant,
    LRP-ε on Linear layers (``eps=0``: LRP-0).

    >>> attnlrp(eps=1e-9).name
    'attnlrp'
    """
    return _transformer_composite("attnlrp", query_key=0.25, value=0.5, gate=0.5, up=0.5, eps=eps)

