"""Keras functional models that are graphs (branches, merges, shared layers, several inputs or
outputs, ``Embedding(mask_zero=True)``) read into a :class:`~doclrp.models.graph.GraphModel`.

>>> from doclrp.models.keras_graph import node_inputs
>>> node_inputs({"args": [[{"config": {"keras_history": ["a", 0, 0]}}, {"config": {"keras_history": ["b", 1, 0]}}]],
...              "kwargs": {}}, "add")
[('a', 0, 0), ('b', 1, 0)]

Every layer call (a Keras *node*) becomes one :class:`~doclrp.models.graph.Step`; a layer called
twice is one torch module called twice (its weights shared). Between steps tensors keep Keras's
layout (channels last); each layer's torch module moves channels where torch needs them and back
(:class:`~doclrp.models.keras_modules.Permute`, which relevance passes unchanged). Merge layers
become the core's merge modules (:mod:`doclrp.core.merge`), whose rules conserve.

Masks follow Keras: ``Embedding(mask_zero=True)`` masks the steps whose id is 0; layers that
support masking pass it on (``Dense``, ``Dropout``, activations, normalizations, merges); a
recurrent layer skips masked steps (returning sequences, it gives a masked step zeros or the last
output before it, as Keras does, and passes the mask on) and ``GlobalAveragePooling1D`` averages
over the others, so padding gets no relevance there; layers without masking drop the mask, as in
Keras (padding then enters, as it does in Keras). What would read a mask some other way
(``Softmax``, two different masks merged) is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from doclrp.core.merge import Concatenate, ElementwiseProduct, Extremum, WeightedSum
from doclrp.core.recurrent import ResetBeforeGRU
from doclrp.errors import DoclrpError
from doclrp.models.graph import GraphModel, Step, gated_signal, module_key
from doclrp.models.keras_layers import LayerBuilder
from doclrp.models.keras_modules import KerasRecurrent, MaskedMean

__all__ = ["MERGE_KINDS", "read_graph", "node_inputs", "Node"]

MERGE_KINDS = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate")
# layers whose output carries their input's mask on (Keras's supports_masking, mask not used in call)
_MASK_PASSING = ("Dense", "Dropout", "Activation", "ReLU", "LayerNormalization", "BatchNormalization", *MERGE_KINDS)
_MASK_READERS = ("LSTM", "GRU", "Bidirectional", "GlobalAveragePooling1D")
# a call's keyword arguments that change nothing at inference
_HARMLESS_KWARGS = {"training": (None, False), "mask": (None,)}
# Keras 3 writes a mask into the graph: ``ops.not_equal(ids, 0)`` as a layer, passed as ``mask=``
_MASK_OP = "NotEqual"
# ... and a merge's mask as ``ops.logical_or`` (``logical_and``) of its inputs' masks: read where they are one
_MASK_MERGES = ("LogicalOr", "LogicalAnd")

Shape = tuple[int | None, ...]


class Weights(Protocol):
    def arrays(self, name: str, kind: str) -> list[np.ndarray]:
        ...


@dataclass(frozen=True)
class Node:
    """One call of a layer: its config, which call it is, and the tensors it reads
    ``(layer, call, output index)``; an input layer has no inputs."""

    layer: dict[str, Any]
    call: int
    inputs: list[tuple[str, int, int]]
    #: the tensor passed as ``mask=`` (Keras 3 records masks so), if any
    mask: tuple[str, int, int] | None = None

    @property
    def name(self) -> str:
        return layer_name(self.layer)

    @property
    def output(self) -> str:
        return f"{self.name}:{self.call}"


def layer_name(layer: dict[str, Any]) -> str:
    return str(layer.get("name") or (layer.get("config") or {}).get("name") or layer.get("class_name"))


def _refs(value: Any) -> Iterator[tuple[str, int, int]]:
    """Every ``keras_history`` (Keras 3) below ``value``, in order."""
    if isinstance(value, dict):
        history = value.get("keras_history")
        if isinstance(history, list) and len(history) == 3 and isinstance(history[0], str):
            yield history[0], int(history[1]), int(history[2])
            return
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def node_inputs(node: Any, name: str) -> list[tuple[str, int, int]]:
    """The tensors one inbound node of layer ``name`` reads, Keras 3 (``{"args", "kwargs"}``) or
    Keras 2 (``[[layer, call, index, kwargs], …]``) form; refuses tensors or settings in its keyword
    arguments (an initial state passed by hand), a mask aside (:func:`node_mask`)."""
    if isinstance(node, dict):
        kwargs = node.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise DoclrpError(f"layer '{name}': malformed inbound node")
        for key, value in kwargs.items():
            if key == "mask" and len(list(_refs(value))) == 1:
                continue
            if key not in _HARMLESS_KWARGS or value not in _HARMLESS_KWARGS[key]:
                raise DoclrpError(f"layer '{name}' is called with {key}=…; doclrp reads layers called on their "
                                  "inputs alone")
        return list(_refs(node.get("args")))
    if isinstance(node, list):
        refs = []
        for item in node:
            if not (isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str)):
                raise DoclrpError(f"layer '{name}': malformed inbound node")
            if len(item) > 3 and item[3]:
                raise DoclrpError(f"layer '{name}' is called with keyword arguments {sorted(item[3])}; doclrp "
                                  "reads layers called on their inputs alone")
            refs.append((item[0], int(item[1]), int(item[2])))
        return refs
    raise DoclrpError(f"layer '{name}': malformed inbound node")


def node_mask(node: Any) -> tuple[str, int, int] | None:
    """The tensor a Keras 3 inbound node passes as ``mask=``, if any."""
    kwargs = node.get("kwargs") if isinstance(node, dict) else None
    refs = list(_refs(kwargs.get("mask"))) if isinstance(kwargs, dict) else []
    return refs[0] if refs else None


def endpoints(value: Any, what: str) -> list[tuple[str, int, int]]:
    """A functional model's ``input_layers`` / ``output_layers``: ``[name, call, index]`` or a list of them."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        value = [value]
    if not isinstance(value, list) or not value or not all(
            isinstance(v, list) and len(v) == 3 and isinstance(v[0], str) for v in value):
        raise DoclrpError(f"the functional model's {what} are not a list of [layer, call, index]")
    return [(v[0], int(v[1]), int(v[2])) for v in value]


