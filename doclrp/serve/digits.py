"""The handwriting demo of the LRP Toolbox: a digit drawn on the page, its prediction and
its pixel relevance.

The model is the image core's :class:`~doclrp.models.image.ImageMLP` trained on
scikit-learn's 8×8 digits (:func:`train_digits_model`), shipped as
``doclrp/pretrained/digits-mlp`` (config.json and 40 KB of safetensors; ``python -m
doclrp.serve.digits`` writes it again). Without that folder the first request trains the
model (seeded, seconds on a CPU) and keeps it in memory. Pixels are 0 (paper) to 1 (ink),
as in training.
Relevance comes from the same resolver as text: ``resolve_method(name, **params)``, and
``epsilon-gamma-box`` gets the pixel bounds 0 and 1 unless told otherwise.

>>> digits = DigitsModel()
>>> reply = digits.explain([[0.0] * 8] * 8, method="epsilon-gamma-box")
>>> len(reply["relevance"]), len(reply["relevance"][0]), reply["prediction"]["label"] in digits.labels
(8, 8, True)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from doclrp._atomic import write_bytes, write_text
from doclrp.core.methods import resolve_method
from doclrp.datasets import load_digits_images
from doclrp.errors import DoclrpError
from doclrp.models.image import ImageMLP
from doclrp.models.registry import build_model, model_config
from doclrp.text.explanation import Prediction
from doclrp.training.image import train_image_model
from doclrp.training.metrics import accuracy

__all__ = ["DigitsModel", "SIDE", "HIDDEN", "EPOCHS", "SHIPPED", "train_digits_model", "save_digits_model"]

#: The shipped model's folder.
SHIPPED = Path(__file__).resolve().parent.parent / "pretrained" / "digits-mlp"

#: Pixels per side of the model's input (scikit-learn's digits).
SIDE = 8
#: Hidden layer sizes and training epochs of the demo model (trained in a few seconds on a CPU).
HIDDEN = (128,)
EPOCHS = 15


class DigitsModel:
    """The demo's model (shipped, or trained on first use) with a lock for explanations."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.labels = [str(d) for d in range(10)]
        self.lock = threading.Lock()
        self._model: Any = None
        self.test_accuracy: float | None = None

    def model(self) -> Any:
        """The model: the shipped one, else trained now (call with :attr:`lock` held)."""
        if self._model is None:
            if (SHIPPED / "model.safetensors").is_file():
                model, self.test_accuracy = _load(SHIPPED)
            else:
                model, self.test_accuracy = train_digits_model()
            self._model = model.to(self.device).eval()
        return self._model

    def explain(self, pixels: Sequence[Sequence[float]], method: str | None = None, params: dict[str, Any] | None = None,
                target: str | int = "predicted") -> dict[str, Any]:
        """Prediction and pixel relevance of an ``SIDE``×``SIDE`` image (rows of numbers in [0, 1])."""
        if len(pixels) != SIDE or any(len(row) != SIDE for row in pixels):
            raise DoclrpError(f"pixels must be {SIDE} rows of {SIDE} numbers")
        image = torch.tensor([[list(map(float, row)) for row in pixels]], dtype=torch.float32)
        if not torch.isfinite(image).all() or image.min() < 0 or image.max() > 1:
            raise DoclrpError("pixels must be numbers from 0 (paper) to 1 (ink)")
        name = method or "epsilon-gamma-box"
        params = dict(params or {})
        if name == "epsilon-gamma-box":
            params.setdefault("low", 0.0)
            params.setdefault("high", 1.0)
        attributor = resolve_method(name, **params)
        with self.lock:
            model = self.model()
            inputs = image[None].to(self.device)  # (1, 1, SIDE, SIDE)
            with torch.no_grad():
                logits = model(inputs)[0]
            prediction = Prediction.from_logits(logits.cpu(), self.labels)
            index = int(prediction.index or 0) if target == "predicted" else _class_index(target, self.labels)
            attribution = attributor.attribute(model, inputs, index)
        relevance = attribution.relevance[0, 0].detach().cpu().double()
        return {"prediction": {"label": prediction.label, "index": prediction.index,
                               "probabilities": prediction.probabilities},
                "target": self.labels[index], "method": {"name": name, "params": _numbers(params)},
                "relevance": relevance.tolist(), "explained": float(attribution.target_output[0]),
                "delta": float(attribution.delta[0]), "test_accuracy": self.test_accuracy}


def _class_index(target: str | int, labels: list[str]) -> int:
    key = str(target)
    if key not in labels:
        raise DoclrpError(f"unknown digit {target!r}; choose 'predicted' or one of {', '.join(labels)}")
    return labels.index(key)


def _numbers(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (int, float)) or v is None else None for k, v in params.items()}


def train_digits_model() -> tuple[Any, float]:
    """The demo's model trained on scikit-learn's digits (seeded), and its test accuracy."""
    data = load_digits_images()
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    try:
        model = train_image_model(ImageMLP(in_shape=(1, SIDE, SIDE), hidden=HIDDEN), data.x_train, data.y_train,
                                  epochs=EPOCHS)
    finally:
        torch.random.set_rng_state(state)  # leave the process's random state as it was
    return model, float(accuracy(model, data.x_test, data.y_test))


def save_digits_model(folder: str | Path = SHIPPED) -> Path:
    """Train the demo's model and write it to ``folder`` (config.json, model.safetensors)."""
    model, test_accuracy = train_digits_model()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_bytes(folder / "model.safetensors", save(tensors))
    config = {"model": model_config(model), "labels": [str(d) for d in range(10)], "test_accuracy": test_accuracy,
              "trained_on": "scikit-learn load_digits (8x8), doclrp.datasets.load_digits_images split",
              "epochs": EPOCHS, "seed": 0}
    write_text(folder / "config.json", json.dumps(config, indent=1) + "\n")
    return folder


def _load(folder: Path) -> tuple[Any, float]:
    config = json.loads((folder / "config.json").read_text())
    model = build_model(config["model"])
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    return model, float(config["test_accuracy"])


if __name__ == "__main__":
    print(save_digits_model())
