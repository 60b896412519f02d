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

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.modules.conv import _ConvNd

from ..registry import Group, Registry

__all__ = ["AffineMap", "SparseConv1dMap", "restrict_to_nonzero", "keeps_output", "one_thread", "is_affine_layer",
           "is_dense", "AFFINE_LAYERS", "DenseAdapter", "DENSE_ADAPTERS", "register_dense_adapter", "dense_adapter"]

# A Conv1d whose output gradient is nonzero at most at this fraction of its positions
# (max-pool over time leaves one per channel) runs its rule on those positions alone.
SPARSE_DENSITY = 1 / 32
# Devices where gathering the active positions beats a full convolution (measured with
# benchmarks/speed.py: on GPUs the dense kernels win).
SPARSE_DEVICES = ("cpu",)
# Elements of the (positions, kernel, in_channels) blocks the sparse path builds at once.
_SPARSE_CHUNK = 1 << 22

AFFINE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _any_module(module: nn.Module) -> bool:
    return True


@dataclass(frozen=True)
class DenseAdapter:
    """How to read a layer of another library that computes ``x Wᵀ + b`` as ``nn.Linear`` does,
    with its weight stored some other way: ``weight(module)`` gives it as ``(out, in)``;
    ``accepts(module)`` says whether this instance is laid out so.

    A layer declared so is dense to the engine: it gets the ``nn.Linear`` rule of a composite.

    >>> from torch import nn
    >>> class Transposed(nn.Module):  # y = x W + b, W stored (in, out)
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.weight, self.bias = nn.Parameter(torch.ones(3, 2)), nn.Parameter(torch.zeros(2))
    >>> register_dense_adapter(Transposed, DenseAdapter(weight=lambda m: m.weight.t()))
    >>> is_dense(Transposed()), AffineMap.of(Transposed()).weight.shape
    (True, torch.Size([2, 3]))
    """

    weight: Callable[[nn.Module], Tensor]
    accepts: Callable[[nn.Module], bool] = _any_module


#: Qualified class name (``"package.module.Class"``) → its adapter: the entry points
#: ``doclrp.dense_adapters`` (GPT-2's ``Conv1D``, declared in :mod:`doclrp.models.hf.layouts`, so
#: that the core imports no other library and such a layer is read whatever the composite), and
#: those registered with :func:`register_dense_adapter`. An adapter is imported when a layer of
#: its class is first met.
DENSE_ADAPTERS: Registry[DenseAdapter] = Registry("dense adapter", Group.DENSE_ADAPTERS)
# class -> its adapter or None: one look-up per layer and call, on the hot path
_ADAPTER_OF_TYPE: dict[type, DenseAdapter | None] = {}


def register_dense_adapter(cls: type | str, adapter: DenseAdapter) -> None:
    """Declare ``cls`` (a class, or its qualified name ``"package.module.Class"``, which needs no
    import of its library) a dense layer read through ``adapter``; before attaching rules to a
    model that has it."""
    DENSE_ADAPTERS.add(cls if isinstance(cls, str) else _qualified(cls), adapter)
    _ADAPTER_OF_TYPE.clear()


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _adapter_of_type(cls: type) -> DenseAdapter | None:
    try:
        return _ADAPTER_OF_TYPE[cls]
    except KeyError:
        pass
    names = (_qualified(base) for base in cls.__mro__)
    adapter = next((DENSE_ADAPTERS[n] for n in names if n in DENSE_ADAPTERS), None)
    _ADAPTER_OF_TYPE[cls] = adapter
    return adapter


def dense_adapter(module: nn.Module) -> DenseAdapter | None:
    """The declared adapter that reads ``module`` as a Linear layer, or None (also for
    ``nn.Linear`` itself, which needs none)."""
    if not isinstance(module, nn.Module) or isinstance(module, AFFINE_LAYERS):
        return None
    adapter = _adapter_of_type(type(module))
    return adapter if adapter is not None and adapter.accepts(module) else None


def is_affine_layer(module: nn.Module) -> bool:
    """True for the layers whose rules need an explicit weight (Linear, Conv1d/2d/3d, and
    layers declared dense by a :class:`DenseAdapter`)."""
    return isinstance(module, AFFINE_LAYERS) or dense_adapter(module) is not None


def is_dense(module: nn.Module) -> bool:
    """``nn.Linear``, or a layer declared dense by a :class:`DenseAdapter`."""
    return isinstance(module, nn.Linear) or dense_adapter(module) is not None


