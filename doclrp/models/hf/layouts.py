"""Where the parts of Hugging Face models are: module paths of the attention and gated-MLP
projections per family, the checks that refuse layouts the composites do not know, the
predicates that tell which module is which, and GPT-2's ``Conv1D`` declared a dense layer.

>>> from torch import nn
>>> is_query_or_key("bert.encoder.layer.0.attention.self.query", nn.Linear(4, 4))
True
>>> is_query_or_key("bert.encoder.layer.0.attention.output.dense", nn.Linear(4, 4))
False

Projections are found by path (``…attention.self.query/key/value`` for BERT, RoBERTa,
ELECTRA and their kin, ``…attention.q_lin/k_lin/v_lin`` for DistilBERT,
``…attention.query/key/value`` for ALBERT, ``…attention.attn.q/k/v`` for MPNet,
``…self_attn.q_proj/k_proj/v_proj`` and ``…mlp.gate_proj/up_proj`` for Llama and its kin,
the fused ``…attn.Wqkv`` and ``…mlp.Wi`` for ModernBERT, ``…self_attn.qkv_proj`` and
``…mlp.gate_up_proj`` for Phi-3 and ``…attn.c_attn`` for GPT-2); other modules by class
name, which needs no import of transformers. Which rule each gets is
:mod:`doclrp.models.hf.composites`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from torch import Tensor, nn

from doclrp.core.linear import AffineMap, DenseAdapter, is_dense
from doclrp.core.rules import ModuleRule
from doclrp.errors import DoclrpError

__all__ = [
    "QUERY_PATHS", "KEY_PATHS", "VALUE_PATHS", "QKV_PATHS", "GATE_PATHS", "UP_PATHS", "GATE_UP_PATHS",
    "AttentionCheck", "GatedMLPCheck", "CONV1D", "HF_ACTIVATIONS",
    "is_query_or_key", "is_value", "is_fused_qkv", "is_fused_gate_up", "is_gate", "is_up",
    "looks_like_attention", "is_disentangled_attention", "is_context_pooler", "is_tanh_head",
    "looks_like_gated_mlp", "is_rotary_embedding", "is_relative_position_bias", "is_rms_norm", "is_logit_softcap", "hf_types",
]


# -- GPT-2's Conv1D ----------------------------------------------------------------------
def _conv1d_weight(module: nn.Module) -> Tensor:
    return cast(Tensor, module.weight).t()  # stored (in, out)


def _is_conv1d_layout(module: nn.Module) -> bool:
    weight = getattr(module, "weight", None)
    return isinstance(weight, Tensor) and weight.dim() == 2 and weight.shape[1] == getattr(module, "nf", None)


# transformers' Conv1D (GPT-2 and its kin): y = x W + b with W of shape (in, out), despite its
# name a dense layer. Registered by qualified name (entry point doclrp.dense_adapters in
# pyproject.toml), so that transformers need not be imported; the core loads it when it first
# meets such a layer.
CONV1D = DenseAdapter(weight=_conv1d_weight, accepts=_is_conv1d_layout)


# Module paths (suffixes after a dot) of the attention projections, per model family.
# BERT, RoBERTa, ELECTRA and kin: attention.self.*; DistilBERT: attention.*_lin; ALBERT:
# attention.*; MPNet: attention.attn.*; Llama, Mistral, Qwen, Gemma and kin: self_attn.*_proj.
QUERY_PATHS = ("attention.self.query", "attention.q_lin", "attention.query", "attention.attn.q", "self_attn.q_proj")
KEY_PATHS = ("attention.self.key", "attention.k_lin", "attention.key", "attention.attn.k", "self_attn.k_proj")
VALUE_PATHS = ("attention.self.value", "attention.v_lin", "attention.value", "attention.attn.v", "self_attn.v_proj")
# Query, key and value in one Linear, outputs q|k|v in equal chunks (ModernBERT, GPT-2; Phi-3
# where it has as many key/value heads as query heads)
QKV_PATHS = ("attn.Wqkv", "self_attn.qkv_proj", "attn.c_attn")
# Output projections that live in the attention module itself (DistilBERT, ALBERT, MPNet, Llama,
# ModernBERT, GPT-2)
_OUTPUT_NAMES = ("out_lin", "dense", "o", "o_proj", "Wo", "c_proj")
# The two operands of a gated MLP, down_proj(act_fn(gate_proj(x)) * up_proj(x)) (Llama and kin)
GATE_PATHS = ("mlp.gate_proj",)
UP_PATHS = ("mlp.up_proj",)
# Both operands of a gated MLP in one Linear, act(first half) * second half (ModernBERT, Phi-3)
GATE_UP_PATHS = ("mlp.Wi", "mlp.gate_up_proj")

# Classification heads that call torch.tanh as a function on the first token (RoBERTa's and
# its copies in other families), by class name: no transformers import needed to match them.
_TANH_HEADS = frozenset({
    "RobertaClassificationHead", "XLMRobertaClassificationHead", "XLMRobertaXLClassificationHead",
    "CamembertClassificationHead", "Data2VecTextClassificationHead", "RobertaPreLayerNormClassificationHead",
    "XmodClassificationHead", "MPNetClassificationHead",
})

# transformers' element-wise activation modules (transformers.activations), by class name:
# looked up lazily so that doclrp does not import transformers unless it is there.
HF_ACTIVATIONS = (
    "GELUActivation", "NewGELUActivation", "FastGELUActivation", "QuickGELUActivation",
    "ClippedGELUActivation", "AccurateGELUActivation", "GELUTanh", "PytorchGELUTanh",
    "SiLUActivation", "MishActivation", "LinearActivation", "LaplaceActivation",
    "ReLUSquaredActivation",
)


def _path_matches(name: str, paths: tuple[str, ...]) -> bool:
    return name in paths or name.endswith(tuple("." + path for path in paths))


def is_query_or_key(path: str, module: nn.Module) -> bool:
    return is_dense(module) and _path_matches(path, QUERY_PATHS + KEY_PATHS)


def is_value(path: str, module: nn.Module) -> bool:
    return is_dense(module) and _path_matches(path, VALUE_PATHS)


def is_fused_qkv(path: str, module: nn.Module) -> bool:
    return is_dense(module) and _path_matches(path, QKV_PATHS)


def is_fused_gate_up(path: str, module: nn.Module) -> bool:
    return is_dense(module) and _path_matches(path, GATE_UP_PATHS)


def is_gate(path: str, module: nn.Module) -> bool:
    return is_dense(module) and _path_matches(path, GATE_PATHS)


def is_up(path: str, module: nn.Module) -> bool:
    return is_dense(module) and _path_matches(path, UP_PATHS)


# -- checks ------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttentionCheck(ModuleRule):
    """Refuses, once when the hooks are planned, attention modules whose projections the
    composite does not know.

    A module that looks like attention (class name ending in ``Attention``, with
    Linear children) must have its query and key projections at one of
    ``QUERY_PATHS``/``KEY_PATHS`` and no other Linear child but the value and output
    projections; else its scores would get the plain gradient silently.
    """

    def plan(self, name, module):
        found = {"query": False, "key": False}
        for child_name, child in module.named_children():
            if not is_dense(child):
                continue
            path = f"{name}.{child_name}" if name else child_name
            if _path_matches(path, QKV_PATHS):
                found = {"query": True, "key": True}
                _check_equal_chunks(name, module, child)
            elif _path_matches(path, QUERY_PATHS):
                found["query"] = True
            elif _path_matches(path, KEY_PATHS):
                found["key"] = True
            elif not (_path_matches(path, VALUE_PATHS) or child_name in _OUTPUT_NAMES):
                found = {}
                break
        if not found or not all(found.values()):
            raise DoclrpError(
                f"module '{name}' ({type(module).__name__}) looks like attention but its projections are not "
                "at the paths doclrp's transformer composites know (BERT/RoBERTa/ELECTRA "
                "'attention.self.query|key|value', DistilBERT 'attention.q_lin|k_lin|v_lin', ALBERT "
                "'attention.query|key|value', MPNet 'attention.attn.q|k|v', Llama and kin "
                "'self_attn.q_proj|k_proj|v_proj', ModernBERT 'attn.Wqkv', Phi-3 'self_attn.qkv_proj', GPT-2 "
                "'attn.c_attn'); map them with AttentionOperand rules by name in a Composite"
            )
        return False  # checked once per model layout: nothing to do at run time


def _sizes(dense: nn.Module) -> tuple[int, int]:
    """``(in, out)`` features of a Linear, or of a Linear stored transposed."""
    out_features, in_features = AffineMap.of(dense).weight.shape
    return in_features, out_features


def _check_equal_chunks(name: str, attention: nn.Module, fused: nn.Module) -> None:
    """A fused q|k|v projection gets one factor per third of its outputs: right only where keys and
    values are as wide as queries, i.e. as wide as the output projection's input."""
    outputs = [c for n, c in attention.named_children() if n in _OUTPUT_NAMES and is_dense(c)]
    if not outputs or _sizes(fused)[1] != 3 * _sizes(outputs[0])[0]:
        raise DoclrpError(
            f"module '{name}' ({type(attention).__name__}): its fused query/key/value projection does not split "
            "into three equal parts (grouped-query attention?); doclrp's composites need equal q|k|v chunks there"
        )


