"""Attaching rules to an unmodified model: forward hooks that re-route the gradient.

Inside ``attach(model, composite)`` every affine layer's output is passed through an
autograd function whose forward returns the very values the layer computed and
whose backward applies the layer's rule. Element-wise layers get the ``Pass`` rule,
a BatchNorm right after an affine layer is folded into it (virtually: no parameter
is touched), a final Softmax is skipped so that logits are explained. On exit every
hook is removed: the model is as it was.

A model whose input value 0 means "not there" rather than a measured zero (a bag-of-words
vector, where 0 is a word the document lacks; a padded position) says so with a class
attribute ``zero_is_absent = True``. Rules that give relevance to inputs of value 0 from
the bounds of the data (``ZBox()`` without bounds of its own) then see the box of such an
input shrink to {0}: an absent input is a constant, not a variable, and gets nothing. The
engine reads no more than that flag: it knows no text, and pixels keep their box.

>>> import torch
>>> from torch import nn
>>> from doclrp.core.composites import get_composite
>>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
>>> with attach(net, get_composite("epsilon")) as session:
...     y = net(session.float_input(torch.randn(5, 3)))
>>> len(net[0]._forward_hooks)
0
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..errors import DoclrpError
from .composites import Composite
from . import linear
from .linear import (AffineMap, batchnorm_affine, is_affine_layer, is_dense, keeps_output, one_thread,
                     restrict_to_nonzero)
from .rules import (POOLS, AffineRule, Flat, Gradient, InputRule, ModuleRule, OnHiddenLayer, Pass, Rule, Winners,
                    WSquare, _ElementwiseFunction, _safe_div, chunk_factors, pool_gradient, pool_relevance)

__all__ = ["attach", "Session", "InputSlot", "PASSIVE_MODULES", "output_tensor"]

# Parameter-free modules whose plain gradient already is LRP-0 (linear maps, max
# selection) or the identity rule (ReLU family): relevance = input ⊙ gradient holds.
PASSIVE_MODULES = (
    nn.Sequential, nn.ModuleList, nn.ModuleDict, nn.Identity, nn.Flatten, nn.Unflatten,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.Threshold,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.ZeroPad1d, nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d,
    nn.PixelShuffle, nn.PixelUnshuffle, nn.ChannelShuffle,
)
_OUTPUT_NORMALIZERS = (nn.Softmax, nn.LogSoftmax, nn.Softmax2d)

# ``hook(module, args, output)``, or ``hook(module, args, kwargs, output)`` where registered with kwargs
_ForwardHook = Callable[..., Any]
# makes a module's forward hook for one session
_HookMaker = Callable[["Session"], _ForwardHook]
# ``[(module, make_hook, wants kwargs)]``
_HookPlan = list[tuple[nn.Module, _HookMaker, bool]]

# Autograd nodes that only move values around: a layer whose input reaches the model
# input through these alone reads the input directly (the "first layer").
_SHAPE_NODES = {
    "ViewBackward0", "UnsafeViewBackward0", "ReshapeAliasBackward0", "AliasBackward0",
    "PermuteBackward0", "TransposeBackward0", "TransposeBackward1", "TBackward0",
    "UnsqueezeBackward0", "SqueezeBackward0", "SqueezeBackward1", "SqueezeBackward2",
    "SqueezeBackward3", "ExpandBackward0", "CloneBackward0", "SliceBackward0",
    "ConstantPadNdBackward0", "NativeDropoutBackward0", "ToCopyBackward0",
}


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
            layer, x, torch.ones_like(relevance), relevance, ctx.session.bounds_at(x)))
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
        ctx.session.add_input_relevance(x, ctx.rule.relevance(layer, x, z, g, ctx.session.bounds_at(x)))
        return None, None, None, None, None
    return ctx.rule.gradient(layer, x, z, g), None, None, None, None


@dataclass
class InputSlot:
    """One of several model inputs (``attribute(model, (ids, features))``): the tensor passed
    (``value``), whether it holds token ids, and the leaves its relevance is taken at: the input
    itself when it is float, the output of every embedding run on it when it holds ids (a
    shared embedding called on two inputs gives each its own)."""

    value: Tensor
    tokens: bool
    leaves: list[Tensor]


@dataclass
class _AffineRecord:
    output: Tensor
    x: Tensor
    layer: AffineMap
    rule: AffineRule | InputRule


class Session:
    """What one attachment knows during its forward and backward pass."""

    def __init__(self, composite: Composite, zero_is_absent: bool = False) -> None:
        self.composite = composite
        # the model's declaration (see the module docstring): inputs at 0 are absent
        self.zero_is_absent = zero_is_absent
        self.leaf: Tensor | None = None
        self.other_leaves: dict[str, Tensor] = {}
        self.token_input = False
        self._bounds_of: Tensor | None = None
        # The model runs on input_scale · input (path methods such as integrated
        # gradients); relevance stays input ⊙ gradient w.r.t. the unscaled input.
        self.input_scale = 1.0
        # relevance that input rules hand to a leaf directly, by id(leaf)
        self.leaf_relevance: dict[int, Tensor] = {}
        # several inputs: one slot each (see several_inputs); empty for one input
        self.slots: list[InputSlot] = []
        # what a leaf's bounds are taken from, by id(leaf), where there are several inputs
        self._bounds_source: dict[int, Tensor] = {}
        self.softmax_outputs: list[tuple[Tensor, Tensor, str]] = []
        self.last_affine: _AffineRecord | None = None
        # (output, input) of each ReLU module run, for Flat/WSquare layers above (see _share_route)
        self.rectified: list[tuple[Tensor, Tensor]] = []

    def close(self) -> None:
        """Drop every tensor the session holds, so nothing outlives the attribution.

        Autograd nodes keep a reference to the session (their backward needs it), and the
        session keeps outputs whose ``grad_fn`` are those nodes: without this the cycle
        would keep the whole graph's tensors alive after the call.
        """
        self.leaf = None
        self._bounds_of = None
        self.other_leaves = {}
        self.leaf_relevance = {}
        self.slots = []
        self._bounds_source = {}
        self.softmax_outputs = []
        self.last_affine = None
        self.rectified = []

    # -- the input ----------------------------------------------------------------------
    def float_input(self, inputs: Tensor) -> Tensor:
        """Make ``inputs`` the leaf whose relevance is computed; returns the tensor to feed."""
        self.leaf = inputs.detach().requires_grad_(True)
        self._bounds_of = inputs.detach()
        return self._scaled(self.leaf)

    def expect_tokens(self) -> None:
        """Relevance will be taken at the output of the first embedding the model runs."""
        self.token_input = True

    def take_embedding(self, embedded: Tensor, weight: Tensor) -> Tensor:
        self.leaf = embedded.detach().requires_grad_(True)
        self._bounds_of = weight.detach()
        return self._scaled(self.leaf)

    def several_inputs(self, inputs: tuple[Tensor, ...]) -> list[Tensor]:
        """Several model inputs, each of which gets its relevance: float ones become leaves, token
        ids are kept to be recognized (by identity) where an embedding reads them. Returns what to
        feed the model, in order."""
        fed = []
        for index, value in enumerate(inputs):
            tokens = not value.is_floating_point()
            slot = InputSlot(value, tokens, [])
            self.slots.append(slot)
            if tokens:
                self.token_input = True
                fed.append(value)
                continue
            leaf = value.detach().requires_grad_(True)
            self._add_leaf(slot, leaf, value.detach(), main=index == 0)
            fed.append(self._scaled(leaf))
        return fed

    def _add_leaf(self, slot: InputSlot, leaf: Tensor, bounds_source: Tensor, main: bool) -> None:
        slot.leaves.append(leaf)
        self._bounds_source[id(leaf)] = bounds_source
        if main and self.leaf is None:
            self.leaf, self._bounds_of = leaf, bounds_source

    def slot_of(self, ids: Any) -> InputSlot | None:
        """The input slot whose token ids ``ids`` are (the very tensor passed), or None."""
        return next((slot for slot in self.slots if slot.tokens and slot.value is ids), None)

    def take_slot_embedding(self, slot: InputSlot, embedded: Tensor, weight: Tensor) -> Tensor:
        leaf = embedded.detach().requires_grad_(True)
        self._add_leaf(slot, leaf, weight.detach(), main=slot is self.slots[0])
        return self._scaled(leaf)

    def leaves(self) -> list[Tensor]:
        """Every tensor that input relevance is taken at (the one leaf, or those of every slot)."""
        if self.slots:
            return [leaf for slot in self.slots for leaf in slot.leaves]
        return [] if self.leaf is None else [self.leaf]

    def _scaled(self, leaf: Tensor) -> Tensor:
        return leaf if self.input_scale == 1.0 else leaf * self.input_scale

    @property
    def bounds(self) -> tuple[Tensor | None, Tensor | None]:
        """``(min, max)`` of the input data (of the embedding matrix for token input), for
        ZBox without its own bounds. Computed on demand: two passes over a large
        embedding matrix would cost every call, and only ZBox reads them."""
        if self._bounds_of is None:
            return None, None
        return self._bounds_of.min(), self._bounds_of.max()

    def bounds_at(self, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """:attr:`bounds` for the layer input ``x``: where the model declares ``zero_is_absent``,
        0 at the inputs of ``x`` that are 0, so that z^B gives an absent input (a word the
        document lacks, a padded position) no share: its term ``x w − l w⁺ − h w⁻`` is 0."""
        low, high = self.bounds
        source = self._bounds_source.get(id(self.leaf_of(x))) if self.slots else None
        if source is not None:
            low, high = source.min(), source.max()
        if not self.zero_is_absent or low is None or high is None:
            return low, high
        present = x != 0
        zero = x.new_zeros(())
        return torch.where(present, low.to(x.dtype), zero), torch.where(present, high.to(x.dtype), zero)

    def reads_input(self, x: Tensor) -> bool:
        """Whether ``x`` is the input leaf (one of them) or a pure reshuffling of it."""
        return self.leaf_of(x) is not None

    def leaf_of(self, x: Tensor) -> Tensor | None:
        """The input leaf that ``x`` is, or is a pure reshuffling of; None if it is neither."""
        leaves = self.leaves()
        found = next((leaf for leaf in leaves if x is leaf), None)
        if found is not None or not leaves:
            return found
        stack, seen = [x.grad_fn], set()
        while stack:
            node = stack.pop()
            if node is None or node in seen:
                continue
            seen.add(node)
            if type(node).__name__ == "AccumulateGrad":
                # torch's stub of Node lacks the .variable that AccumulateGrad nodes have
                variable = node.variable  # type: ignore[attr-defined]
                found = next((leaf for leaf in leaves if variable is leaf), None)
                if found is not None:
                    return found
                continue
            if type(node).__name__ not in _SHAPE_NODES:
                continue
            stack.extend(next_node for next_node, _ in node.next_functions)
        return None

    def add_input_relevance(self, x: Tensor, relevance: Tensor) -> None:
        """Add relevance given in the layout of ``x`` (a reshuffling of a leaf) to that leaf."""
        # only input rules add relevance, and they found the leaf
        leaf = cast(Tensor, self.leaf_of(x) if self.slots else self.leaf)
        if x is not leaf:
            # The shape operations between leaf and x are linear and only move values,
            # so their transpose carries relevance back without changing any of it.
            with torch.enable_grad():
                relevance = torch.autograd.grad(x, leaf, relevance, retain_graph=True)[0]
        previous = self.leaf_relevance.get(id(leaf))
        self.leaf_relevance[id(leaf)] = relevance if previous is None else previous + relevance

    @property
    def input_relevance(self) -> Tensor | None:
        """The relevance input rules handed to the (first) leaf directly, if any."""
        return None if self.leaf is None else self.leaf_relevance.get(id(self.leaf))

    # -- the output ---------------------------------------------------------------------
    @staticmethod
    def shift_output(logits: Tensor, reference: Tensor) -> None:
        """Make the affine layer that computed ``logits`` explain ``logits − reference``.

        Where ``logits`` come from a layer that keeps its plain gradient (LRP-0 in gradient
        form, as the transformer composites give their heads) or from no affine layer, the
        output bias never enters a rule: the reference then only moves the explained value.
        """
        node = logits.grad_fn
        if node is not None and type(node).__name__ == "_AffineRuleFunctionBackward":
            # the node of our autograd Function is its ctx, which takes attributes; torch types it as a bare Node
            node.reference_shift = reference.expand_as(logits).to(logits.dtype)  # type: ignore[attr-defined]
            return
        while node is not None and type(node).__name__ in _SHAPE_NODES:
            node = node.next_functions[0][0] if node.next_functions else None
        if node is not None and type(node).__name__ == "_AffineRuleFunctionBackward":
            raise DoclrpError("a reference needs the explained output to come straight from its Linear layer, "
                              "not reshaped after it")

    def logits_of(self, output: Any) -> Tensor:
        """The tensor to explain: the model output, before a final Softmax module if any."""
        tensor = output_tensor(output)
        logits = tensor
        for probabilities, inputs, name in self.softmax_outputs:
            if probabilities is tensor:
                logits = inputs
            else:
                raise DoclrpError(
                    f"module '{name}' (Softmax) is inside the model, where LRP has no rule for it; "
                    "only a Softmax whose output is the model output is supported (it is skipped so that "
                    "logits are explained), or use an attention-aware composite"
                )
        return logits


def output_tensor(output: Any) -> Tensor:
    """The tensor of a model's output: itself, or its ``logits`` (Hugging Face outputs, dicts),
    or the first element of a tuple."""
    if isinstance(output, Tensor):
        return output
    if hasattr(output, "logits") and isinstance(output.logits, Tensor):
        return output.logits
    if isinstance(output, dict) and isinstance(output.get("logits"), Tensor):
        return output["logits"]
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]
    raise DoclrpError(f"cannot find the output tensor in a {type(output).__name__}; return a tensor")


def _module_path(name: str) -> str:
    return name or "<model>"


# -- Flat and WSquare above other layers ---------------------------------------------------
# Flat and w² give relevance to every input, also to those whose value is 0 (dead ReLUs, a
# pooled window of dead units), where relevance cannot be written as activation × gradient.
# The LRP Toolbox hands it on unchanged through Rect; so does doclrp, by routing it past the
# modules that carry relevance on as it is (reshapes, a constant factor, ReLU modules):
# straight to a Flat/WSquare layer below (added to that layer's output relevance: exact),
# else as the gradient R/z at the input z of the ReLU crossed (exact where z ≠ 0; the layer
# below computes z·g = R), else as R/x (what a ReLU applied as a function leaves: the share
# of inputs at 0 then shows in delta). One backward pass still does it all.

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


def _rectifier_hook(session: Session) -> _ForwardHook:
    def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        x = args[0] if args else None
        # in place, the input's values are gone: a Flat layer above then divides by the output
        if isinstance(x, Tensor) and x.requires_grad and isinstance(output, Tensor) and output is not x:
            session.rectified.append((output, x))

    return hook


def _uses_shares(composite: Composite) -> bool:
    """Whether a Flat/WSquare rule may sit on a hidden layer (only then do ReLUs get a hook)."""
    return any(isinstance(rule, (Flat, WSquare)) for rule in composite.rules.values())


# -- hooks ---------------------------------------------------------------------------------
def _affine_spread(rule: InputRule, layer: AffineMap, x: Tensor) -> Callable[[Tensor], Tensor]:
    """Flat/WSquare's relevance at the inputs of ``layer`` from the relevance at its outputs."""
    return lambda relevance: rule.relevance(layer, x, torch.ones_like(relevance), relevance, (None, None))


