"""A model that is a directed acyclic graph of torch modules: the form imported Keras functional
models and ONNX files take, so that every doclrp composite explains them as native models.

>>> import torch
>>> from torch import nn
>>> from doclrp.core.merge import WeightedSum
>>> model = GraphModel({"dense": nn.Linear(2, 2), "add": WeightedSum.add(2)},
...                    [Step("dense", ("x",), "h"), Step("add", ("x", "h"), "y")], inputs=["x"], outputs=["y"])
>>> model(torch.ones(1, 2)).shape
torch.Size([1, 2])

The graph is data: ``steps`` run in order, each calling one module of ``layers`` (a module called
by several steps shares its weights) on tensors named by earlier steps or by the inputs. Nothing
else runs: no code is generated. With several outputs the model returns them all as a tuple (the
first is what doclrp explains by default); :meth:`GraphModel.with_output` picks one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from doclrp.errors import DoclrpError

__all__ = ["GraphModel", "Step", "module_key", "gated_signal"]


@dataclass(frozen=True)
class Step:
    """``output = layers[layer](*inputs)``, tensors by name."""

    layer: str
    inputs: tuple[str, ...]
    output: str


def module_key(name: str, taken: set[str]) -> str:
    """``name`` as a submodule name torch accepts (no dots, not empty), unique among ``taken``.

    >>> module_key("/encoder/Conv.1", set())
    'encoder_Conv_1'
    """
    key = re.sub(r"\W+", "_", name).strip("_") or "layer"
    if key[0].isdigit():
        key = "_" + key
    unique, n = key, 1
    while unique in taken:
        unique, n = f"{key}_{n}", n + 1
    taken.add(unique)
    return unique


def gated_signal(gates: Sequence[bool]) -> int | None:
    """Of a product's factors, the index of the one that is not a gate where all others are (a gated
    unit: ``sigmoid(a) ⊙ b``), else None; its rule then holds the gates constant
    (:class:`~doclrp.core.merge.ElementwiseProduct`).

    >>> gated_signal([True, False]), gated_signal([False, False])
    (1, None)
    """
    signals = [i for i, gate in enumerate(gates) if not gate]
    return signals[0] if len(signals) == 1 and len(gates) > 1 else None


class GraphModel(nn.Module):
    """Runs ``steps`` over ``layers``; see the module docstring.

    ``inputs``: the names of the model's inputs, in the order ``forward`` takes them;
    ``outputs``: the names of the tensors it returns; ``input_shapes``: each input's shape without
    the batch axis (None for a size known only at run time), where the file says.
    """

    def __init__(self, layers: Mapping[str, nn.Module], steps: Sequence[Step], inputs: Sequence[str],
                 outputs: Sequence[str], input_shapes: Sequence[tuple[int | None, ...]] | None = None) -> None:
        super().__init__()
        self.input_shapes = None if input_shapes is None else [tuple(shape) for shape in input_shapes]
        self.layers = nn.ModuleDict(dict(layers))
        self.steps = tuple(steps)
        self.input_names = tuple(inputs)
        self.output_names = tuple(outputs)
        known = set(self.input_names)
        for step in self.steps:
            if step.layer not in self.layers:
                raise DoclrpError(f"graph step {step.output!r} calls an unknown layer {step.layer!r}")
            missing = [name for name in step.inputs if name not in known]
            if missing:
                raise DoclrpError(f"graph step {step.output!r} reads {missing[0]!r} before it is computed")
            known.add(step.output)
        absent = [name for name in self.output_names if name not in known]
        if absent or not self.output_names:
            raise DoclrpError(f"graph output {absent[0] if absent else '(none)'!r} is never computed")
        # the last step that reads each tensor: after it the tensor is dropped (memory of long graphs)
        self._last_use = {name: index for index, step in enumerate(self.steps) for name in step.inputs}

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if len(inputs) != len(self.input_names):
            raise DoclrpError(f"the model takes {len(self.input_names)} inputs ({', '.join(self.input_names)}), "
                              f"got {len(inputs)}")
        values = dict(zip(self.input_names, inputs))
        keep = set(self.output_names)
        for index, step in enumerate(self.steps):
            values[step.output] = self.layers[step.layer](*(values[name] for name in step.inputs))
            for name in dict.fromkeys(step.inputs):  # a tensor a step reads twice (Add(x, x)) is dropped once
                if self._last_use[name] == index and name not in keep:
                    del values[name]
        if len(self.output_names) == 1:
            return values[self.output_names[0]]
        return tuple(values[name] for name in self.output_names)

    def with_output(self, output: str | int) -> GraphModel:
        """The same graph (the same modules, shared) returning only ``output``, a name of
        :attr:`output_names` or its index; steps it does not need are left out."""
        if isinstance(output, int) and not isinstance(output, bool):
            if not 0 <= output < len(self.output_names):
                raise DoclrpError(f"output {output} does not exist; the model has {len(self.output_names)} outputs")
            name = self.output_names[output]
        elif output in self.output_names:
            name = str(output)
        else:
            raise DoclrpError(f"unknown output {output!r}; the model's outputs are {', '.join(self.output_names)}")
        needed, steps = {name}, []
        for step in reversed(self.steps):
            if step.output in needed:
                steps.append(step)
                needed.update(step.inputs)
        steps.reverse()
        layers = {step.layer: self.layers[step.layer] for step in steps}
        return GraphModel(layers, steps, self.input_names, [name], self.input_shapes).train(self.training)

    def extra_repr(self) -> str:
        return f"inputs={list(self.input_names)}, outputs={list(self.output_names)}, steps={len(self.steps)}"
