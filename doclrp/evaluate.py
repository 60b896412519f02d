"""Faithfulness measures, to hold LRP against other methods.

>>> import torch
>>> from doclrp import explain
>>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
>>> encoder = IdEncoder.fit(["good fun film", "bad dull film"])
>>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
>>> ig = explain(pipe, "a good, fun film", method="integrated-gradients")
>>> [w.text for w in ig.words]
['a', 'good', ',', 'fun', 'film']
>>> deletion_drops(pipe, [ig], k=2).shape
(1,)

The baselines compared here (gradient×input, saliency, integrated gradients, occlusion,
random) live in :mod:`doclrp.core.baselines`; any method name works wherever an LRP
composite does (``explain(..., method=NAME)``, ``--method``, ``doclrp evaluate``).

Faithfulness by deletion (Samek et al. 2017): remove a document's most relevant words
from its text, predict again, and measure how much the explained output falls;
:func:`deletion_drops` for k words (``order="random"`` gives the reference),
:func:`deletion_curve` for growing shares of the words and :func:`aopc` for the area
over that curve. Predictions are those ``explain`` explains (windows for long texts).
:func:`compare_methods` scores several methods on the same documents (``doclrp evaluate``);
a document no method can explain (empty, no word the model knows) is left out, by its id
and reason (``MethodScore.skipped``, :func:`skipped_line`), instead of ending the evaluation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .core import resolve_method
from .errors import DoclrpError
from ._explain import document_names, document_outputs, explain, resolve_target, unexplainable
from .text import Explanation

__all__ = [
    "deletion_drops", "deletion_curve", "aopc", "ORDERS", "compare_methods", "iter_method_scores", "MethodScore",
    "skipped_line",
]

ORDERS = ("relevance", "random")


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


def _explained_weights(explanation: Explanation, pipeline) -> torch.Tensor:
    """The weights the explanation explained, checked against ``pipeline``'s outputs. A
    deviation from a reference falls as the output does: only the weights matter here."""
    if list(explanation.labels) != list(pipeline.labels):
        raise DoclrpError(f"explanation {explanation.id!r} is of outputs {explanation.labels}, "
                          f"the model has {list(pipeline.labels)}")
    weights = explanation.target.weights
    if weights is None or len(weights) != len(pipeline.labels):
        raise DoclrpError(f"cannot re-measure target {str(explanation.target)!r}: the explanation does not "
                          "record its output weights (made by an older doclrp?); explain it again")
    return torch.tensor(weights, dtype=torch.float64)


def _check_positive(value, name: str) -> None:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise DoclrpError(f"{name} must be a positive integer, got {value!r}")


# -- comparing methods ------------------------------------------------------------------------
@dataclass(frozen=True)
class MethodScore:
    """Faithfulness of one method over a set of documents (means over documents)."""

    method: str
    drop: float          # explained output lost with the k most relevant words
    random_drop: float   # ... with k random words (the same for every method)
    aopc: float          # area over the deletion curve in ``steps`` shares of the words
    seconds: float       # explaining only
    documents: tuple[str, ...] = ()  # the documents scored: their ids (else positions), in order
    skipped: Mapping[str, str] = field(default_factory=dict)  # id (else position) → why it was left out


def compare_methods(pipeline, texts: Sequence[str], methods: Sequence[Any] = ("epsilon", "gradient-x-input",
                    "integrated-gradients", "occlusion", "random"), *, k: int = 10, steps: int = 10,
                    target="predicted", batch_size: int = 16, seed: int = 0,
                    ids: Sequence[str] | None = None) -> list[MethodScore]:
    """Explain ``texts`` with each method (LRP composite or baseline) and score it by deletion.

    ``ids`` name the documents (else their positions) in each score's ``documents`` and
    ``skipped``: a document no method can explain is left out with its reason, not fatal.

    >>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
    >>> encoder = IdEncoder.fit(["good fun", "bad dull"])
    >>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
    >>> scores = compare_methods(pipe, ["good fun", "bad, dull", "Mene, mene"], ["epsilon", "random"], k=1, steps=2,
    ...                          ids=["a", "b", "c"])
    >>> [s.method for s in scores], scores[0].documents, scores[0].skipped
    (['epsilon', 'random'], ('a', 'b'), {'c': 'has only words the model does not know'})
    """
    return list(iter_method_scores(pipeline, texts, methods, k=k, steps=steps, target=target,
                                   batch_size=batch_size, seed=seed, ids=ids))


def iter_method_scores(pipeline, texts: Sequence[str], methods: Sequence[Any], *, k: int = 10, steps: int = 10,
                       target="predicted", batch_size: int = 16, seed: int = 0, ids: Sequence[str] | None = None):
    """:func:`compare_methods` one method at a time, each score as soon as it is known."""
    _check_positive(k, "k")
    _check_positive(steps, "steps")
    # Methods and target resolved once: an unknown name fails before the first, maybe long, method runs.
    attributors = [resolve_method(method) for method in methods]
    target = resolve_target(target, pipeline)
    texts = list(texts)
    names = document_names(texts, ids)
    # One unreadable document must not cost the whole table: found once, left out by name.
    reasons = unexplainable(pipeline, texts, batch_size=max(batch_size, 64))
    skipped = {names[i]: reason for i, reason in reasons.items()}
    kept = [i for i in range(len(texts)) if i not in reasons]
    if not kept:
        raise DoclrpError(f"none of the {len(texts)} documents can be explained: {skipped_line(skipped, len(texts))}")
    texts, names = [texts[i] for i in kept], [names[i] for i in kept]
    random_drop = None
    for attributor in attributors:
        started = time.perf_counter()
        explanations = explain(pipeline, texts, target=target, method=attributor, batch_size=batch_size, ids=names)
        seconds = time.perf_counter() - started
        if random_drop is None:  # words and targets are the same for every method
            random_drop = float(deletion_drops(pipeline, explanations, k, order="random", seed=seed,
                                               batch_size=batch_size).mean())
        yield MethodScore(
            method=attributor.name,
            drop=float(deletion_drops(pipeline, explanations, k, batch_size=batch_size).mean()),
            random_drop=random_drop,
            aopc=aopc(deletion_curve(pipeline, explanations, steps, batch_size=batch_size)),
            seconds=seconds,
            documents=tuple(names),
            skipped=dict(skipped),
        )


def skipped_line(skipped: Mapping[str, str], total: int) -> str:
    """One line on the documents left out: how many, and each by its id and reason.

    >>> skipped_line({"53": "has no word the model knows"}, 150)
    'skipped 1 of 150 documents: 53 (has no word the model knows)'
    >>> skipped_line({}, 3)
    ''
    """
    if not skipped:
        return ""
    shown = ", ".join(f"{name} ({reason})" for name, reason in skipped.items())
    return f"skipped {len(skipped)} of {total} documents: {shown}"
