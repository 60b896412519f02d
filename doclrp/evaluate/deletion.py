"""Deletion of words from the text: drops for k words, curves and AOPC (the measures of doclrp 0.x).

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
These cut words out of the text and encode it again; :mod:`doclrp.evaluate.perturbation`
perturbs the model's token ids instead (deletion and replacement, MoRF and LeRF).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from doclrp._explain import document_outputs
from doclrp.errors import DoclrpError
from doclrp.text import Explanation

__all__ = ["deletion_drops", "deletion_curve", "aopc", "ORDERS", "explained_weights", "check_positive", "text_without"]

ORDERS = ("relevance", "random")


def deletion_drops(pipeline, explanations: Sequence[Explanation], k: int = 10, *, order: str = "relevance",
                   seed: int = 0, batch_size: int = 16) -> np.ndarray:
    """Per explanation, how much the explained output falls when its ``k`` most relevant
    words (``order="random"``: ``k`` random words, from ``seed``) leave the text.

    The larger the drop beyond the random one, the more faithful the explanation.
    """
    check_positive(k, "k")
    picks = _word_orders(explanations, order, seed)
    if not picks:
        return np.zeros(0)
    curves = _curves(pipeline, explanations, [[ranked[:k]] for ranked in picks], batch_size)
    return curves[:, 0] - curves[:, 1]


def deletion_curve(pipeline, explanations: Sequence[Explanation], steps: int = 10, *, order: str = "relevance",
                   seed: int = 0, batch_size: int = 16) -> np.ndarray:
    """``(n_explanations, steps + 1)``: the explained output after removing the top
    ``⌈s/steps · n_words⌉`` words of each document, for s = 0 … steps."""
    check_positive(steps, "steps")
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
    return [_by_relevance(e) for e in explanations]


def _by_relevance(explanation: Any) -> list[int]:
    """Word indices of ``explanation``, the most relevant first (ties: text order)."""
    return sorted(range(len(explanation.words)), key=lambda i: (-explanation.words[i].relevance, i))


def _curves(pipeline, explanations, removals: list[list[list[int]]], batch_size: int) -> np.ndarray:
    """Explained output of each document as written, then without each word set of ``removals``."""
    weights = torch.stack([explained_weights(e, pipeline) for e in explanations])
    texts = []
    for explanation, sets in zip(explanations, removals):
        texts.append(explanation.text)
        texts += [text_without(explanation, chosen) for chosen in sets]
    per_doc = 1 + len(removals[0])
    outputs = document_outputs(pipeline, texts, batch_size=batch_size).reshape(len(explanations), per_doc, -1)
    return (outputs * weights.unsqueeze(1)).sum(-1).numpy()


def text_without(explanation: Explanation, chosen: Iterable[int]) -> str:
    """The text with the chosen words cut out (the whitespace around them stays)."""
    text, pieces, last = explanation.text, [], 0
    for index in sorted(chosen):
        word = explanation.words[index]
        pieces.append(text[last : word.start])
        last = word.end
    pieces.append(text[last:])
    return "".join(pieces)


def explained_weights(explanation: Explanation, pipeline) -> torch.Tensor:
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


def check_positive(value, name: str) -> None:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise DoclrpError(f"{name} must be a positive integer, got {value!r}")
