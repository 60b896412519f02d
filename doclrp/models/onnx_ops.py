"""ONNX operators as torch modules: the layers with weights as torch's own (so that doclrp's rules
apply), everything else as :class:`OnnxOp`, whose plain gradient is its LRP rule.

>>> import numpy as np
>>> op = OnnxOp("Reshape", {}, {1: torch.tensor([0, -1])})
>>> op(torch.zeros(2, 3, 4)).shape
torch.Size([2, 12])

Each operator is one of three kinds, decided per node when the file is read
(:mod:`doclrp.models.onnx_files`):

- **Layers** (``Gemm``, ``MatMul`` [+ ``Add`` of a bias] with a constant weight, ``Conv``,
  ``Gather`` of a constant table by token ids, ``BatchNormalization``, ``LayerNormalization``,
  activations, pools, ``Softmax``): torch modules, so that every composite gives them their rules.
- **Moves, selections and scalings** (``Reshape``, ``Transpose``, ``Concat``, ``Slice``,
  ``ReduceMax``, ``ReduceMean``, ``Mul`` by a constant …): :class:`OnnxOp`; their plain gradient
  carries relevance (``relevance = x ⊙ gradient`` is conserved through a linear map or a selection,
  as through torch's own reshapes and pools). A sum, product, maximum of two computed tensors is a
  merge layer of :mod:`doclrp.core.merge` with its rule.
- **Computations on constants** (shapes, masks from token ids, positions): :class:`OnnxOp` on tensors
  that carry no relevance.

What else a computed tensor meets is refused by operator and node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from doclrp.errors import DoclrpError

__all__ = ["OnnxOp", "FUNCTIONS", "ON_SIGNAL", "DATA_RESULT", "AnyRankBatchNorm"]

Attributes = dict[str, Any]


def _axes(inputs: Sequence[Tensor], attributes: Attributes, position: int = 1) -> list[int] | None:
    """``axes`` given as an attribute (older opsets) or as an input (newer ones)."""
    if "axes" in attributes:
        return [int(a) for a in attributes["axes"]]
    if len(inputs) > position and inputs[position] is not None and inputs[position].numel():
        return [int(a) for a in inputs[position].tolist()]
    return None


def _reduce(function: Callable[..., Tensor]) -> Callable[[Sequence[Tensor], Attributes], Tensor]:
    def reduce(inputs: Sequence[Tensor], attributes: Attributes) -> Tensor:
        x = inputs[0]
        axes = _axes(inputs, attributes)
        keep = bool(attributes.get("keepdims", 1))
        if axes is None:
            if attributes.get("noop_with_empty_axes", 0):
                return x
            axes = list(range(x.dim()))
        return function(x, dim=tuple(axes), keepdim=keep)
    return reduce


def _extreme(x: Tensor, dim: tuple[int, ...], keepdim: bool, one: Callable[..., Any],
             every: Callable[..., Tensor]) -> Tensor:
    """A maximum (minimum) over ``dim``: over one axis (others of size 1) a tie goes to one winner, as
    torch's max pools and ``max(dim)`` give it (a model exported from torch then keeps its relevance
    exactly); over several axes tied winners share it evenly. Either way relevance is conserved."""
    wide = [d for d in dim if x.shape[d] > 1]
    if len(wide) == 1:  # the others are of size 1 (an exporter's unsqueezed pool): a reshape
        x = one(x, wide[0], keepdim=True).values
    return every(x, dim=dim, keepdim=keepdim)


def _reshape(inputs: Sequence[Tensor], attributes: Attributes) -> Tensor:
    x, shape = inputs[0], [int(s) for s in inputs[1].tolist()]
    if not attributes.get("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _flatten(inputs: Sequence[Tensor], attributes: Attributes) -> Tensor:
    x = inputs[0]
    axis = int(attributes.get("axis", 1)) % max(x.dim(), 1) if x.dim() else 0
    return x.reshape(int(torch.tensor(x.shape[:axis]).prod()), -1)


def _squeeze(inputs: Sequence[Tensor], attributes: Attributes) -> Tensor:
    axes = _axes(inputs, attributes)
    x = inputs[0]
    if axes is None:
        return x.squeeze()
    for axis in sorted((a % x.dim() for a in axes), reverse=True):
        x = x.squeeze(axis)
    return x


def _unsqueeze(inputs: Sequence[Tensor], attributes: Attributes) -> Tensor:
    axes = _axes(inputs, attributes) or []
    x = inputs[0]
    rank = x.dim() + len(axes)
    for axis in sorted(a % rank for a in axes):
        x = x.unsqueeze(axis)
    return x


def _slice(inputs: Sequence[Tensor], attributes: Attributes) -> Tensor:
    x = inputs[0]
    if "starts" in attributes:  # opset < 10
        starts, ends = list(attributes["starts"]), list(attributes["ends"])
        axes = list(attributes.get("axes", range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts, ends = inputs[1].tolist(), inputs[2].tolist()
        axes = inputs[3].tolist() if len(inputs) > 3 and inputs[3] is not None else list(range(len(starts)))
        steps = inputs[4].tolist() if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    index: list[slice] = [slice(None)] * x.dim()
    for start, end, axis, step in zip(starts, ends, axes, steps):
        if step <= 0:
            raise DoclrpError(f"Slice with step {step} is not read")
        size = x.shape[int(axis)]
        index[int(axis)] = slice(max(min(int(start), size), -size), max(min(int(end), size), -size - 1), int(step))
    return x[tuple(index)]


def _gather(inputs: Sequence[Tensor], attributes: Attributes) -> Tensor:
    x, indices = inputs[0], inputs[1].long()
    axis = int(attributes.get("axis", 0)) % x.dim()
    indices = torch.where(indices < 0, indices + x.shape[axis], indices)
    flat = x.index_select(axis, indices.reshape(-1))
    return flat.reshape(*x.shape[:axis], *indices.shape, *x.shape[axis + 1:])


def _pad(inputs: Sequence[Tensor], attributes: Attributes) -> Tensor:
    x = inputs[0]
    mode = attributes.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    pads = [int(p) for p in (attributes["pads"] if "pads" in attributes else inputs[1].tolist())]
    value = float(attributes.get("value", 0.0)) if len(inputs) < 3 or inputs[2] is None else float(inputs[2])
    if mode != "constant" or value != 0 or (len(inputs) > 3 and inputs[3] is not None):
        raise DoclrpError("Pad other than with zeros on all axes is not read")
    rank = x.dim()
    widths = [p for axis in reversed(range(rank)) for p in (pads[axis], pads[axis + rank])]
    return nn.functional.pad(x, widths)


def _cast(inputs: Sequence[Tensor], attributes: Attributes) -> Tensor:
    target = _ONNX_DTYPES.get(int(attributes["to"]))
    if target is None:
        raise DoclrpError(f"Cast to ONNX type {attributes['to']} is not read")
    return inputs[0].to(target)


def _range(inputs: Sequence[Tensor], attributes: Attributes) -> Tensor:
    start, limit, delta = (float(t) for t in inputs[:3])
    dtype = inputs[0].dtype
    return torch.arange(start, limit, delta, device=inputs[0].device).to(dtype)


def _constant_of_shape(inputs: Sequence[Tensor], attributes: Attributes) -> Tensor:
    value = attributes.get("value")
    fill = value if isinstance(value, Tensor) else torch.zeros(1)
    return fill.reshape(()).expand(*[int(s) for s in inputs[0].tolist()]).clone().to(inputs[0].device)


def _concat(inputs: Sequence[Tensor], attributes: Attributes) -> Tensor:
    return torch.cat(list(inputs), int(attributes["axis"]))


def _where(inputs: Sequence[Tensor], attributes: Attributes) -> Tensor:
    return torch.where(inputs[0].bool(), inputs[1], inputs[2])


def _clip(inputs: Sequence[Tensor], attributes: Attributes) -> Tensor:
    low = inputs[1] if len(inputs) > 1 and inputs[1] is not None else attributes.get("min")
    high = inputs[2] if len(inputs) > 2 and inputs[2] is not None else attributes.get("max")
    return torch.clamp(inputs[0], min=low, max=high)


def _transpose(inputs: Sequence[Tensor], attributes: Attributes) -> Tensor:
    x = inputs[0]
    perm = attributes.get("perm") or list(reversed(range(x.dim())))
    return x.permute(*[int(p) for p in perm])


def _global_max(x: Tensor) -> Tensor:
    if x.dim() == 3:
        return nn.functional.adaptive_max_pool1d(x, 1)
    if x.dim() == 4:
        return nn.functional.adaptive_max_pool2d(x, 1)
    return x.amax(tuple(range(2, x.dim())), keepdim=True)


_ONNX_DTYPES = {1: torch.float32, 2: torch.uint8, 3: torch.int8, 5: torch.int16, 6: torch.int32, 7: torch.int64,
                9: torch.bool, 10: torch.float16, 11: torch.float64, 16: torch.bfloat16}

#: Operator → ``function(inputs, attributes)`` (inputs in the node's order, constants included).
FUNCTIONS: dict[str, Callable[[Sequence[Tensor], Attributes], Tensor]] = {
    "Identity": lambda i, a: i[0], "Dropout": lambda i, a: i[0],
    "Reshape": _reshape, "Flatten": _flatten, "Transpose": _transpose, "Squeeze": _squeeze, "Unsqueeze": _unsqueeze,
    "Slice": _slice, "Gather": _gather, "Concat": _concat, "Pad": _pad, "Expand": lambda i, a: i[0].expand(
        *torch.broadcast_shapes(i[0].shape, tuple(int(s) for s in i[1].tolist()))),
    "ReduceMax": _reduce(lambda x, dim, keepdim: _extreme(x, dim, keepdim, torch.max, torch.amax)),
    "ReduceMin": _reduce(lambda x, dim, keepdim: _extreme(x, dim, keepdim, torch.min, torch.amin)), "ReduceMean": _reduce(torch.mean),
    "ReduceSum": _reduce(torch.sum),
    "Add": lambda i, a: i[0] + i[1], "Sub": lambda i, a: i[0] - i[1], "Mul": lambda i, a: i[0] * i[1],
    "Div": lambda i, a: i[0] / i[1] if i[0].is_floating_point() else torch.div(i[0], i[1], rounding_mode="trunc"),
    "Neg": lambda i, a: -i[0], "Where": _where, "Clip": _clip,
    "GatherElements": lambda i, a: torch.gather(i[0], int(a.get("axis", 0)) % i[0].dim(),
                                                torch.where(i[1] < 0, i[1] + i[0].shape[int(a.get("axis", 0))],
                                                            i[1]).long()),
    "Shape": lambda i, a: torch.tensor(i[0].shape[int(a.get("start", 0)):a.get("end")], dtype=torch.int64,
                                       device=i[0].device),
    "Size": lambda i, a: torch.tensor(i[0].numel(), dtype=torch.int64, device=i[0].device),
    "Cast": _cast, "Range": _range, "ConstantOfShape": _constant_of_shape,
    "Equal": lambda i, a: i[0] == i[1], "Less": lambda i, a: i[0] < i[1], "Greater": lambda i, a: i[0] > i[1],
    "LessOrEqual": lambda i, a: i[0] <= i[1], "GreaterOrEqual": lambda i, a: i[0] >= i[1],
    "Not": lambda i, a: ~i[0], "And": lambda i, a: i[0] & i[1], "Or": lambda i, a: i[0] | i[1],
    "Max": lambda i, a: torch.stack(torch.broadcast_tensors(*i)).amax(0),
    "Min": lambda i, a: torch.stack(torch.broadcast_tensors(*i)).amin(0),
    "Sqrt": lambda i, a: torch.sqrt(i[0]), "Pow": lambda i, a: torch.pow(i[0], i[1]),
    # over every axis after (batch, channels), kept; a tie goes to one winner, as torch's own pools give it
    "GlobalMaxPool": lambda i, a: _global_max(i[0]),
    "GlobalAveragePool": lambda i, a: i[0].mean(tuple(range(2, i[0].dim())), keepdim=True),
}

#: Operators that may read a computed signal as :class:`OnnxOp`: moves, selections, reductions that
#: are linear or select (their plain gradient conserves relevance), and scalings by a constant
#: (``Mul``/``Div``/``Add``/``Sub`` with one computed operand: an added constant leaks like a bias,
#: shown in delta). Two computed operands of an arithmetic operator are a merge layer instead.
ON_SIGNAL = {"Identity", "Dropout", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Slice", "Gather",
             "Concat", "Pad", "Expand", "GatherElements", "ReduceMax", "ReduceMin", "ReduceMean", "ReduceSum", "Add", "Sub", "Mul",
             "Div", "Neg", "Where", "Shape", "Size", "Cast", "GlobalMaxPool", "GlobalAveragePool"}
#: Operators whose result carries no relevance whatever they read (shapes, comparisons).
DATA_RESULT = {"Shape", "Size", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or"}


class OnnxOp(nn.Identity):
    """One ONNX operator without weights (see the module docstring): ``FUNCTIONS[op_type]`` on the
    inputs, with the node's constant inputs held as buffers at their positions. Its plain gradient
    is its rule (it is only built where that holds), so it subclasses ``nn.Identity`` for the
    engine, as the Keras importer's ``Permute`` does."""

    def __init__(self, op_type: str, attributes: Attributes, constants: dict[int, Tensor],
                 n_inputs: int | None = None, omitted: Sequence[int] = ()) -> None:
        super().__init__()
        if op_type not in FUNCTIONS:
            raise DoclrpError(f"operator {op_type} is not read")
        self.op_type, self.attributes = op_type, dict(attributes)
        self.positions = sorted(constants)
        self.omitted = tuple(omitted)  # optional inputs the node leaves out (given as None)
        self.n_inputs = n_inputs if n_inputs is not None else (max(self.positions) + 1 if self.positions else 1)
        for position, value in constants.items():
            self.register_buffer(f"constant_{position}", value)

    def forward(self, *inputs: Tensor) -> Tensor:
        given = iter(inputs)
        arguments: list[Any] = [getattr(self, f"constant_{i}") if i in self.positions else None if i in self.omitted
                     else next(given) for i in range(self.n_inputs)]
        return FUNCTIONS[self.op_type](arguments, self.attributes)

    def extra_repr(self) -> str:
        return self.op_type


class AnyRankBatchNorm(nn.modules.batchnorm._BatchNorm):
    """ONNX's ``BatchNormalization`` at inference, over axis 1 of an input of any rank (the file does
    not say which torch class it was)."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise DoclrpError(f"BatchNormalization needs (batch, channels, …), got {input.dim()}-D")