@dataclass(frozen=True)
class GatedMLPCheck(ModuleRule):
    """Refuses, once when the hooks are planned, gated MLPs not laid out as Llama's, ModernBERT's
    or Phi-3's.

    The gate and up operands get their rules by path (``GATE_PATHS``, ``UP_PATHS``,
    ``GATE_UP_PATHS``), which assumes ``down_proj(act_fn(gate_proj(x)) * up_proj(x))``, or
    ``act(a) * b`` with ``a|b`` the two halves of ``Wi(x)`` or ``gate_up_proj(x)``: a module
    with one of these Linear children must be named ``mlp`` and have all of one layout's
    projections and its activation; else its product would be explained with the wrong
    shares silently.
    """

    _LAYOUTS = ((("gate_proj", "up_proj", "down_proj"), "act_fn"), (("Wi", "Wo"), "act"),
                (("gate_up_proj", "down_proj"), "activation_fn"))

    def plan(self, name, module):
        children = dict(module.named_children())
        known = any(all(p in children and is_dense(children[p]) for p in projections) and activation in children
                    for projections, activation in self._LAYOUTS)
        if not (known and _path_matches(name, ("mlp",))):
            raise DoclrpError(
                f"module '{name}' ({type(module).__name__}) has a gate or up projection but not a layout doclrp's "
                "transformer composites know ('mlp' computing down_proj(act_fn(gate_proj(x)) * up_proj(x)), or "
                "Wo(act(a) * b) with a|b = Wi(x) or gate_up_proj(x)); map its projections with AttentionOperand "
                "rules by name"
            )
        return False  # checked once per model layout: nothing to do at run time


