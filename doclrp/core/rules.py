"""LRP rules: small immutable specs, each with the equation it implements.

Notation (Montavon et al., "Layer-wise Relevance Propagation: An Overview", 2019):
a layer maps inputs ``x_j`` to ``z_k = Σ_j x_j w_jk + b_k``; ``c_jk = x_j w_jk`` is
the contribution of input j to output k; ``R_k`` is the relevance of output k and
``R_j`` what the rule hands to input j. ``c⁺ = max(c, 0)``, ``c⁻ = min(c, 0)``.

The engine runs every rule as a *modified gradient*: relevance is kept as
``R = activation ⊙ gradient`` all the way down, so one backward pass computes it and
plain tensor operations between layers (``x + y``, reshapes, pooling) conserve
relevance for free. A rule for an affine layer therefore receives the layer input
``x``, its output ``z`` and the incoming gradient ``g`` (so ``R_k = z_k g_k``) and
returns the gradient at ``x`` (so that ``R_j = x_j · grad_j``).

Rules that give relevance to inputs that are zero (``Flat``, ``WSquare``, ``ZBox``)
cannot be written as ``x ⊙ grad``; they are *input rules*: on a layer that reads the model
input they return the relevance itself. ``Flat`` and ``WSquare`` also run on hidden layers
(and on pooling layers). The share they give to inputs that are exactly zero (dead ReLUs, a
pooled window of them) travels on as the LRP Toolbox passes it through Rect: the engine
(``doclrp.core.hooks.shares``) hands it straight to a Flat/WSquare layer below, or past a ReLU
*module* as the gradient ``R_j / z_j`` at the ReLU's input ``z_j``. After a ReLU applied as a
function (or in place) the predecessor is not known: the gradient is ``R_j / x_j`` and the
share of inputs at 0 shows in ``delta``.

>>> Epsilon(eps=0.25)
Epsilon(eps=0.25)
>>> AlphaBeta(alpha=2.0, beta=1.0).alpha - AlphaBeta(alpha=2.0, beta=1.0).beta
1.0
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ..errors import DoclrpError
from .linear import AffineMap, SparseConv1dMap

__all__ = [
    "Rule", "AffineRule", "InputRule",
    "Zero", "Epsilon", "Gamma", "ZPlus", "AlphaBeta", "Flat", "WSquare", "ZBox",
    "Pass", "Gradient", "ModuleRule", "chunk_factors", "Layer", "Bounds",
    "OnHiddenLayer", "Winners", "POOLS", "pool_gradient", "pool_relevance",
]

# Below this fraction of Σ|c_jk|, a signed partial sum obtained by cancellation is zero
# (it differs from zero only by rounding): the fallback of αβ / z⁺ then applies.
_CANCELLATION_TOLERANCE = 64

#: What a rule works on: an affine layer, or a Conv1d restricted to the positions that carry relevance.
Layer = AffineMap | SparseConv1dMap
#: ``(min, max)`` of the input data, for rules of bounded inputs (``Session.bounds``).
Bounds = tuple[Tensor | None, Tensor | None]


def chunk_factors(factors: tuple[float, ...], n_outputs: int, like: Tensor) -> Tensor:
    """``(n_outputs,)``: ``factors[i]`` over the i-th of ``len(factors)`` equal chunks of the outputs.

    >>> chunk_factors((0.25, 0.5), 4, torch.zeros(1)).tolist()
    [0.25, 0.25, 0.5, 0.5]
    """
    if n_outputs % len(factors):
        raise DoclrpError(f"{n_outputs} outputs do not split into {len(factors)} equal chunks for factors {factors}")
    return _chunk_factors(tuple(factors), n_outputs, like.dtype, like.device)


@functools.lru_cache(maxsize=64)
def _chunk_factors(factors: tuple[float, ...], n_outputs: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    # made once per layout: building it per call would copy to a GPU, and wait for it, every forward
    return torch.tensor(factors, dtype=dtype).repeat_interleave(n_outputs // len(factors)).to(device)


def _safe_div(num: Tensor, den: Tensor) -> Tensor:
    """``num / den`` with 0 where ``den == 0`` (never NaN or Inf)."""
    zero = den == 0
    return (num / den.masked_fill(zero, 1)).masked_fill_(zero, 0)


class Rule:
    """Base of all rules (immutable dataclasses)."""


class AffineRule(Rule):
    """A rule for Linear/Conv layers, run as a modified gradient."""

    def gradient(self, layer: Layer, x: Tensor, z: Tensor, g: Tensor) -> Tensor:
        raise NotImplementedError

    def gradient_scale(self) -> float | tuple[float, ...] | None:
        """``c`` when the rule's modified gradient is ``c`` times the layer's own gradient
        whatever the layer computes (LRP-0: 1), else None; or ``(c_1, …, c_n)`` when it
        scales each of n equal chunks of the layer's outputs by its own ``c_i`` (a fused
        projection). Such a rule needs no backward function of its own: the engine lets
        autograd run it, scaled."""
        return None


class InputRule(Rule):
    """A rule for layers that read the model input; returns the input relevance itself."""

    #: whether the rule also makes sense on a hidden layer (it does not need the input's bounds)
    hidden: ClassVar[bool] = False

    def relevance(self, layer: Layer, x: Tensor, z: Tensor, g: Tensor, bounds: Bounds) -> Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class Zero(AffineRule):
    """LRP-0: ``R_j = Σ_k c_jk / z_k · R_k`` (equals gradient × input).

    Where ``z_k = 0`` the ratio ``z_k/z_k`` is taken as 1, which makes LRP-0 exactly
    the gradient; ``R_k = z_k g_k = 0`` there, so nothing is invented.
    """

    def gradient(self, layer: Layer, x: Tensor, z: Tensor, g: Tensor) -> Tensor:
        return layer.vjp(g, x)

    def gradient_scale(self) -> float | tuple[float, ...] | None:
        return 1.0


@dataclass(frozen=True)
class Epsilon(AffineRule):
    """LRP-ε: ``R_j = Σ_k c_jk / (z_k + ε·sign(z_k)) · R_k`` with sign(0)=+1.

    ε absorbs the relevance of weak, contradictory outputs; the absorbed part (and
    the bias share) is reported in ``Attribution.delta``.
    """

    eps: float = 1e-6

    def __post_init__(self) -> None:
        if not self.eps >= 0:
            raise DoclrpError(f"Epsilon(eps={self.eps}): eps must be >= 0")

    def gradient(self, layer: Layer, x: Tensor, z: Tensor, g: Tensor) -> Tensor:
        if self.eps == 0:
            return layer.vjp(g, x)
        # sign(0) = +1, so the denominator is never 0
        stabilized = torch.where(z >= 0, z + self.eps, z - self.eps)
        return layer.vjp(g * z / stabilized, x)

    def gradient_scale(self) -> float | tuple[float, ...] | None:
        return 1.0 if self.eps == 0 else None


def _signed_parts(layer: Layer, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
    """``(Σ_j c⁺_jk + b⁺_k, Σ_j c⁻_jk + b⁻_k)`` from one extra forward of ``|x|`` through ``|W|``.

    ``c⁺ = (|x||w| + xw)/2`` and ``c⁻ = (xw − |x||w|)/2``, so both sums follow from
    ``Σ|c|`` and the bias-free output already computed by the forward pass.
    """
    bias = layer.bias_like(z)
    magnitude = layer.forward(x.abs(), layer.weight.abs())
    signed = z - bias
    positive = (magnitude + signed) / 2
    negative = (signed - magnitude) / 2
    tolerance = _CANCELLATION_TOLERANCE * torch.finfo(z.dtype).eps * magnitude
    positive = torch.where(positive <= tolerance, torch.zeros_like(positive), positive)
    negative = torch.where(-negative <= tolerance, torch.zeros_like(negative), negative)
    return positive + bias.clamp(min=0), negative + bias.clamp(max=0)


def _split_gradient(layer: Layer, x: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
    """Gradient at x of ``Σ_k c⁺_jk·positive_k + c⁻_jk·negative_k`` (per input j, divided by x_j).

    ``c⁺_jk/x_j = (w_jk + sign(x_j)|w_jk|)/2`` and ``c⁻_jk/x_j = (w_jk − sign(x_j)|w_jk|)/2``.
    """
    plain = layer.vjp(positive + negative, x)
    absolute = layer.vjp(positive - negative, x, layer.weight.abs())
    return (plain + torch.sign(x) * absolute) / 2


@dataclass(frozen=True)
class Gamma(AffineRule):
    """LRP-γ: favour the contributions that agree in sign with the output.

    ``R_j = Σ_k (c_jk + γ c^σ_jk) / (z_k + γ z^σ_k) · R_k`` with σ = + where ``z_k ≥ 0``
    and σ = − where ``z_k < 0`` (``z^σ_k = Σ_j c^σ_jk + b^σ_k``). For non-negative
    inputs and positive outputs this is the classic ``w + γ w⁺`` rule.
    """

    gamma: float = 0.25

    def __post_init__(self) -> None:
        if not self.gamma >= 0:
            raise DoclrpError(f"Gamma(gamma={self.gamma}): gamma must be >= 0")

    def gradient(self, layer: Layer, x: Tensor, z: Tensor, g: Tensor) -> Tensor:
        positive, negative = _signed_parts(layer, x, z)
        up = z >= 0
        s = _safe_div(z * g, z + self.gamma * torch.where(up, positive, negative))
        plain = layer.vjp(s, x)
        favoured = torch.where(up, s, torch.zeros_like(s))
        opposed = s - favoured
        absolute = layer.vjp(favoured - opposed, x, layer.weight.abs())
        return (1 + self.gamma / 2) * plain + (self.gamma / 2) * torch.sign(x) * absolute


@dataclass(frozen=True)
class AlphaBeta(AffineRule):
    """LRP-αβ: ``R_j = Σ_k (α c⁺_jk / z⁺_k − β c⁻_jk / z⁻_k) · R_k`` with α − β = 1.

    ``z^±_k = Σ_j c^±_jk + b^±_k`` (the bias share stays in the bias: see delta). Any α
    with β = α − 1 is allowed: α < 1 (β < 0) adds the negative evidence with weight
    ``|β|`` instead of subtracting it; α = 0 keeps only the negative evidence.

    Zeros, by ``missing``: ``"reassign"`` (the default) hands *all* of ``R_k`` to the
    negative contributions of an output with no positive part (``z⁺_k = 0``), and all of it
    to the positive ones where there is no negative part — so a bias-free layer conserves
    exactly instead of losing the α or β share. ``"drop"`` is the LRP Toolbox's convention:
    ``0/0 = 0``, so such an output passes ``α R_k`` (or ``−β R_k``) and the rest is lost
    (on a sum pool after a ReLU, ``α R``: relevance grows by α per pool).

    >>> AlphaBeta(0.5, -0.5)
    AlphaBeta(alpha=0.5, beta=-0.5)
    >>> AlphaBeta(2.0, 1.0, missing="drop")
    AlphaBeta(alpha=2.0, beta=1.0, missing='drop')
    """

    alpha: float = 2.0
    beta: float = 1.0
    missing: str = "reassign"

    def __post_init__(self) -> None:
        if not abs(self.alpha - self.beta - 1) <= 1e-12:
            raise DoclrpError(f"AlphaBeta(alpha={self.alpha}, beta={self.beta}): need alpha - beta = 1")
        if self.missing not in ("reassign", "drop"):
            raise DoclrpError(f"AlphaBeta(missing={self.missing!r}): choose 'reassign' or 'drop'")

    def __repr__(self) -> str:
        extra = "" if self.missing == "reassign" else f", missing={self.missing!r}"
        return f"AlphaBeta(alpha={self.alpha}, beta={self.beta}{extra})"

    def gradient(self, layer: Layer, x: Tensor, z: Tensor, g: Tensor) -> Tensor:
        positive, negative = _signed_parts(layer, x, z)
        relevance = z * g
        if self.missing == "drop":
            alpha: Tensor | float = self.alpha
            beta: Tensor | float = self.beta
        else:
            has_pos, has_neg = positive > 0, negative < 0
            both = has_pos & has_neg
            alpha = torch.where(both, torch.full_like(z, self.alpha), has_pos.to(z.dtype))
            beta = torch.where(both, torch.full_like(z, self.beta), -has_neg.to(z.dtype))
        return _split_gradient(
            layer, x, _safe_div(alpha * relevance, positive), -_safe_div(beta * relevance, negative)
        )


@dataclass(frozen=True)
class ZPlus(AffineRule):
    """LRP-z⁺: ``R_j = Σ_k c⁺_jk / z⁺_k · R_k`` (αβ with α=1, β=0; same zero handling).

    For non-negative inputs this is the familiar ``w⁺`` rule of Deep Taylor Decomposition.
    """

    def gradient(self, layer: Layer, x: Tensor, z: Tensor, g: Tensor) -> Tensor:
        if bool((x >= 0).all()):
            # Non-negative inputs (after ReLU or pooling, pixels): c⁺_jk = x_j w⁺_jk, so one
            # forward with W⁺ and one transposed pass give the rule, where the signed split of
            # αβ takes three passes. Exact wherever every output with relevance has a positive
            # part; else αβ's zero handling is needed and it runs instead.
            w_pos = layer.weight.clamp(min=0)
            positive = layer.forward(x, w_pos) + layer.bias_like(z).clamp(min=0)
            relevance = z * g
            if bool(((positive > 0) | (relevance == 0)).all()):
                # in place: where z⁺ is 0 the relevance is too, and 0/1 puts nothing there
                return layer.vjp(relevance.div_(positive.masked_fill_(positive == 0, 1)), x, w_pos)
        return AlphaBeta(1.0, 0.0).gradient(layer, x, z, g)


@dataclass(frozen=True)
class Flat(InputRule):
    """Flat: ``R_j = Σ_k 1 / N_k · R_k``, ``N_k`` the number of inputs connected to k.

    On any Linear/Conv layer and on pooling layers (even over each window)."""

    hidden: ClassVar[bool] = True

    def relevance(self, layer: Layer, x: Tensor, z: Tensor, g: Tensor, bounds: Bounds) -> Tensor:
        ones = torch.ones_like(layer.weight)
        count = layer.forward(torch.ones_like(x), ones)
        return layer.vjp(_safe_div(z * g, count), x, ones)


@dataclass(frozen=True)
class WSquare(InputRule):
    """w²: ``R_j = Σ_k w²_jk / Σ_j w²_jk · R_k`` (independent of the input values).

    On any Linear/Conv layer; on a pooling layer (equal weights) it is ``Flat``."""

    hidden: ClassVar[bool] = True

    def relevance(self, layer: Layer, x: Tensor, z: Tensor, g: Tensor, bounds: Bounds) -> Tensor:
        square = layer.weight.square()
        total = layer.forward(torch.ones_like(x), square)
        return layer.vjp(_safe_div(z * g, total), x, square)


@dataclass(frozen=True)
class ZBox(InputRule):
    """z^B for inputs bounded by ``low ≤ x ≤ high``:
    ``R_j = Σ_k (x_j w_jk − l_j w⁺_jk − h_j w⁻_jk) / Σ_j(…) · R_k``.

    ``low``/``high`` are numbers or tensors broadcastable to the layer input; ``None``
    takes the bounds the model declares (``input_bounds``), for token inputs the min/max of
    the embedding matrix; never those of the batch, so that a document's relevance does
    not depend on the documents beside it. A model of float inputs that declares none is
    refused with the fix. Where the model declares ``zero_is_absent`` (bag-of-words,
    padding), an input at 0 gets the box {0} and nothing
    (:meth:`doclrp.core.session.Session.bounds_at`).
    """

    low: float | Tensor | None = None
    high: float | Tensor | None = None

    def relevance(self, layer: Layer, x: Tensor, z: Tensor, g: Tensor, bounds: Bounds) -> Tensor:
        # the engine hands over the box already (its own bounds, or these with absent inputs at {0})
        low = bounds[0] if bounds[0] is not None else self.low
        high = bounds[1] if bounds[1] is not None else self.high
        if low is None or high is None:
            missing = " and ".join(n for n, v in (("low", low), ("high", high)) if v is None)
            raise DoclrpError(f"z^B needs the range of the model's input, and the model declares no {missing} "
                              "(input_bounds): give it, e.g. resolve_method('epsilon-gamma-box', low=0.0, "
                              "high=1.0) or --param low=0 high=1")
        low = torch.as_tensor(low, dtype=x.dtype, device=x.device).expand_as(x)
        high = torch.as_tensor(high, dtype=x.dtype, device=x.device).expand_as(x)
        w_pos, w_neg = layer.weight.clamp(min=0), layer.weight.clamp(max=0)
        z_box = layer.forward(x) - layer.forward(low, w_pos) - layer.forward(high, w_neg)
        s = _safe_div(z * g, z_box)
        return x * layer.vjp(s, x) - low * layer.vjp(s, x, w_pos) - high * layer.vjp(s, x, w_neg)


@dataclass(frozen=True)
class OnHiddenLayer(AffineRule):
    """An input rule that also makes sense on a hidden layer (``Flat``, ``WSquare``), run as the
    gradient ``R_j / x_j``. Where ``x_j = 0`` its share cannot be carried down by a gradient and
    shows in delta. The engine runs hidden Flat/WSquare layers its own way (see the module
    docstring) and uses this form only where a BatchNorm is folded into such a layer.

    >>> OnHiddenLayer(Flat())
    OnHiddenLayer(rule=Flat())
    """

    rule: InputRule

    def gradient(self, layer: Layer, x: Tensor, z: Tensor, g: Tensor) -> Tensor:
        return _safe_div(self.rule.relevance(layer, x, z, g, (None, None)), x)


@dataclass(frozen=True)
class Winners(Rule):
    """For max pooling: each window's relevance goes to its maximum; ``ties="one"`` gives it to
    one of tied maxima (torch's choice: the plain gradient), ``ties="split"`` splits it evenly
    among them (the LRP Toolbox's convention): ``R_j = Σ_k [x_j = z_k] / n_k · R_k`` with
    ``n_k`` the number of maxima in window k. Both conserve.

    >>> pool = nn.MaxPool1d(2)
    >>> x = torch.tensor([[[1.0, 1.0, 0.5, 2.0]]])
    >>> g = pool_gradient(Winners("split"), pool, x, pool(x), torch.ones(1, 1, 2))
    >>> (x * g).tolist()
    [[[0.5, 0.5, 0.0, 2.0]]]
    """

    ties: str = "split"

    def __post_init__(self) -> None:
        if self.ties not in ("one", "split"):
            raise DoclrpError(f"Winners(ties={self.ties!r}): choose 'one' or 'split'")


_MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
#: The pooling layers that take ``Flat``, ``WSquare`` (and, for max pooling, ``Winners``).
POOLS = (*_MAX_POOLS, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)


def _pool_geometry(module: nn.Module, x: Tensor) -> "_Geometry":
    """``(kernel, stride, padding)`` per spatial dimension; refuses what the window rules do not cover."""
    dims = x.dim() - 2

    def spread(value: Any) -> tuple[int, ...]:
        return tuple(value) if isinstance(value, (tuple, list)) else (int(value),) * dims

    kernel, stride, padding = (spread(getattr(module, k)) for k in ("kernel_size", "stride", "padding"))
    if getattr(module, "ceil_mode", False) or spread(getattr(module, "dilation", 1)) != (1,) * dims:
        raise DoclrpError(f"{type(module).__name__}: window rules need ceil_mode=False and dilation=1")
    return kernel, stride, padding


def _windows(x: Tensor, kernel: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...],
             fill: float) -> Tensor:
    """``(batch, channels, *out, *kernel)``: every window of ``x``, padded with ``fill``."""
    if any(padding):
        x = nn.functional.pad(x, [p for size in reversed(padding) for p in (size, size)], value=fill)
    for dim, (size, step) in enumerate(zip(kernel, stride)):
        x = x.unfold(2 + dim, size, step)
    return x


_Geometry = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def _spread(x: Tensor, weights: Tensor, g: Tensor, geometry: _Geometry) -> Tensor:
    """``Σ_k weights_jk g_k`` at every input j (the transpose of the windowing)."""
    kernel, stride, padding = geometry
    dims = len(kernel)
    with torch.enable_grad():
        xd = x.detach().requires_grad_(True)
        out = (_windows(xd, kernel, stride, padding, fill=0.0) * weights).sum(tuple(range(-dims, 0)))
        return torch.autograd.grad(out, xd, g)[0]


def pool_relevance(rule: Flat | WSquare, module: nn.Module, x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    """``Flat``/``WSquare`` on a pooling layer: ``R_k = y_k g_k`` spread evenly over the window's
    inputs (padding excluded)."""
    geometry = _pool_geometry(module, x)
    dims = len(geometry[0])
    inside = _windows(torch.ones_like(x), *geometry, fill=0.0)
    count = inside.sum(tuple(range(-dims, 0)), keepdim=True)
    return _spread(x, _safe_div(inside, count), y * g, geometry)


def pool_gradient(rule: Rule, module: nn.Module, x: Tensor, y: Tensor, g: Tensor) -> Tensor:
    """The gradient at ``x`` that ``rule`` gives a pooling layer (relevance ``x ⊙ gradient``)."""
    if isinstance(rule, Winners) and rule.ties == "one":
        with torch.enable_grad():  # forward(), not __call__: no hooks of an attached session run again
            xd = x.detach().requires_grad_(True)
            return torch.autograd.grad(module.forward(xd), xd, g)[0]
    if isinstance(rule, Winners):
        geometry = _pool_geometry(module, x)
        dims = len(geometry[0])
        windows = _windows(x, *geometry, fill=float("-inf"))
        winners = (windows == y[(...,) + (None,) * dims]).to(x.dtype)
        weights = winners / winners.sum(tuple(range(-dims, 0)), keepdim=True).clamp(min=1)
        # the winners hold x_j = y_k, so spreading g_k with these weights hands R_k = y_k g_k out evenly
        return _spread(x, weights, g, geometry)
    if isinstance(rule, (Flat, WSquare)):
        return _safe_div(pool_relevance(rule, module, x, y, g), x)
    raise DoclrpError(f"rule {rule!r} does not apply to a pooling layer; use Flat(), WSquare() or Winners()")


class _ElementwiseFunction(torch.autograd.Function):
    """Returns ``y`` unchanged; its backward is ``backward(x, y, g)``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, y: Tensor, backward: Callable[[Tensor, Tensor, Tensor], Tensor]) -> Tensor:
        ctx.save_for_backward(x, y)
        ctx.rule_backward = backward
        return y

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        x, y = ctx.saved_tensors
        return ctx.rule_backward(x, y, g), None, None


@dataclass(frozen=True)
class Pass(Rule):
    """The identity rule for element-wise layers and norms (AttnLRP eq. 9): ``R_in = R_out``
    (gradient ``g·y/x``).

    On a module it takes the input given by position or by keyword (activation modules of
    other libraries are called either way) and refuses one whose output is not shaped as its
    input. Where the input is 0 the relevance of the output (``f(0)·g``, non-zero only for
    functions such as sigmoid) cannot be placed and shows in delta.

    >>> x = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> y = Pass().apply(x, torch.tanh(x))
    >>> (g,) = torch.autograd.grad(y.sum(), x)
    >>> bool(torch.allclose(x * g, torch.tanh(x)))
    True
    """

    def apply(self, x: Tensor, y: Tensor) -> Tensor:
        """``y = f(x)``, its values as given, with the rule's gradient at ``x``."""
        return _ElementwiseFunction.apply(x, y.detach(), self.gradient_elementwise)

    def gradient_elementwise(self, x: Tensor, y: Tensor, g: Tensor) -> Tensor:
        # three kernels; 0/0 and c/0 (an output the rule cannot place) become 0
        return (y * g).div_(x).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)


@dataclass(frozen=True)
class Gradient(Rule):
    """Leave the layer's ordinary gradient: right for linear, parameter-free maps
    (reshapes, padding, sums) where gradient × input is LRP-0. Given to an embedding by
    its path or a predicate, it marks a table of constants that is no input (a relative
    position bias): no relevance is reported for it, its share shows in delta."""


class ModuleRule(Rule):
    """A rule that brings its own forward hook, for layers the engine does not know
    (attention blocks, LayerNorm variants of other libraries).

    ``forward_hook(session, name)`` returns ``hook(module, args, kwargs, output)``; it
    must return the module's exact output values, re-routing only the gradient (for
    example through a ``torch.autograd.Function`` whose forward returns the output).
    """

    def plan(self, name: str, module: nn.Module) -> bool:
        """Called once when the hooks of a model are planned (again whenever its submodules
        change): raise ``DoclrpError`` to refuse ``module``; return False if the rule needs
        no forward hook on it (a check that the plan already made, say)."""
        return True

    # ``session`` is the attaching doclrp.core.session.Session, typed as object: that module imports this one
    def forward_hook(self, session: object, name: str) -> Callable[..., Any]:
        raise NotImplementedError
