"""Attention-aware LRP for transformer encoders and decoders: the ``cp-lrp`` and ``attnlrp`` composites.

>>> import torch
>>> from doclrp.core.transformer_rules import LayerNormCP
>>> norm = torch.nn.LayerNorm(4)
>>> x = torch.randn(2, 4, requires_grad=True)
>>> y = LayerNormCP().apply(norm, x, norm(x))
>>> bool(torch.equal(y, norm(x)))
True

Two published ways through a transformer block, both run as modified gradients in
the one backward pass of the engine (relevance = activation ⊙ gradient):

* **CP-LRP** (Ali et al., "XAI for Transformers: Better Explanations through
  Conservative Propagation", ICML 2022): the attention probabilities ``P`` and the
  normalizer ``σ`` of LayerNorm are treated as constants. ``out = P V`` is then
  linear in ``V``: relevance reaches the values only, and the block conserves it.
* **AttnLRP** (Achtibat et al., "AttnLRP: Attention-Aware Layer-Wise Relevance
  Propagation for Transformers", ICML 2024): softmax by its Taylor-decomposition rule
  ``R_i = x_i (R_i − s_i Σ_j R_j)`` (the share its bias term takes is not
  redistributed: it shows in delta) and the uniform rule for the bilinear products ``Q Kᵀ`` and
  ``P V``: each operand gets half of the output relevance (eq. 7). LayerNorm as in
  CP-LRP (identity rule on the normalizer, eq. 9 for the element-wise parts).

Both need no change to the attention computation itself. With relevance kept as
``x ⊙ grad``, the softmax rule *is* the softmax gradient (``s ⊙ (g − Σ s g)``
multiplied by its input), and the uniform rule halves the gradient of each operand
of a product. Chained through ``S = Q Kᵀ·c``, ``P = softmax(S + mask)``,
``O = P V``, the gradients AttnLRP asks for are the plain gradients scaled by
``¼`` at ``Q`` and ``K`` and ``½`` at ``V``; CP-LRP's are ``0`` at ``Q`` and ``K``
and the plain one at ``V`` (the gradient at ``V`` does not depend on whether ``P``
is held constant). So the rules sit on the query/key/value projections
(:class:`AttentionOperand`: LRP-ε with the incoming gradient scaled) and the model's
own attention kernel (eager, SDPA or flash) runs untouched: forward values are
bit-identical and nothing global (``AttentionInterface``, config) is switched.

Linear layers get LRP-ε; the composites' default ``eps=0`` is LRP-0, which in gradient
form is the layer's own gradient: no division, so nothing to stabilize, and no cost over
gradient × input (``get_composite("attnlrp", eps=1e-6)`` for ε > 0). Element-wise
activations (``GELUActivation`` and kin, ``nn.GELU``, the pooler's ``nn.Tanh``) get the
identity rule, dropout nothing.

Decoders (Llama, Mistral, Qwen2/3, Gemma) add three parts. Their gated MLP
``down(act(gate(x)) ⊙ up(x))`` is one more bilinear product: AttnLRP's uniform rule gives
each operand half (``½`` at the gate and up projections); CP-LRP holds the gate constant as
it holds ``P`` (``0`` at the gate, ``1`` at up), and so conserves. RMSNorm with its
normalizer constant is a diagonal linear map, whose LRP-0 is the identity rule. Rotary
position tables are constants; the rotation they drive is linear and needs no rule.

The projections are found by their module path in Hugging Face models
(``…attention.self.query/key/value`` for BERT, RoBERTa, ELECTRA and their kin,
``…attention.q_lin/k_lin/v_lin`` for DistilBERT, ``…attention.query/key/value`` for
ALBERT, ``…self_attn.q_proj/k_proj/v_proj`` and ``…mlp.gate_proj/up_proj`` for Llama and
its kin, the fused ``…attn.Wqkv`` and ``…mlp.Wi`` for ModernBERT and ``…self_attn.qkv_proj``
and ``…mlp.gate_up_proj`` for Phi-3, whose factors go per output chunk); any other module
that looks like attention (class name ending in ``Attention`` with Linear children) or like
a gated MLP fails loudly. RoBERTa's classification head and
its copies in XLM-RoBERTa, CamemBERT and others call ``torch.tanh`` as a function, out of
reach of a module hook: :class:`FirstTokenTanhHead` gives it the identity rule. Tested with
transformers 4.57.6 and 5.24 (BERT, DistilBERT and RoBERTa also 4.48.3 and 5.17).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from ..errors import DoclrpError
from .attach import _ElementwiseFunction
from .composites import Composite, register_composite
from .rules import AffineRule, Epsilon, Gradient, ModuleRule, Pass, Zero, chunk_factors

__all__ = [
    "LayerNormCP", "AttentionOperand", "Identity", "FirstTokenTanhHead", "AttentionCheck", "GatedMLPCheck",
    "cp_lrp", "attnlrp", "QUERY_PATHS", "KEY_PATHS", "VALUE_PATHS", "QKV_PATHS", "GATE_PATHS", "UP_PATHS",
    "GATE_UP_PATHS",
]

# Module paths (suffixes after a dot) of the attention projections, per model family.
# BERT, RoBERTa, ELECTRA and kin: attention.self.*; DistilBERT: attention.*_lin; ALBERT:
# attention.*; Llama, Mistral, Qwen, Gemma and kin: self_attn.*_proj.
QUERY_PATHS = ("attention.self.query", "attention.q_lin", "attention.query", "self_attn.q_proj")
KEY_PATHS = ("attention.self.key", "attention.k_lin", "attention.key", "self_attn.k_proj")
VALUE_PATHS = ("attention.self.value", "attention.v_lin", "attention.value", "self_attn.v_proj")
# Query, key and value in one Linear, outputs q|k|v in equal chunks (ModernBERT; Phi-3 where it
# has as many key/value heads as query heads)
QKV_PATHS = ("attn.Wqkv", "self_attn.qkv_proj")
# Output projections that live in the attention module itself (DistilBERT, ALBERT, Llama, ModernBERT)
_OUTPUT_NAMES = ("out_lin", "dense", "o_proj", "Wo")
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
    "XmodClassificationHead",
})

# transformers' element-wise activation modules (transformers.activations), by class name:
# looked up lazily so that doclrp does not import transformers unless it is there.
_HF_ACTIVATIONS = (
    "GELUActivation", "NewGELUActivation", "FastGELUActivation", "QuickGELUActivation",
    "ClippedGELUActivation", "AccurateGELUActivation", "GELUTanh", "PytorchGELUTanh",
    "SiLUActivation", "MishActivation", "LinearActivation", "LaplaceActivation",
    "ReLUSquaredActivation",
)


def _path_matches(name: str, paths: tuple[str, ...]) -> bool:
    return name in paths or name.endswith(tuple("." + path for path in paths))


_QK_SUFFIXES = tuple("." + p for p in QUERY_PATHS + KEY_PATHS)
_V_SUFFIXES = tuple("." + p for p in VALUE_PATHS)


# Looked up for every Linear at every forward: plain str.endswith on precomputed suffixes.
def _is_query_or_key(path: str, module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) and (path.endswith(_QK_SUFFIXES) or path in QUERY_PATHS + KEY_PATHS)


def _is_value(path: str, module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) and (path.endswith(_V_SUFFIXES) or path in VALUE_PATHS)


def _is_fused_qkv(path: str, module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) and _path_matches(path, QKV_PATHS)


def _is_fused_gate_up(path: str, module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) and _path_matches(path, GATE_UP_PATHS)


def _is_gate(path: str, module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) and _path_matches(path, GATE_PATHS)


def _is_up(path: str, module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) and _path_matches(path, UP_PATHS)


# -- LayerNorm -------------------------------------------------------------------------
class _LayerNormFunction(torch.autograd.Function):
    """Returns ``y``; backward is the gradient of LayerNorm with ``σ`` held constant."""

    @staticmethod
    def forward(ctx, x, y, rstd, weight, dims):
        ctx.save_for_backward(rstd, weight)
        ctx.dims = dims
        return y

    @staticmethod
    def backward(ctx, g):
        rstd, weight = ctx.saved_tensors
        scaled = g if weight is None else g * weight
        # y = γ (x − mean x)/σ + β with σ fixed is linear in x; its transpose centres γ·g.
        centred = scaled - scaled.mean(ctx.dims, keepdim=True)
        return centred * rstd, None, None, None, None


def _saved_rstd(y: Tensor) -> Tensor | None:
    """``1/σ`` as LayerNorm's own kernel computed it for ``y``, from the autograd node that
    saved it for the backward pass; None where ``y`` did not come from that kernel.

    Reading it costs nothing, where recomputing it costs three kernels per LayerNorm: on a
    GPU, where a small transformer's call is bound by kernel launches, that was felt.
    """
    node = y.grad_fn
    if node is None or type(node).__name__ != "NativeLayerNormBackward0":
        return None
    return getattr(node, "_saved_result2", None)


@dataclass(frozen=True)
class LayerNormCP(ModuleRule):
    """LayerNorm with its normalizer held constant (Ali et al. 2022; as in AttnLRP).

    ``y = γ ⊙ (x − μ(x)) / σ + β`` with ``σ`` a constant is a linear map of ``x``:
    ``R_j = x_j · Σ_i γ_i (δ_ij − 1/N) / σ · g_i``, so ``Σ_j R_j = Σ_i (y_i − β_i) g_i``:
    only ``β`` leaks, like a bias (it shows in delta).
    """

    def apply(self, module: nn.LayerNorm, x: Tensor, y: Tensor) -> Tensor:
        """``y`` (the module's output on ``x``) with the rule's gradient attached."""
        dims = tuple(range(-len(module.normalized_shape), 0))
        rstd = _saved_rstd(y)
        if rstd is None:
            with torch.no_grad():
                var = x.detach().to(torch.promote_types(x.dtype, torch.float32)).var(dims, unbiased=False, keepdim=True)
                rstd = torch.rsqrt(var + module.eps)
        rstd = rstd.to(x.dtype)
        weight = None if module.weight is None else module.weight.detach()
        return _LayerNormFunction.apply(x, y.detach(), rstd, weight, dims)

    def forward_hook(self, session, name):
        def hook(module, args, kwargs, output):
            x = args[0] if args else kwargs.get("input")
            if not (isinstance(x, Tensor) and x.requires_grad):
                return None
            if not isinstance(module, nn.LayerNorm):
                raise DoclrpError(f"LayerNormCP on '{name}' ({type(module).__name__}): needs a torch.nn.LayerNorm")
            return self.apply(module, x, output)

        return hook


# -- element-wise activations ------------------------------------------------------------
_PASS = Pass()


@dataclass(frozen=True)
class Identity(ModuleRule):
    """The identity rule for element-wise activations (AttnLRP eq. 9): ``R_in = R_out``.

    :class:`doclrp.core.rules.Pass` (same equation and backward) for module activations such
    as transformers' ``GELUActivation``, called with positional or keyword input, checked to
    be element-wise.
    """

    def forward_hook(self, session, name):
        def hook(module, args, kwargs, output):
            x = args[0] if args else next(iter(kwargs.values()), None)
            if not (isinstance(x, Tensor) and x.requires_grad and isinstance(output, Tensor)):
                return None
            if output.shape != x.shape:
                raise DoclrpError(f"Identity on '{name}' ({type(module).__name__}): needs an element-wise module")
            return _ElementwiseFunction.apply(x, output.detach(), _PASS.gradient_elementwise)

        return hook


# -- attention -------------------------------------------------------------------------
@dataclass(frozen=True)
class AttentionOperand(AffineRule):
    """LRP-ε on a projection that feeds a product of two computed operands, with the gradient
    from the product scaled by ``factor``.

    ``R_j = Σ_k c_jk / (z_k + ε·sign(z_k)) · factor_k · R_k``. ``factor`` is what the
    product's rule lets through to this operand (module docstring). Attention: AttnLRP ``¼``
    for queries and keys (uniform rule on ``Q Kᵀ`` after the uniform rule on ``P V``),
    ``½`` for values; CP-LRP ``0`` for queries and keys, ``1`` for values. Gated MLPs
    (``act(gate) ⊙ up``): AttnLRP ``½`` for each; CP-LRP holds the gate constant, as it
    holds the attention probabilities: ``0`` for the gate, ``1`` for up. A fused projection
    (``q|k|v`` in one Linear, ``gate|up`` in one) takes a tuple: one factor per equal chunk
    of its outputs, in order.
    """

    factor: float | tuple[float, ...]
    eps: float = 1e-6

    def __post_init__(self):
        if isinstance(self.factor, list):
            object.__setattr__(self, "factor", tuple(self.factor))
        factors = self.factor if isinstance(self.factor, tuple) else (self.factor,)
        if not factors or not all(f >= 0 for f in factors):
            raise DoclrpError(f"AttentionOperand(factor={self.factor}): factors must be >= 0")
        Epsilon(self.eps)  # validates eps

    def gradient(self, layer, x, z, g):
        if self.factor == 0:
            return torch.zeros_like(x)
        # the factor goes on the (small) weight rather than the (large) gradient
        scale = self.factor
        if isinstance(scale, tuple):  # a fused projection: one factor per output chunk (rows of the weight)
            scale = chunk_factors(scale, layer.weight.shape[0], layer.weight)
            scale = scale.view(-1, *[1] * (layer.weight.dim() - 1))
        scaled = replace(layer, weight=layer.weight * scale)
        return (Epsilon(self.eps) if self.eps else Zero()).gradient(scaled, x, z, g)

    def gradient_scale(self):
        return self.factor if self.eps == 0 else None


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
            if not isinstance(child, nn.Linear):
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
                "'attention.query|key|value', Llama and kin 'self_attn.q_proj|k_proj|v_proj', ModernBERT "
                "'attn.Wqkv', Phi-3 'self_attn.qkv_proj'); map them with AttentionOperand rules by name in a Composite"
            )
        return False  # checked once per model layout: nothing to do at run time


def _check_equal_chunks(name: str, attention: nn.Module, fused: nn.Linear) -> None:
    """A fused q|k|v projection gets one factor per third of its outputs: right only where keys and
    values are as wide as queries, i.e. as wide as the output projection's input."""
    outputs = [c for n, c in attention.named_children() if n in _OUTPUT_NAMES and isinstance(c, nn.Linear)]
    if not outputs or fused.out_features != 3 * outputs[0].in_features:
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
        known = any(all(isinstance(children.get(p), nn.Linear) for p in projections) and activation in children
                    for projections, activation in self._LAYOUTS)
        if not (known and _path_matches(name, ("mlp",))):
            raise DoclrpError(
                f"module '{name}' ({type(module).__name__}) has a gate or up projection but not a layout doclrp's "
                "transformer composites know ('mlp' computing down_proj(act_fn(gate_proj(x)) * up_proj(x)), or "
                "Wo(act(a) * b) with a|b = Wi(x) or gate_up_proj(x)); map its projections with AttentionOperand "
                "rules by name"
            )
        return False  # checked once per model layout: nothing to do at run time


@dataclass(frozen=True)
class FirstTokenTanhHead(ModuleRule):
    """RoBERTa-style classification heads ``out_proj(tanh(dense(features[:, 0])))``.

    The head calls ``torch.tanh`` as a function, where no module hook can reach
    it; its plain gradient ``(1 − tanh²)`` would break the identity rule the
    BERT pooler's ``nn.Tanh`` gets. The hook runs the head once more on the
    first token with the tanh under the identity rule (the Linear layers keep their
    rules) and hands back the original output values with that path's gradient.
    """

    def forward_hook(self, session, name):
        def hook(module, args, kwargs, output):
            features = args[0] if args else kwargs.get("features")
            if not (isinstance(features, Tensor) and features.requires_grad):
                return None
            for part in ("dense", "out_proj"):
                if not isinstance(getattr(module, part, None), nn.Linear):
                    raise DoclrpError(
                        f"FirstTokenTanhHead on '{name}' ({type(module).__name__}): needs Linear 'dense' and 'out_proj'"
                    )
            dropout = getattr(module, "dropout", nn.Identity())
            z = module.dense(dropout(features[:, 0, :]))
            hidden = _ElementwiseFunction.apply(z, torch.tanh(z.detach()), _PASS.gradient_elementwise)
            logits = module.out_proj(dropout(hidden))
            # values exactly those of the module's own forward, gradient from the rule path
            return output.detach() + (logits - logits.detach())

        return hook


# -- composites ------------------------------------------------------------------------
def _looks_like_attention(name: str, module: nn.Module) -> bool:
    return type(module).__name__.endswith("Attention") and any(
        isinstance(child, nn.Linear) for child in module.children()
    )


def _is_tanh_head(name: str, module: nn.Module) -> bool:
    return type(module).__name__ in _TANH_HEADS


def _looks_like_gated_mlp(name: str, module: nn.Module) -> bool:
    return any(isinstance(module._modules.get(p), nn.Linear) for p in ("gate_proj", "up_proj", "Wi", "gate_up_proj"))


def _is_rotary_embedding(name: str, module: nn.Module) -> bool:
    # cos/sin tables from position ids: constants for relevance (the rotation they drive is
    # applied to queries and keys as a function, a linear map the plain gradient handles)
    return type(module).__name__.endswith("RotaryEmbedding")


def _is_rms_norm(name: str, module: nn.Module) -> bool:
    # y = w ⊙ x / rms(x): with rms held constant (as LayerNorm's σ), a diagonal linear map,
    # whose LRP-0 is the identity rule R_in = R_out (Gemma's (1 + w) scale included)
    return type(module).__name__.endswith("RMSNorm")


def _hf_types(module_name: str, names: tuple[str, ...]) -> tuple[type, ...]:
    """Classes of ``transformers`` by name; none where transformers (or the class) is missing."""
    try:
        module = __import__(module_name, fromlist=list(names))
    except ImportError:
        return ()
    return tuple(cls for cls in (getattr(module, n, None) for n in names) if isinstance(cls, type))


def _transformer_composite(name: str, query_key: float, value: float, gate: float, up: float,
                           eps: float) -> Composite:
    if not eps >= 0:
        raise DoclrpError(f"{name}: eps must be >= 0, got {eps}")
    # LRP-0 in gradient form is the plain gradient (no division, nothing to stabilize):
    # with eps=0 the Linear layers keep theirs and cost nothing over gradient × input.
    linear = Epsilon(eps) if eps else Gradient()
    rules = {
        _is_query_or_key: AttentionOperand(query_key, eps),
        _is_value: AttentionOperand(value, eps),
        _is_fused_qkv: AttentionOperand((query_key, query_key, value), eps),
        _is_gate: AttentionOperand(gate, eps),
        _is_up: AttentionOperand(up, eps),
        _is_fused_gate_up: AttentionOperand((gate, up), eps),
        _looks_like_attention: AttentionCheck(),
        _looks_like_gated_mlp: GatedMLPCheck(),
        _is_tanh_head: FirstTokenTanhHead(),
        _is_rms_norm: Identity(),
        _is_rotary_embedding: Gradient(),
        nn.Linear: linear,
        nn.LayerNorm: LayerNormCP(),
        nn.GELU: Identity(),
    }
    for cls in _hf_types("transformers.activations", _HF_ACTIVATIONS):
        rules[cls] = Identity()
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


register_composite("cp-lrp", cp_lrp)
register_composite("attnlrp", attnlrp)
