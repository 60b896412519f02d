"""Ready models, their registry, text pipelines and their save/load.

>>> import torch
>>> from doclrp.models import build_model
>>> model = build_model({"model_type": "text-cnn", "vocab_size": 100, "embed_dim": 8, "channels": 4, "n_outputs": 5})
>>> model(torch.randint(1, 100, (2, 30))).shape, model.default_composite
(torch.Size([2, 5]), 'epsilon')

Models are plain ``torch.nn.Module`` subclasses with a ``model_type`` name, a
``default_composite`` (the LRP composite to use unless told otherwise) and a
JSON-safe ``config`` of constructor arguments. A :class:`TextPipeline` adds
the encoder (texts → inputs, relevance → words), output names, the task and
metrics; :func:`save_pipeline` / :func:`load_pipeline` store it as JSON and
safetensors; :func:`from_sklearn` converts a fitted scikit-learn text pipeline. Image models live in ``doclrp.models.image`` and are imported
only when asked for.
"""

from doclrp.models.encoders import Encoded, IdEncoder, TfidfEncoder, TokenRelevance
from doclrp.models.glove import load_glove
from doclrp.models.io import load_pipeline, save_pipeline
from doclrp.models.graph import GraphModel
from doclrp.models.imported import ImportedTextPipeline, load_model_file
from doclrp.models.keras import read_keras_model
from doclrp.models.onnx_files import read_onnx_model
from doclrp.models.pipeline import TextPipeline
from doclrp.models.registry import MODEL_KINDS, MODEL_TYPES, ModelKind, build_model, model_config
from doclrp.models.sklearn import SklearnNet, SklearnTextEncoder, from_sklearn
from doclrp.models.text import BowMLP, EmbeddingBagModel, TextCNN, TextLSTM

__all__ = [
    "TextCNN",
    "TextLSTM",
    "BowMLP",
    "EmbeddingBagModel",
    "MODEL_TYPES",
    "MODEL_KINDS",
    "ModelKind",
    "build_model",
    "model_config",
    "load_glove",
    "IdEncoder",
    "TfidfEncoder",
    "Encoded",
    "TokenRelevance",
    "TextPipeline",
    "GraphModel",
    "read_onnx_model",
    "load_model_file",
    "ImportedTextPipeline",
    "save_pipeline",
    "load_pipeline",
    "from_sklearn",
    "SklearnNet",
    "SklearnTextEncoder",
    "read_keras_model",
]
