"""Rules for parts of Hugging Face families that compute inside ``forward`` what no module hook
reaches: RoBERTa-style classification heads, DeBERTa's ``ContextPooler`` and its disentangled
attention. Each recomputes its module's output by the rules and hands back the module's own
values with the recomputation's gradient.

>>> import torch
>>> from torch import nn
>>> head = nn.Module()
>>> head.dense, head.out_proj = nn.Linear(4, 4), nn.Linear(4, 2)
>>> head.forward = lambda features: head.out_proj(torch.tanh(head.dense(features[:, 0])))
>>> from doclrp.core import Composite, Gradient, attribute
>>> composite = Composite({"": FirstTokenTanhHead(), nn.Linear: Gradient()})
>>> attribute(head, torch.randn(3, 5, 4), target=0, composite=composite).relevance.shape
torch.Size([3, 5, 4])

The equations are those of :mod:`doclrp.core.attention_rules` (the uniform rule on
products, attention probabilities constant for CP-LRP) and the identity rule
:class:`~doclrp.core.rules.Pass` on activations; which module gets which rule is
:mod:`doclrp.models.hf.composites`.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from doclrp.core.rules import ModuleRule, Pass
from doclrp.errors import DoclrpError

__all__ = ["FirstTokenTanhHead", "FirstTokenPooler", "DisentangledAttention"]

_PASS = Pass()


def _identity_rule(x: Tensor, y: Tensor) -> Tensor:
    """``y = f(x)``, its values as given, with the identity rule's gradient ``g·y/x``."""
    return _PASS.apply(x, y)


def _with_gradient_of(values: Tensor, path: Tensor) -> Tensor:
    """``values`` exactly, with the gradient of ``path``: a recomputation of them by the rules."""
    return values.detach() + (path - path.detach())


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
            from transformers.activations import ACT2FN  # lazily: importing transformers costs seconds

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
