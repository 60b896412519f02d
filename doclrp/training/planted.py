"""The planted-trigger task trained into the evaluated model's own kind, for ``doclrp evaluate --report``.

A method that finds the trigger in a tiny reference CNN says little of how it does on a
bag-of-words MLP or an LSTM. :func:`planted_trainer` returns, for a built-in text model, the
function :func:`doclrp.evaluate.evaluate_methods` calls to train a model of the same class, with
the same architecture (its config, sizes aside) and the training settings it recorded (epochs,
learning rate, batch size, words per document, patience), by doclrp's own :func:`train`, on the
planted documents; None for a model doclrp cannot train again so (Hugging Face, scikit-learn,
imports), whose report then labels the row as the reference CNN's.

>>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
>>> encoder = IdEncoder.fit(["good fun", "bad dull"])
>>> pipeline = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
>>> callable(planted_trainer(pipeline)), planted_trainer(object())
(True, None)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from doclrp.corpus import Record
from doclrp.evaluate.planted import PlantedTask
from doclrp.models import TextPipeline
from doclrp.training.text import train

__all__ = ["planted_trainer", "TRAINED_KINDS"]

#: model_type → the ``train(model=…)`` name of the built-in text models
TRAINED_KINDS = {"text-cnn": "cnn", "text-lstm": "lstm", "bow-mlp": "bow", "embedding-bag": "bag"}
# sizes that follow from the planted documents, not from the architecture
_SIZES = ("vocab_size", "n_features", "n_outputs", "padding_idx")
# the recorded settings that train() takes again (GloVe is not: the planted words are made up)
_SETTINGS = ("epochs", "lr", "batch_size", "max_len", "patience")


def planted_trainer(pipeline: Any) -> Callable[[PlantedTask, int], TextPipeline] | None:
    """``trainer(task, seed)`` for models of ``pipeline``'s kind, or None (see the module)."""
    model = getattr(pipeline, "model", None)
    kind = TRAINED_KINDS.get(str(getattr(model, "model_type", "")))
    if kind is None or not isinstance(pipeline, TextPipeline):
        return None
    options = {key: value for key, value in getattr(model, "config", {}).items() if key not in _SIZES}
    recorded = (pipeline.metrics or {}).get("settings", {})
    settings = {key: recorded[key] for key in _SETTINGS if key in recorded}

    def trainer(task: PlantedTask, seed: int) -> TextPipeline:
        records = [Record(f"planted/{i:04d}", text, label)
                   for i, (text, label) in enumerate(zip(task.texts, task.classes))]
        return train(records, model=kind, model_options=options, seed=seed, progress=False, **settings)

    return trainer
