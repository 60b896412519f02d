"""Affine layers seen as explicit maps ``z = W x + b``, the object every LRP rule works on.

A rule needs three things of a Linear or Conv layer: its forward with a *modified*
weight (``|W|``, ``W⁺``, ``W²``…), the vector-Jacobian product of that forward
with respect to its input, and its bias laid out like the output. ``AffineMap``
gives exactly these without touching the module, and can fold a following
BatchNorm into a virtual weight/bias pair (the canonizer), so the model itself is
never rewritten.

>>> import torch
>>> m = AffineMap.of(torch.nn.Linear(3, 2))
>>> x = torch.randn(4, 3)
>>> torch.allclose(m.forward(x) + m.bias_like(torch.zeros(4, 2)), m.module(x))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["AffineMap", "is_affine_layer", "AFFINE_LAYERS"]

AFFINE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def is_affine_layer(module: nn.Module) -> bool:
    """True for the layers whose rules need an explicit weight (Linear, Conv1d/2d/3d)."""
    return isinstance(module, AFFINE_LAYERS)


@dataclass(frozen=True)
class AffineMap:
    """``z = forward(x, weight) + bias`` for a Linear/Conv module, weight and bias possibly virtual."""

    module: nn.Module
    weight: Tensor
    bias: Tensor | None

    @classmethod
    def of(cls, module: nn.Module) -> "AffineMap":
        return cls(module, module.weight, module.bias)

    # -- forward and its transpose -------------------------------------------------
    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """The layer without bias, with ``weight`` in place of its own."""
        weight = self.weight if weight is None else weight
        if isinstance(self.module, nn.Linear):
            return F.linear(x, weight)
        return self.module._conv_forward(x, weight, None)

    def vjp(self, grad: Tensor, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """``(∂ forward(x, weight) / ∂x)ᵀ · grad``: the transposed layer applied to ``grad``."""
        weight = self.weight if weight is None else weight
        if isinstance(self.module, nn.Linear):
            return grad.matmul(weight)
        conv = self.module
        if conv.padding_mode == "zeros" and not isinstance(conv.padding, str):
            dims = weight.dim() - 2
            return torch.ops.aten.convolution_backward(
                grad, x, weight, None, conv.stride, conv.padding, conv.dilation,
                False, [0] * dims, conv.groups, [True, False, False],
            )[0]
        # 'same' padding or reflect/circular padding: let autograd transpose the exact forward.
        with torch.enable_grad():
            xd = x.detach().requires_grad_(True)
            return torch.autograd.grad(self.forward(xd, weight), xd, grad)[0]

    def bias_like(self, z: Tensor) -> Tensor:
        """The bias broadcast to the layout of the output ``z`` (zeros if there is none)."""
        if self.bias is None:
            return torch.zeros_like(z)
        if isinstance(self.module, nn.Linear):
            return self.bias.expand_as(z)
        shape = [1, -1] + [1] * (z.dim() - 2)
        return self.bias.view(shape).expand_as(z)

    # -- canonizer -------------------------------------------------------------------
    def fold_batchnorm(self, bn: nn.modules.batchnorm._BatchNorm, z: Tensor) -> "AffineMap | None":
        """This layer followed by ``bn`` as one affine map, or None where they do not line up.

        ``bn(z) = a·z + c`` per channel, so the pair is ``(a·W) x + (a·b + c)``. In
        training mode the batch statistics of ``z`` are used, held constant: the
        same normalizer the forward pass applied.
        """
        out_channels = self.weight.shape[0]
        if bn.num_features != out_channels or z.dim() < 2 or z.shape[1] != out_channels:
            return None
        if isinstance(self.module, nn.Linear) and z.dim() != 2:
            return None
        scale, shift = batchnorm_affine(bn, z)
        weight = self.weight * scale.view([-1] + [1] * (self.weight.dim() - 1))
        bias = shift if self.bias is None else scale * self.bias + shift
        return AffineMap(self.module, weight, bias)


def batchnorm_affine(bn: nn.modules.batchnorm._BatchNorm, z: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel ``(a, c)`` with ``bn(z) = a·z + c`` exactly as ``bn`` computes it now."""
    use_batch_stats = bn.training or bn.running_mean is None
    if use_batch_stats:
        dims = [d for d in range(z.dim()) if d != 1]
        mean = z.mean(dims)
        var = z.var(dims, unbiased=False)
    else:
        mean, var = bn.running_mean, bn.running_var
    scale = torch.rsqrt(var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale.detach().to(z.dtype), shift.detach().to(z.dtype)
