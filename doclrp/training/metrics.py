"""How well a trained model does: the one place for accuracy, macro-F1, RMSE and R².

>>> import torch
>>> outputs = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
>>> prediction_metrics("classification", outputs, torch.tensor([0, 1, 1]), ["neg", "pos"], "test")
{'test_accuracy': 0.6666666865348816, 'test_macro_f1': 0.6666666666666666}
>>> accuracy(torch.nn.Identity(), outputs, torch.tensor([0, 1, 1]))
0.6666666666666666

Text training (:mod:`doclrp.training.text`) and Hugging Face fine-tuning
(:mod:`doclrp.training.hf`) score their outputs with :func:`prediction_metrics`;
image models are scored with :func:`accuracy`, which runs the model itself.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["prediction_metrics", "summarize_metrics", "accuracy"]


def prediction_metrics(
    task: str, outputs: torch.Tensor, targets: torch.Tensor, labels: list[str], prefix: str
) -> dict[str, Any]:
    """Accuracy and macro-F1 (classification) or per-output RMSE and R² (regression), keys ``prefix_...``.

    ``outputs``: (batch, outputs) logits or predictions; ``targets``: class indices
    (batch,) or values (batch, outputs); ``labels`` name the classes or outputs.

    >>> import torch
    >>> metrics = prediction_metrics("regression", torch.tensor([[1.0], [3.0]]), torch.tensor([[1.0], [2.0]]),
    ...                              ["score"], "val")
    >>> metrics["val_r2"]
    {'score': -1.0}
    """
    if task == "classification":
        predicted = outputs.argmax(dim=1)
        f1 = []
        for c in range(len(labels)):
            tp = int(((predicted == c) & (targets == c)).sum())
            denominator = int((predicted == c).sum() + (targets == c).sum())
            f1.append(2 * tp / denominator if denominator else 0.0)
        return {
            f"{prefix}_accuracy": float((predicted == targets).float().mean()),
            f"{prefix}_macro_f1": sum(f1) / len(f1),
        }
    error = outputs.double() - targets.double()
    rmse = error.pow(2).mean(dim=0).sqrt()
    variance = targets.double().var(dim=0, unbiased=False)
    r2 = 1 - error.pow(2).mean(dim=0) / variance.clamp_min(1e-12)
    return {
        f"{prefix}_rmse": dict(zip(labels, rmse.tolist())),
        f"{prefix}_r2": dict(zip(labels, r2.tolist())),
    }


def summarize_metrics(metrics: dict[str, Any], prefix: str) -> str:
    """One line of the metrics whose keys start with ``prefix``, for progress messages.

    >>> summarize_metrics({"test_accuracy": 0.5, "test_r2": {"a": 0.25}, "n_test": 4}, "test")
    'accuracy 0.5000; r2 a 0.250'
    """
    parts = []
    for key, value in metrics.items():
        if key.startswith(prefix):
            shown = ", ".join(f"{k} {v:.3f}" for k, v in value.items()) if isinstance(value, dict) else f"{value:.4f}"
            parts.append(f"{key.removeprefix(prefix + '_')} {shown}")
    return "; ".join(parts)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    """Fraction of images whose arg-max output equals the label (model put in eval mode).

    >>> import torch
    >>> accuracy(torch.nn.Identity(), torch.eye(3), torch.tensor([0, 1, 1]))
    0.6666666666666666
    """
    model.eval()
    correct = sum(
        int((model(x[i : i + batch_size]).argmax(dim=1) == y[i : i + batch_size]).sum())
        for i in range(0, len(x), batch_size)
    )
    return correct / len(y)
