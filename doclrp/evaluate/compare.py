"""Several methods scored by deletion on the same documents: the table ``doclrp evaluate`` prints.

>>> skipped_line({"7": "is empty"}, 3)
'skipped 1 of 3 documents: 7 (is empty)'

:func:`compare_methods` scores several methods on the same documents (``doclrp evaluate``);
a document no method can explain (empty, no word the model knows) is left out, by its id
and reason (``MethodScore.skipped``, :func:`skipped_line`), instead of ending the evaluation.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from doclrp._explain import document_names, explain, resolve_target, unexplainable
from doclrp.core import resolve_method
from doclrp.errors import DoclrpError
from doclrp.evaluate.deletion import aopc, check_positive, deletion_curve, deletion_drops

__all__ = ["compare_methods", "iter_method_scores", "MethodScore", "skipped_line", "explainable_documents"]


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


def explainable_documents(pipeline, texts: Sequence[str], ids: Sequence[str] | None = None, batch_size: int = 16,
                          ) -> tuple[list[str], list[str], dict[str, str]]:
    """The texts the model can explain, their names, and the others' reasons by name.

    One unreadable document must not cost a whole evaluation: found once, left out by name;
    when none is left, one line says why.

    >>> from doclrp.models import IdEncoder, TextCNN, TextPipeline
    >>> enc = IdEncoder.fit(["good fun"])
    >>> pipe = TextPipeline(TextCNN(len(enc.vocabulary), 4, (1,), 2, 2), enc, ["neg", "pos"])
    >>> explainable_documents(pipe, ["good fun", "  "])
    (['good fun'], ['0'], {'1': 'is empty'})
    """
    texts = list(texts)
    names = document_names(texts, ids)
    reasons = unexplainable(pipeline, texts, batch_size=max(batch_size, 64))
    skipped = {names[i]: reason for i, reason in reasons.items()}
    kept = [i for i in range(len(texts)) if i not in reasons]
    if not kept:
        raise DoclrpError(f"none of the {len(texts)} documents can be explained: {skipped_line(skipped, len(texts))}")
    return [texts[i] for i in kept], [names[i] for i in kept], skipped


def iter_method_scores(pipeline, texts: Sequence[str], methods: Sequence[Any], *, k: int = 10, steps: int = 10,
                       target="predicted", batch_size: int = 16, seed: int = 0, ids: Sequence[str] | None = None):
    """:func:`compare_methods` one method at a time, each score as soon as it is known."""
    check_positive(k, "k")
    check_positive(steps, "steps")
    # Methods and target resolved once: an unknown name fails before the first, maybe long, method runs.
    attributors = [resolve_method(method) for method in methods]
    target = resolve_target(target, pipeline)
    texts, names, skipped = explainable_documents(pipeline, texts, ids, batch_size)
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
