"""Faithfulness measures and baseline attributions, to hold LRP against other methods.

>>> import torch
>>> from doclrp import explain
>>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
>>> encoder = IdEncoder.fit(["good fun film", "bad dull film"])
>>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
>>> ig = explain(pipe, "a good, fun film", composite="integrated-gradients")
>>> [w.text for w in ig.words]
['a', 'good', ',', 'fun', 'film']
>>> deletion_drops(pipe, [ig], k=2).shape
(1,)

Baselines, usable wherever an LRP composite is (``explain(..., composite=NAME)``, the
command line's ``--composite``, ``doclrp evaluate``), by name or as objects:

- ``gradient-x-input`` (:class:`GradientXInput`): input ⊙ plain gradient, one backward pass.
- ``saliency`` (:class:`Saliency`): the gradient's size per token (unsigned).
- ``integrated-gradients`` (:class:`IntegratedGradients`): input ⊙ the mean gradient on
  the straight path from a zero input to it (Sundararajan et al. 2017); for token models
  the path scales the word embeddings, positions stay. The words then sum to
  f(x) − f(zero words) up to the path's discretization, and ``delta`` shows f(zero words).
- ``occlusion`` (:class:`Occlusion`): how much the explained output drops when a token is
  replaced by padding (the padding row of the model's embedding), or a feature set to 0.
- ``random`` (:class:`RandomRelevance`): seeded normal noise, the floor to beat.

Faithfulness by deletion (Samek et al. 2017): remove a document's most relevant words
from its text, predict again, and measure how much the explained output falls;
:func:`deletion_drops` for k words (``order="random"`` gives the reference),
:func:`deletion_curve` for growing shares of the words and :func:`aopc` for the area
over that curve. Predictions are those ``explain`` explains (windows for long texts).
:func:`compare_methods` scores several methods on the same documents (``doclrp evaluate``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from .core import (Attribution, Composite, Gradient, attach, attribute, get_composite, output_tensor,
                   target_weights)
from .errors import DoclrpError
from .explain import document_outputs, resolve_target
from .text import Explanation

__all__ = [
    "GradientXInput", "Saliency", "IntegratedGradients", "Occlusion", "RandomRelevance", "METHODS", "get_method",
    "deletion_drops", "deletion_curve", "aopc", "ORDERS", "compare_methods", "iter_method_scores", "MethodScore",
]

#: Plain autograd everywhere: every module, embeddings aside, keeps its gradient.
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

    def attribute(self, model: nn.Module, inputs: Tensor, target=None, *, forward_kwargs: dict | None = None,
                  reference=None) -> Attribution:
        result = attribute(model, inputs, target, GRADIENT_EVERYWHERE, forward_kwargs=forward_kwargs)
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

    def attribute(self, model: nn.Module, inputs: Tensor, target=None, *, forward_kwargs: dict | None = None,
                  reference=None) -> Attribution:
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
            (gradient,) = torch.autograd.grad(values.sum(), session.leaf)
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

    def __post_init__(self):
        if isinstance(self.steps, bool) or int(self.steps) != self.steps or self.steps < 1:
            raise DoclrpError(f"IntegratedGradients(steps={self.steps!r}): steps must be a positive integer")

    def attribute(self, model: nn.Module, inputs: Tensor, target=None, *, forward_kwargs: dict | None = None,
                  reference=None) -> Attribution:
        # The target is fixed at x: along the path another class may lead.
        full = attribute(model, inputs, target, GRADIENT_EVERYWHERE, forward_kwargs=forward_kwargs)
        total = torch.zeros_like(full.relevance, dtype=torch.float64)
        for step in range(self.steps):
            alpha = (step + 0.5) / self.steps
            point = attribute(model, inputs, full.target, GRADIENT_EVERYWHERE, forward_kwargs=forward_kwargs,
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

    def attribute(self, model: nn.Module, inputs: Tensor, target=None, *, forward_kwargs: dict | None = None,
                  reference=None) -> Attribution:
        kwargs = forward_kwargs or {}
        output, logits, weights, embedding = _forward(model, inputs, kwargs, target)
        values = _explained(logits, weights)
        active = _active(inputs, embedding)
        blank = 0.0 if inputs.is_floating_point() else embedding.padding_idx
        rows, columns = active.reshape(len(inputs), -1).nonzero(as_tuple=True)
        drops = values.new_zeros(active.shape).reshape(len(inputs), -1)
        with torch.no_grad():
            for begin in range(0, len(rows), self.batch_size):
                row, column = rows[begin : begin + self.batch_size], columns[begin : begin + self.batch_size]
                variants = inputs[row].clone()
                variants.view(len(row), -1)[torch.arange(len(row), device=inputs.device), column] = blank
                variant_logits = _logits_of(model(variants, **_rows_of(kwargs, row, len(inputs))))
                drops[row, column] = values[row] - _explained(variant_logits, weights[row])
        return _shifted(_result(self.name, drops.reshape(active.shape), output, logits, weights, values), reference)


@dataclass(frozen=True)
class RandomRelevance:
    """Normal noise per token or feature (zero at padding and at zero features), from ``seed``.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 1))
    >>> a, b = (RandomRelevance(seed=1).attribute(net, torch.ones(2, 3)) for _ in range(2))
    >>> bool(torch.equal(a.relevance, b.relevance))
    True
    """

    seed: int = 0
    name: ClassVar[str] = "random"

    def attribute(self, model: nn.Module, inputs: Tensor, target=None, *, forward_kwargs: dict | None = None,
                  reference=None) -> Attribution:
        output, logits, weights, embedding = _forward(model, inputs, forward_kwargs or {}, target)
        active = _active(inputs, embedding)
        noise = torch.randn(active.shape, generator=torch.Generator().manual_seed(self.seed), dtype=torch.float64)
        relevance = (noise.to(active.device) * active).to(logits.dtype)
        return _shifted(_result(self.name, relevance, output, logits, weights, _explained(logits, weights)),
                        reference)


#: Baseline methods by name (each built with its defaults).
METHODS = {cls.name: cls for cls in (GradientXInput, Saliency, IntegratedGradients, Occlusion, RandomRelevance)}


def get_method(method) -> Any | None:
    """The baseline for ``method`` (a name of :data:`METHODS` or an object with ``attribute``),
    or None when ``method`` is not one (an LRP composite).

    >>> get_method("occlusion"), get_method("epsilon")
    (Occlusion(batch_size=64), None)
    """
    if isinstance(method, str):
        return METHODS[method]() if method in METHODS else None
    if isinstance(method, Composite) or not callable(getattr(method, "attribute", None)):
        return None
    return method


# -- faithfulness -----------------------------------------------------------------------------
def deletion_drops(pipeline, explanations: Sequence[Explanation], k: int = 10, *, order: str = "relevance",
                   seed: int = 0, batch_size: int = 16) -> np.ndarray:
    """Per explanation, how much the explained output falls when its ``k`` most relevant
    words (``order="random"``: ``k`` random words, from ``seed``) leave the text.

    The larger the drop beyond the random one, the more faithful the explanation.
    """
    _check_positive(k, "k")
    picks = _word_orders(explanations, order, seed)
    if not picks:
        return np.zeros(0)
    curves = _curves(pipeline, explanations, [[ranked[:k]] for ranked in picks], batch_size)
    return curves[:, 0] - curves[:, 1]


def deletion_curve(pipeline, explanations: Sequence[Explanation], steps: int = 10, *, order: str = "relevance",
                   seed: int = 0, batch_size: int = 16) -> np.ndarray:
    """``(n_explanations, steps + 1)``: the explained output after removing the top
    ``⌈s/steps · n_words⌉`` words of each document, for s = 0 … steps."""
    _check_positive(steps, "steps")
    picks = _word_orders(explanations, order, seed)
    if not picks:
        return np.zeros((0, steps + 1))
    removals = [[ranked[: math.ceil(step * len(ranked) / steps)] for step in range(1, steps + 1)] for ranked in picks]
    return _curves(pipeline, explanations, removals, batch_size)


def aopc(curves: np.ndarray) -> float:
    """Area over the perturbation curve: the mean over documents and steps 0 … L of
    ``curve[0] − curve[step]`` (Samek et al. 2017; higher is more faithful).

    >>> aopc(np.array([[3.0, 1.0, 0.0], [2.0, 2.0, 2.0]]))
    0.8333333333333334
    """
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim != 2 or curves.shape[1] < 2:
        raise DoclrpError(f"aopc needs curves of shape (documents, steps + 1) with steps >= 1, got {curves.shape}")
    return float((curves[:, :1] - curves).mean())


def _word_orders(explanations: Sequence[Explanation], order: str, seed: int) -> list[list[int]]:
    """Word indices of each explanation in removal order."""
    if order not in ORDERS:
        raise DoclrpError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    if order == "random":
        rng = np.random.default_rng(seed)
        return [rng.permutation(len(e.words)).tolist() for e in explanations]
    return [sorted(range(len(e.words)), key=lambda i, e=e: (-e.words[i].relevance, i)) for e in explanations]


def _curves(pipeline, explanations, removals: list[list[list[int]]], batch_size: int) -> np.ndarray:
    """Explained output of each document as written, then without each word set of ``removals``."""
    weights = torch.stack([_explained_weights(e, pipeline) for e in explanations])
    texts = []
    for explanation, sets in zip(explanations, removals):
        texts.append(explanation.text)
        texts += [_without(explanation, chosen) for chosen in sets]
    per_doc = 1 + len(removals[0])
    outputs = document_outputs(pipeline, texts, batch_size=batch_size).reshape(len(explanations), per_doc, -1)
    return (outputs * weights.unsqueeze(1)).sum(-1).numpy()


def _without(explanation: Explanation, chosen: Sequence[int]) -> str:
    """The text with the chosen words cut out (the whitespace around them stays)."""
    text, pieces, last = explanation.text, [], 0
    for index in sorted(chosen):
        word = explanation.words[index]
        pieces.append(text[last : word.start])
        last = word.end
    pieces.append(text[last:])
    return "".join(pieces)


def _explained_weights(explanation: Explanation, pipeline) -> Tensor:
    if list(explanation.labels) != list(pipeline.labels):
        raise DoclrpError(f"explanation {explanation.id!r} is of outputs {explanation.labels}, "
                          f"the model has {list(pipeline.labels)}")
    name = explanation.target
    for suffix in _REFERENCE_SUFFIXES:  # the deviation from a reference falls as the output does
        name = name.removesuffix(suffix)
    try:
        weights = resolve_target(name, pipeline.labels, pipeline.task).weights
    except DoclrpError:
        weights = None
    if weights is None:
        raise DoclrpError(f"cannot re-measure target {explanation.target!r}: deletion needs explanations of "
                          "one output (a label or index) or of 'LABEL-vs-rest'")
    return weights.double()


def _check_positive(value, name: str) -> None:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise DoclrpError(f"{name} must be a positive integer, got {value!r}")


# -- shared by the baselines ------------------------------------------------------------------
def _forward(model, inputs, kwargs, target):
    """One plain forward: (output, logits, target weights, first embedding module or None)."""
    if not isinstance(inputs, Tensor) or inputs.dim() == 0 or inputs.shape[0] == 0:
        raise DoclrpError("inputs must be a torch.Tensor with a batch dimension of at least one sample")
    seen: list[nn.Module] = []
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


def _logits_of(output) -> Tensor:
    logits = output_tensor(output)
    return logits.reshape(logits.shape[0], -1)


def _explained(logits: Tensor, weights: Tensor) -> Tensor:
    return (logits * weights.to(logits.dtype)).sum(1)


def _active(inputs: Tensor, embedding) -> Tensor:
    """Positions that carry input: no padding token, no zero feature."""
    if inputs.is_floating_point():
        return inputs != 0
    padding = embedding.padding_idx
    if padding is None:
        raise DoclrpError(f"{type(embedding).__name__} has no padding_idx: occlusion and random relevance need "
                          "one to blank tokens and to tell padding apart")
    return inputs != padding


def _rows_of(kwargs: dict, rows: Tensor, batch: int) -> dict:
    """``kwargs`` for the samples ``rows``: per-sample tensors indexed, shared ones as they are."""
    return {key: value[rows] if isinstance(value, Tensor) and value.dim() and value.shape[0] == batch else value
            for key, value in kwargs.items()}


def _per_sample_sum(relevance: Tensor) -> Tensor:
    return relevance.reshape(relevance.shape[0], -1).sum(1)


def _result(name, relevance, output, logits, weights, values) -> Attribution:
    return Attribution(relevance=relevance, output=getattr(output, "detach", lambda: output)(), logits=logits,
                       target=weights, target_output=values, delta=values - _per_sample_sum(relevance),
                       composite=name)


def _shifted(result: Attribution, reference) -> Attribution:
    """Explain ``f(x) − reference``: only the explained value and delta move."""
    if reference is None:
        return result
    reference = torch.as_tensor(reference, dtype=result.logits.dtype, device=result.logits.device).reshape(-1)
    offset = (result.target * reference).sum(1)
    return replace(result, target_output=result.target_output - offset, delta=result.delta - offset)


def _renamed(result: Attribution, name: str) -> Attribution:
    return replace(result, composite=name)


# -- comparing methods ------------------------------------------------------------------------
@dataclass(frozen=True)
class MethodScore:
    """Faithfulness of one method over a set of documents (means over documents)."""

    method: str
    drop: float          # explained output lost with the k most relevant words
    random_drop: float   # ... with k random words (the same for every method)
    aopc: float          # area over the deletion curve in ``steps`` shares of the words
    seconds: float       # explaining only


def compare_methods(pipeline, texts: Sequence[str], methods: Sequence[Any] = ("epsilon", "gradient-x-input",
                    "integrated-gradients", "occlusion", "random"), *, k: int = 10, steps: int = 10,
                    target="predicted", batch_size: int = 16, seed: int = 0) -> list[MethodScore]:
    """Explain ``texts`` with each method (LRP composite or baseline) and score it by deletion.

    >>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
    >>> encoder = IdEncoder.fit(["good fun", "bad dull"])
    >>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
    >>> [s.method for s in compare_methods(pipe, ["good fun", "bad, dull"], ["epsilon", "random"], k=1, steps=2)]
    ['epsilon', 'random']
    """
    return list(iter_method_scores(pipeline, texts, methods, k=k, steps=steps, target=target,
                                   batch_size=batch_size, seed=seed))


def iter_method_scores(pipeline, texts: Sequence[str], methods: Sequence[Any], *, k: int = 10, steps: int = 10,
                       target="predicted", batch_size: int = 16, seed: int = 0):
    """:func:`compare_methods` one method at a time, each score as soon as it is known."""
    from .explain import explain

    _check_positive(k, "k")
    _check_positive(steps, "steps")
    for method in methods:  # an unknown name fails before the first, maybe long, method runs
        if get_method(method) is None:
            get_composite(method)
    random_drop = None
    for method in methods:
        started = time.perf_counter()
        explanations = explain(pipeline, list(texts), target=target, composite=method, batch_size=batch_size)
        seconds = time.perf_counter() - started
        if random_drop is None:  # words and targets are the same for every method
            random_drop = float(deletion_drops(pipeline, explanations, k, order="random", seed=seed,
                                               batch_size=batch_size).mean())
        yield MethodScore(
            method=method if isinstance(method, str) else getattr(method, "name", repr(method)),
            drop=float(deletion_drops(pipeline, explanations, k, batch_size=batch_size).mean()),
            random_drop=random_drop,
            aopc=aopc(deletion_curve(pipeline, explanations, steps, batch_size=batch_size)),
            seconds=seconds,
        )
