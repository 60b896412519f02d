"""Hooks of the other layers: element-wise modules under ``Pass``, a final Softmax (skipped so
that logits are explained), and the refusal of a layer no rule covers; the parameter-free
modules that need no hook at all.

>>> from torch import nn
>>> from doclrp.core.rules import Pass
>>> import torch
>>> x = torch.randn(2, 3, requires_grad=True)
>>> hook = elementwise_hook(Pass(), "act")
>>> bool(torch.equal(hook(nn.Tanh(), (x,), {}, torch.tanh(x)), torch.tanh(x)))
True
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ...errors import DoclrpError
from ..composites import Composite
from ..rules import Pass
from ..session import ForwardHook, Session, module_path

__all__ = ["PASSIVE_MODULES", "OUTPUT_NORMALIZERS", "elementwise_hook", "softmax_hook", "refuse_hook"]

# Parameter-free modules whose plain gradient already is LRP-0 (linear maps, max
# selection) or the identity rule (ReLU family): relevance = input ⊙ gradient holds.
PASSIVE_MODULES = (
    nn.Sequential, nn.ModuleList, nn.ModuleDict, nn.Identity, nn.Flatten, nn.Unflatten,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.Threshold,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.ZeroPad1d, nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d,
    nn.PixelShuffle, nn.PixelUnshuffle, nn.ChannelShuffle,
)

OUTPUT_NORMALIZERS = (nn.Softmax, nn.LogSoftmax, nn.Softmax2d)


def elementwise_hook(rule: Pass, name: str) -> ForwardHook:
    def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Tensor | None:
        x = args[0] if args else next(iter(kwargs.values()), None)
        if not (isinstance(x, Tensor) and x.requires_grad and isinstance(output, Tensor)):
            return None
        if output.shape != x.shape:
            raise DoclrpError(f"{rule!r} on '{module_path(name)}' ({type(module).__name__}): "
                              "needs an element-wise module")
        return rule.apply(x, output)

    return hook


def softmax_hook(session: Session, name: str) -> ForwardHook:
    def hook(module: nn.Module, args: tuple[Any, ...], output: Tensor) -> None:
        session.softmax_outputs.append((output, args[0], name))
        return None

    return hook


def refuse_hook(name: str, composite: Composite) -> ForwardHook:
    def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        kind = "has parameters but" if any(True for _ in module.parameters(recurse=False)) else "is unknown and"
        raise DoclrpError(
            f"module '{module_path(name)}' ({type(module).__name__}) {kind} no rule of composite "
            f"'{composite.name}' covers it; map it in a Composite, e.g. "
            f"Composite({{'{name}': Pass()}}) for an element-wise layer or Gradient() for a linear, "
            "parameter-free one"
        )

    return hook