def functional_nodes(config: dict[str, Any]) -> tuple[list[Node], list[str], list[str]]:
    """``(nodes in the order they run, input tensors, output tensors)`` of a functional model."""
    layers = config["layers"]
    by_name = {layer_name(layer): layer for layer in layers}
    calls: dict[tuple[str, int], Node] = {}
    for layer in layers:
        name = layer_name(layer)
        nodes = layer.get("inbound_nodes") or []
        if layer.get("class_name") == "InputLayer" or not nodes:
            calls[(name, 0)] = Node(layer, 0, [])
            continue
        if not isinstance(nodes, list):
            raise DoclrpError(f"layer '{name}': malformed inbound nodes")
        for call, node in enumerate(nodes):
            mask = node_mask(node)
            calls[(name, call)] = Node(layer, call, node_inputs(node, name) + ([mask] if mask else []), mask)
    inputs, outputs = endpoints(config.get("input_layers"), "inputs"), endpoints(config.get("output_layers"), "outputs")
    for name, call, index in inputs + outputs:
        if (name, call) not in calls or index:
            raise DoclrpError(f"functional model: its input or output {name!r} is not a layer's output")
    for name, _, _ in inputs:
        if by_name[name].get("class_name") != "InputLayer":
            raise DoclrpError(f"functional model: input {name!r} is not an InputLayer")
    order: list[Node] = []
    state: dict[tuple[str, int], int] = {}  # 1: being visited, 2: done
    for name, call, _ in outputs:  # depth first, without recursion (long chains)
        stack: list[tuple[tuple[str, int], bool]] = [((name, call), False)]
        while stack:
            key, expanded = stack.pop()
            if expanded:
                state[key] = 2
                order.append(calls[key])
                continue
            if state.get(key) == 2:
                continue
            if state.get(key) == 1:
                raise DoclrpError(f"functional model: its layers form a loop at '{key[0]}'")
            if key not in calls:
                raise DoclrpError(f"functional model: layer {key[0]!r} (call {key[1]}) is named but not defined")
            state[key] = 1
            stack.append((key, True))
            for source, source_call, index in reversed(calls[key].inputs):
                if index:
                    raise DoclrpError(f"layer '{key[0]}' reads output {index} of layer '{source}'; doclrp reads "
                                      "layers with one output")
                if state.get((source, source_call)) != 2:
                    stack.append(((source, source_call), False))
    return order, [f"{n}:{c}" for n, c, _ in inputs], [f"{n}:{c}" for n, c, _ in outputs]


