"""Model types by name, and building a model from its JSON config.

>>> from doclrp.models.registry import MODEL_TYPES, build_model, model_config
>>> model = build_model({"model_type": "bow-mlp", "n_features": 10, "hidden": [4], "n_outputs": 2})
>>> model_config(model)["model_type"], MODEL_TYPES["bow-mlp"] is type(model)
('bow-mlp', True)

A config is ``{"model_type": name, **constructor keyword arguments}``; it is
what ``config.json`` stores next to the weights. Classes are imported when first
looked up, so that image models cost nothing to text users (and the other way
round), and a model module that is not installed just does not appear.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Mapping
from typing import Any

from torch import nn

from doclrp.errors import DoclrpError

__all__ = ["MODEL_TYPES", "build_model", "model_config"]

_LOCATIONS = {
    "text-cnn": ("doclrp.models.text", "TextCNN"),
    "text-lstm": ("doclrp.models.text", "TextLSTM"),
    "bow-mlp": ("doclrp.models.text", "BowMLP"),
    "embedding-bag": ("doclrp.models.text", "EmbeddingBagModel"),
    "image-mlp": ("doclrp.models.image", "ImageMLP"),
    "image-cnn": ("doclrp.models.image", "ImageCNN"),
}


class _Registry(Mapping):
    """Read-only mapping name → model class that imports on first look-up."""

    def __init__(self, locations: dict[str, tuple[str, str]]) -> None:
        self._locations = locations

    def _available(self) -> list[str]:
        return [name for name, (module, _) in self._locations.items() if importlib.util.find_spec(module)]

    def __getitem__(self, name: str) -> type[nn.Module]:
        if name not in self._locations or importlib.util.find_spec(self._locations[name][0]) is None:
            raise KeyError(name)
        module, attribute = self._locations[name]
        return getattr(importlib.import_module(module), attribute)

    def __iter__(self) -> Iterator[str]:
        return iter(self._available())

    def __len__(self) -> int:
        return len(self._available())

    def __repr__(self) -> str:
        return f"MODEL_TYPES({self._available()})"


MODEL_TYPES: Mapping[str, type[nn.Module]] = _Registry(_LOCATIONS)


def build_model(config: Mapping[str, Any]) -> nn.Module:
    """A fresh (untrained) model from ``{"model_type": name, **kwargs}``.

    >>> build_model({"model_type": "text-cnn", "vocab_size": 30, "n_outputs": 4}).config["widths"]
    [3, 4, 5]
    """
    if not isinstance(config, Mapping) or "model_type" not in config:
        raise DoclrpError(
            f"a model config must be a mapping with a 'model_type' key (one of {sorted(MODEL_TYPES)}), got {config!r}"
        )
    kwargs = dict(config)
    name = kwargs.pop("model_type")
    try:
        cls = MODEL_TYPES[name]
    except KeyError:
        raise DoclrpError(f"unknown model_type {name!r}: choose one of {sorted(MODEL_TYPES)}") from None
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise DoclrpError(
            f"bad config for model_type {name!r}: {error}; keys must be {cls.__name__}'s arguments"
        ) from None


def model_config(model: nn.Module) -> dict[str, Any]:
    """The JSON-safe config that :func:`build_model` turns back into ``model``'s architecture.

    >>> from doclrp.models.text import EmbeddingBagModel
    >>> model_config(EmbeddingBagModel(vocab_size=9, embed_dim=2, n_outputs=1))
    {'model_type': 'embedding-bag', 'vocab_size': 9, 'embed_dim': 2, 'n_outputs': 1, 'padding_idx': 0}
    """
    name = getattr(model, "model_type", None)
    if name not in _LOCATIONS or not isinstance(getattr(model, "config", None), dict):
        raise DoclrpError(
            f"{type(model).__name__} is not a doclrp model (needs model_type in {sorted(_LOCATIONS)} "
            "and a config dict); save custom models with safetensors yourself"
        )
    return {"model_type": name, **model.config}
