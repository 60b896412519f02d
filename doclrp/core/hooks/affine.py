"""Hooks of affine layers (Linear, Conv, layers declared dense): the layer's output passed
through an autograd function whose backward is its rule, or its own gradient scaled where the
rule is one (no Python in the backward pass); a BatchNorm right after folds into the layer.

>>> import torch
>>> from torch import nn
>>> from doclrp.core.rules import Epsilon, Gradient
>>> keeps_own_gradient(nn.Linear(2, 2), Gradient()), keeps_own_gradient(nn.Conv1d(2, 2, 1), Epsilon())
(True, False)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ...errors import DoclrpError
from .. import linear
from ..linear import AffineMap, batchnorm_affine, is_dense, keeps_output, one_thread, restrict_to_nonzero
from ..rules import AffineRule, Gradient, InputRule, OnHiddenLayer, Rule, _ElementwiseFunction, chunk_factors
from ..session import AffineRecord, ForwardHook, Session, module_path
from .shares import affine_spread, shared

__all__ = ["affine_hook", "batchnorm_hook", "keeps_own_gradient"]


class _AffineRuleFunction(torch.autograd.Function):
    """Returns the layer's own output; its backward is the layer's rule."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, z: Tensor, layer: AffineMap, rule: AffineRule | InputRule,
                session: Session) -> Tensor:
        ctx.keep_output = keeps_output(layer.module, x)
        ctx.save_for_backward(*((x, z) if ctx.keep_output else (x,)))
        ctx.layer, ctx.rule, ctx.session = layer, rule, session
        ctx.output_shape = z.shape
        return z

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, None, None, None, None]:
        if keeps_output(ctx.layer.module, ctx.saved_tensors[0]) or not linear.ONE_THREAD_SPARSE:
            return _rule_backward(ctx, g)
        # A CPU Conv1d's rule runs on the few positions that carry relevance (restrict_to_nonzero):
        # dozens of small gathers and scatters, each split over the threads and waiting for all of
        # them; on a busy machine every such wait lasts a time slice (measured: LRP 1.4x gradient ×
        # input with 2 threads beside another job, 0.8x on one thread, benchmarks/speed.py).
        with one_thread():
            return _rule_backward(ctx, g)


def _rule_backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, None, None, None, None]:
    """The layer's rule as its backward (see ``_AffineRuleFunction.backward``)."""
    x, *kept = ctx.saved_tensors
    layer = ctx.layer
    extra = getattr(ctx, "extra_relevance", None)
    if extra is not None:  # handed over by a Flat/WSquare layer above (see _share_route)
        ctx.extra_relevance = None  # taken: a second backward through the graph starts afresh
        z = kept[0] if kept else layer.forward(x) + layer.bias_like(extra)
        relevance = z * g + extra
        ctx.session.add_input_relevance(x, ctx.rule.relevance(
            layer, x, torch.ones_like(relevance), relevance, ctx.session.bounds_at(x, ctx.rule)))
        return None, None, None, None, None
    shift = getattr(ctx, "reference_shift", None)
    if shift is not None:
        # Explaining f(x) − reference: the output layer sees its bias as b − reference.
        bias = shift.new_zeros(()) if layer.bias is None else layer.bias
        layer = AffineMap(layer.module, layer.weight, bias - shift)
    layer, index = restrict_to_nonzero(layer, x, g)
    if kept:
        z = kept[0] if shift is None else kept[0] - shift
        z = z if index is None else z[index]
    else:
        z = layer.forward(x)
        z = z + layer.bias_like(z)
    g = g if index is None else g[index]
    if isinstance(ctx.rule, InputRule):
        ctx.session.add_input_relevance(x, ctx.rule.relevance(layer, x, z, g, ctx.session.bounds_at(x, ctx.rule)))
        return None, None, None, None, None
    return ctx.rule.gradient(layer, x, z, g), None, None, None, None