def _shared(session: Session, x: Tensor, output: Tensor, spread: Callable[[Tensor], Tensor]) -> Tensor:
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


def _affine_hook(session: Session, name: str, rules: dict[bool, Rule | None]) -> _ForwardHook:
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
                f"module '{_module_path(name)}' ({type(module).__name__}) has no rule in composite "
                f"'{session.composite.name}'; add one, e.g. Composite({{{type(module).__name__}: Epsilon()}})"
            )
        if isinstance(rule, Gradient):
            return None
        if isinstance(rule, InputRule) and rule.hidden and not session.reads_input(x):
            layer = AffineMap.of(module, detach=True)
            new = _shared(session, x, output, _affine_spread(rule, layer, x.detach()))
            # a BatchNorm right after folds into the layer as before (the share of inputs at 0 is then lost)
            session.last_affine = _AffineRecord(new, x, layer, OnHiddenLayer(rule))
            return new
        if isinstance(rule, InputRule) and not session.reads_input(x):
            raise DoclrpError(
                f"rule {rule!r} on module '{_module_path(name)}' needs a layer that reads the model input; "
                "use it as the composite's `first` rule or name an input layer"
            )
        if not isinstance(rule, (AffineRule, InputRule)):
            raise DoclrpError(f"rule {rule!r} cannot be used on the affine layer '{_module_path(name)}'")
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
        session.last_affine = _AffineRecord(new, x, layer, rule)
        return new

    return hook


