"""Attention-aware LRP rules (CP-LRP and AttnLRP): LayerNorm with its normalizer constant,
and the projections that feed a product of two computed operands.

>>> import torch
>>> from doclrp.core.attention_rules import LayerNormCP
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
bit-identical and nothing global is switched.

A gated MLP, ``down(act(gate(x)) ⊙ up(x))``, is one more bilinear product: AttnLRP's
uniform rule gives each operand half (``½`` at the gate and up projections); CP-LRP holds
the gate constant as it holds ``P`` (``0`` at the gate, ``1`` at up), and so conserves.
Element-wise activations and RMS norms (with their normalizer constant, diagonal linear
maps) get the identity rule :class:`~doclrp.core.rules.Pass`.

Which module gets which rule in each Hugging Face family, and the ``cp-lrp`` and
``attnlrp`` composites themselves, is :mod:`doclrp.models.hf.composites`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

import torch
from torch import Tensor, nn

from ..errors import DoclrpError
from .linear import AffineMap
from .rules import AffineRule, Epsilon, Layer, ModuleRule, Zero, chunk_factors

__all__ = ["LayerNormCP", "AttentionOperand"]


# -- LayerNorm -------------------------------------------------------------------------
class _LayerNormFunction(torch.autograd.Function):
    """Returns ``y``; backward is the gradient of LayerNorm with ``σ`` held constant."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor, rstd: Tensor, weight: Tensor | None, dims: tuple[int, ...]) -> Tensor:
        ctx.save_for_backward(rstd, weight)
        ctx.dims = dims
        return y

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None, None, None]:
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

    def forward_hook(self, session: object, name: str) -> Callable[..., Any]:
        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Tensor | None:
            x = args[0] if args else kwargs.get("input")
            if not (isinstance(x, Tensor) and x.requires_grad):
                return None
            if not isinstance(module, nn.LayerNorm):
                raise DoclrpError(f"LayerNormCP on '{name}' ({type(module).__name__}): needs a torch.nn.LayerNorm")
            return self.apply(module, x, output)

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

    def __post_init__(self) -> None:
        if isinstance(self.factor, list):
            object.__setattr__(self, "factor", tuple(self.factor))
        factors = self.factor if isinstance(self.factor, tuple) else (self.factor,)
        if not factors or not all(f >= 0 for f in factors):
            raise DoclrpError(f"AttentionOperand(factor={self.factor}): factors must be >= 0")
        Epsilon(self.eps)  # validates eps

    def gradient(self, layer: Layer, x: Tensor, z: Tensor, g: Tensor) -> Tensor:
        if self.factor == 0:
            return torch.zeros_like(x)
        # the factor goes on the (small) weight rather than the (large) gradient
        scale: float | tuple[float, ...] | Tensor = self.factor
        if isinstance(scale, tuple):  # a fused projection: one factor per output chunk (rows of the weight)
            scale = chunk_factors(scale, layer.weight.shape[0], layer.weight)
            scale = scale.view(-1, *[1] * (layer.weight.dim() - 1))
        # a projection is a dense layer, never one restricted to a sparse Conv1d (linear.restrict_to_nonzero)
        scaled = replace(cast(AffineMap, layer), weight=layer.weight * scale)
        return (Epsilon(self.eps) if self.eps else Zero()).gradient(scaled, x, z, g)

    def gradient_scale(self) -> float | tuple[float, ...] | None:
        return self.factor if self.eps == 0 else None
