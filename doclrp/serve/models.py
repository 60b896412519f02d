"""The models a server offers: ids the clients name them by, loaded and checked at start-up.

Clients never send a path: they name a model by an id from :meth:`ModelRegistry.ids`.
Every model is loaded when the registry is made (before the server opens its port), in
any format :func:`doclrp.load_model` reads (doclrp and Hugging Face folders, scikit-learn
``.skops`` files); a model that does not load (missing, unreadable, weights that are not
finite) is one line of the error, all of them at once. What ``GET /api/models`` says of
each model is worked out then too, so listing models never waits for a model that is busy
explaining.

>>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
>>> encoder = IdEncoder.fit(["good fun", "bad dull"])
>>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
>>> registry = ModelRegistry({"tiny": pipe})
>>> registry.ids(), registry.get("tiny").info["labels"]
(['tiny'], ['neg', 'pos'])
>>> registry.get("huge")
Traceback (most recent call last):
doclrp.errors.DoclrpError: unknown model id 'huge'; this server has: tiny
>>> model_id("My Models/BBC CNN!"), model_id("models/reviews.skops")
('bbc-cnn', 'reviews')
>>> ModelRegistry(["no/such/folder", "no/such/model.skops"])
Traceback (most recent call last):
doclrp.errors.DoclrpError: 2 models cannot be served:
  folder: no model folder at no/such/folder: check the path or train one (doclrp train)
  model: no model file at no/such/model.skops: check the path
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from doclrp.corpus.output import model_fingerprint
from doclrp.errors import DoclrpError
from doclrp.models.loading import load_model, pretrained_path
from doclrp.serve.generation import generates

__all__ = ["ModelEntry", "ModelRegistry", "model_id", "DEFAULT_MODEL_ID", "MODEL_FILE_SUFFIXES"]

#: The id of the shipped BBC news model, served when no model is given.
DEFAULT_MODEL_ID = "bbc-cnn"
#: Models that are one file rather than a folder; their id leaves the suffix out.
MODEL_FILE_SUFFIXES = (".skops",)


def model_id(source: str | Path) -> str:
    """A URL-safe id from a model's folder or file name (lower case, runs of other characters as ``-``)."""
    path = Path(source)
    name = path.stem if path.suffix.lower() in MODEL_FILE_SUFFIXES else path.name
    slug = re.sub(r"[^a-z0-9._]+", "-", name.lower()).strip("-.")
    return slug or "model"


class ModelEntry:
    """One served model: its id, where it comes from, the loaded pipeline and what the
    model list says of it. Only the model's own queue runs explanations on it."""

    def __init__(self, id: str, source: Any, pipeline: Any) -> None:
        self.id = id
        self.source = source
        self.pipeline = pipeline
        metrics = getattr(pipeline, "metrics", None) or {}
        #: What ``GET /api/models`` says of this model.
        self.info: dict[str, Any] = {
            "id": id,
            "name": Path(source).name if isinstance(source, (str, Path)) else id,
            "task": pipeline.task,
            "labels": [str(label) for label in pipeline.labels],
            "default_method": pipeline.default_composite,
            "has_mean_reference": "mean_prediction" in metrics,
            "generates": generates(pipeline),
        }
        self._fingerprint: str | None = None
        self._fingerprint_lock = threading.Lock()

    def fingerprint(self) -> str:
        """sha256 of the model (:func:`~doclrp.corpus.output.model_fingerprint`), worked out once.
        Reading the weights needs no turn of the model: explanations never change them."""
        with self._fingerprint_lock:
            if self._fingerprint is None:
                self._fingerprint = model_fingerprint(self.source if isinstance(self.source, (str, Path))
                                                      else self.pipeline)
            return self._fingerprint


class ModelRegistry:
    """Models by id, loaded now. ``models``: ``{id: folder, file or pipeline}``, or folders and
    files (ids from their names, made unique), or None for the shipped BBC model alone."""

    def __init__(self, models: Mapping[str, Any] | Sequence[str | Path] | None = None, device: str = "cpu") -> None:
        if models is None:
            models = {DEFAULT_MODEL_ID: pretrained_path()}
        elif not isinstance(models, Mapping):
            models = _ids_for(models)
        if not models:
            raise DoclrpError("no models to serve")
        entries, problems = {}, []
        for id, source in models.items():
            try:
                pipeline = load_model(source, device=device) if isinstance(source, (str, Path)) else source
                entries[str(id)] = ModelEntry(str(id), source, pipeline)
            except DoclrpError as error:
                problems.append(f"{id}: {error}")
        if len(problems) == 1:
            raise DoclrpError(f"cannot serve model {problems[0]}")
        if problems:
            raise DoclrpError(f"{len(problems)} models cannot be served:\n  "
                              + "\n  ".join(problems))
        self._entries = entries

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

    def matching(self, sha256: str | None) -> str | None:
        """The id of the served model whose fingerprint is ``sha256`` (None: none)."""
        if not sha256:
            return None
        return next((id for id, entry in self._entries.items() if entry.fingerprint() == sha256), None)


def _ids_for(sources: Sequence[str | Path]) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    for source in sources:
        base = model_id(source)
        id, n = base, 2
        while id in ids:
            id, n = f"{base}-{n}", n + 1
        ids[id] = Path(source)
    return ids