def _pool_hook(session: Session, name: str, rule: Flat | WSquare | Winners) -> _ForwardHook:
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
            return _shared(session, x, output, spread)
        return _ElementwiseFunction.apply(
            x, output.detach(), lambda x_, y_, g: pool_gradient(rule, module, x_, y_, g))

    return hook


def _batchnorm_hook(session: Session, name: str) -> _ForwardHook:
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
                session.last_affine = _AffineRecord(new, record.x, folded, record.rule)
                return new
        scale, _ = batchnorm_affine(module, x.detach())
        shape = [1, -1] + [1] * (x.dim() - 2)
        # Alone, BatchNorm is an affine map per channel: LRP-0 there is the scaled
        # gradient (its shift leaks like a bias and shows in delta).
        return _ElementwiseFunction.apply(x, output.detach(), lambda x_, y_, g: g * scale.view(shape))

    return hook


def _elementwise_hook(rule: Pass, name: str) -> _ForwardHook:
    def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Tensor | None:
        x = args[0] if args else next(iter(kwargs.values()), None)
        if not (isinstance(x, Tensor) and x.requires_grad and isinstance(output, Tensor)):
            return None
        if output.shape != x.shape:
            raise DoclrpError(f"{rule!r} on '{_module_path(name)}' ({type(module).__name__}): "
                              "needs an element-wise module")
        return rule.apply(x, output)

    return hook


