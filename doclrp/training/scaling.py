"""Regression targets standardized for training, the scaling folded back into the model afterwards.

>>> import torch
>>> from torch import nn
>>> targets = torch.tensor([[1.0], [3.0]])
>>> scaling = TargetScaling.fit(targets)
>>> scaling.apply(targets).flatten().tolist()
[-1.0, 1.0]
>>> head = nn.Linear(2, 1)
>>> with torch.no_grad():
...     _ = head.weight.fill_(0.5), head.bias.fill_(-1.0)
>>> scaling.fold_into(head)
>>> head.weight.tolist(), head.bias.tolist()
([[0.5, 0.5]], [1.0])

Training on standardized targets keeps the loss on one scale whatever the units;
folding ``std·y + mean`` into the last Linear layer afterwards makes the saved model
predict in the targets' own units, so LRP relevance sums to them. Text training
(:mod:`doclrp.training.text`) and Hugging Face fine-tuning (:mod:`doclrp.training.hf`)
both use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["TargetScaling"]

#: Smallest standard deviation divided by: a constant target does not blow up.
MIN_STD = 1e-8


@dataclass(frozen=True)
class TargetScaling:
    """Per-output ``mean`` and ``std`` (population) of the training targets, shape (outputs,)."""

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, targets: torch.Tensor) -> TargetScaling:
        """Mean and standard deviation over the batch of ``targets`` (batch, outputs).

        >>> import torch
        >>> TargetScaling.fit(torch.tensor([[2.0], [2.0]])).std > 0  # a constant target: MIN_STD
        tensor([True])
        """
        return cls(targets.mean(dim=0), targets.std(dim=0, unbiased=False).clamp_min(MIN_STD))

    def apply(self, targets: torch.Tensor) -> torch.Tensor:
        """``(targets - mean) / std``: what the model is trained to predict.

        >>> import torch
        >>> TargetScaling(torch.tensor([1.0]), torch.tensor([2.0])).apply(torch.tensor([[5.0]])).tolist()
        [[2.0]]
        """
        return (targets - self.mean) / self.std

    def fold_into(self, layer: nn.Linear) -> None:
        """Make ``layer`` (the model's last Linear) predict ``std·y + mean`` instead of the standardized ``y``.

        >>> import torch
        >>> layer = torch.nn.Linear(1, 1)
        >>> TargetScaling(torch.tensor([1.0]), torch.tensor([2.0])).fold_into(layer)
        """
        with torch.no_grad():
            layer.bias.mul_(self.std.to(layer.bias)).add_(self.mean.to(layer.bias))
            layer.weight.mul_(self.std.to(layer.weight).unsqueeze(1))
