"""``attribute()``: relevance of every input for a chosen output, in one forward and one backward pass.

>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(4, 8, bias=False), nn.ReLU(), nn.Linear(8, 3, bias=False))
>>> attr = attribute(net, torch.rand(2, 4), target=1, composite="zero")
>>> attr.relevance.shape
torch.Size([2, 4])
>>> bool(attr.delta.abs().max() < 1e-5)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import Tensor, nn

from ..errors import DoclrpError
from .session import attach
from .composites import Composite, get_composite
from .targets import TargetSpec, split_reference, target_weights

__all__ = ["Attribution", "attribute"]


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
    """

    relevance: Tensor
    output: object
    logits: Tensor
    target: Tensor
    target_output: Tensor
    delta: Tensor
    method: str
    other_relevance: dict[str, Tensor] = field(default_factory=dict)

    def __repr__(self) -> str:
        """A short summary (shapes, the explained values, the worst conservation error), not every tensor.

        >>> net = nn.Sequential(nn.Linear(4, 3, bias=False))
        >>> attribute(net, torch.ones(2, 4), target=0, composite="zero")  # doctest: +ELLIPSIS
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


def attribute(model: nn.Module, inputs: Tensor, target: TargetSpec = None,
              composite: str | Composite = "epsilon", *, forward_kwargs: dict[str, Any] | None = None,
              reference: Tensor | Sequence[float] | None = None, input_scale: float = 1.0) -> Attribution:
    """Explain ``target`` of ``model(inputs)`` with the LRP rules of ``composite``.

    ``target``: a :class:`~doclrp.core.targets.Target` (its reference, if any, is
    subtracted as ``reference=`` would be), None (the largest output, or the only one), an output index, one
    index per sample, a weight tensor ``(n,)`` or ``(batch, n)`` for any linear
    combination of outputs (contrasts, several regression outputs), or a callable on
    the logits returning one of these. ``forward_kwargs`` go to ``model`` unchanged
    (an attention mask, say). The model is not modified; its mode (train/eval) is used as is.

    ``reference``: output values ``(n,)`` (e.g. the mean prediction over a corpus) to
    explain ``f(x) − reference`` instead of ``f(x)``: the output layer then treats its bias
    as ``b − reference``, so a constant offset is not handed to the words (rules that
    distribute the bias, such as αβ and z⁺, share out only the deviation; under ε the
    words' relevance is unchanged and the offset shows in delta).

    ``input_scale``: run the model on ``input_scale · x`` (the input, or the output of the
    first embedding for token ids), for path methods such as integrated gradients
    (:mod:`doclrp.evaluate`); relevance is ``x ⊙`` the gradient w.r.t. ``x`` of that run.
    Meant for gradient composites: a ``first`` rule finds no layer reading ``x`` itself.
    """
    if not isinstance(inputs, Tensor):
        raise DoclrpError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    if inputs.dim() == 0 or inputs.shape[0] == 0:
        raise DoclrpError("inputs must have a batch dimension with at least one sample")
    target, reference = split_reference(target, reference)
    composite = get_composite(composite)
    with torch.enable_grad(), attach(model, composite) as session:
        session.input_scale = float(input_scale)
        if inputs.is_floating_point():
            output = model(session.float_input(inputs), **(forward_kwargs or {}))
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
        leaves = [leaf, *session.other_leaves.values()]
        gradients = torch.autograd.grad(explained, leaves, torch.ones_like(explained), allow_unused=True)
        relevance = _input_times_gradient(leaf, gradients[0])
        if session.input_relevance is not None:
            relevance = relevance + session.input_relevance
        other = {name: _input_times_gradient(leaf, grad).sum(-1)
                 for name, leaf, grad in zip(session.other_leaves, leaves[1:], gradients[1:])}
        if session.token_input:
            relevance = relevance.sum(-1)
    relevance = relevance.detach()
    explained = explained.detach()
    unexplained = explained - relevance.reshape(relevance.shape[0], -1).sum(1)
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
    )


def _input_times_gradient(leaf: Tensor, gradient: Tensor | None) -> Tensor:
    leaf = leaf.detach()
    return torch.zeros_like(leaf) if gradient is None else leaf * gradient


def _detached(output: Any) -> Any:
    return output.detach() if isinstance(output, Tensor) else output
