"""Baseline attributions, to hold LRP against other methods; each is an ``Attributor``.

>>> import torch
>>> net = torch.nn.Sequential(torch.nn.Linear(3, 2))
>>> GradientXInput().attribute(net, torch.ones(1, 3), 0).method
'gradient-x-input'

- ``gradient-x-input`` (:class:`GradientXInput`): input ⊙ plain gradient, one backward pass.
- ``saliency`` (:class:`Saliency`): the gradient's size per token (unsigned).
- ``integrated-gradients`` (:class:`IntegratedGradients`): input ⊙ the mean gradient on
  the straight path from a zero input to it (Sundararajan et al. 2017); for token models
  the path scales the word embeddings, positions stay. The words then sum to
  f(x) − f(zero words) up to the path's discretization, and ``delta`` shows f(zero words).
- ``occlusion`` (:class:`Occlusion`): how much the explained output drops when a token is
  replaced by padding (the padding row of the model's embedding), or a feature set to 0.
- ``random`` (:class:`RandomRelevance`): seeded normal noise, the floor to beat.

They are found by name through :func:`doclrp.core.methods.resolve_method`, like the LRP
composites, so every level above (``explain``, corpus runs, evaluation, the command line)
takes either.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, cast

import torch
from torch import Tensor, nn

from ..errors import DoclrpError
from ..registry import Group, Registry
from .attachment import attach
from .session import output_tensor
from .attribution import Attribution, lrp_attribute
from .cancel import check_cancelled
from .composites import Composite
from .rules import Gradient
from .targets import TargetSpec, split_reference, target_weights

__all__ = ["GradientXInput", "Saliency", "IntegratedGradients", "Occlusion", "RandomRelevance", "BASELINES",
           "GRADIENT_EVERYWHERE"]

#: Plain autograd everywhere: every module, embeddings aside, keeps its gradient.
# the first embedding a model runs: where token relevance is taken
_Embedding = nn.Embedding | nn.EmbeddingBag

GRADIENT_EVERYWHERE = Composite({nn.Module: Gradient()}, name="gradient-x-input")
ORDERS = ("relevance", "random")
_REFERENCE_SUFFIXES = (" − mean", " − reference")


@dataclass(frozen=True)
class GradientXInput:
    """Input ⊙ gradient of the explained output (relevance per token: summed over the embedding).

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    >>> GradientXInput().attribute(net, torch.ones(1, 3), 0).relevance.shape
    torch.Size([1, 3])
    """

    name: ClassVar[str] = "gradient-x-input"

    def attribute(self, model: nn.Module, inputs: Tensor, target: TargetSpec = None, *,
                  forward_kwargs: dict[str, Any] | None = None,
                  reference: Tensor | Sequence[float] | None = None) -> Attribution:
        target, reference = split_reference(target, reference)
        result = lrp_attribute(model, inputs, target, GRADIENT_EVERYWHERE, forward_kwargs=forward_kwargs)
        return _renamed(_shifted(result, reference), self.name)


@dataclass(frozen=True)
class Saliency:
    """The size of the gradient alone (Simonyan et al. 2014): its L2 norm over the embedding
    per token, its absolute value per feature. Unsigned: it says where the output is
    sensitive, not in which direction a word pushed it, and sums to nothing in particular.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 1, bias=False))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[3.0, -4.0]]))
    >>> Saliency().attribute(net, torch.ones(1, 2), 0).relevance.tolist()
    [[3.0, 4.0]]
    """

    name: ClassVar[str] = "saliency"

    def attribute(self, model: nn.Module, inputs: Tensor, target: TargetSpec = None, *,
                  forward_kwargs: dict[str, Any] | None = None,
                  reference: Tensor | Sequence[float] | None = None) -> Attribution:
        target, reference = split_reference(target, reference)
        _one_input(inputs, self.name)
        with torch.enable_grad(), attach(model, GRADIENT_EVERYWHERE) as session:
            if inputs.is_floating_point():
                output = model(session.float_input(inputs), **(forward_kwargs or {}))
            else:
                session.expect_tokens()
                output = model(inputs, **(forward_kwargs or {}))
                if session.leaf is None:
                    raise DoclrpError("integer inputs, but the model ran no nn.Embedding or nn.EmbeddingBag on them")
            logits = session.logits_of(output)
            weights = target_weights(target, logits)
            values = (logits.reshape(weights.shape) * weights).sum(1)
            leaf = cast(Tensor, session.leaf)  # float_input set it, or the embedding did (checked above)
            (gradient,) = torch.autograd.grad(values.sum(), leaf)
            relevance = gradient.norm(dim=-1) if session.token_input else gradient.abs()
        logits = logits.detach()
        return _shifted(_result(self.name, relevance, output, logits, weights.detach(), values.detach()), reference)


@dataclass(frozen=True)
class IntegratedGradients:
    """Integrated gradients from a zero input, midpoint rule with ``steps`` points.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 1, bias=False))
    >>> r = IntegratedGradients(steps=4).attribute(net, torch.ones(1, 3), 0)
    >>> bool(torch.allclose(r.relevance.sum(), r.target_output))  # linear: exact
    True
    """

    steps: int = 32
    name: ClassVar[str] = "integrated-gradients"

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or int(self.steps) != self.steps or self.steps < 1:
            raise DoclrpError(f"IntegratedGradients(steps={self.steps!r}): steps must be a positive integer")

    def attribute(self, model: nn.Module, inputs: Tensor, target: TargetSpec = None, *,
                  forward_kwargs: dict[str, Any] | None = None,
                  reference: Tensor | Sequence[float] | None = None) -> Attribution:
        target, reference = split_reference(target, reference)
        _one_input(inputs, self.name)
        # The target is fixed at x: along the path another class may lead.
        full = lrp_attribute(model, inputs, target, GRADIENT_EVERYWHERE, forward_kwargs=forward_kwargs)
        total = torch.zeros_like(full.relevance, dtype=torch.float64)
        for step in range(self.steps):
            check_cancelled()  # a stop (doclrp.core.cancel) takes effect between steps too
            alpha = (step + 0.5) / self.steps
            point = lrp_attribute(model, inputs, full.target, GRADIENT_EVERYWHERE, forward_kwargs=forward_kwargs,
                              input_scale=alpha)
            total += point.relevance.double() / alpha  # x ⊙ ∇f(αx): its run's relevance is αx ⊙ ∇f(αx)
        relevance = (total / self.steps).to(full.relevance.dtype)
        # Only the word embeddings travel the path: positions get no share of it.
        result = replace(full, relevance=relevance, other_relevance={},
                         delta=full.target_output - _per_sample_sum(relevance))
        return _renamed(_shifted(result, reference), self.name)


@dataclass(frozen=True)
class Occlusion:
    """The drop of the explained output when one token (or input feature) is blanked.

    Tokens are replaced by the padding id of the model's first embedding (its zero row
    in the built-in models and BERT-family encoders); features are set to 0. Costs one
    forward pass per token, run ``batch_size`` variants at a time.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 1, bias=False))
    >>> r = Occlusion().attribute(net, torch.tensor([[1.0, 0.0, 2.0]]), 0)
    >>> bool(torch.allclose(r.relevance, net[0].weight * torch.tensor([1.0, 0.0, 2.0])))
    True
    """

    batch_size: int = 64
    name: ClassVar[str] = "occlusion"

    def attribute(self, model: nn.Module, inputs: Tensor, target: TargetSpec = None, *,
                  forward_kwargs: dict[str, Any] | None = None,
                  reference: Tensor | Sequence[float] | None = None) -> Attribution:
        target, reference = split_reference(target, reference)
        _one_input(inputs, self.name)
        kwargs = forward_kwargs or {}
        output, logits, weights, embedding = _forward(model, inputs, kwargs, target)
        values = _explained(logits, weights)
        active = _active(inputs, embedding)
        # integer inputs: _forward found their embedding and _active checked its padding_idx
        blank = 0.0 if inputs.is_floating_point() else cast(int, cast(_Embedding, embedding).padding_idx)
        rows, columns = active.reshape(len(inputs), -1).nonzero(as_tuple=True)
        drops = values.new_zeros(active.shape).reshape(len(inputs), -1)
        with torch.no_grad():
            for begin in range(0, len(rows), self.batch_size):
                check_cancelled()
                row, column = rows[begin : begin + self.batch_size], columns[begin : begin + self.batch_size]
                variants = inputs[row].clone()
                variants.view(len(row), -1)[torch.arange(len(row), device=inputs.device), column] = blank
                variant_logits = _logits_of(model(variants, **_rows_of(kwargs, row, len(inputs))))
                drops[row, column] = values[row] - _explained(variant_logits, weights[row])
        return _shifted(_result(self.name, drops.reshape(active.shape), output, logits, weights, values), reference)


@dataclass(frozen=True)
class RandomRelevance:
    """Normal noise per token or feature (zero at padding and at zero features), seeded per
    document: by ``seed`` and a hash of the document's own input (its token ids up to its last
    non-padding token, or its feature values), so a document gets the same noise alone, in any
    batch and in any order, and under any model (the randomization check then finds that the
    model does not matter, as it should for noise).

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 1))
    >>> x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    >>> a, b = (RandomRelevance(seed=1).attribute(net, inputs) for inputs in (x, x[1:]))
    >>> bool(torch.equal(a.relevance[1], b.relevance[0]))
    True
    """

    seed: int = 0
    name: ClassVar[str] = "random"

    def attribute(self, model: nn.Module, inputs: Tensor, target: TargetSpec = None, *,
                  forward_kwargs: dict[str, Any] | None = None,
                  reference: Tensor | Sequence[float] | None = None) -> Attribution:
        target, reference = split_reference(target, reference)
        _one_input(inputs, self.name)
        output, logits, weights, embedding = _forward(model, inputs, forward_kwargs or {}, target)
        active = _active(inputs, embedding)
        noise = torch.zeros(active.shape, dtype=torch.float64)
        flat_active = active.reshape(len(inputs), -1).cpu()
        flat_inputs = inputs.detach().reshape(len(inputs), -1).cpu()
        for row in range(len(inputs)):
            # a document ends at its last active position: the padding its batch adds is no part of it
            positions = flat_active[row].nonzero()
            length = int(positions[-1]) + 1 if len(positions) else 0
            if inputs.is_floating_point():
                length = flat_inputs.shape[1]  # features: a fixed width, never padded
            content = flat_inputs[row, :length]
            content = content.double() if content.is_floating_point() else content.long()
            digest = hashlib.blake2b(content.numpy().tobytes(), digest_size=8, key=str(self.seed).encode()).digest()
            generator = torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)
            noise.view(len(inputs), -1)[row, :length] = torch.randn(length, generator=generator, dtype=torch.float64)
        relevance = (noise.to(active.device) * active).to(logits.dtype)
        return _shifted(_result(self.name, relevance, output, logits, weights, _explained(logits, weights)),
                        reference)


# -- shared by the baselines ------------------------------------------------------------------
def _forward(model: nn.Module, inputs: Tensor, kwargs: dict[str, Any],
             target: TargetSpec) -> tuple[Any, Tensor, Tensor, _Embedding | None]:
    """One plain forward: (output, logits, target weights, first embedding module or None)."""
    if not isinstance(inputs, Tensor) or inputs.dim() == 0 or inputs.shape[0] == 0:
        raise DoclrpError("inputs must be a torch.Tensor with a batch dimension of at least one sample")
    seen: list[_Embedding] = []
    handles = [m.register_forward_hook(lambda module, args, out: seen.append(module))
               for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))]
    try:
        with torch.no_grad():
            output = model(inputs, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    logits = _logits_of(output)
    embedding = seen[0] if seen else None
    if not inputs.is_floating_point() and embedding is None:
        raise DoclrpError("integer inputs, but the model ran no nn.Embedding or nn.EmbeddingBag on them")
    return output, logits, target_weights(target, logits), embedding


def _logits_of(output: Any) -> Tensor:
    logits = output_tensor(output)
    return logits.reshape(logits.shape[0], -1)


def _explained(logits: Tensor, weights: Tensor) -> Tensor:
    return (logits * weights.to(logits.dtype)).sum(1)


def _active(inputs: Tensor, embedding: _Embedding | None) -> Tensor:
    """Positions that carry input: no padding token, no zero feature."""
    if inputs.is_floating_point():
        return inputs != 0
    padding = cast(_Embedding, embedding).padding_idx  # integer inputs: _forward found their embedding
    if padding is None:
        raise DoclrpError(f"{type(embedding).__name__} has no padding_idx: occlusion and random relevance need "
                          "one to blank tokens and to tell padding apart")
    return inputs != padding


def _rows_of(kwargs: dict[str, Any], rows: Tensor, batch: int) -> dict[str, Any]:
    """``kwargs`` for the samples ``rows``: per-sample tensors indexed, shared ones as they are."""
    return {key: value[rows] if isinstance(value, Tensor) and value.dim() and value.shape[0] == batch else value
            for key, value in kwargs.items()}


def _per_sample_sum(relevance: Tensor) -> Tensor:
    return relevance.reshape(relevance.shape[0], -1).sum(1)


def _result(name: str, relevance: Tensor, output: Any, logits: Tensor, weights: Tensor, values: Tensor) -> Attribution:
    return Attribution(relevance=relevance, output=getattr(output, "detach", lambda: output)(), logits=logits,
                       target=weights, target_output=values, delta=values - _per_sample_sum(relevance),
                       method=name)


def _shifted(result: Attribution, reference: Tensor | Sequence[float] | None) -> Attribution:
    """Explain ``f(x) − reference``: only the explained value and delta move."""
    if reference is None:
        return result
    reference = torch.as_tensor(reference, dtype=result.logits.dtype, device=result.logits.device).reshape(-1)
    offset = (result.target * reference).sum(1)
    return replace(result, target_output=result.target_output - offset, delta=result.delta - offset)


def _one_input(inputs: object, name: str) -> None:
    """Refuses several inputs (a tuple) where the method takes one tensor."""
    if not isinstance(inputs, Tensor):
        raise DoclrpError(f"{name} takes one input tensor, got a {type(inputs).__name__}; models of several "
                          "inputs are explained by LRP and gradient-x-input")


def _renamed(result: Attribution, name: str) -> Attribution:
    return replace(result, method=name)


#: Baseline methods by name, each a class built with its parameters: the entry points
#: ``doclrp.baselines`` (the classes above) and any added at run time.
BASELINES: Registry[Callable[..., Any]] = Registry("baseline", Group.BASELINES)
