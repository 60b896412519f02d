"""The LRP engine's one pass, ``lrp_attribute()``: relevance of every input for a chosen output, in one
forward and one backward pass with the rules of a composite; and its result, ``Attribution``.

The public ``attribute()`` (:mod:`doclrp.core.methods`) takes any method by name and calls this
for the LRP composites.

>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(4, 8, bias=False), nn.ReLU(), nn.Linear(8, 3, bias=False))
>>> attr = lrp_attribute(net, torch.rand(2, 4), target=1, composite="zero")
>>> attr.relevance.shape
torch.Size([2, 4])
>>> bool(attr.delta.abs().max() < 1e-5)
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import Tensor, nn

from ..errors import DoclrpError
from .attachment import attach
from .composites import Composite, Key, get_composite
from .rules import Rule
from .targets import TargetSpec, split_reference, target_weights

__all__ = ["Attribution", "lrp_attribute"]


@dataclass(frozen=True)
class Attribution:
    """The result of ``attribute``; all tensors detached.

    relevance: float inputs → same shape as the inputs; integer token ids
        ``(batch, seq)`` → ``(batch, seq)``, taken at the first embedding's output and
        summed over its dimension.
    output: the model's output, exactly as without doclrp.
    logits: what was explained: the output, or the input of a final Softmax module.
    target: ``(batch, n_outputs)`` weights of the explained combination of outputs.
    target_output: ``(batch,)`` the explained value, ``Σ_k target_k · logits_k``.
    other_relevance: relevance that reached further embeddings run after the first
        (position, token type), by module path, each ``(batch, seq)``.
    delta: ``(batch,)`` ``target_output − relevance − other_relevance``, summed per
        sample (what biases, ε and unplaceable shares absorbed; ~0 where a rule conserves).
    method: the name of the method (LRP composite or baseline) that made it.
    input_relevance: the relevance of every model input, in order, where several were given
        (``attribute(model, (ids, features))``; ``relevance`` is the first); delta subtracts
        them all. Empty for one input.
    """

    relevance: Tensor
    output: object
    logits: Tensor
    target: Tensor
    target_output: Tensor
    delta: Tensor
    method: str
    other_relevance: dict[str, Tensor] = field(default_factory=dict)
    input_relevance: tuple[Tensor, ...] = ()

    def __repr__(self) -> str:
        """A short summary (shapes, the explained values, the worst conservation error), not every tensor.

        >>> net = nn.Sequential(nn.Linear(4, 3, bias=False))
        >>> lrp_attribute(net, torch.ones(2, 4), target=0, composite="zero")  # doctest: +ELLIPSIS
        Attribution(method='zero', relevance=(2, 4) float32, output=(2, 3), target_output=[..., ...], max |delta|=...)
        """
        output = tuple(self.output.shape) if isinstance(self.output, Tensor) else type(self.output).__name__
        values = [f"{v:.4g}" for v in self.target_output.flatten()[:_SHOWN].tolist()]
        more = ", …" if self.target_output.numel() > _SHOWN else ""
        worst = float(self.delta.abs().max()) if self.delta.numel() else 0.0
        dtype = str(self.relevance.dtype).removeprefix("torch.")
        return (f"Attribution(method={self.method!r}, relevance={tuple(self.relevance.shape)} {dtype}, "
                f"output={output}, target_output=[{', '.join(values)}{more}], max |delta|={worst:.3g})")


#: Explained values shown by ``repr(Attribution)``.
_SHOWN = 4


def lrp_attribute(model: nn.Module, inputs: Tensor | Sequence[Tensor], target: TargetSpec = None,
                  composite: str | Composite | Mapping[Key, Rule] = "epsilon", *,
                  forward_kwargs: dict[str, Any] | None = None, reference: Tensor | Sequence[float] | None = None,
                  input_scale: float = 1.0) -> Attribution:
    """Explain ``target`` of ``model(inputs)`` with the LRP rules of ``composite`` (a name, a
    ``Composite`` or a mapping of rules); the arguments as :func:`doclrp.core.methods.attribute`
    describes them. ``input_scale`` is meant for gradient composites: a ``first`` rule finds no
    layer reading ``x`` itself.
    """
    several = _several(inputs)
    if isinstance(inputs, (tuple, list)) and len(inputs) == 1 and isinstance(inputs[0], Tensor):
        inputs = inputs[0]
    if not isinstance(inputs, Tensor) and several is None:
        raise DoclrpError(f"inputs must be a torch.Tensor or a tuple of them, got {type(inputs).__name__}")
    for tensor in several or (cast(Tensor, inputs),):
        if tensor.dim() == 0 or tensor.shape[0] == 0:
            raise DoclrpError("inputs must have a batch dimension with at least one sample")
    target, reference = split_reference(target, reference)
    composite = get_composite(composite)
    with torch.enable_grad(), attach(model, composite) as session:
        session.input_scale = float(input_scale)
        if several is not None:
            output = model(*session.several_inputs(several), **(forward_kwargs or {}))
            for index, slot in enumerate(session.slots):
                if not slot.leaves:
                    raise DoclrpError(f"input {index} holds integer ids, but no nn.Embedding or nn.EmbeddingBag "
                                      "of the model read them; pass float inputs or embed the ids with one")
        elif cast(Tensor, inputs).is_floating_point():
            output = model(session.float_input(cast(Tensor, inputs)), **(forward_kwargs or {}))
        else:
            session.expect_tokens()
            no_embedding = DoclrpError(
                "integer inputs, but the model ran no nn.Embedding or nn.EmbeddingBag on them; "
                "pass float inputs or embed the ids with one of these modules"
            )
            try:
                output = model(inputs, **(forward_kwargs or {}))
            except RuntimeError as error:
                if session.leaf is None:
                    raise no_embedding from error
                raise
            if session.leaf is None:
                raise no_embedding
        leaf = cast(Tensor, session.leaf)  # float_input set it, or the embedding did (checked above)
        logits = session.logits_of(output)
        if not logits.requires_grad:
            raise DoclrpError("the model output does not depend on the inputs: nothing to explain")
        weights = target_weights(target, logits)
        explained_logits = logits.reshape(weights.shape)
        if reference is not None:
            reference = torch.as_tensor(reference, dtype=logits.dtype, device=logits.device).reshape(-1)
            if reference.numel() != weights.shape[1]:
                raise DoclrpError(f"reference has {reference.numel()} values for {weights.shape[1]} outputs")
            session.shift_output(logits, reference.view_as(logits[0]))
            explained_logits = explained_logits - reference
        explained = (explained_logits * weights).sum(1)
        input_leaves = session.leaves() if several is not None else [leaf]
        leaves = [*input_leaves, *session.other_leaves.values()]
        gradients = torch.autograd.grad(explained, leaves, torch.ones_like(explained), allow_unused=True)
        by_leaf = []
        for each, gradient in zip(input_leaves, gradients):
            relevance = _input_times_gradient(each, gradient)
            handed = session.leaf_relevance.get(id(each))
            by_leaf.append(relevance if handed is None else relevance + handed)
        other = {name: _input_times_gradient(leaf, grad).sum(-1)
                 for name, leaf, grad in zip(session.other_leaves, leaves[len(input_leaves):],
                                             gradients[len(input_leaves):])}
        if several is None:
            per_input = [by_leaf[0].sum(-1) if session.token_input else by_leaf[0]]
        else:
            per_input, taken = [], 0
            for slot in session.slots:  # a slot's leaves are consecutive in session.leaves()
                parts = by_leaf[taken:taken + len(slot.leaves)]
                taken += len(slot.leaves)
                per_input.append(torch.stack([part.sum(-1) for part in parts]).sum(0) if slot.tokens else parts[0])
    inputs_relevance = tuple(r.detach() for r in per_input)
    relevance = inputs_relevance[0]
    explained = explained.detach()
    unexplained = explained.clone()
    for value in inputs_relevance:
        unexplained = unexplained - value.reshape(value.shape[0], -1).sum(1)
    for value in other.values():
        # by the explained outputs' batch: a model may run an embedding on several rows per sample
        # (a language model scoring each label in a row of its own), kept sample by sample
        unexplained = unexplained - value.reshape(unexplained.shape[0], -1).sum(1)
    return Attribution(
        relevance=relevance,
        output=_detached(output),
        logits=logits.detach(),
        target=weights.detach(),
        target_output=explained,
        delta=unexplained,
        method=composite.name,
        other_relevance=other,
        input_relevance=inputs_relevance if several is not None else (),
    )


def _several(inputs: object) -> tuple[Tensor, ...] | None:
    """``inputs`` as a tuple of two or more tensors, if it is a sequence of tensors; else None."""
    if isinstance(inputs, (tuple, list)) and len(inputs) > 1 and all(isinstance(t, Tensor) for t in inputs):
        return tuple(inputs)
    return None


def _input_times_gradient(leaf: Tensor, gradient: Tensor | None) -> Tensor:
    leaf = leaf.detach()
    return torch.zeros_like(leaf) if gradient is None else leaf * gradient


def _detached(output: Any) -> Any:
    return output.detach() if isinstance(output, Tensor) else output
