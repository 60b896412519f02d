"""Saving and loading a :class:`TextPipeline` as a folder of JSON and safetensors.

>>> import tempfile
>>> from doclrp.models import BowMLP, TextPipeline, TfidfEncoder, load_pipeline, save_pipeline
>>> encoder = TfidfEncoder.fit(["good fun", "bad dull"], min_df=1)
>>> pipeline = TextPipeline(BowMLP(encoder.n_features, hidden=(4,), n_outputs=2), encoder, ["neg", "pos"])
>>> folder = save_pipeline(pipeline, tempfile.mkdtemp() + "/model")
>>> sorted(p.name for p in folder.iterdir())
['config.json', 'model.safetensors', 'tfidf.json']
>>> load_pipeline(folder).labels
['neg', 'pos']

The folder holds ``config.json`` (format version, doclrp version, task,
labels, model type and constructor arguments, encoder type and settings,
metrics), ``model.safetensors`` (the weights) and the encoder's table
(``vocab.json`` or ``tfidf.json``). Nothing is pickled: loading a folder
from elsewhere runs no code from it. Every problem loading it is one
DoclrpError line naming the file and the fix.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from doclrp._atomic import staged_folder
from doclrp.errors import DoclrpError
from doclrp.models.encoders import ENCODER_TYPES, IdEncoder, TfidfEncoder
from doclrp.models.pipeline import TextPipeline
from doclrp.models.registry import build_model, model_config

__all__ = ["save_pipeline", "load_pipeline", "FORMAT_VERSION"]

FORMAT = "doclrp-text-pipeline"
FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"


def _version() -> str:
    try:
        return metadata.version("doclrp")
    except metadata.PackageNotFoundError:
        return "unknown"


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")


def save_pipeline(pipeline: TextPipeline, folder: str | Path) -> Path:
    """Write ``pipeline`` to ``folder`` (created; a previous pipeline there is
    replaced) and return the folder's path.

    The files are written to a temporary folder next to ``folder`` and renamed
    into place, so a failure leaves either the old folder or none, never a
    mix. A folder that exists but does not hold a pipeline is not touched.
    """
    folder = Path(folder)
    if folder.exists() and not (folder.is_dir() and (not any(folder.iterdir()) or _is_pipeline(folder))):
        raise DoclrpError(f"{folder} exists and is not a saved doclrp pipeline: choose another folder or remove it")
    encoder = pipeline.encoder
    if not isinstance(encoder, (IdEncoder, TfidfEncoder)):
        raise DoclrpError(f"a pipeline with a {type(encoder).__name__} is not saved with save_pipeline (it saves "
                          "IdEncoder and TfidfEncoder pipelines); save a scikit-learn pipeline as a .skops file")
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "doclrp_version": _version(),
        "task": pipeline.task,
        "labels": pipeline.labels,
        "model": model_config(pipeline.model),
        "encoder": {"type": encoder.encoder_type, "config": encoder.config},
        "metrics": pipeline.metrics,
    }
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in pipeline.model.state_dict().items()}

    folder.parent.mkdir(parents=True, exist_ok=True)
    with staged_folder(folder) as staging:
        _write_json(staging / CONFIG, config)
        _write_json(staging / encoder.state_file, encoder.state())
        save_file(tensors, str(staging / WEIGHTS), metadata={"format": "pt"})
    return folder


def _is_pipeline(folder: Path) -> bool:
    # Only our own config: a Hugging Face model folder also has a config.json.
    try:
        return json.loads((folder / CONFIG).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise DoclrpError(f"{path} is missing: {what}; save the pipeline again with save_pipeline")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DoclrpError(f"{path} is not valid JSON ({error}): the file is damaged; save the pipeline again") from None


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise DoclrpError(f"{path} is missing: the folder holds no weights; save the pipeline again")
    try:
        return load_file(str(path))
    except Exception as error:  # safetensors raises SafetensorError, OSError, ... depending on the damage
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DoclrpError(f"{path} is corrupted or truncated ({reason}): save the pipeline again") from None


def load_pipeline(folder: str | Path, device: str | torch.device = "cpu") -> TextPipeline:
    """The pipeline saved in ``folder``, its model in eval mode on ``device``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DoclrpError(f"no pipeline folder at {folder}: check the path or train one first (doclrp train)")
    config = _read_json(folder / CONFIG, "it describes the model")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise DoclrpError(f"{folder / CONFIG} is not a doclrp text pipeline config: save one with save_pipeline")
    if config.get("format_version") != FORMAT_VERSION:
        raise DoclrpError(
            f"{folder / CONFIG} has format_version {config.get('format_version')!r}, this doclrp reads "
            f"{FORMAT_VERSION}: use the doclrp version that wrote it ({config.get('doclrp_version')})"
        )
    try:
        encoder_cls = ENCODER_TYPES[config["encoder"]["type"]]
        state = _read_json(folder / encoder_cls.state_file, "it holds the encoder's vocabulary")
        if not isinstance(state, dict):  # else its TypeError would be blamed on config.json below
            raise DoclrpError(f"{folder / encoder_cls.state_file} holds a JSON {type(state).__name__}, not the "
                              "encoder's object: the file is damaged; save the pipeline again")
        encoder = encoder_cls.from_parts(config["encoder"]["config"], state)
        model = build_model(config["model"])
        labels, task, metrics = config["labels"], config["task"], config.get("metrics", {})
    except (KeyError, TypeError) as error:
        raise DoclrpError(f"{folder / CONFIG} lacks or mistypes entry {error}: save the pipeline again") from None

    tensors = _load_weights(folder / WEIGHTS)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise DoclrpError(
            f"{folder / WEIGHTS} does not match {CONFIG}: missing {missing[:3]}, unexpected {unexpected[:3]}; "
            "the files come from different models"
        )
    for name, tensor in expected.items():  # the model's order: the first layer that differs is named
        if tensors[name].shape != tensor.shape:
            raise DoclrpError(
                f"{folder / WEIGHTS} does not match {CONFIG}: {name} has shape {tuple(tensors[name].shape)}, "
                f"the config builds {tuple(tensor.shape)}; the files come from different models"
            )
    model.load_state_dict(tensors)
    model.to(device).eval()
    return TextPipeline(model, encoder, labels, task, metrics)
