"""Model types and model kinds by name, and building a model from its JSON config.

>>> from doclrp.models.registry import MODEL_KINDS, MODEL_TYPES, build_model, model_config
>>> model = build_model({"model_type": "bow-mlp", "n_features": 10, "hidden": [4], "n_outputs": 2})
>>> model_config(model)["model_type"], MODEL_TYPES["bow-mlp"] is type(model)
('bow-mlp', True)
>>> MODEL_KINDS["cnn"].model.__name__, MODEL_KINDS["bow"].inputs, MODEL_KINDS["cnn"].default_method
('TextCNN', 'tfidf', 'epsilon')

A *model type* is a model class by the name its ``config.json`` stores (``"text-cnn"``): a
config is ``{"model_type": name, **constructor keyword arguments}``, what loading rebuilds. A
*model kind* is a built-in text model as training and ``doclrp train --model NAME`` know it
(``"cnn"``): a :class:`ModelKind`, declared once next to its class. Both are
:class:`~doclrp.registry.Registry` objects whose entries are the package's entry points
(``doclrp.model_types``, ``doclrp.model_kinds``), imported when first looked up, so that image
models cost nothing to text users (and the other way round).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from doclrp.errors import DoclrpError
from doclrp.models.encoders import IdEncoder, TfidfEncoder
from doclrp.registry import Group, Registry

__all__ = ["MODEL_TYPES", "MODEL_KINDS", "ModelKind", "build_model", "model_config"]

#: Model type (``config.json``'s ``model_type``) → model class.
MODEL_TYPES: Registry[type[nn.Module]] = Registry("model type", Group.MODEL_TYPES)


@dataclass(frozen=True)
class ModelKind:
    """A built-in text model as training, the command line and loading know it; declared once,
    next to its class, and registered under ``name`` in the entry points ``doclrp.model_kinds``.

    ``name``: the command-line name (``doclrp train --model NAME``, ``train(model=NAME)``).
    ``model``: the class; its ``model_type`` is what ``config.json`` stores, its
    ``default_composite`` the method explanations use unless told (:attr:`default_method`).
    ``inputs``: ``"ids"`` (word ids of an :class:`IdEncoder`, read by an embedding that GloVe
    vectors can start) or ``"tfidf"`` (features of a :class:`TfidfEncoder`).
    ``architecture``: the class's keyword arguments that training uses unless told;
    ``epochs`` and ``lr``: its training defaults (chosen on BBC News validation accuracy within
    a few minutes on two CPU cores).

    >>> from doclrp.models.text import TextCNN
    >>> kind = ModelKind("tiny-cnn", TextCNN, "ids", {"embed_dim": 4, "channels": 2}, epochs=1, lr=0.01)
    >>> kind.build(input_size=30, n_outputs=2).config["channels"], kind.word_embeddings
    (2, True)
    """

    name: str
    model: type[nn.Module]
    inputs: Literal["ids", "tfidf"]
    architecture: Mapping[str, Any] = field(default_factory=dict)
    epochs: int = 10
    lr: float = 1e-3

    @property
    def default_method(self) -> str:
        """The method its explanations use unless told: the class's ``default_composite``."""
        return str(getattr(self.model, "default_composite"))

    @property
    def word_embeddings(self) -> bool:
        """Whether it embeds word ids (so ``glove=True`` can start its embedding)."""
        return self.inputs == "ids"

    def fit_encoder(self, texts: Sequence[str], *, max_len: int, min_freq: int,
                    max_vocab: int | None) -> IdEncoder | TfidfEncoder:
        """The encoder of its inputs, fitted on ``texts`` (``max_len`` words per text for ids;
        ``min_freq`` texts or occurrences a word needs; ``max_vocab`` ids or features at most)."""
        if self.inputs == "tfidf":
            return TfidfEncoder.fit(texts, min_df=min_freq, max_features=max_vocab)
        return IdEncoder.fit(texts, max_len=max_len, min_freq=min_freq, max_size=max_vocab)

    def build(self, input_size: int, n_outputs: int, **options: Any) -> nn.Module:
        """A fresh model for ``input_size`` distinct inputs (ids or features) and ``n_outputs``;
        ``options`` override :attr:`architecture`."""
        return self.model(input_size, **{**self.architecture, **options, "n_outputs": n_outputs})


#: Command-line name → :class:`ModelKind`: the built-in text models that training knows.
MODEL_KINDS: Registry[ModelKind] = Registry("model kind", Group.MODEL_KINDS)


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
    if name not in MODEL_TYPES:
        raise DoclrpError(f"unknown model_type {name!r}: choose one of {sorted(MODEL_TYPES)}")
    cls = MODEL_TYPES[name]
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
    config = getattr(model, "config", None)
    if name not in MODEL_TYPES or not isinstance(config, dict):
        raise DoclrpError(
            f"{type(model).__name__} is not a doclrp model (needs model_type in {sorted(MODEL_TYPES)} "
            "and a config dict); save custom models with safetensors yourself"
        )
    return {"model_type": name, **config}