def _embedding_hook(session: Session, name: str) -> _ForwardHook:
    def hook(module: nn.Embedding, args: tuple[Any, ...], output: Tensor) -> Tensor | None:
        if not session.token_input:
            return None
        slot = session.slot_of(args[0]) if session.slots else None
        if slot is not None:
            return session.take_slot_embedding(slot, output, module.weight)
        if session.leaf is None and not session.slots:
            return session.take_embedding(output, module.weight)
        # Later embeddings (positions, token types) are inputs too: their relevance is
        # reported apart instead of vanishing.
        leaf = output.detach()
        batch = session.slots[0].value.shape[0] if session.slots else cast(Tensor, session.leaf).shape[0]
        if leaf.shape[0] == 1 and batch > 1:
            # one row shared by the batch (position embeddings): give each sample its own
            # copy so each one's relevance is its own; the sum broadcasts to the same values
            leaf = leaf.expand(batch, *leaf.shape[1:]).contiguous()
        leaf.requires_grad_(True)
        # a shared embedding run twice reports each call apart
        key = name if name not in session.other_leaves else f"{name}#{len(session.other_leaves)}"
        session.other_leaves[key] = leaf
        return leaf

    return hook


def _embedding_bag_hook(session: Session, name: str) -> _ForwardHook:
    def hook(module: nn.EmbeddingBag, args: tuple[Any, ...], kwargs: dict[str, Any], output: Tensor) -> Tensor | None:
        ids = args[0]
        slot = session.slot_of(ids) if session.slots else None
        if not session.token_input or (session.leaf is not None and slot is None) or (session.slots and slot is None):
            return None
        offsets = args[1] if len(args) > 1 else kwargs.get("offsets")
        weights = args[2] if len(args) > 2 else kwargs.get("per_sample_weights")
        if ids.dim() != 2 or offsets is not None:
            raise DoclrpError(
                f"EmbeddingBag '{_module_path(name)}': per-token relevance needs 2-D (batch, seq) ids without offsets"
            )
        if module.mode == "max":
            raise DoclrpError(f"EmbeddingBag '{_module_path(name)}': mode='max' is not supported; use 'sum' or 'mean'")
        embedded = F.embedding(ids, module.weight)
        tokens = session.take_embedding(embedded, module.weight) if slot is None \
            else session.take_slot_embedding(slot, embedded, module.weight)
        keep = torch.ones_like(ids, dtype=tokens.dtype) if module.padding_idx is None else (ids != module.padding_idx).to(tokens.dtype)
        if weights is not None:
            keep = keep * weights
        bag = (tokens * keep.unsqueeze(-1)).sum(1)
        if module.mode == "mean":
            bag = bag / keep.sum(1, keepdim=True).clamp(min=1)
        # The values stay those of the fused kernel; the gradient takes the per-token path.
        return session.input_scale * output.detach() + (bag - bag.detach())

    return hook