def sequential_nodes(layers: list[dict[str, Any]]) -> tuple[list[Node], list[str], list[str]]:
    """A Sequential model's layers as one chain of nodes (a first input layer made where the file
    records the input shape on the first layer, as Keras 2 does)."""
    if not layers or layers[0].get("class_name") != "InputLayer":
        config = (layers[0].get("config") or {}) if layers else {}
        layers = [{"class_name": "InputLayer", "config": {
            "name": "input", "batch_shape": config.get("batch_input_shape"), "dtype": config.get("dtype")}}, *layers]
    nodes = [Node(layers[0], 0, [])]
    for layer in layers[1:]:
        nodes.append(Node(layer, 0, [(nodes[-1].name, 0, 0)]))
    return nodes, [nodes[0].output], [nodes[-1].output]


def _input_shape(layer: dict[str, Any]) -> Shape:
    config = layer.get("config") or {}
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if not isinstance(shape, list) or len(shape) < 2 \
            or not all(s is None or (isinstance(s, int) and s > 0) for s in shape[1:]):
        raise DoclrpError(f"input '{layer_name(layer)}' records no input shape (batch_shape)")
    return tuple(shape[1:])


def _ends_in_sigmoid(module: nn.Module) -> bool:
    last = module[-1] if isinstance(module, nn.Sequential) and len(module) else module
    return isinstance(last, nn.Sigmoid)


def _merge(kind: str, config: dict[str, Any], shapes: list[Shape], name: str,
           signal: int | None = None) -> tuple[nn.Module, Shape]:
    """The core merge module of a Keras merge layer and its output shape; ``signal``: of a product,
    the one factor that is not a gate (:func:`gated_signal`)."""
    if len(shapes) < 2 or (kind == "Subtract" and len(shapes) != 2):
        raise DoclrpError(f"layer '{name}' ({kind}) merges {len(shapes)} tensors")
    if kind == "Concatenate":
        rank = len(shapes[0])
        axis = int(config.get("axis", -1))
        axis = axis - 1 if axis > 0 else rank + axis  # Keras counts the batch axis; shapes do not
        if not 0 <= axis < rank or any(len(s) != rank for s in shapes) \
                or any(s[:axis] + s[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:] for s in shapes):
            raise DoclrpError(f"layer '{name}' (Concatenate): shapes {shapes} do not join along axis {config.get('axis')}")
        sizes = [s[axis] for s in shapes]
        joined = None if any(size is None for size in sizes) else sum(size for size in sizes if size is not None)
        return Concatenate(axis + 1), (*shapes[0][:axis], joined, *shapes[0][axis + 1:])
    if any(s != shapes[0] for s in shapes):
        raise DoclrpError(f"layer '{name}' ({kind}) merges tensors of shapes {shapes}; doclrp reads merges of one shape")
    n = len(shapes)
    makers: dict[str, Callable[[], nn.Module]] = {
        "Add": lambda: WeightedSum.add(n), "Subtract": WeightedSum.subtract, "Average": lambda: WeightedSum.average(n),
        "Multiply": lambda: ElementwiseProduct(signal), "Maximum": lambda: Extremum("max"),
        "Minimum": lambda: Extremum("min")}
    return makers[kind](), shapes[0]


