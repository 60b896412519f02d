"""One entry point for model folders: doclrp pipelines and Hugging Face folders alike.

>>> from doclrp.models.loading import load_model, pretrained_path
>>> load_model(pretrained_path()).labels   # doctest: +SKIP
['business', 'entertainment', 'politics', 'sport', 'tech']
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import DoclrpError
from .hf import load_hf_pipeline
from .io import load_pipeline

__all__ = ["load_model", "pretrained_path", "check_device", "PRETRAINED"]

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


def load_model(folder: str | Path, device: str = "cpu"):
    """A text pipeline (``TextPipeline`` or the Hugging Face adapter) from ``folder`` on ``device``."""
    folder = Path(folder)
    check_device(device)
    if not folder.is_dir():
        raise DoclrpError(f"no model folder at {folder}: check the path or train one (doclrp train)")
    if _is_hugging_face(folder):
        return load_hf_pipeline(folder, device=device)
    return load_pipeline(folder, device=device)
