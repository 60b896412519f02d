"""Attention-aware LRP rules for transformer encoders and decoders (CP-LRP and AttnLRP).

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

Decoders (Llama, Mistral, Qwen2/3, Gemma, Phi-3) add three parts (GPT-2 none of them). Their gated MLP (which
ModernBERT has too), ``down(act(gate(x)) ⊙ up(x))``, is one more bilinear product: AttnLRP's
uniform rule gives each operand half (``½`` at the gate and up projections); CP-LRP holds
the gate constant as it holds ``P`` (``0`` at the gate, ``1`` at up), and so conserves. RMSNorm with its
normalizer constant is a diagonal linear map, whose LRP-0 is the identity rule. Rotary
position tables are constants; the rotation they drive is linear and needs no rule.

Which module gets which rule in each Hugging Face family, and the composites themselves, is
:mod:`doclrp.core.transformer_composites`.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from ..errors import DoclrpError
from .attach import _ElementwiseFunction
from .rules import AffineRule, Epsilon, ModuleRule, Pass, Zero, chunk_factors

__all__ = ["LayerNormCP", "AttentionOperand", "Identity", "FirstTokenTanhHead", "FirstTokenPooler",
           "DisentangledAttention"]


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


def _identity_rule(x: Tensor, y: Tensor) -> Tensor:
    """``y = f(x)``, its values as given, with the identity rule's gradient ``g·y/x`` (Pass's)."""
    return _ElementwiseFunction.apply(x, y.detach(), _PASS.gradient_elementwise)


def _with_gradient_of(values: Tensor, path: Tensor) -> Tensor:
    """``values`` exactly, with the gradient of ``path``: a recomputation of them by the rules."""
    return values.detach() + (path - path.detach())


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
            return _identity_rule(x, output)

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
            logits = module.out_proj(dropout(_identity_rule(z, torch.tanh(z.detach()))))
            # values exactly those of the module's own forward, gradient from the rule path
            return _with_gradient_of(output, logits)

        return hook


@dataclass(frozen=True)
class FirstTokenPooler(ModuleRule):
    """DeBERTa's ``ContextPooler``: ``act(dense(features[:, 0]))`` with the activation built
    inside ``forward`` (from ``config.pooler_hidden_act``), where no module hook reaches it.
    As :class:`FirstTokenTanhHead`: the pooler runs once more with the identity rule on the
    activation, and hands back its own output values with that path's gradient.
    """

    def forward_hook(self, session, name):
        def hook(module, args, kwargs, output):
            features = args[0] if args else kwargs.get("hidden_states")
            if not (isinstance(features, Tensor) and features.requires_grad):
                return None
            config = getattr(module, "config", None)
            if not isinstance(getattr(module, "dense", None), nn.Linear) or config is None:
                raise DoclrpError(f"FirstTokenPooler on '{name}' ({type(module).__name__}): needs a Linear "
                                  "'dense' and a config with pooler_hidden_act")
            from transformers.activations import ACT2FN

            z = module.dense(module.dropout(features[:, 0]))
            return _with_gradient_of(output, _identity_rule(z, ACT2FN[config.pooler_hidden_act](z.detach())))

        return hook


# the forward's signature, once per class: binding the call's arguments by name runs every forward
_signature = functools.lru_cache(maxsize=None)(inspect.signature)


@dataclass(frozen=True)
class DisentangledAttention(ModuleRule):
    """DeBERTa's disentangled self-attention (``DisentangledSelfAttention``) by the rules.

    Its scores add to ``Q Kᵀ`` a content-to-position term ``Q K_rᵀ`` and a position-to-content
    term ``K Q_rᵀ``, where ``K_r`` and ``Q_r`` project the relative position embeddings: constants.
    Those two terms are linear in ``Q`` and in ``K``, so the bilinear rule applies to ``Q Kᵀ``
    alone, and no scaling of the projections' gradients can express that. The hook computes
    the attention once more from the module's own projections and helper, with the rule on
    each product: ``product_factor`` on the gradient of ``Q Kᵀ`` and of ``P V`` (AttnLRP
    ``½``: the uniform rule), ``P`` held constant where ``constant_probabilities`` (CP-LRP).
    It hands back the module's own output values (checked equal to the recomputation, so a
    change in transformers' DeBERTa fails loudly) with the recomputation's gradient.
    """

    product_factor: float
    constant_probabilities: bool

    def forward_hook(self, session, name):
        def hook(module, args, kwargs, output):
            call = _signature(type(module).forward).bind(module, *args, **kwargs)
            call.apply_defaults()
            hidden = call.arguments["hidden_states"]
            if not (isinstance(hidden, Tensor) and hidden.requires_grad):
                return None
            if module.training:
                raise DoclrpError(f"'{name}' ({type(module).__name__}) is in training mode: its dropout makes the "
                                  "recomputed attention differ; call model.eval() first")
            context = self._context(module, call.arguments, hidden)
            own = output[0]
            tolerance = 1e-4 if own.dtype in (torch.float16, torch.bfloat16) else 1e-5
            if not torch.allclose(context, own, rtol=tolerance, atol=tolerance * own.abs().max().item()):
                raise DoclrpError(f"'{name}' ({type(module).__name__}): recomputing the attention did not give the "
                                  "module's output; this transformers version computes DeBERTa's attention "
                                  "differently from the one doclrp knows")
            return (_with_gradient_of(own, context), *output[1:])

        return hook

    def _context(self, module, arguments: dict, hidden: Tensor) -> Tensor:
        heads = module.num_attention_heads
        query_states = hidden if arguments.get("query_states") is None else arguments["query_states"]
        query = module.transpose_for_scores(module.query_proj(query_states), heads)
        key = module.transpose_for_scores(module.key_proj(hidden), heads)
        value = module.transpose_for_scores(module.value_proj(hidden), heads)
        scale_factor = 1 + sum(kind in module.pos_att_type for kind in ("c2p", "p2c"))
        # the scale as the model computes it (in float32): bit for bit the module's own scores
        scale = torch.sqrt(torch.tensor(query.size(-1), dtype=torch.float) * scale_factor).to(query.dtype)
        scores = self._product(torch.bmm(query, key.transpose(-1, -2) / scale))
        if module.relative_attention:
            # position embeddings are constants: the position terms are linear in Q and in K
            scores = scores + module.disentangled_attention_bias(
                query, key, arguments.get("relative_pos"), arguments["rel_embeddings"].detach(), scale_factor)
        scores = scores.view(-1, heads, scores.size(-2), scores.size(-1))
        mask = arguments["attention_mask"].bool()
        probabilities = torch.softmax(scores.masked_fill(~mask, torch.finfo(query.dtype).min), dim=-1)
        if self.constant_probabilities:
            probabilities = probabilities.detach()
        context = self._product(torch.bmm(probabilities.view(-1, *probabilities.shape[-2:]), value))
        context = context.view(-1, heads, *context.shape[-2:]).permute(0, 2, 1, 3).contiguous()
        return context.view(*context.shape[:-2], -1)

    def _product(self, product: Tensor) -> Tensor:
        if self.product_factor != 1 and product.requires_grad:
            factor = self.product_factor
            product.register_hook(lambda g: g * factor)
        return product