@dataclass
class _Built:
    module: nn.Module
    key: str
    input_shape: Shape
    output_shape: Shape


def _mask_op(node: Node) -> bool:
    """Whether ``node`` is Keras 3's recorded mask, ``ops.not_equal(ids, 0)``."""
    layer = node.layer
    if layer.get("class_name") != _MASK_OP or not str(layer.get("module") or "keras").startswith("keras"):
        return False
    args = (layer.get("inbound_nodes") or [{}])[node.call].get("args") if isinstance(
        (layer.get("inbound_nodes") or [None])[node.call], dict) else None
    return isinstance(args, list) and len(args) == 2 and args[1] == 0 and len(node.inputs) == 1


def read_graph(nodes: list[Node], inputs: list[str], outputs: list[str], weights: Weights, dtype: torch.dtype,
               check_layer: Callable[[dict[str, Any]], None]) -> GraphModel:
    """The :class:`GraphModel` of ``nodes`` (in the order they run). Masks are those the file
    records (Keras 3: ``mask=`` on the calls that read one) or else follow Keras's rules from
    ``Embedding(mask_zero=True)`` on (Sequential models, Keras 2 files)."""
    recorded = any(node.mask is not None for node in nodes) or any(_mask_op(node) for node in nodes)
    mask_ops: dict[str, str] = {}  # Keras 3's not_equal(ids, 0) → the ids tensor
    shapes: dict[str, Shape] = {}
    masks: dict[str, str | None] = {}  # tensor → the token ids tensor whose zeros mask it
    built: dict[str, _Built] = {}
    layers: dict[str, nn.Module] = {}
    taken: set[str] = set()
    steps: list[Step] = []
    for node in nodes:
        layer, name = node.layer, node.name
        if _mask_op(node):
            source, call, _ = node.inputs[0]
            mask_ops[node.output] = f"{source}:{call}"
            continue
        if layer.get("class_name") in _MASK_MERGES and str(layer.get("module") or "keras").startswith("keras"):
            merged = {mask_ops.get(f"{source}:{call}") for source, call, _ in node.inputs}
            if len(merged) == 1 and None not in merged:  # the same mask merged with itself: that mask
                mask_ops[node.output] = str(merged.pop())
                continue
        check_layer(layer)
        kind = str(layer["class_name"])
        config = layer["config"]
        if kind == "InputLayer":
            if node.output not in inputs:
                raise DoclrpError(f"input layer '{name}' is not among the model's inputs")
            shapes[node.output], masks[node.output] = _input_shape(layer), None
            continue
        sources = [f"{source}:{call}" for source, call, _ in (node.inputs[:-1] if node.mask else node.inputs)]
        if not sources:
            raise DoclrpError(f"layer '{name}' ({kind}) is called on nothing")
        if any(source in mask_ops for source in sources):
            raise DoclrpError(f"layer '{name}' reads a mask as data; doclrp reads masks passed as mask=")
        if recorded:  # the file says which calls read a mask: nothing is carried on implicitly
            for source in sources:
                masks[source] = None
            if node.mask is not None:
                ids = mask_ops.get(f"{node.mask[0]}:{node.mask[1]}")
                if ids is None:
                    raise DoclrpError(f"layer '{name}' reads a mask doclrp does not read (only token ids != 0)")
                masks[sources[0]] = ids
        in_shapes = [shapes[s] for s in sources]
        in_masks = {m for m in (masks[s] for s in sources) if m is not None}
        reads: tuple[str, ...] = tuple(sources)
        try:
            if kind in MERGE_KINDS:
                producers = {step.output: layers[step.layer] for step in steps}
                gates = [s in producers and _ends_in_sigmoid(producers[s]) for s in sources]
                module, out_shape = _merge(kind, config, in_shapes, name, gated_signal(gates))
                if len(in_masks) > 1:
                    raise DoclrpError(f"layer '{name}' ({kind}) merges tensors with different masks; doclrp reads "
                                      "merges of one masked input")
                out_mask = next(iter(in_masks), None)
                key = built[name].key if name in built else module_key(name, taken)
                if name in built:
                    module = built[name].module
                built.setdefault(name, _Built(module, key, in_shapes[0], out_shape))
            else:
                if len(sources) != 1:
                    raise DoclrpError(f"layer '{name}' ({kind}) takes {len(sources)} inputs; doclrp reads it with one")
                mask = masks[sources[0]]
                module, key, out_shape = _layer(node, kind, config, in_shapes[0], weights, dtype, built, taken,
                                                masked=mask is not None)
                out_mask = None
                if mask is not None and kind in _MASK_READERS:
                    reads = (sources[0], mask)
                    # a recurrent layer returning sequences passes the mask on (Keras's compute_mask)
                    out_mask = mask if isinstance(module, KerasRecurrent) and module.return_sequences else None
                elif kind == "Embedding" and config.get("mask_zero"):
                    out_mask = sources[0]
                elif mask is not None and kind in _MASK_PASSING:
                    if kind == "Activation" and config.get("activation") == "softmax":
                        raise DoclrpError(f"layer '{name}': a softmax over masked steps is not read")
                    out_mask = mask
                elif mask is not None and kind == "Softmax":
                    raise DoclrpError(f"layer '{name}': a softmax over masked steps is not read")
        except KeyError as error:
            raise DoclrpError(f"layer '{name}' ({kind}): config field {error} is missing") from None
        except (TypeError, ValueError, AttributeError, OSError) as error:
            raise DoclrpError(f"layer '{name}' ({kind}): malformed config or weights ({error})") from None
        layers[key] = module
        shapes[node.output], masks[node.output] = out_shape, out_mask
        steps.append(Step(key, reads, node.output))
    return GraphModel(layers, steps, inputs, outputs, [shapes[name] for name in inputs]).eval()