def _softmax_hook(session: Session, name: str) -> _ForwardHook:
    def hook(module: nn.Module, args: tuple[Any, ...], output: Tensor) -> None:
        session.softmax_outputs.append((output, args[0], name))
        return None

    return hook


def _refuse_hook(name: str, composite: Composite) -> _ForwardHook:
    def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        kind = "has parameters but" if any(True for _ in module.parameters(recurse=False)) else "is unknown and"
        raise DoclrpError(
            f"module '{_module_path(name)}' ({type(module).__name__}) {kind} no rule of composite "
            f"'{composite.name}' covers it; map it in a Composite, e.g. "
            f"Composite({{'{name}': Pass()}}) for an element-wise layer or Gradient() for a linear, "
            "parameter-free one"
        )

    return hook


def _hook_for(name: str, module: nn.Module, composite: Composite) -> tuple[_HookMaker | None, bool]:
    """``(make_hook(session) -> forward hook, wants kwargs)`` for ``module``, or ``(None, False)``."""
    if is_affine_layer(module):
        if composite.first is None and _keeps_own_gradient(module, composite.rule_for(name, module)):
            return None, False  # no hook at all: nothing to do at run time
        rules: dict[bool, Rule | None] = {}
        return (lambda session: _affine_hook(session, name, rules)), False
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) and composite.singles_out(name, module) \
            and isinstance(composite.rule_for(name, module), Gradient):
        # named Gradient(): a table of constants (a relative position bias), not an input
        return None, False
    if isinstance(module, nn.EmbeddingBag):
        return (lambda session: _embedding_bag_hook(session, name)), True
    if isinstance(module, nn.Embedding):
        return (lambda session: _embedding_hook(session, name)), False
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return (lambda session: _batchnorm_hook(session, name)), False
    if isinstance(module, _OUTPUT_NORMALIZERS) and not composite.mentions(name, module):
        return (lambda session: _softmax_hook(session, name)), False
    rule = composite.rule_for(name, module)
    if isinstance(rule, ModuleRule):
        if not rule.plan(name, module):
            return None, False
        return (lambda session: rule.forward_hook(session, name)), True
    if isinstance(rule, Pass):
        hook = _elementwise_hook(rule, name)
        return (lambda session: hook), True
    if isinstance(rule, Gradient):
        return None, False
    if rule is None and isinstance(module, nn.ReLU) and _uses_shares(composite):
        return _rectifier_hook, False
    if isinstance(module, POOLS) and isinstance(rule, (Flat, WSquare, Winners)):
        if isinstance(rule, Winners) and not isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
            raise DoclrpError(f"{rule!r} on '{_module_path(name)}' ({type(module).__name__}): needs a max pooling layer")
        pool_rule = rule
        return (lambda session: _pool_hook(session, name, pool_rule)), False
    if rule is not None:
        raise DoclrpError(f"rule {rule!r} given for '{_module_path(name)}' needs a Linear/Conv layer")
    if isinstance(module, PASSIVE_MODULES):
        return None, False
    has_params = any(True for _ in module.parameters(recurse=False))
    is_leaf = next(module.children(), None) is None
    if has_params or is_leaf:
        hook = _refuse_hook(name, composite)
        return (lambda session: hook), False
    return None, False