@dataclass(frozen=True)
class AffineMap:
    """``z = forward(x, weight) + bias`` for a Linear/Conv module, weight and bias possibly virtual."""

    module: nn.Module
    weight: Tensor
    bias: Tensor | None

    @classmethod
    def of(cls, module: nn.Module, detach: bool = False) -> "AffineMap":
        """The module's own weight (``(out, in, …)``, a declared dense layer's as its adapter reads it) and bias."""
        adapter = dense_adapter(module)
        # nn.Module types its attributes as Tensor | Module: these layers hold tensors there
        weight = cast(Tensor, module.weight) if adapter is None else adapter.weight(module)
        bias = cast("Tensor | None", module.bias)
        if detach:
            weight, bias = weight.detach(), None if bias is None else bias.detach()
        return cls(module, weight, bias)

    # -- forward and its transpose -------------------------------------------------
    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """The layer without bias, with ``weight`` in place of its own."""
        weight = self.weight if weight is None else weight
        if is_dense(self.module):
            return F.linear(x, weight)
        return cast(_ConvNd, self.module)._conv_forward(x, weight, None)

    def vjp(self, grad: Tensor, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """``(∂ forward(x, weight) / ∂x)ᵀ · grad``: the transposed layer applied to ``grad``."""
        weight = self.weight if weight is None else weight
        if is_dense(self.module):
            return grad.matmul(weight)
        conv = cast(_ConvNd, self.module)
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
        if is_dense(self.module):
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
        if is_dense(self.module) and z.dim() != 2:
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
        mean, var = cast(Tensor, bn.running_mean), cast(Tensor, bn.running_var)
    scale = torch.rsqrt(var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale.detach().to(z.dtype), shift.detach().to(z.dtype)


class SparseConv1dMap:
    """A Conv1d restricted to a set of output positions ``(batch, channel, time)``.

    Same interface as ``AffineMap`` but ``forward`` returns, and ``vjp`` takes, one
    value per selected position: each costs one dot product of an input patch with one
    filter, so rules cost in proportion to the positions that carry relevance.
    """

    def __init__(self, layer: AffineMap, positions: Tensor) -> None:
        self.module, self.weight, self.bias = layer.module, layer.weight, layer.bias
        self.batch, self.channel, self.time = positions.unbind(1)
        conv = cast(nn.Conv1d, layer.module)
        # restrict_to_nonzero builds this map only for numeric padding, never 'same' or 'valid'
        (self.stride,), (self.padding,), (self.dilation,) = conv.stride, cast("tuple[int]", conv.padding), conv.dilation
        self.kernel = layer.weight.shape[-1]

    def _chunks(self, x: Tensor) -> Iterator[tuple[slice, Tensor, Tensor | None]]:
        """Yield (position slice, input row per position and tap, valid mask) in bounded chunks."""
        length = x.shape[-1]
        taps = torch.arange(self.kernel, device=x.device) * self.dilation
        step = max(1, _SPARSE_CHUNK // (self.kernel * x.shape[1]))
        for start in range(0, self.batch.numel(), step):
            part = slice(start, start + step)
            where = (self.time[part] * self.stride - self.padding).unsqueeze(1) + taps
            valid = (where >= 0) & (where < length)
            rows = self.batch[part].unsqueeze(1) * length + where.clamp(0, length - 1)
            yield part, rows, None if bool(valid.all()) else valid.unsqueeze(-1)

    def _filters(self, weight: Tensor | None, part: slice) -> Tensor:
        """``(positions, kernel, in)``: the filter of each position's channel, taps first."""
        weight = self.weight if weight is None else weight
        return weight.permute(0, 2, 1)[self.channel[part]]

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        # (batch·length, in) rows: free when x is a transposed (batch, length, in) embedding
        rows_of_x = x.transpose(1, 2).reshape(-1, x.shape[1])
        out = x.new_empty(self.batch.numel())
        for part, rows, valid in self._chunks(x):
            patches = rows_of_x.index_select(0, rows.reshape(-1)).view(*rows.shape, -1)
            if valid is not None:
                patches = patches * valid   # taps in the zero padding read zeros
            out[part] = (patches * self._filters(weight, part)).sum((1, 2))
        return out

    def vjp(self, grad: Tensor, x: Tensor, weight: Tensor | None = None) -> Tensor:
        batch_size, channels, length = x.shape
        result = x.new_zeros(batch_size * length, channels)
        for part, rows, valid in self._chunks(x):
            spread = grad[part].view(-1, 1, 1) * self._filters(weight, part)
            if valid is not None:
                spread = spread * valid
            # index_add_, not index_put_(accumulate=True): ~20x faster on the CPU (no sort)
            result.index_add_(0, rows.reshape(-1), spread.reshape(-1, channels))
        return result.view(batch_size, length, channels).transpose(1, 2)

    def bias_like(self, z: Tensor) -> Tensor:
        if self.bias is None:
            return torch.zeros_like(z)
        return self.bias[self.channel]


def restrict_to_nonzero(layer: AffineMap, x: Tensor,
                        g: Tensor) -> tuple[AffineMap | SparseConv1dMap, tuple[Tensor, ...] | None]:
    """``(layer, index)``: the layer restricted to the positions where ``g`` is nonzero and
    the index of those positions, or ``(layer, None)`` where the dense layer is better.

    Only for plain Conv1d layers (zero padding, one group) on the CPU, where gathering the
    active positions beats a full convolution (on GPUs the dense kernels win).
    """
    conv = layer.module
    eligible = (isinstance(conv, nn.Conv1d) and conv.groups == 1 and conv.padding_mode == "zeros"
                and not isinstance(conv.padding, str) and x.dim() == 3 and x.device.type in SPARSE_DEVICES)
    if not eligible:
        return layer, None
    nonzero = g != 0
    if int(nonzero.sum()) > SPARSE_DENSITY * g.numel():
        return layer, None
    positions = nonzero.nonzero()
    return SparseConv1dMap(layer, positions), tuple(positions.unbind(1))


#: Whether a CPU Conv1d's sparse rule runs on one thread (see ``session``); benchmarks switch it off to compare.
ONE_THREAD_SPARSE = True


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one intra-op thread (torch's own count restored after it).

    >>> with one_thread():
    ...     torch.get_num_threads()
    1
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def keeps_output(module: nn.Module, x: Tensor) -> bool:
    """Whether a rule's backward should keep the layer output rather than recompute it.

    A CPU Conv1d recomputes it: its backward mostly runs on the few positions that carry
    relevance (see ``restrict_to_nonzero``), where recomputing costs little and saves
    holding a whole ``(batch, channels, time)`` output until the backward pass.
    """
    return not (isinstance(module, nn.Conv1d) and x.device.type in SPARSE_DEVICES)
