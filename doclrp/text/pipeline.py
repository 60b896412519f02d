"""What the text side reads of a text pipeline: the ``TextPipeline`` protocol.

Every model doclrp explains as text (``doclrp.models.TextPipeline``, the Hugging Face
``HFPipeline``, a converted scikit-learn pipeline, or an object of yours alike) offers its
output names, its task, its torch model, its default method and its outputs for texts. On top
of that it is one of two kinds: a *bag of features* (:class:`FeaturePipeline`: ``inputs`` and
``token_relevance``, e.g. tf-idf → MLP) or a *sequence* of model tokens (:class:`TokenSequence`:
``tokens`` and ``collate``, or an ``encoder`` with a vocabulary of word ids).

>>> from doclrp.models import EmbeddingBagModel, IdEncoder
>>> from doclrp.models import TextPipeline as Pipeline
>>> encoder = IdEncoder.fit(["good fun", "bad dull"])
>>> pipeline: TextPipeline = Pipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
>>> isinstance(pipeline, TextPipeline), isinstance(pipeline, FeaturePipeline)
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from doclrp.core.session import output_tensor
from doclrp.text.words import Document

__all__ = ["TextPipeline", "FeaturePipeline", "TokenSequence", "TokenSpans", "first_window_outputs"]


@runtime_checkable
class TextPipeline(Protocol):
    """A text model as ``explain``, corpus runs, evaluation and the web app read it."""

    @property
    def labels(self) -> Sequence[str]:
        """One name per model output (the classes of a classifier, the targets of a regressor)."""
        ...

    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"``."""
        ...

    @property
    def model(self) -> nn.Module:
        """The torch model the rules attach to."""
        ...

    @property
    def default_composite(self) -> str:
        """The method its explanations use unless told otherwise."""
        ...

    def outputs(self, texts: Sequence[str], batch_size: int = ...) -> torch.Tensor:
        """Model outputs ``(len(texts), n_outputs)`` in eval mode."""
        ...


class TokenSpans(Protocol):
    """One sample's relevance per model token: character ``spans`` of the text, their
    ``relevance``, and what lay on nothing in the text (``unassigned``)."""

    @property
    def spans(self) -> list[tuple[int, int]]: ...

    @property
    def relevance(self) -> Sequence[float]: ...

    @property
    def unassigned(self) -> float: ...


@runtime_checkable
class FeaturePipeline(TextPipeline, Protocol):
    """A bag of features: texts → one input vector each; relevance per feature → per token."""

    def inputs(self, texts: Sequence[str]) -> torch.Tensor:
        """Model inputs ``(len(texts), n_features)`` on the model's device."""
        ...

    def token_relevance(self, text: str, relevance: Any) -> TokenSpans:
        """One sample's input relevance shared over the feature's occurrences in ``text``."""
        ...


class TokenSequence(Protocol):
    """A pipeline of model tokens: documents to token ids and their spans, windows to a batch.

    ``tokens`` gives per document its ids (a list or an int array, (n,)) and their spans (pairs,
    or an int array (n, 2)); ``collate`` takes windows as slices of those ids (lists or array views)."""

    @property
    def max_tokens(self) -> int:
        """The longest window of tokens the model takes."""
        ...

    def tokens(self, documents: Sequence[Document]) -> Sequence[tuple[Any, Any]]:
        """Per document: its model token ids and their character spans."""
        ...

    def collate(self, windows: Sequence[Sequence[int]]
                ) -> tuple[torch.Tensor, dict[str, Any], list[list[int]], list[list[str]]]:
        """A padded batch of windows: ``(inputs, forward_kwargs, positions, special_names)``;
        ``positions[i][j]`` is the column of row ``i`` holding token ``j`` of window ``i``,
        ``special_names[i]`` names the other columns of row ``i`` ("[CLS]", "[PAD]"…)."""
        ...


@torch.no_grad()
def first_window_outputs(sequence: Any, texts: Sequence[str], batch_size: int) -> torch.Tensor:
    """Outputs ``(batch, n_outputs)`` of a token-sequence pipeline (``tokens``, ``collate``,
    ``max_tokens``, ``model``, ``labels``) on the first ``max_tokens`` tokens of each text, in
    float32 on the CPU: what such pipelines' ``outputs`` return (``doclrp.explain`` covers long
    texts with overlapping windows instead)."""
    encoded = [ids[: sequence.max_tokens] for ids, _ in sequence.tokens(texts)]
    if not encoded:
        return torch.zeros(0, len(sequence.labels))
    parts = []
    for i in range(0, len(encoded), batch_size):
        inputs, kwargs, _, _ = sequence.collate(encoded[i : i + batch_size])
        parts.append(output_tensor(sequence.model(inputs, **kwargs)).float().cpu())
    return torch.cat(parts)
