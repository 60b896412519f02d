"""The target of a text pipeline's explanation, made once from what a user gives: a label or
output name, an index, ``"LABEL-vs-rest"``, weights by name, and a reference to subtract
(``"mean"``, stored at training, or one number per output).

>>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
>>> encoder = IdEncoder.fit(["up", "down"])
>>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
>>> str(resolve_target("pos", pipe))
'pos'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from doclrp.core.targets import Target
from doclrp.errors import DoclrpError
from doclrp.text.pipeline import TextPipeline

__all__ = ["resolve_target", "resolve_reference", "TargetLike", "ReferenceLike"]

#: What the target of an explanation may be (see :meth:`doclrp.core.targets.Target.resolve`).
TargetLike = Any
#: A reference: ``"mean"`` or one number per output (see :func:`resolve_reference`).
ReferenceLike = str | Sequence[float] | torch.Tensor | None


def resolve_target(target: TargetLike, pipeline: TextPipeline, reference: ReferenceLike = None) -> Target:
    """The :class:`~doclrp.core.targets.Target` for ``target`` on ``pipeline``'s outputs,
    explaining the deviation from ``reference`` when one is given (see :func:`resolve_reference`).

    Resolved once per call of :func:`explain`, per corpus run and per evaluation, and
    carried from there into every ``Explanation`` and corpus record.

    >>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
    >>> encoder = IdEncoder.fit(["up", "down"])
    >>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 3), encoder, ["business", "sport", "tech"])
    >>> resolve_target("sport-vs-rest", pipe).weights
    (-0.5, 1.0, -0.5)
    >>> str(resolve_target({"sport": 1, "tech": -1}, pipe, reference=[0.0, 1.0, 2.0]))
    '+1·sport -1·tech − reference'
    """
    resolved = Target.resolve(target, pipeline.labels, pipeline.task)
    if reference is None:
        return resolved
    if resolved.reference is not None:
        raise DoclrpError("the target already subtracts a reference: give reference= once")
    values, name = resolve_reference(reference, pipeline)
    return resolved.with_reference(values, name)


def resolve_reference(reference: ReferenceLike, pipeline: TextPipeline) -> tuple[torch.Tensor | None, str]:
    """``(values (n_outputs,), name)`` for ``reference``: None, ``"mean"`` (the mean
    prediction stored at training time) or one number per output.

    >>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
    >>> encoder = IdEncoder.fit(["up", "down"])
    >>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"], "regression",
    ...                     metrics={"mean_prediction": {"neg": 0.25, "pos": 0.5}})
    >>> values, name = resolve_reference("mean", pipe)
    >>> values.tolist(), name
    ([0.25, 0.5], 'mean')
    """
    labels = list(pipeline.labels)
    if reference is None:
        return None, ""
    if isinstance(reference, str):
        if reference != "mean":
            raise DoclrpError(f"unknown reference {reference!r}: use 'mean' or one number per output")
        stored = getattr(pipeline, "metrics", {}).get("mean_prediction")
        if stored is None:
            raise DoclrpError("this model stores no mean prediction (it was trained without one): retrain it, "
                              "or pass reference as one number per output")
        missing = [label for label in labels if label not in stored]
        if missing:
            raise DoclrpError(f"the stored mean prediction lacks outputs {missing}: retrain, or pass numbers")
        return torch.tensor([float(stored[label]) for label in labels], dtype=torch.float64), "mean"
    values = torch.as_tensor(reference, dtype=torch.float64).reshape(-1)
    if values.numel() != len(labels):
        raise DoclrpError(f"reference has {values.numel()} values for {len(labels)} outputs ({', '.join(labels)})")
    if not bool(values.isfinite().all()):
        raise DoclrpError(f"reference values must be finite numbers, got {values.tolist()}")
    return values, "reference"
