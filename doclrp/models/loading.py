"""One entry point for models: doclrp pipeline folders, Hugging Face folders and scikit-learn
``.skops`` files alike.

>>> from doclrp.models.loading import load_model, pretrained_path
>>> load_model(pretrained_path()).labels   # doctest: +SKIP
['business', 'entertainment', 'politics', 'sport', 'tech']
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import DoclrpError
from ..text.pipeline import TextPipeline as Pipeline
from .hf import load_hf_pipeline
from .hf.label_scores import LABEL_PREFIX, load_prompted_classifier
from .imported import MODEL_FILE_KINDS, load_model_file
from .io import load_pipeline
from .sklearn_files import PICKLE_REFUSAL, PICKLE_SUFFIXES, SKOPS_SUFFIX, load_skops_model

__all__ = ["load_model", "pretrained_path", "check_device", "resolve_device", "check_finite_parameters", "PRETRAINED"]

PRETRAINED = "bbc-cnn"


def pretrained_path(name: str = PRETRAINED) -> Path:
    """The folder of a model shipped inside the package."""
    path = Path(__file__).resolve().parent.parent / "pretrained" / name
    if not path.is_dir():
        raise DoclrpError(f"the shipped model {name!r} is missing from the installation at {path}; reinstall doclrp")
    return path


def _is_hugging_face(folder: Path) -> bool:
    config = folder / "config.json"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "architectures" in data and data.get("format") != "doclrp-text-pipeline"


def check_device(device: str) -> str:
    """``device`` if torch knows it and it is there; else a one-line `DoclrpError`.

    >>> check_device("cpu")
    'cpu'
    >>> check_device("bogus")
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: unknown device 'bogus': use cpu, cuda or cuda:N (mps on Apple silicon)
    """
    try:
        torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise DoclrpError(f"unknown device {device!r}: use cpu, cuda or cuda:N (mps on Apple silicon)") from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DoclrpError(f"device {device!r} asked for but CUDA is not available: use --device cpu")
    if device.startswith("mps") and not torch.backends.mps.is_available():
        raise DoclrpError(f"device {device!r} asked for but MPS is not available: use --device cpu")
    return device


def resolve_device(device: str = "auto") -> str:
    """The device to run on: ``"auto"`` is CUDA when available, else the CPU; any other name
    is checked by :func:`check_device` and returned. The one place ``--device auto`` is decided.

    >>> resolve_device("cpu")
    'cpu'
    >>> resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    True
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return check_device(device)


def load_model(folder: str | Path, device: str = "cpu", *, allow_pickle: bool = False,
               vocab: str | Path | None = None, labels: Sequence[str] | None = None, prompt: str | None = None,
               chat: bool = False, label_prefix: str = LABEL_PREFIX) -> Pipeline:
    """A text pipeline (``TextPipeline`` or the Hugging Face adapter) from ``folder`` on ``device``.

    A Keras (``.keras``, ``.h5``) or ONNX (``.onnx``) file is a text model read with the
    vocabulary it was trained with, ``vocab``, and its output names, ``labels``
    (:mod:`doclrp.models.imported`); without ``vocab`` it is one line saying what to pass.

    With ``prompt``, ``folder`` holds a causal language model (Llama, Qwen2, Gemma, Mistral,
    Phi-3, GPT-2 …) used as a classifier: the document goes where the prompt says ``{text}``,
    and the outputs are the scores of ``labels`` as the model's next words (``label_prefix``
    before each, a space by default; ``chat``: the prompt as the user's message in the
    tokenizer's chat template). See :mod:`doclrp.models.hf.label_scores`.

    A ``.skops`` file is a fitted scikit-learn text pipeline, read with skops' safe loader and
    converted (:mod:`doclrp.models.sklearn_files`); ``.pkl`` and ``.joblib`` files are refused.
    What is read: doclrp folders are JSON and safetensors only; Hugging Face folders load
    without running code from the folder, and pickled weights (``pytorch_model.bin``) only
    with ``allow_pickle`` (see :func:`doclrp.models.hf.pipeline.check_hf_folder`). A model
    whose weights are not finite is refused (:func:`check_finite_parameters`).
    """
    folder = Path(folder)
    check_device(device)
    pipeline: Pipeline
    if folder.suffix.lower() in PICKLE_SUFFIXES:
        raise DoclrpError(f"{folder} {PICKLE_REFUSAL}")
    if prompt is not None and (folder.suffix.lower() in MODEL_FILE_KINDS or folder.suffix.lower() == SKOPS_SUFFIX):
        raise DoclrpError(f"{folder} is a model file: a prompt needs a Hugging Face language model folder")
    if folder.suffix.lower() in MODEL_FILE_KINDS and not folder.is_dir():
        if not folder.is_file():
            raise DoclrpError(f"no model file at {folder}: check the path")
        imported = load_model_file(folder, vocab, labels, device=device)
        check_finite_parameters(imported.model, str(folder))
        return imported
    if folder.suffix.lower() == SKOPS_SUFFIX and not folder.is_dir():
        pipeline = load_skops_model(folder, device=device)
        check_finite_parameters(pipeline.model, str(folder))
        return pipeline
    if not folder.is_dir():
        raise DoclrpError(f"no model folder at {folder}: check the path or train one (doclrp train)")
    if prompt is not None:
        if not labels:
            raise DoclrpError("a language model as a classifier needs labels: the words whose scores it gives")
        if not (folder / "config.json").is_file() or not _is_hugging_face(folder):
            raise DoclrpError(f"{folder} is not a Hugging Face model folder: a prompt and labels need a causal "
                              "language model")
        pipeline = load_prompted_classifier(folder, prompt, labels, chat=chat, label_prefix=label_prefix,
                                            device=device, allow_pickle=allow_pickle)
    elif labels is not None:
        raise DoclrpError(f"{folder} names its own outputs: labels are given for a Keras or ONNX model file, or "
                          "with a prompt for a language model")
    elif _is_hugging_face(folder):
        pipeline = load_hf_pipeline(folder, device=device, allow_pickle=allow_pickle)
    else:
        pipeline = load_pipeline(folder, device=device)
    check_finite_parameters(pipeline.model, str(folder))
    return pipeline


def check_finite_parameters(model: torch.nn.Module, name: str = "the model") -> None:
    """Refuse a model with a NaN or infinite weight, naming the first such parameter.

    >>> layer = torch.nn.Linear(2, 2)
    >>> check_finite_parameters(layer)
    >>> with torch.no_grad():
    ...     layer.bias[1] = float("nan")
    >>> check_finite_parameters(layer, "tiny")
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: tiny has weights that are not finite (bias holds nan): its outputs would be meaningless; retrain it or fix the weights
    """
    for parameter_name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = tensor.detach()[~torch.isfinite(tensor.detach())].flatten()[0].item()
            raise DoclrpError(f"{name} has weights that are not finite ({parameter_name} holds {bad}): its outputs "
                              "would be meaningless; retrain it or fix the weights")