def affine_hook(session: Session, name: str, rules: dict[bool, Rule | None]) -> ForwardHook:
    def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> Tensor | None:
        x = args[0]
        if not (isinstance(x, Tensor) and x.requires_grad):
            return None  # a path the input does not reach carries no relevance
        # without a `first` rule the answer does not depend on it: skip the graph walk
        first = session.composite.first is not None and session.reads_input(x)
        if first not in rules:  # kept with the hook plan: the composite's answer does not change
            rules[first] = session.composite.rule_for(name, module, first=first)
        rule = rules[first]
        if rule is None:
            raise DoclrpError(
                f"module '{module_path(name)}' ({type(module).__name__}) has no rule in composite "
                f"'{session.composite.name}'; add one, e.g. Composite({{{type(module).__name__}: Epsilon()}})"
            )
        if isinstance(rule, Gradient):
            return None
        if isinstance(rule, InputRule) and rule.hidden and not session.reads_input(x):
            layer = AffineMap.of(module, detach=True)
            new = shared(session, x, output, affine_spread(rule, layer, x.detach()))
            # a BatchNorm right after folds into the layer as before (the share of inputs at 0 is then lost)
            session.last_affine = AffineRecord(new, x, layer, OnHiddenLayer(rule))
            return new
        if isinstance(rule, InputRule) and not session.reads_input(x):
            raise DoclrpError(
                f"rule {rule!r} on module '{module_path(name)}' needs a layer that reads the model input; "
                "use it as the composite's `first` rule or name an input layer"
            )
        if not isinstance(rule, (AffineRule, InputRule)):
            raise DoclrpError(f"rule {rule!r} cannot be used on the affine layer '{module_path(name)}'")
        scale: float | tuple[float, ...] | Tensor | None = (
            rule.gradient_scale() if isinstance(rule, AffineRule) and is_dense(module) else None)
        if scale is not None:
            # The rule is the layer's own gradient, scaled: autograd runs it with no Python
            # in the backward pass (what keeps AttnLRP near the cost of gradient × input).
            # Conv layers keep the rule function: its sparse path beats their dense gradient.
            session.last_affine = None
            if isinstance(scale, tuple):  # one factor per equal chunk of the outputs
                scale = chunk_factors(scale, output.shape[-1], output)
            elif scale == 0:
                return output.detach()
            if isinstance(scale, Tensor) or scale != 1:
                output.register_hook(lambda g: g * scale)
            return None
        layer = AffineMap.of(module, detach=True)
        new = _AffineRuleFunction.apply(x, output.detach(), layer, rule, session)
        session.last_affine = AffineRecord(new, x, layer, rule)
        return new

    return hook


def batchnorm_hook(session: Session, name: str) -> ForwardHook:
    def hook(module: nn.modules.batchnorm._BatchNorm, args: tuple[Any, ...], output: Tensor) -> Tensor | None:
        x = args[0]
        if not x.requires_grad:
            return None
        record = session.last_affine
        if record is not None and record.output is x:
            folded = record.layer.fold_batchnorm(module, x.detach())
            if folded is not None:
                # The affine layer's own node drops out of the graph: the pair is one layer.
                new = _AffineRuleFunction.apply(record.x, output.detach(), folded, record.rule, session)
                session.last_affine = AffineRecord(new, record.x, folded, record.rule)
                return new
        scale, _ = batchnorm_affine(module, x.detach())
        shape = [1, -1] + [1] * (x.dim() - 2)
        # Alone, BatchNorm is an affine map per channel: LRP-0 there is the scaled
        # gradient (its shift leaks like a bias and shows in delta).
        return _ElementwiseFunction.apply(x, output.detach(), lambda x_, y_, g: g * scale.view(shape))

    return hook


def keeps_own_gradient(module: nn.Module, rule: Rule | None) -> bool:
    """Whether ``rule`` on this affine layer is the layer's plain, unscaled gradient."""
    if isinstance(rule, Gradient):
        return True
    return is_dense(module) and isinstance(rule, AffineRule) and rule.gradient_scale() == 1