# -- which module is which ----------------------------------------------------------------
def looks_like_attention(name: str, module: nn.Module) -> bool:
    return type(module).__name__.endswith("Attention") and any(
        is_dense(child) for child in module.children()
    )


def is_disentangled_attention(name: str, module: nn.Module) -> bool:
    # DeBERTa v2/v3: recomputed by its own rule (its parts are looked up when the hook runs)
    return type(module).__name__ == "DisentangledSelfAttention" and all(
        hasattr(module, part) for part in ("query_proj", "key_proj", "value_proj", "disentangled_attention_bias"))


def is_context_pooler(name: str, module: nn.Module) -> bool:
    return type(module).__name__ == "ContextPooler"


def is_tanh_head(name: str, module: nn.Module) -> bool:
    return type(module).__name__ in _TANH_HEADS


def looks_like_gated_mlp(name: str, module: nn.Module) -> bool:
    children = module._modules
    return any(children.get(p) is not None and is_dense(cast(nn.Module, children[p]))
               for p in ("gate_proj", "up_proj", "Wi", "gate_up_proj"))


def is_rotary_embedding(name: str, module: nn.Module) -> bool:
    # cos/sin tables from position ids: constants for relevance (the rotation they drive is
    # applied to queries and keys as a function, a linear map the plain gradient handles)
    return type(module).__name__.endswith("RotaryEmbedding")


def is_relative_position_bias(name: str, module: nn.Module) -> bool:
    # MPNet's table of attention-score biases by relative position: no input reaches it, so it
    # is no input either; the relevance it takes in the softmax shows in delta
    return isinstance(module, nn.Embedding) and _path_matches(name, ("relative_attention_bias",))


def is_logit_softcap(name: str, module: nn.Module) -> bool:
    # cap · tanh(z / cap) on next-token logits (Gemma 2; doclrp.models.hf.prompted.LogitSoftcap):
    # element-wise, so the identity rule, as the activations get
    return type(module).__name__ == "LogitSoftcap"


def is_rms_norm(name: str, module: nn.Module) -> bool:
    # y = w ⊙ x / rms(x): with rms held constant (as LayerNorm's σ), a diagonal linear map,
    # whose LRP-0 is the identity rule R_in = R_out (Gemma's (1 + w) scale included)
    return type(module).__name__.endswith("RMSNorm")


def hf_types(module_name: str, names: tuple[str, ...]) -> tuple[type, ...]:
    """Classes of ``transformers`` by name; none where transformers (or the class) is missing."""
    try:
        module = __import__(module_name, fromlist=list(names))
    except ImportError:
        return ()
    return tuple(cls for cls in (getattr(module, n, None) for n in names) if isinstance(cls, type))
