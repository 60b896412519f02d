"""A trained text model together with everything needed to use it on raw text.

>>> from doclrp.models import BowMLP, TextPipeline, TfidfEncoder
>>> encoder = TfidfEncoder.fit(["good fun", "bad dull"], min_df=1)
>>> model = BowMLP(encoder.n_features, hidden=(4,), n_outputs=2)
>>> pipeline = TextPipeline(model, encoder, labels=["neg", "pos"])
>>> pipeline.predict(["good"])[0].label in ("neg", "pos")
True

``labels`` names the model's outputs: the classes of a classifier, the
targets of a regressor (one name per output, in output order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from doclrp.core.targets import TASKS
from doclrp.errors import DoclrpError
from doclrp.models.encoders import TextEncoder, TokenRelevance
from doclrp.text import Prediction

__all__ = ["TextPipeline", "TASKS"]



@dataclass
class TextPipeline:
    """Model + encoder + output names + task + evaluation metrics.

    ``metrics``: JSON-safe numbers measured on held-out data (e.g.
    ``{"test_accuracy": 0.97}``), saved with the pipeline.
    """

    model: nn.Module
    encoder: TextEncoder
    labels: list[str]
    task: str = "classification"
    metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise DoclrpError(f"task must be one of {TASKS}, got {self.task!r}")
        self.labels = [str(label) for label in self.labels]
        config = getattr(self.model, "config", {})
        if config.get("n_outputs", len(self.labels)) != len(self.labels):
            raise DoclrpError(
                f"the model has {config['n_outputs']} outputs but {len(self.labels)} labels were given: "
                "one name per output"
            )
        # An id past the embedding would fail deep inside torch; a feature
        # count mismatch would fail at the first matmul. Say so here instead.
        model_size = config.get("vocab_size", config.get("n_features"))
        if model_size is not None and self.encoder.input_size != model_size:
            raise DoclrpError(
                f"the encoder gives {self.encoder.input_size} distinct inputs but the model expects {model_size}: "
                "build the model from this encoder (vocab_size / n_features = encoder.input_size)"
            )

    @property
    def output_names(self) -> list[str]:
        """Alias of ``labels``."""
        return self.labels

    @property
    def default_composite(self) -> str:
        return str(getattr(self.model, "default_composite"))  # every doclrp model class declares one

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def inputs(self, texts: Sequence[str]) -> torch.Tensor:
        """Model inputs for ``texts``, on the model's device."""
        return self.encoder.inputs(texts).to(self.device)

    def token_relevance(self, text: str, relevance: Any) -> TokenRelevance:
        """One sample's input relevance → per-token relevance over character spans of ``text``."""
        return self.encoder.token_relevance(text, relevance)

    @torch.no_grad()
    def outputs(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Model outputs ``(batch, n_outputs)`` in eval mode (the model's mode is restored after), on the
        CPU in the model's float type (a float64 model's outputs are not rounded to float32).

        >>> from doclrp.models import EmbeddingBagModel, IdEncoder
        >>> encoder = IdEncoder.fit(["a b", "c"])
        >>> pipeline = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 1), encoder, ["score"], "regression")
        >>> pipeline.outputs(["a", "b c", "d"]).shape
        torch.Size([3, 1])
        """
        if isinstance(texts, str):
            raise DoclrpError("expected a list of texts, got one str: wrap it in a list")
        training = self.model.training
        self.model.eval()
        try:
            batches = [self.model(self.inputs(texts[i : i + batch_size])) for i in range(0, len(texts), batch_size)]
        finally:
            self.model.train(training)
        dtype = next((p.dtype for p in self.model.parameters() if p.is_floating_point()), torch.float32)
        if not batches:
            return torch.zeros(0, len(self.labels), dtype=dtype)
        return torch.cat(batches).to(dtype).cpu()

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Prediction]:
        """One :class:`doclrp.text.Prediction` per text: label, index and
        softmax probabilities for a classifier; ``values`` are the raw outputs."""
        return [Prediction.from_logits(row, self.labels, self.task) for row in self.outputs(texts, batch_size)]
