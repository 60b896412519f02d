"""Target selection: which combination of outputs an attribution explains.

Every target becomes a weight tensor ``(batch, n_outputs)``; the explained value is
``Σ_k weight_k · logit_k``. One output is a one-hot row, a contrast is ``+1`` for a
class and ``−1/(n−1)`` for the others, a regressor's several outputs any weights.

>>> import torch
>>> logits = torch.tensor([[1.0, 3.0, 2.0], [0.0, -1.0, 5.0]])
>>> target_weights(None, logits).argmax(1).tolist()
[1, 2]
>>> target_weights([0, 1], logits).tolist()
[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from ..errors import DoclrpError

__all__ = ["target_weights", "contrast_weights"]

TargetSpec = None | int | Sequence[int] | Tensor | Callable[[Tensor], object]


def contrast_weights(index: int, n_outputs: int) -> Tensor:
    """Weights of "output ``index`` against the mean of the others".

    >>> contrast_weights(0, 3).tolist()
    [1.0, -0.5, -0.5]
    """
    if n_outputs < 2:
        raise DoclrpError("a contrast needs at least two outputs")
    weights = torch.full((n_outputs,), -1.0 / (n_outputs - 1))
    weights[index] = 1.0
    return weights


def target_weights(target: TargetSpec, logits: Tensor) -> Tensor:
    """``(batch, n)`` weights for ``target`` on ``logits`` of shape ``(batch, n)`` or ``(batch,)``."""
    flat = logits.reshape(logits.shape[0], -1) if logits.dim() > 1 else logits.reshape(-1, 1)
    batch, n = flat.shape
    if callable(target) and not isinstance(target, Tensor):
        target = target(logits.detach())
    if target is None:
        if n == 1:
            return torch.ones_like(flat)
        return _one_hot(flat.argmax(1), flat)
    if isinstance(target, int) and not isinstance(target, bool):
        return _one_hot(torch.full((batch,), _check_index(target, n), device=flat.device), flat)
    tensor = torch.as_tensor(target, device=flat.device)
    if tensor.is_floating_point():
        if tensor.shape == (n,):
            tensor = tensor.expand(batch, n)
        if tensor.shape != (batch, n):
            raise DoclrpError(
                f"target weights of shape {tuple(tensor.shape)} do not fit outputs of shape {(batch, n)}; "
                f"give ({n},) or ({batch}, {n})"
            )
        return tensor.to(flat.dtype)
    if tensor.dim() == 0:
        return target_weights(int(tensor), logits)
    if tensor.shape != (batch,):
        raise DoclrpError(f"{tensor.numel()} target indices for a batch of {batch}; give one per sample")
    for index in tensor.tolist():
        _check_index(index, n)
    return _one_hot(tensor.long(), flat)


def _check_index(index: int, n: int) -> int:
    if not -n <= index < n:
        raise DoclrpError(f"target index {index} is out of range for {n} outputs")
    return index % n


def _one_hot(index: Tensor, like: Tensor) -> Tensor:
    weights = torch.zeros_like(like)
    weights.scatter_(1, index.view(-1, 1), 1.0)
    return weights
