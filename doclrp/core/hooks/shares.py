"""Hooks of ``Flat`` and ``WSquare`` above other layers, and of the pooling rules.

Flat and w² give relevance to every input, also to those whose value is 0 (dead ReLUs, a
pooled window of dead units), where relevance cannot be written as activation × gradient.
The LRP Toolbox hands it on unchanged through Rect; so does doclrp, by routing it past the
modules that carry relevance on as it is (reshapes, a constant factor, ReLU modules):
straight to a Flat/WSquare layer below (added to that layer's output relevance: exact),
else as the gradient R/z at the input z of the ReLU crossed (exact where z ≠ 0; the layer
below computes z·g = R), else as R/x (what a ReLU applied as a function leaves: the share
of inputs at 0 then shows in delta). One backward pass still does it all.

>>> from doclrp.core.composites import Composite
>>> from doclrp.core.rules import Flat, Epsilon
>>> from torch import nn
>>> uses_shares(Composite({nn.Linear: Flat()})), uses_shares(Composite({nn.Linear: Epsilon()}))
(True, False)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..composites import Composite
from ..linear import AffineMap
from ..rules import Flat, InputRule, Winners, WSquare, _ElementwiseFunction, _safe_div, pool_gradient, pool_relevance
from ..session import ForwardHook, Session

__all__ = ["shared", "affine_spread", "pool_hook", "rectifier_hook", "uses_shares"]

# autograd nodes that leave relevance as it is and values in their order
_RESHAPE_NODES = {"ViewBackward0", "UnsafeViewBackward0", "ReshapeAliasBackward0", "CloneBackward0"}


class _ShareFunction(torch.autograd.Function):
    """A Flat/WSquare layer: returns the layer output ``y``; its backward spreads ``R = y·g``
    (plus relevance handed over from a Flat/WSquare layer above) over the layer's inputs with
    ``spread``, and ``route`` makes that the gradient at ``source``."""

    @staticmethod
    def forward(ctx: Any, source: Tensor, y: Tensor, spread: Callable[[Tensor], Tensor],
                route: Callable[[Tensor], Tensor]) -> Tensor:
        ctx.save_for_backward(y)
        ctx.spread, ctx.route, ctx.output_shape = spread, route, y.shape
        return y

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None, None]:
        (y,) = ctx.saved_tensors
        relevance = y * g
        extra = getattr(ctx, "extra_relevance", None)
        if extra is not None:
            relevance = relevance + extra
            ctx.extra_relevance = None  # taken: a second backward through the graph starts afresh
        return ctx.route(ctx.spread(relevance)), None, None, None


def _takes_relevance(node: Any) -> bool:
    """Whether autograd ``node`` is a Flat/WSquare layer that adds relevance handed to it."""
    kind = type(node).__name__
    return kind == "_ShareFunctionBackward" or (
        kind == "_AffineRuleFunctionBackward" and isinstance(node.rule, (Flat, WSquare))
        and getattr(node, "reference_shift", None) is None)


def _share_route(session: Session, x: Tensor) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """``(source, route)`` for a Flat/WSquare layer that reads ``x`` (see above): ``route`` turns
    the relevance at ``x`` into the gradient at ``source``, ``x`` or the input of a ReLU below."""
    node: Any = x.grad_fn  # torch types nodes as bare Nodes; ours carry the attributes of their ctx
    rectified: Tensor | None = None
    while node is not None:
        if _takes_relevance(node):
            producer = node

            def hand_over(relevance: Tensor) -> Tensor:
                relevance = relevance.reshape(producer.output_shape)
                previous = getattr(producer, "extra_relevance", None)
                producer.extra_relevance = relevance if previous is None else previous + relevance
                return torch.zeros_like(x)  # a gradient all the same: the producer runs after this
            return x, hand_over
        kind = type(node).__name__
        if kind == "ReluBackward0":
            found = next((pre for out, pre in session.rectified if out.grad_fn is node), None)
            if found is None:
                break  # a relu applied as a function: its input is not known
            rectified, node = found, found.grad_fn
        elif kind in _RESHAPE_NODES or (kind == "MulBackward0" and node.next_functions[1][0] is None
                                        and node._saved_other.dim() == 0):
            node = node.next_functions[0][0]  # a reshape, or a constant factor
        else:
            break
    if rectified is None:
        return x, lambda relevance: _safe_div(relevance, x)
    pre = rectified
    return pre, lambda relevance: _safe_div(relevance.reshape(pre.shape), pre)


def rectifier_hook(session: Session) -> ForwardHook:
    def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        x = args[0] if args else None
        # in place, the input's values are gone: a Flat layer above then divides by the output
        if isinstance(x, Tensor) and x.requires_grad and isinstance(output, Tensor) and output is not x:
            session.rectified.append((output, x))

    return hook


def uses_shares(composite: Composite) -> bool:
    """Whether a Flat/WSquare rule may sit on a hidden layer (only then do ReLUs get a hook)."""
    return any(isinstance(rule, (Flat, WSquare)) for rule in composite.rules.values())


def affine_spread(rule: InputRule, layer: AffineMap, x: Tensor) -> Callable[[Tensor], Tensor]:
    """Flat/WSquare's relevance at the inputs of ``layer`` from the relevance at its outputs."""
    return lambda relevance: rule.relevance(layer, x, torch.ones_like(relevance), relevance, (None, None))


def shared(session: Session, x: Tensor, output: Tensor, spread: Callable[[Tensor], Tensor]) -> Tensor:
    """``output`` of a Flat/WSquare layer reading ``x``; its relevance goes to the input when ``x``
    is (a reshuffling of) the model input, else on by :func:`_share_route`."""
    if session.reads_input(x):
        def to_input(relevance: Tensor) -> Tensor:
            # relevance of zero inputs cannot be a gradient: handed to the input directly
            session.add_input_relevance(x, relevance)
            return torch.zeros_like(x)
        return _ShareFunction.apply(x, output.detach(), spread, to_input)
    source, route = _share_route(session, x)
    return _ShareFunction.apply(source, output.detach(), spread, route)


def pool_hook(session: Session, name: str, rule: Flat | WSquare | Winners) -> ForwardHook:
    def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> Tensor | None:
        x = args[0]
        if not (isinstance(x, Tensor) and x.requires_grad and isinstance(output, Tensor)):
            return None
        if isinstance(rule, Winners) and rule.ties == "one":
            return None  # torch's own gradient picks one winner
        if isinstance(rule, (Flat, WSquare)):
            xd = x.detach()

            def spread(relevance: Tensor) -> Tensor:
                return pool_relevance(rule, module, xd, torch.ones_like(relevance), relevance)
            return shared(session, x, output, spread)
        return _ElementwiseFunction.apply(
            x, output.detach(), lambda x_, y_, g: pool_gradient(rule, module, x_, y_, g))

    return hook
