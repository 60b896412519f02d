"""Merge layers of graph models (a sum, a product, a maximum or a concatenation of several
tensors) and the rules that conserve relevance through them.

>>> import torch
>>> from doclrp.core import attribute
>>> class Residual(torch.nn.Module):  # x + W x through a merge layer
...     def __init__(self):
...         super().__init__()
...         self.linear, self.add = torch.nn.Linear(3, 3, bias=False), WeightedSum.add(2)
...     def forward(self, x):
...         return self.add(x, self.linear(x))
>>> model = Residual().double()
>>> result = attribute(model, torch.rand(2, 3, dtype=torch.float64), target=0, composite="zero")
>>> bool(result.delta.abs().max() < 1e-12)
True

The rules, each in the engine's gradient form (relevance = activation ⊙ modified gradient):

- **A sum** ``z = Σ_i c_i x_i`` (Keras's ``Add``, ``Subtract``, ``Average``) is a bias-free linear
  map of its terms with weights ``c_i``, and :class:`SumRule` gives it the rule a composite gives
  ``nn.Linear``: under LRP-ε each term takes ``R_i = c_i x_i / (z + ε·sign(z)) · R`` (the sum
  splits in proportion to its terms, ε-stabilized where they cancel); under z⁺ or αβ the
  positive and negative terms split apart as in a dense layer. ``Gradient()`` (and LRP-0) is
  the plain split, as a ``+`` written in torch gets.
- **A product** ``z = Π_i x_i`` of computed signals (``Multiply``): the plain gradient would hand
  every factor all of ``R`` (n times too much). :class:`ProductRule` splits it evenly, ``R/n`` to
  each factor: AttnLRP's uniform rule for the product of two signals (Achtibat et al. 2024,
  eq. 7; its ``½`` each), which conserves. ``ProductRule(keep=i)`` instead holds every factor
  but the i-th constant and hands it all of ``R``: the gates of CP-LRP (Ali et al. 2022) and of
  the recurrent rules (Arras et al. 2017, signal-take-all). That is the default of a product
  known to be ``gate ⊙ signal`` (``ElementwiseProduct(signal=i)``: the importers mark the factor
  that is not a sigmoid's output), the uniform split of any other.
- **A maximum or minimum** (``Maximum``, ``Minimum``) hands ``R`` to the winning input (tied
  winners share it evenly), and **a concatenation** routes each part of ``R`` back to the input
  it came from: both are their plain gradients, which conserve.

A composite gives these rules by itself (the sum follows the composite's ``nn.Linear`` rule);
map a merge layer's type or path to ``SumRule(...)``, ``ProductRule(...)`` or ``Gradient()`` to
choose another. Their slow references are ``tests/references.py: sum_reference``,
``product_reference``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from ..errors import DoclrpError
from .linear import AffineMap
from .rules import AffineRule, Gradient, ModuleRule, Rule, Zero

__all__ = ["WeightedSum", "ElementwiseProduct", "Extremum", "Concatenate", "SumRule", "ProductRule",
           "MERGE_LAYERS", "merge_rule"]


def _same_shapes(inputs: Sequence[Tensor], kind: str) -> None:
    """Two or more tensors that broadcast to one shape (a position embedding ``(1, seq, dim)`` to
    the tokens' ``(batch, seq, dim)``, say)."""
    try:
        torch.broadcast_shapes(*(x.shape for x in inputs))
    except RuntimeError:
        pass
    else:
        if len(inputs) >= 2:
            return
    shapes = ", ".join(str(tuple(x.shape)) for x in inputs)
    raise DoclrpError(f"{kind} merges two or more tensors of one shape, got {shapes or 'none'}")


class WeightedSum(nn.Module):
    """``Σ_i c_i x_i`` of tensors of one shape; ``add(n)``, ``subtract()``, ``average(n)`` make
    Keras's ``Add``, ``Subtract`` and ``Average``.

    >>> WeightedSum.subtract()(torch.tensor([3.0]), torch.tensor([1.0]))
    tensor([2.])
    """

    def __init__(self, coefficients: Sequence[float]) -> None:
        super().__init__()
        self.coefficients = tuple(float(c) for c in coefficients)

    @classmethod
    def add(cls, n: int) -> WeightedSum:
        return cls((1.0,) * n)

    @classmethod
    def subtract(cls) -> WeightedSum:
        return cls((1.0, -1.0))

    @classmethod
    def average(cls, n: int) -> WeightedSum:
        return cls((1.0 / n,) * n)

    def forward(self, *inputs: Tensor) -> Tensor:
        if len(inputs) != len(self.coefficients):
            raise DoclrpError(f"WeightedSum of {len(self.coefficients)} terms called with {len(inputs)} tensors")
        _same_shapes(inputs, "WeightedSum")
        total = inputs[0] if self.coefficients[0] == 1 else inputs[0] * self.coefficients[0]
        for coefficient, x in zip(self.coefficients[1:], inputs[1:]):
            total = total + x if coefficient == 1 else total - x if coefficient == -1 else total + coefficient * x
        return total

    def extra_repr(self) -> str:
        return f"coefficients={self.coefficients}"


class ElementwiseProduct(nn.Module):
    """``Π_i x_i`` of tensors of one shape (Keras's ``Multiply``). ``signal``: the index of the one
    factor that is not a gate, where the others are known to be gates (sigmoids: a gated unit); its
    default rule then holds the gates constant (:func:`merge_rule`).

    >>> ElementwiseProduct()(torch.tensor([3.0]), torch.tensor([2.0]))
    tensor([6.])
    """

    def __init__(self, signal: int | None = None) -> None:
        super().__init__()
        self.signal = signal

    def extra_repr(self) -> str:
        return "" if self.signal is None else f"signal={self.signal}"

    def forward(self, *inputs: Tensor) -> Tensor:
        _same_shapes(inputs, "ElementwiseProduct")
        product = inputs[0]
        for x in inputs[1:]:
            product = product * x
        return product


class Extremum(nn.Module):
    """The element-wise maximum (``mode="max"``) or minimum of tensors of one shape; tied winners
    share the gradient evenly (Keras's ``Maximum``, ``Minimum``).

    >>> Extremum("min")(torch.tensor([3.0, 1.0]), torch.tensor([2.0, 5.0]))
    tensor([2., 1.])
    """

    def __init__(self, mode: str) -> None:
        super().__init__()
        if mode not in ("max", "min"):
            raise DoclrpError(f"Extremum(mode={mode!r}): choose 'max' or 'min'")
        self.mode = mode

    def forward(self, *inputs: Tensor) -> Tensor:
        _same_shapes(inputs, "Extremum")
        stacked = torch.stack(torch.broadcast_tensors(*inputs))
        # amax/amin's gradient splits evenly among ties (torch.maximum's only between two)
        return stacked.amax(0) if self.mode == "max" else stacked.amin(0)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class Concatenate(nn.Module):
    """``torch.cat(inputs, dim)`` (Keras's ``Concatenate``; ``dim`` counts the batch axis).

    >>> Concatenate(-1)(torch.zeros(1, 2), torch.ones(1, 1)).tolist()
    [[0.0, 0.0, 1.0]]
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = int(dim)

    def forward(self, *inputs: Tensor) -> Tensor:
        return torch.cat(inputs, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


#: The merge layers; a composite gives each its rule (:func:`merge_rule`).
MERGE_LAYERS = (WeightedSum, ElementwiseProduct, Extremum, Concatenate)


@dataclass(frozen=True)
class _TermsMap(AffineMap):
    """A sum ``z = Σ_i c_i x_i`` as the affine map every :class:`AffineRule` reads: its input is
    the terms stacked ``(n, *shape)``, its weight the coefficients ``(n,)``, no bias."""

    def _spread(self, weight: Tensor, like: Tensor) -> Tensor:
        return weight.view(-1, *[1] * (like.dim() - 1))

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        weight = self.weight if weight is None else weight
        return (self._spread(weight, x) * x).sum(0)

    def vjp(self, grad: Tensor, x: Tensor, weight: Tensor | None = None) -> Tensor:
        weight = self.weight if weight is None else weight
        return self._spread(weight, x) * grad.unsqueeze(0)

    def bias_like(self, z: Tensor) -> Tensor:
        return torch.zeros_like(z)


class _TermsFunction(torch.autograd.Function):
    """Returns the sum's own output; its backward is ``rule`` on the terms."""

    @staticmethod
    def forward(ctx: Any, z: Tensor, rule: AffineRule, layer: _TermsMap, *inputs: Tensor) -> Tensor:
        ctx.rule, ctx.layer = rule, layer
        ctx.save_for_backward(z, *(x.detach() for x in inputs))
        return z

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        z, *inputs = ctx.saved_tensors
        terms = torch.stack(inputs)
        gradient = ctx.rule.gradient(ctx.layer, terms, z, g)
        return (None, None, None, *gradient.unbind(0))


def _with_gradient_of(values: Tensor, graph: Tensor) -> Tensor:
    """``values`` exactly (``graph − graph`` adds an exact 0), with the gradient of ``graph``."""
    return values.detach() + (graph - graph.detach())


def _where(name: str, module: nn.Module) -> str:
    return f"'{name or '<model>'}' ({type(module).__name__})"


@dataclass(frozen=True)
class SumRule(ModuleRule):
    """A :class:`WeightedSum` with ``rule`` on it as a bias-free linear map of its terms (what the
    composite gives ``nn.Linear``; ``Gradient()`` or LRP-0: the plain split in proportion).

    >>> from doclrp.core.rules import Epsilon
    >>> SumRule(Epsilon(0.01))
    SumRule(rule=Epsilon(eps=0.01))
    """

    rule: Rule | None

    def plan(self, name: str, module: nn.Module) -> bool:
        if not isinstance(module, WeightedSum):
            raise DoclrpError(f"{self!r} on {_where(name, module)}: needs a doclrp WeightedSum")
        if not isinstance(self.rule, (AffineRule, Gradient)) and self.rule is not None:
            raise DoclrpError(f"rule {self.rule!r} on the sum {_where(name, module)}: a sum takes a rule for "
                              "hidden layers (Zero, Epsilon, Gamma, ZPlus, AlphaBeta) or Gradient()")
        # the plain gradient already is LRP-0 on a sum: no hook
        return not (self.rule is None or isinstance(self.rule, Gradient) or type(self.rule) is Zero)

    def forward_hook(self, session: object, name: str) -> Callable[..., Any]:
        rule = cast(AffineRule, self.rule)

        def hook(module: WeightedSum, args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Tensor | None:
            if not any(isinstance(x, Tensor) and x.requires_grad for x in args):
                return None
            weight = torch.tensor(module.coefficients, dtype=output.dtype, device=output.device)
            layer = _TermsMap(module, weight, None)
            # terms of broadcast shapes: expanded (autograd sums a term's gradient back over its copies)
            terms = torch.broadcast_tensors(*args)
            return cast(Tensor, _TermsFunction.apply(output.detach(), rule, layer, *terms))

        return hook


@dataclass(frozen=True)
class ProductRule(ModuleRule):
    """An :class:`ElementwiseProduct` of n factors: ``R/n`` to each (``keep=None``, AttnLRP's
    uniform rule), or all of ``R`` to factor ``keep`` with the others held constant.

    >>> ProductRule(), ProductRule(keep=1)
    (ProductRule(keep=None), ProductRule(keep=1))
    """

    keep: int | None = None

    def plan(self, name: str, module: nn.Module) -> bool:
        if not isinstance(module, ElementwiseProduct):
            raise DoclrpError(f"{self!r} on {_where(name, module)}: needs a doclrp ElementwiseProduct")
        if self.keep is not None and (isinstance(self.keep, bool) or not isinstance(self.keep, int) or self.keep < 0):
            raise DoclrpError(f"{self!r}: keep is the index of a factor (0, 1, …) or None")
        return True

    def forward_hook(self, session: object, name: str) -> Callable[..., Any]:
        keep = self.keep

        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Tensor | None:
            if not any(isinstance(x, Tensor) and x.requires_grad for x in args):
                return None
            if keep is None:
                # every factor's gradient is the product of the others: 1/n of it gives each R/n
                return _with_gradient_of(output, output / len(args))
            if keep >= len(args):
                raise DoclrpError(f"ProductRule(keep={keep}) on '{name}': the product has {len(args)} factors")
            held = [x if i == keep else x.detach() for i, x in enumerate(args)]
            product = held[0]
            for x in held[1:]:
                product = product * x
            return _with_gradient_of(output, product)

        return hook


def merge_rule(module: nn.Module, mapped: Rule | None, linear: Rule | None) -> Rule | None:
    """The rule of merge layer ``module``: ``mapped`` (what the composite maps to it) where that is
    one for it, else its default (a sum takes ``linear``, the composite's ``nn.Linear`` rule)."""
    if isinstance(module, WeightedSum):
        if isinstance(mapped, ModuleRule):
            return mapped
        return SumRule(mapped if mapped is not None else linear if linear is not None else Zero())
    if isinstance(module, ElementwiseProduct):
        # a gated product holds its gates constant (signal-take-all); any other splits evenly
        return mapped if isinstance(mapped, (ModuleRule, Gradient)) else ProductRule(keep=module.signal)
    return mapped if isinstance(mapped, ModuleRule) else Gradient()