def _keeps_own_gradient(module: nn.Module, rule: Rule | None) -> bool:
    """Whether ``rule`` on this affine layer is the layer's plain, unscaled gradient."""
    if isinstance(rule, Gradient):
        return True
    return is_dense(module) and isinstance(rule, AffineRule) and rule.gradient_scale() == 1


# model -> {composite's rules: (its submodules by name, plan)}: which hook every module gets
# depends only on those two, and working it out costs more than a small model's forward pass.
# Several composites per model (evaluations alternate them), the oldest dropped past a few.
# Weak keys: a cached plan never keeps a model alive (the submodule list leaves out the root).
_PLANS: weakref.WeakKeyDictionary[nn.Module, dict[Any, tuple[Any, _HookPlan]]] = weakref.WeakKeyDictionary()
_PLANS_PER_MODEL = 8


def _hook_plan(model: nn.Module, composite: Composite) -> _HookPlan:
    """``[(module, make_hook, wants kwargs)]`` for ``model`` under ``composite``, cached while
    the composite maps the same rules and no submodule is added, removed or replaced."""
    named = list(model.named_modules())
    layout = tuple(named[1:])
    rules: tuple[Any, ...] | None = (composite.name, composite.first, tuple(composite.rules.items()))
    plans = _PLANS.get(model, {})
    try:
        cached = plans.get(rules)
    except TypeError:  # a rule that cannot be hashed: planned every time
        cached, rules = None, None
    if cached is not None and cached[0] == layout:
        return cached[1]
    plan: _HookPlan = []
    for name, module in named:
        make_hook, with_kwargs = _hook_for(name, module, composite)
        if make_hook is not None:
            plan.append((module, make_hook, with_kwargs))
    if rules is not None:
        plans.pop(rules, None)
        plans[rules] = (layout, plan)
        if len(plans) > _PLANS_PER_MODEL:
            del plans[next(iter(plans))]
        try:
            _PLANS[model] = plans
        except TypeError:  # a model that cannot be weakly referenced is planned every time
            pass
    return plan


@contextmanager
def attach(model: nn.Module, composite: Composite) -> Iterator[Session]:
    """Attach ``composite`` to ``model`` for the duration of the block; yields the ``Session``."""
    session = Session(composite, zero_is_absent=bool(getattr(model, "zero_is_absent", False)))
    handles = []
    try:
        for module, make_hook, with_kwargs in _hook_plan(model, composite):
            handles.append(module.register_forward_hook(make_hook(session), with_kwargs=with_kwargs))
        yield session
    finally:
        for handle in handles:
            handle.remove()
        session.close()
