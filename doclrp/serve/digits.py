"""The handwriting demo of the LRP Toolbox: a digit drawn on the page, its prediction and
its pixel relevance.

doclrp ships no digits model, so the first request trains the image core's
:class:`~doclrp.models.image.ImageMLP` on scikit-learn's 8×8 digits (seeded, about a
second on a CPU) and keeps it in memory. Pixels are 0 (paper) to 1 (ink), as in training.
Relevance comes from the same resolver as text: ``resolve_method(name, **params)``, and
``epsilon-gamma-box`` gets the pixel bounds 0 and 1 unless told otherwise.

>>> digits = DigitsModel()
>>> reply = digits.explain([[0.0] * 8] * 8, method="epsilon-gamma-box")
>>> len(reply["relevance"]), len(reply["relevance"][0]), reply["prediction"]["label"] in digits.labels
(8, 8, True)
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from doclrp.errors import DoclrpError

__all__ = ["DigitsModel", "SIDE", "HIDDEN", "EPOCHS"]

#: Pixels per side of the model's input (scikit-learn's digits).
SIDE = 8
#: Hidden layer sizes and training epochs of the demo model (trained in a few seconds on a CPU).
HIDDEN = (128,)
EPOCHS = 15


class DigitsModel:
    """The demo's model, trained on first use, with a lock for explanations."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.labels = [str(d) for d in range(10)]
        self.lock = threading.Lock()
        self._model: Any = None
        self.test_accuracy: float | None = None

    def model(self) -> Any:
        """The trained model (call with :attr:`lock` held)."""
        if self._model is None:
            # Imported here: training needs scikit-learn's data, only when the digits page is used.
            import torch

            from doclrp.datasets import load_digits_images
            from doclrp.models.image import ImageMLP
            from doclrp.training.image import train_image_model
            from doclrp.training.metrics import accuracy

            data = load_digits_images()
            generator_state = torch.random.get_rng_state()
            torch.manual_seed(0)
            model = train_image_model(ImageMLP(in_shape=(1, SIDE, SIDE), hidden=HIDDEN), data.x_train, data.y_train, epochs=EPOCHS)
            torch.random.set_rng_state(generator_state)  # leave the process's random state as it was
            self.test_accuracy = float(accuracy(model, data.x_test, data.y_test))
            self._model = model.to(self.device)
        return self._model

    def explain(self, pixels: Sequence[Sequence[float]], method: str | None = None, params: dict[str, Any] | None = None,
                target: str | int = "predicted") -> dict[str, Any]:
        """Prediction and pixel relevance of an ``SIDE``×``SIDE`` image (rows of numbers in [0, 1])."""
        import torch

        from doclrp.core.methods import resolve_method
        from doclrp.text.explanation import Prediction

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
            index = prediction.index if target == "predicted" else _class_index(target, self.labels)
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