def _layer(node: Node, kind: str, config: dict[str, Any], shape: Shape, weights: Weights, dtype: torch.dtype,
           built: dict[str, _Built], taken: set[str], masked: bool) -> tuple[nn.Module, str, Shape]:
    """The torch module of one call of a one-input layer, its key and output shape; a layer called
    again reuses its module (shared weights) if the call builds the same one."""
    name = node.name
    if masked and kind == "GlobalAveragePooling1D":
        if config.get("keepdims"):
            raise DoclrpError(f"layer '{name}': keepdims=True over masked steps is not read")
        if len(shape) != 2:
            raise DoclrpError(f"layer '{name}' needs a 3-D input (batch, steps, features)")
        module: nn.Module = MaskedMean()
        out_shape: Shape = (shape[1],)
    else:
        builder = LayerBuilder(shape, dtype)
        builder.reads_masks = True
        arrays = [] if kind in ("InputLayer", "Dropout") else weights.arrays(name, kind)
        builder.add(kind, config, arrays, next_kinds=[])
        sequence = builder.finish()
        module = sequence[0] if len(sequence) == 1 else sequence if len(sequence) else nn.Identity()
        out_shape = builder.shape
        if masked and kind in ("LSTM", "GRU", "Bidirectional"):
            if not isinstance(module, KerasRecurrent):
                raise DoclrpError(f"layer '{name}' ({kind}) over masked steps is not read")
            if isinstance(module.rnn, ResetBeforeGRU):
                raise DoclrpError(f"layer '{name}': a GRU with reset_after=False over masked steps is not read")
    previous = built.get(name)
    if previous is None:
        key = module_key(name, taken)
        built[name] = _Built(module, key, shape, out_shape)
        return module, key, out_shape
    if repr(previous.module) != repr(module):
        raise DoclrpError(f"layer '{name}' is called on inputs of shapes {previous.input_shape} and {shape}, which "
                          "need different torch modules; doclrp reads shared layers called alike")
    return previous.module, previous.key, out_shape
