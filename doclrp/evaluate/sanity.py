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

Two ways the score misleads, both measured: one re-initialization is one draw (seeds 1–4 moved
one model's top-layer ρ from −0.19 to +0.19), so :func:`randomization_check` runs several seeds
(:data:`SEEDS`) and reports each; and words whose relevance is 0 under any model (a
bag-of-words model's saliency puts 0 on words that reach no hidden unit) agree in rank whatever
the model, so ρ is computed over all words and over the words non-zero under either model
(``"nonzero"``: saliency's 0.62–0.71 on a bag of words over all words was 0.07–0.09 there).
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

__all__ = ["RANDOMIZATIONS", "WORD_SETS", "SEEDS", "randomized_model", "randomized_pipeline", "spearman",
           "relevance_correlations", "randomization_check"]

RANDOMIZATIONS = ("top", "all")
#: over which words ρ is computed: all of them, or those non-zero before or after
WORD_SETS = ("all", "nonzero")
#: re-initializations per randomization (seeds ``seed``, ``seed + 1``, …)
SEEDS = 3


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


def relevance_correlations(before: Sequence[Explanation], after: Sequence[Explanation],
                           words: str = "all") -> np.ndarray:
    """Per document, :func:`spearman` of the word relevance of two explanations of it, over all its
    words or (``words="nonzero"``) those whose relevance is non-zero in either.

    >>> from doclrp.text.explanation import Explanation, _EXAMPLE
    >>> e = Explanation.from_dict(_EXAMPLE)
    >>> relevance_correlations([e], [e]).tolist(), relevance_correlations([e], [e], "nonzero").tolist()
    ([1.0], [1.0])
    """
    if len(before) != len(after):
        raise DoclrpError(f"{len(before)} explanations before and {len(after)} after")
    if words not in WORD_SETS:
        raise DoclrpError(f"words must be one of {', '.join(WORD_SETS)}, got {words!r}")
    rhos = []
    for x, y in zip(before, after):
        a = np.array([w.relevance for w in x.words], dtype=np.float64)
        b = np.array([w.relevance for w in y.words], dtype=np.float64)
        if words == "nonzero":
            keep = (a != 0) | (b != 0)
            a, b = a[keep], b[keep]
        rhos.append(spearman(a, b))
    return np.array(rhos)


def randomization_check(pipeline, explanations: Sequence[Explanation], method, *, seed: int = 0,
                        seeds: int = SEEDS, batch_size: int = 16) -> dict[str, dict[str, np.ndarray]]:
    """``{layers: {words: rho}}`` for layers ``"top"``/``"all"`` and words ``"all"``/``"nonzero"``:
    ``rho (seeds, documents)``, the rank correlation of ``explanations`` (made with ``method`` on
    ``pipeline``) with the same method on the model re-initialized from seeds ``seed`` …
    ``seed + seeds − 1``, explaining the same target weights as each explanation did."""
    if isinstance(seeds, bool) or int(seeds) != seeds or seeds < 1:
        raise DoclrpError(f"seeds must be a positive whole number, got {seeds!r}")
    results: dict[str, dict[str, np.ndarray]] = {}
    for layers in RANDOMIZATIONS:
        per_seed: dict[str, list[np.ndarray]] = {words: [] for words in WORD_SETS}
        for draw in range(seed, seed + int(seeds)):
            changed = randomized_pipeline(pipeline, layers, draw)
            again = explain_same_targets(changed, explanations, method, batch_size=batch_size)
            for words in WORD_SETS:
                per_seed[words].append(relevance_correlations(explanations, again, words))
        results[layers] = {words: np.stack(rows) for words, rows in per_seed.items()}
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
