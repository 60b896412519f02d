"""The models a server offers: ids the clients name them by, loaded once, one lock each.

Clients never send a path: they name a model by an id from :meth:`ModelRegistry.ids`.
A model is loaded on first use and kept; its lock serializes every explanation on it,
because attaching rules hooks the shared ``nn.Module`` and two threads attaching at once
would mix their hooks.

>>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
>>> encoder = IdEncoder.fit(["good fun", "bad dull"])
>>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
>>> registry = ModelRegistry({"tiny": pipe})
>>> registry.ids(), registry.get("tiny").info()["labels"]
(['tiny'], ['neg', 'pos'])
>>> registry.get("huge")
Traceback (most recent call last):
doclrp.errors.DoclrpError: unknown model id 'huge'; this server has: tiny
>>> model_id("My Models/BBC CNN!")
'bbc-cnn'
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from doclrp.errors import DoclrpError
from doclrp.models.loading import load_model, pretrained_path

__all__ = ["ModelEntry", "ModelRegistry", "model_id", "DEFAULT_MODEL_ID"]

#: The id of the shipped BBC news model, served when no model is given.
DEFAULT_MODEL_ID = "bbc-cnn"


def model_id(folder: str | Path) -> str:
    """A URL-safe id from a folder's name (lower case, runs of other characters as ``-``)."""
    slug = re.sub(r"[^a-z0-9._]+", "-", Path(folder).name.lower()).strip("-.")
    return slug or "model"


class ModelEntry:
    """One served model: its id, where it comes from, the pipeline once loaded, its lock."""

    def __init__(self, id: str, source: Any, device: str = "cpu") -> None:
        self.id = id
        self.source = source
        self.device = device
        # Held while the model is loaded and while rules are attached to it.
        self.lock = threading.Lock()
        self._pipeline = None if isinstance(source, (str, Path)) else source

    def pipeline(self) -> Any:
        """The text pipeline, loaded on first use (call with :attr:`lock` held)."""
        if self._pipeline is None:
            self._pipeline = load_model(self.source, device=self.device)
        return self._pipeline

    def info(self) -> dict[str, Any]:
        """What ``GET /api/models`` says of this model."""
        with self.lock:
            pipeline = self.pipeline()
        metrics = getattr(pipeline, "metrics", None) or {}
        return {
            "id": self.id,
            "name": Path(self.source).name if isinstance(self.source, (str, Path)) else self.id,
            "task": pipeline.task,
            "labels": [str(label) for label in pipeline.labels],
            "default_method": pipeline.default_composite,
            "has_mean_reference": "mean_prediction" in metrics,
        }


class ModelRegistry:
    """Models by id. ``models``: ``{id: folder or pipeline}``, or folders (ids from their
    names, made unique), or None for the shipped BBC model alone."""

    def __init__(self, models: Mapping[str, Any] | Sequence[str | Path] | None = None, device: str = "cpu") -> None:
        if models is None:
            models = {DEFAULT_MODEL_ID: pretrained_path()}
        elif not isinstance(models, Mapping):
            models = _ids_for(models)
        if not models:
            raise DoclrpError("no models to serve")
        for id, source in models.items():
            if isinstance(source, (str, Path)) and not Path(source).is_dir():
                raise DoclrpError(f"no model folder at {source}")
        self._entries = {str(id): ModelEntry(str(id), source, device) for id, source in models.items()}

    def ids(self) -> list[str]:
        """The model ids, in the order given (the first is the default)."""
        return list(self._entries)

    def get(self, id: str | None) -> ModelEntry:
        """The model ``id`` (None: the first one)."""
        if id is None:
            return next(iter(self._entries.values()))
        entry = self._entries.get(id)
        if entry is None:
            raise DoclrpError(f"unknown model id {id!r}; this server has: {', '.join(self._entries)}")
        return entry


def _ids_for(folders: Sequence[str | Path]) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    for folder in folders:
        base = model_id(folder)
        id, n = base, 2
        while id in ids:
            id, n = f"{base}-{n}", n + 1
        ids[id] = Path(folder)
    return ids
