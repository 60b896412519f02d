"""Model randomization (Adebayo et al. 2018): does a method's relevance change with the model?

>>> import numpy as np
>>> spearman([0.1, 0.5, 0.3], [1.0, 9.0, 2.0]), spearman([1, 2, 3], [3, 2, 1])
(1.0, -1.0)

Adebayo et al. 2018 ("Sanity checks for saliency maps") randomize a trained model's
weights from the top layer down and ask how much the explanation changes: a method whose
relevance barely moves when the model becomes noise explains the input, not the model.
doclrp runs the first and the last stage of that cascade: ``"top"`` re-initializes the
output layer (the last module with weights of its own), ``"all"`` every layer. Each module
is re-initialized by its own ``reset_parameters()`` (torch's default initialization), from
``torch.manual_seed(seed)``, on a copy; the user's model is never touched. The score is the
Spearman rank correlation of the signed word relevance before and after, per document (the
same target weights explained both times): near 1 means the method ignored the change,
near 0 means its relevance depends on what the model learned.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from doclrp._explain import explain
from doclrp.errors import DoclrpError
from doclrp.text import Explanation

__all__ = ["RANDOMIZATIONS", "randomized_model", "randomized_pipeline", "spearman", "relevance_correlations",
           "randomization_check"]

RANDOMIZATIONS = ("top", "all")


def randomized_model(model: nn.Module, layers: str = "top", seed: int = 0) -> nn.Module:
    """A copy of ``model`` with its top layer (``"top"``) or all its layers (``"all"``) re-initialized.

    >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> changed = randomized_model(model, "top")
    >>> torch.equal(changed[0].weight, model[0].weight), torch.equal(changed[2].weight, model[2].weight)
    (True, False)
    """
    if layers not in RANDOMIZATIONS:
        raise DoclrpError(f"layers must be one of {', '.join(RANDOMIZATIONS)}, got {layers!r}")
    changed = copy.deepcopy(model)
    owners = [m for m in changed.modules() if any(True for _ in m.parameters(recurse=False))]
    if not owners:
        raise DoclrpError("the model has no parameters to randomize")
    torch.manual_seed(seed)
    for module in owners if layers == "all" else owners[-1:]:
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
        else:  # a module without torch's initializer: small normal weights, as transformers initialize
            with torch.no_grad():
                for parameter in module.parameters(recurse=False):
                    parameter.normal_(0.0, 0.02)
    return changed


def randomized_pipeline(pipeline, layers: str = "top", seed: int = 0):
    """A shallow copy of ``pipeline`` holding :func:`randomized_model` of its model."""
    changed = copy.copy(pipeline)
    changed.model = randomized_model(pipeline.model, layers, seed)
    return changed


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1 … n, ties given their average rank."""
    sorter = np.argsort(values, kind="mergesort")
    inverse = np.empty_like(sorter)
    inverse[sorter] = np.arange(values.size)
    ordered = values[sorter]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    dense = first.cumsum()[inverse]
    bounds = np.r_[np.nonzero(first)[0], values.size]
    return 0.5 * (bounds[dense] + bounds[dense - 1] + 1)


def spearman(a, b) -> float:
    """Spearman's rank correlation (ties averaged); NaN for fewer than 2 values or a constant one."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1), np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise DoclrpError(f"spearman needs values of the same length, got {a.size} and {b.size}")
    if a.size < 2:
        return math.nan
    ra, rb = _ranks(a) - (a.size + 1) / 2, _ranks(b) - (a.size + 1) / 2
    norm = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / norm) if norm > 0 else math.nan


def relevance_correlations(before: Sequence[Explanation], after: Sequence[Explanation]) -> np.ndarray:
    """Per document, :func:`spearman` of the word relevance of two explanations of it."""
    if len(before) != len(after):
        raise DoclrpError(f"{len(before)} explanations before and {len(after)} after")
    return np.array([spearman([w.relevance for w in x.words], [w.relevance for w in y.words])
                     for x, y in zip(before, after)])


def randomization_check(pipeline, explanations: Sequence[Explanation], method, *, seed: int = 0,
                        batch_size: int = 16) -> dict[str, np.ndarray]:
    """``{"top": rho, "all": rho}``: per document, the rank correlation of ``explanations``
    (made with ``method`` on ``pipeline``) with the same method on each randomized model,
    explaining the same target weights as each explanation did."""
    results = {}
    for layers in RANDOMIZATIONS:
        changed = randomized_pipeline(pipeline, layers, seed)
        again = explain_same_targets(changed, explanations, method, batch_size=batch_size)
        results[layers] = relevance_correlations(explanations, again)
    return results


def explain_same_targets(pipeline, explanations: Sequence[Explanation], method, *,
                         batch_size: int = 16) -> list[Explanation]:
    """``explanations`` explained again on ``pipeline``, each for the ``Target`` it recorded
    (documents grouped by target, so a predicted class stays that class)."""
    groups: dict[object, list[int]] = {}
    for i, explanation in enumerate(explanations):
        groups.setdefault(explanation.target, []).append(i)
    again: list[Explanation | None] = [None] * len(explanations)
    for target, members in groups.items():
        made = explain(pipeline, [explanations[i].text for i in members], target=target, method=method,
                       batch_size=batch_size, ids=[explanations[i].id or str(i) for i in members])
        for i, explanation in zip(members, made):
            again[i] = explanation
    return [e for e in again if e is not None]
