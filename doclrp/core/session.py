"""The state of one attachment of rules to a model (``Session``): the input leaf whose relevance
is computed, the bounds of the data, relevance handed straight to the input, and the output to
explain. :func:`doclrp.core.attachment.attach` makes one; the hooks of :mod:`doclrp.core.hooks`
read and fill it during the forward and backward pass.

A model whose input value 0 means "not there" rather than a measured zero (a bag-of-words
vector, where 0 is a word the document lacks; a padded position) says so with a class
attribute ``zero_is_absent = True``. Rules that give relevance to inputs of value 0 from
the bounds of the data (``ZBox()`` without bounds of its own) then see the box of such an
input shrink to {0}: an absent input is a constant, not a variable, and gets nothing. The
engine reads no more than that flag: it knows no text, and pixels keep their box.

Those bounds are a property of the model, never of the batch (a document's relevance must
not depend on its neighbours): a model of float inputs declares them as ``input_bounds =
(low, high)`` (pixels in [0, 1], unit-norm tf-idf in [0, 1]); for token inputs they are the
range of the embedding matrix. A model of float inputs that declares none leaves ``ZBox()``
without bounds, and it says so (give them: ``ZBox(low, high)``).

>>> import torch
>>> from doclrp.core.composites import get_composite
>>> session = Session(get_composite("zero"), zero_is_absent=True, input_bounds=(0.0, 1.0))
>>> x = session.float_input(torch.tensor([[0.0, 0.5]]))
>>> session.reads_input(x), [float(b) for b in session.bounds]
(True, [0.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from ..errors import DoclrpError
from .composites import Composite
from .linear import AffineMap
from .rules import AffineRule, InputRule, Rule

__all__ = ["Session", "InputSlot", "AffineRecord", "output_tensor", "module_path", "SHAPE_NODES", "ForwardHook",
           "HookMaker", "HookPlan"]

# ``hook(module, args, output)``, or ``hook(module, args, kwargs, output)`` where registered with kwargs
ForwardHook = Callable[..., Any]
# makes a module's forward hook for one session
HookMaker = Callable[["Session"], ForwardHook]
# ``[(module, make_hook, wants kwargs)]``
HookPlan = list[tuple[nn.Module, HookMaker, bool]]


# Autograd nodes that only move values around: a layer whose input reaches the model
# input through these alone reads the input directly (the "first layer").
SHAPE_NODES = {
    "ViewBackward0", "UnsafeViewBackward0", "ReshapeAliasBackward0", "AliasBackward0",
    "PermuteBackward0", "TransposeBackward0", "TransposeBackward1", "TBackward0",
    "UnsqueezeBackward0", "SqueezeBackward0", "SqueezeBackward1", "SqueezeBackward2",
    "SqueezeBackward3", "ExpandBackward0", "CloneBackward0", "SliceBackward0",
    "ConstantPadNdBackward0", "NativeDropoutBackward0", "ToCopyBackward0",
}


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
class AffineRecord:
    """The last affine layer run: its output, input, map and rule (a BatchNorm right after folds into it)."""

    output: Tensor
    x: Tensor
    layer: AffineMap
    rule: AffineRule | InputRule


class Session:
    """What one attachment knows during its forward and backward pass."""

    def __init__(self, composite: Composite, zero_is_absent: bool = False,
                 input_bounds: tuple[Any, Any] | None = None) -> None:
        self.composite = composite
        # the model's declarations (see the module docstring): inputs at 0 are absent; the input's range
        self.zero_is_absent = zero_is_absent
        self.input_bounds = input_bounds
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
        self._bounds_source: dict[int, Tensor | tuple[Any, Any] | None] = {}
        self.softmax_outputs: list[tuple[Tensor, Tensor, str]] = []
        self.last_affine: AffineRecord | None = None
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
        # the batch's own range would make a document's relevance depend on its neighbours
        self._bounds_of = None
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
            # a float input's z^B box: what the model declares for it, never its batch's range
            self._add_leaf(slot, leaf, self._declared(index), main=index == 0)
            fed.append(self._scaled(leaf))
        return fed

    def _add_leaf(self, slot: InputSlot, leaf: Tensor, bounds_source: Tensor | tuple[Any, Any] | None,
                  main: bool) -> None:
        slot.leaves.append(leaf)
        self._bounds_source[id(leaf)] = bounds_source
        if main and self.leaf is None:
            self.leaf = leaf
            self._bounds_of = bounds_source if isinstance(bounds_source, Tensor) else None

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
        """``(min, max)`` of the model's input, for ZBox without its own bounds: the model's
        ``input_bounds``, else for token input the range of the embedding matrix, else
        ``(None, None)`` (not known). Computed on demand: two passes over a large embedding
        matrix would cost every call, and only ZBox reads them."""
        declared = self._declared(0)
        if declared is not None:
            return self._as_bounds(declared, self.leaf if self.leaf is not None else torch.zeros(()))
        if self._bounds_of is None:
            return None, None
        return self._bounds_of.min(), self._bounds_of.max()

    def _declared(self, index: int) -> tuple[Any, Any] | None:
        """The model's ``input_bounds`` for its input ``index``: one ``(low, high)`` for every input,
        or one pair per input (``((low, high), (low, high))``)."""
        declared = self.input_bounds
        if declared is None:
            return None
        if len(declared) and all(isinstance(pair, (tuple, list)) for pair in declared):
            return tuple(declared[index]) if index < len(declared) else None
        return declared

    @staticmethod
    def _as_bounds(pair: Any, like: Tensor) -> tuple[Tensor | None, Tensor | None]:
        if pair is None:
            return None, None
        low, high = pair
        return (None if low is None else torch.as_tensor(low, dtype=like.dtype, device=like.device),
                None if high is None else torch.as_tensor(high, dtype=like.dtype, device=like.device))

    def bounds_at(self, x: Tensor, rule: Rule | None = None) -> tuple[Tensor | None, Tensor | None]:
        """The box of the layer input ``x``: the bounds ``rule`` gives itself (``ZBox(low, high)``),
        else those of the input ``x`` reads (:attr:`bounds`; with several inputs, that input's own);
        where the model declares ``zero_is_absent``, 0 at the inputs of ``x`` that are 0, so that
        z^B gives an absent input (a word the document lacks, a padded position) no share,
        whichever bounds it uses: its term ``x w − l w⁺ − h w⁻`` is 0."""
        own = (getattr(rule, "low", None), getattr(rule, "high", None))
        low: Tensor | None = None
        high: Tensor | None = None
        if own[0] is None or own[1] is None:
            low, high = self.bounds
            source = self._bounds_source.get(id(self.leaf_of(x))) if self.slots else None
            if isinstance(source, Tensor):  # an embedding matrix
                low, high = source.min(), source.max()
            elif self.slots:  # a float input: its declared bounds (never the batch's), or none
                low, high = self._as_bounds(source, x)
        low = low if own[0] is None else torch.as_tensor(own[0], dtype=x.dtype, device=x.device)
        high = high if own[1] is None else torch.as_tensor(own[1], dtype=x.dtype, device=x.device)
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
            if type(node).__name__ not in SHAPE_NODES:
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
        while node is not None and type(node).__name__ in SHAPE_NODES:
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


def module_path(name: str) -> str:
    return name or "<model>"
