"""Training defaults per device and for every text model: the one place the library and ``doclrp train`` read them.

>>> TEXT_DEFAULTS["max_len"]
400
>>> hf_defaults("cpu")["max_len"], hf_defaults("cuda")["max_len"]
(128, 256)

Text models (:func:`doclrp.training.train`) take their architecture, epochs and
learning rate from their :class:`~doclrp.models.registry.ModelKind` (declared next to each
class, in :mod:`doclrp.models.text`) and the rest from :data:`TEXT_DEFAULTS`;
Hugging Face fine-tuning (:func:`doclrp.training.train_hf`) from :data:`HF_DEFAULTS`,
with shorter inputs and fewer epochs on CPU when ``doclrp train`` asks
:func:`hf_defaults`; image models (:func:`doclrp.training.train_image_model`) from
:data:`IMAGE_DEFAULTS`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TEXT_DEFAULTS", "HF_DEFAULTS", "HF_CPU_DEFAULTS", "IMAGE_DEFAULTS", "hf_defaults"]

#: Text models, every kind: batch size and words per document (id models).
TEXT_DEFAULTS: dict[str, Any] = {"batch_size": 32, "max_len": 400}

#: Fine-tuning a Hugging Face model (tokens per text in ``max_len``), as on a GPU.
HF_DEFAULTS: dict[str, Any] = {"epochs": 3, "lr": 1e-4, "batch_size": 16, "max_len": 256}

#: On CPU fine-tuning must stay feasible: shorter inputs and fewer epochs unless asked.
HF_CPU_DEFAULTS: dict[str, Any] = {**HF_DEFAULTS, "epochs": 2, "max_len": 128}

#: Image models: Adam with weight decay on cross-entropy.
IMAGE_DEFAULTS: dict[str, Any] = {"epochs": 15, "lr": 1e-3, "batch_size": 64, "weight_decay": 1e-4}


def hf_defaults(device: str) -> dict[str, Any]:
    """Fine-tuning settings for ``device``: :data:`HF_CPU_DEFAULTS` on ``"cpu"``, else :data:`HF_DEFAULTS`.

    >>> hf_defaults("cpu")["epochs"], hf_defaults("auto")["epochs"]
    (2, 3)
    """
    return dict(HF_CPU_DEFAULTS if device == "cpu" else HF_DEFAULTS)
