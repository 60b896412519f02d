"""ONNX files read as data into a :class:`~doclrp.models.graph.GraphModel` that every doclrp
composite explains: ``read_onnx_model(path)``.

>>> import pathlib, tempfile, warnings, torch
>>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).eval()
>>> path = pathlib.Path(tempfile.mkdtemp()) / "mlp.onnx"
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")  # torch announces its newer exporter
...     torch.onnx.export(net, (torch.zeros(1, 3),), path, dynamo=False)
>>> model = read_onnx_model(path)
>>> x = torch.rand(5, 3)
>>> bool(torch.allclose(model(x), net(x)))
True

The file is protobuf parsed as data (``onnx.ModelProto``): nothing in it runs, no custom
operator or function is loaded. Weights stored outside the file (external data) are read only
from files inside the model's own folder, named by a relative path without ``..`` (a link that
leads out is refused too), and only up to ``max_bytes`` in all. The operators read are those of
text and image classifiers: ``Gather`` (an embedding when it reads a constant table by token
ids), ``Gemm``, ``MatMul`` (+ ``Add`` of a bias) with constant weights, ``Conv``, ``Relu``,
``Tanh``, ``Sigmoid``, ``Gelu``, ``MaxPool``, ``AveragePool``, ``GlobalMaxPool``,
``GlobalAveragePool``, ``ReduceMax``, ``ReduceMean``, ``Concat``, ``Reshape``, ``Flatten``,
``Transpose``, ``Unsqueeze``, ``Squeeze``, ``BatchNormalization``, ``LayerNormalization``,
``Softmax``, the arithmetic of merges and masks (:mod:`doclrp.models.onnx_ops`); any other
operator, and any operator that would need a rule it has not, is refused naming the operator and
the node. A transformer's attention (``MatMul`` of two computed tensors) is refused by name:
explain transformers from their Hugging Face folders, where ``cp-lrp`` and ``attnlrp`` hold the
attention's rules.

Why doclrp converts ONNX itself rather than through ``onnx2torch``: doclrp's rules need torch's
own layers (``nn.Linear`` with its bias, ``nn.Embedding``, ``nn.Conv*d``) and the core's merge
layers. ``onnx2torch`` turns ``MatMul``/``Add`` into generic operator modules and ``Gather`` into
its own module, none of which the engine has rules for, and it accepts operators (attention among
them) that would then be explained by their plain gradient without a word. Rewriting its output
into the layers doclrp knows would take as much code as reading the few operators of classifiers
directly, plus a dependency; reading them directly makes every accepted operator one whose rule is
exact, and every other one a refusal by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from doclrp.core.merge import ElementwiseProduct, Extremum, WeightedSum
from doclrp.errors import DoclrpError
from doclrp.models.graph import GraphModel, Step, gated_signal, module_key
from doclrp.models.onnx_ops import DATA_RESULT, FUNCTIONS, ON_SIGNAL, AnyRankBatchNorm, OnnxOp

if TYPE_CHECKING:
    import onnx

__all__ = ["read_onnx_model", "MAX_BYTES", "OPERATORS"]

#: The most bytes of weights (file and external data together) read by default.
MAX_BYTES = 2 << 30
_LAYERS = ("Gemm", "MatMul", "Conv", "BatchNormalization", "LayerNormalization", "Relu", "Tanh", "Sigmoid", "Gelu",
           "LeakyRelu", "Softmax", "MaxPool", "AveragePool", "Constant")
_MERGES = ("Sum", "Mean")
#: Every operator read (on computed tensors only as :mod:`doclrp.models.onnx_ops` allows).
OPERATORS = tuple(sorted({*_LAYERS, *_MERGES, *FUNCTIONS}))
_SECONDARY_OUTPUTS = {"Dropout", "LayerNormalization", "BatchNormalization", "MaxPool"}


def _onnx() -> Any:
    try:
        import onnx  # optional: pip install 'doclrp[onnx]'
    except ImportError:
        raise DoclrpError("reading ONNX files needs the onnx package: pip install 'doclrp[onnx]'") from None
    return onnx


def _external(tensor: onnx.TensorProto, folder: Path, budget: list[int]) -> None:
    """Loads ``tensor``'s external data into it, from a file inside ``folder`` only."""
    info = {entry.key: entry.value for entry in tensor.external_data}
    location = info.get("location", "")
    parts = PurePosixPath(location).parts
    if not location or location.startswith(("/", "\\")) or "\\" in location or ":" in location or ".." in parts:
        raise DoclrpError(f"weight {tensor.name!r}: external data at {location!r} is refused; doclrp reads external "
                          "data only from files in the model's folder, named by a relative path without '..'")
    file = (folder / location).resolve()
    if not file.is_relative_to(folder.resolve()) or not file.is_file():
        raise DoclrpError(f"weight {tensor.name!r}: external data file {location!r} is not a file in the model's folder")
    try:
        offset = int(info.get("offset", 0))
        size = file.stat().st_size
        length = int(info["length"]) if "length" in info else size - offset
    except ValueError:
        raise DoclrpError(f"weight {tensor.name!r}: malformed external data offset or length") from None
    if offset < 0 or length < 0 or offset + length > size:
        raise DoclrpError(f"weight {tensor.name!r}: external data [{offset}, {offset + length}) lies outside "
                          f"{location!r} ({size} bytes)")
    budget[0] -= length
    if budget[0] < 0:
        raise DoclrpError(f"the model's weights exceed max_bytes at {tensor.name!r}; pass a larger max_bytes to read it")
    with file.open("rb") as handle:
        handle.seek(offset)
        tensor.raw_data = handle.read(length)
    del tensor.external_data[:]
    tensor.data_location = tensor.DEFAULT  # the bytes are in the tensor now


def _array(tensor: onnx.TensorProto, where: str) -> np.ndarray:
    onnx = _onnx()
    try:
        array = onnx.numpy_helper.to_array(tensor)
    except (ValueError, TypeError) as error:
        raise DoclrpError(f"{where}: tensor {tensor.name!r} cannot be read ({error})") from None
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise DoclrpError(f"{where}: tensor {tensor.name!r} holds NaN or infinite values")
    return np.array(array)


def _attributes(node: onnx.NodeProto, where: str) -> dict[str, Any]:
    onnx = _onnx()
    values: dict[str, Any] = {}
    for attribute in node.attribute:
        if attribute.type in (attribute.GRAPH, attribute.GRAPHS):
            raise DoclrpError(f"{where}: subgraphs are not read")
        value = onnx.helper.get_attribute_value(attribute)
        if isinstance(value, onnx.TensorProto):
            value = torch.from_numpy(_array(value, where))
        values[attribute.name] = value
    return values


class _Reader:
    """Turns the nodes of one graph into layers and steps (see :func:`read_onnx_model`)."""

    def __init__(self, graph: onnx.GraphProto, static: dict[str, np.ndarray], dtype: torch.dtype, opset: int) -> None:
        self.graph, self.static, self.dtype, self.opset = graph, static, dtype, opset
        self.kind: dict[str, str] = {}  # runtime tensor → "signal" (carries relevance) or "data"
        self.layers: dict[str, nn.Module] = {}
        self.steps: list[Step] = []
        self.taken: set[str] = set()
        self.skip: set[int] = set()
        self.producer: dict[str, str] = {}  # runtime tensor → the operator that computed it (gates)
        self.consumers: dict[str, list[int]] = {}
        for index, node in enumerate(graph.node):
            for name in node.input:
                self.consumers.setdefault(name, []).append(index)

    # -- helpers ------------------------------------------------------------------------------
    def tensor(self, array: np.ndarray) -> torch.Tensor:
        value = torch.from_numpy(np.ascontiguousarray(array))
        return value.to(self.dtype) if value.is_floating_point() else value

    def add(self, node: onnx.NodeProto, index: int, module: nn.Module, inputs: Sequence[str], kind: str,
            output: str | None = None) -> None:
        key = module_key(node.name or f"{node.op_type}_{index}", self.taken)
        self.layers[key] = module
        out = output or node.output[0]
        self.steps.append(Step(key, tuple(inputs), out))
        self.kind[out] = kind
        self.producer[out] = node.op_type

    def weight(self, name: str, where: str, what: str) -> np.ndarray:
        if name not in self.static:
            raise DoclrpError(f"{where}: its {what} {name!r} is computed, not a constant; doclrp reads layers with "
                              "constant weights")
        array = self.static[name]
        if array.dtype.kind != "f":
            raise DoclrpError(f"{where}: its {what} {name!r} holds {array.dtype}, not floating-point numbers")
        return array

    # -- nodes --------------------------------------------------------------------------------
    def read(self) -> None:
        for index, node in enumerate(self.graph.node):
            if index in self.skip:
                continue
            op = node.op_type
            where = f"node '{node.name or index}' ({op})"
            if node.domain not in ("", "ai.onnx"):
                raise DoclrpError(f"{where}: operator of domain {node.domain!r} is not read (custom operators never run)")
            if op not in OPERATORS:
                raise DoclrpError(f"{where}: operator {op} is not read; doclrp reads {', '.join(OPERATORS)}")
            extra = [o for o in node.output[1:] if o and o in self.consumers]
            if extra and op in _SECONDARY_OUTPUTS or (len(node.output) > 1 and op not in _SECONDARY_OUTPUTS):
                raise DoclrpError(f"{where}: its second output is used; doclrp reads one output per node")
            attributes = _attributes(node, where)
            if op == "Constant":
                self.constant(node, attributes, where)
                continue
            inputs = list(node.input)
            for name in inputs:
                if name and name not in self.static and name not in self.kind:
                    raise DoclrpError(f"{where}: input {name!r} is neither a constant nor computed before it")
            getattr(self, "_" + op.lower(), self.generic)(node, index, inputs, attributes, where)

    def constant(self, node: onnx.NodeProto, attributes: dict[str, Any], where: str) -> None:
        if "value" in attributes:
            self.static[node.output[0]] = attributes["value"].numpy()
        elif "value_float" in attributes or "value_int" in attributes:
            self.static[node.output[0]] = np.array(attributes.get("value_float", attributes.get("value_int")))
        elif "value_floats" in attributes or "value_ints" in attributes:
            self.static[node.output[0]] = np.array(attributes.get("value_floats", attributes.get("value_ints")))
        else:
            raise DoclrpError(f"{where}: a constant of kind {sorted(attributes)} is not read")

    def runtime(self, inputs: Sequence[str]) -> list[str]:
        return [name for name in inputs if name and name not in self.static]

    def signal(self, inputs: Sequence[str]) -> list[str]:
        return [name for name in inputs if self.kind.get(name) == "signal"]

    def generic(self, node: onnx.NodeProto, index: int, inputs: list[str], attributes: dict[str, Any],
                where: str) -> None:
        """An operator without weights: a merge of computed tensors, or an :class:`OnnxOp`."""
        op, signals = node.op_type, self.signal(inputs)
        gates = gated_signal([self.producer.get(name) == "Sigmoid" for name in signals])
        merges = {"Add": lambda n: WeightedSum.add(n), "Sum": lambda n: WeightedSum.add(n),
                  "Sub": lambda n: WeightedSum.subtract(), "Mean": lambda n: WeightedSum.average(n),
                  "Mul": lambda n: ElementwiseProduct(gates), "Max": lambda n: Extremum("max"),
                  "Min": lambda n: Extremum("min")}
        if len(signals) > 1 and op in merges:
            if len(signals) != len([i for i in inputs if i]):
                raise DoclrpError(f"{where}: merges computed tensors with constants; doclrp reads merges of "
                                  "computed tensors alone")
            self.add(node, index, merges[op](len(signals)), signals, "signal")
            return
        if op in ("Sum", "Mean"):
            raise DoclrpError(f"{where}: {op} of one computed tensor with constants is not read")
        if signals and op not in ON_SIGNAL:
            raise DoclrpError(f"{where}: operator {op} on a computed tensor has no LRP rule in doclrp")
        if signals and ((len(signals) > 1 and op != "Concat") or (op == "Div" and inputs[1] in signals)
                        or (op == "Where" and inputs[0] in signals)
                        or (op == "Gather" and inputs[1] in signals)):
            raise DoclrpError(f"{where}: operator {op} with these computed inputs has no LRP rule in doclrp")
        constants = {i: self.tensor(self.static[name]) for i, name in enumerate(inputs) if name in self.static}
        omitted = [i for i, name in enumerate(inputs) if not name]
        module = OnnxOp(op, attributes, constants, n_inputs=len(inputs), omitted=omitted)
        runtime = self.runtime(inputs)
        if not runtime:  # constants alone: folded now, by the same function
            with torch.no_grad():
                self.static[node.output[0]] = module().numpy()
            return
        kind = "signal" if signals and op not in DATA_RESULT else "data"
        self.add(node, index, module, runtime, kind)

    # -- layers -------------------------------------------------------------------------------
    def _linear(self, kernel: np.ndarray, bias: np.ndarray | None) -> nn.Linear:
        """``kernel`` as torch stores it, ``(out, in)``."""
        layer = nn.Linear(kernel.shape[1], kernel.shape[0], bias=bias is not None, dtype=self.dtype)
        with torch.no_grad():
            layer.weight.copy_(self.tensor(kernel))
            if layer.bias is not None and bias is not None:
                layer.bias.copy_(self.tensor(bias))
        return layer

    def _gemm(self, node: onnx.NodeProto, index: int, inputs: list[str], attributes: dict[str, Any],
              where: str) -> None:
        if attributes.get("transA", 0) or attributes.get("alpha", 1.0) != 1.0 or attributes.get("beta", 1.0) != 1.0:
            raise DoclrpError(f"{where}: Gemm with transA, alpha or beta is not read")
        kernel = self.weight(inputs[1], where, "weight")
        kernel = kernel if attributes.get("transB", 0) else kernel.T
        bias = self.weight(inputs[2], where, "bias") if len(inputs) > 2 and inputs[2] else None
        if bias is not None and bias.shape != (kernel.shape[0],):
            raise DoclrpError(f"{where}: a bias of shape {bias.shape} is not read (one value per output)")
        self.add(node, index, self._linear(kernel, bias), inputs[:1], self._kind_of(inputs[0]))

    def _kind_of(self, name: str) -> str:
        return self.kind.get(name, "data")

    def _matmul(self, node: onnx.NodeProto, index: int, inputs: list[str], attributes: dict[str, Any],
                where: str) -> None:
        if len(self.runtime(inputs)) > 1:
            raise DoclrpError(f"{where}: a product of two computed tensors (attention) is not read; explain "
                              "transformers from their Hugging Face folders (composites cp-lrp, attnlrp)")
        if inputs[0] in self.static:
            raise DoclrpError(f"{where}: a constant times a computed tensor is not read (x W is)")
        kernel = self.weight(inputs[1], where, "weight")
        if kernel.ndim != 2:
            raise DoclrpError(f"{where}: a weight of {kernel.ndim} dimensions is not read")
        bias, output = None, node.output[0]
        users = self.consumers.get(output, [])
        if len(users) == 1:  # x W + b: the bias belongs to the layer (its share in LRP-ε's denominator)
            follower = self.graph.node[users[0]]
            other = [name for name in follower.input if name != output]
            if follower.op_type == "Add" and len(other) == 1 and other[0] in self.static \
                    and self.static[other[0]].shape == (kernel.shape[1],):
                bias, output = self.static[other[0]], follower.output[0]
                self.skip.add(users[0])
        self.add(node, index, self._linear(kernel.T, bias), inputs[:1], self._kind_of(inputs[0]), output)

    def _conv(self, node: onnx.NodeProto, index: int, inputs: list[str], attributes: dict[str, Any],
              where: str) -> None:
        kernel = self.weight(inputs[1], where, "weight")
        bias = self.weight(inputs[2], where, "bias") if len(inputs) > 2 and inputs[2] else None
        rank = kernel.ndim - 2
        if rank not in (1, 2) or attributes.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise DoclrpError(f"{where}: doclrp reads 1-D and 2-D convolutions with explicit pads")
        pads = list(attributes.get("pads", [0] * 2 * rank))
        begin, end = pads[:rank], pads[rank:]
        groups = int(attributes.get("group", 1))
        conv_type = nn.Conv1d if rank == 1 else nn.Conv2d
        conv = conv_type(kernel.shape[1] * groups, kernel.shape[0], tuple(kernel.shape[2:]),
                         stride=tuple(attributes.get("strides", [1] * rank)),
                         dilation=tuple(attributes.get("dilations", [1] * rank)), groups=groups,
                         padding=tuple(begin) if begin == end else 0, bias=bias is not None, dtype=self.dtype)
        with torch.no_grad():
            conv.weight.copy_(self.tensor(kernel))
            if conv.bias is not None and bias is not None:
                conv.bias.copy_(self.tensor(bias))
        module: nn.Module = conv
        if begin != end:
            widths = tuple(p for axis in reversed(range(rank)) for p in (begin[axis], end[axis]))
            module = nn.Sequential(nn.ZeroPad1d(widths) if rank == 1 else nn.ZeroPad2d(widths), conv)
        self.add(node, index, module, inputs[:1], self._kind_of(inputs[0]))

    def _gather(self, node: onnx.NodeProto, index: int, inputs: list[str], attributes: dict[str, Any],
                where: str) -> None:
        table = self.static.get(inputs[0])
        if table is not None and table.dtype.kind == "f" and table.ndim == 2 and int(attributes.get("axis", 0)) == 0 \
                and inputs[1] not in self.static:
            embedding = nn.Embedding(table.shape[0], table.shape[1], dtype=self.dtype)
            with torch.no_grad():
                embedding.weight.copy_(self.tensor(table))
            self.add(node, index, embedding, inputs[1:2], "signal")
            return
        self.generic(node, index, inputs, attributes, where)

    def _batchnormalization(self, node: onnx.NodeProto, index: int, inputs: list[str], attributes: dict[str, Any],
                            where: str) -> None:
        if attributes.get("training_mode", 0):
            raise DoclrpError(f"{where}: BatchNormalization in training mode is not read")
        scale, bias, mean, var = (self.weight(name, where, what) for name, what in
                                  zip(inputs[1:5], ("scale", "bias", "mean", "variance")))
        norm = AnyRankBatchNorm(scale.shape[0], eps=float(attributes.get("epsilon", 1e-5)), dtype=self.dtype)
        with torch.no_grad():
            for buffer, value in ((norm.weight, scale), (norm.bias, bias), (norm.running_mean, mean),
                                  (norm.running_var, var)):
                buffer.copy_(self.tensor(value))  # type: ignore[union-attr]  # affine, tracking statistics
        self.add(node, index, norm.eval(), inputs[:1], self._kind_of(inputs[0]))

    def _layernormalization(self, node: onnx.NodeProto, index: int, inputs: list[str], attributes: dict[str, Any],
                            where: str) -> None:
        scale = self.weight(inputs[1], where, "scale")
        bias = self.weight(inputs[2], where, "bias") if len(inputs) > 2 and inputs[2] else np.zeros_like(scale)
        axis = int(attributes.get("axis", -1))
        if axis >= 0 or -axis != scale.ndim:
            raise DoclrpError(f"{where}: LayerNormalization over axis {axis} is not read; doclrp reads it over "
                              "the last axes (as torch's LayerNorm)")
        norm = nn.LayerNorm(scale.shape, eps=float(attributes.get("epsilon", 1e-5)), dtype=self.dtype)
        with torch.no_grad():
            norm.weight.copy_(self.tensor(scale))
            norm.bias.copy_(self.tensor(bias))
        self.add(node, index, norm, inputs[:1], self._kind_of(inputs[0]))

    def _activation(self, module: nn.Module, node: onnx.NodeProto, index: int, inputs: list[str]) -> None:
        self.add(node, index, module, inputs[:1], self._kind_of(inputs[0]))

    def _relu(self, node: onnx.NodeProto, index: int, inputs: list[str], attributes: dict[str, Any],
              where: str) -> None:
        self._activation(nn.ReLU(), node, index, inputs)

    def _leakyrelu(self, node: onnx.NodeProto, index: int, inputs: list[str], attributes: dict[str, Any],
                   where: str) -> None:
        self._activation(nn.LeakyReLU(float(attributes.get("alpha", 0.01))), node, index, inputs)

    def _tanh(self, node: onnx.NodeProto, index: int, inputs: list[str], attributes: dict[str, Any],
              where: str) -> None:
        self._activation(nn.Tanh(), node, index, inputs)

    def _sigmoid(self, node: onnx.NodeProto, index: int, inputs: list[str], attributes: dict[str, Any],
                 where: str) -> None:
        self._activation(nn.Sigmoid(), node, index, inputs)

    def _gelu(self, node: onnx.NodeProto, index: int, inputs: list[str], attributes: dict[str, Any],
              where: str) -> None:
        approximate = attributes.get("approximate", b"none")
        approximate = approximate.decode() if isinstance(approximate, bytes) else str(approximate)
        self._activation(nn.GELU(approximate=approximate), node, index, inputs)

    def _softmax(self, node: onnx.NodeProto, index: int, inputs: list[str], attributes: dict[str, Any],
                 where: str) -> None:
        if self.opset < 13 and int(attributes.get("axis", 1)) not in (-1,):
            raise DoclrpError(f"{where}: Softmax of opset {self.opset} over axis {attributes.get('axis', 1)} "
                              "is not read; export with opset 13 or later")
        self._activation(nn.Softmax(int(attributes.get("axis", -1))), node, index, inputs)

    def _pool(self, node: onnx.NodeProto, index: int, inputs: list[str], attributes: dict[str, Any],
              where: str) -> None:
        kernel = [int(k) for k in attributes["kernel_shape"]]
        rank = len(kernel)
        if rank not in (1, 2) or attributes.get("ceil_mode", 0) or any(d != 1 for d in attributes.get("dilations", [])) \
                or attributes.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise DoclrpError(f"{where}: doclrp reads 1-D and 2-D pools without ceil_mode, dilations or auto_pad")
        pads = list(attributes.get("pads", [0] * 2 * rank))
        if pads[:rank] != pads[rank:]:
            raise DoclrpError(f"{where}: uneven pads {pads} are not read")
        strides: Any = tuple(int(s) for s in attributes.get("strides", [1] * rank))
        padding: Any = tuple(pads[:rank])
        size: Any = tuple(kernel)
        module: nn.Module
        if node.op_type == "MaxPool":
            module = (nn.MaxPool1d if rank == 1 else nn.MaxPool2d)(size, strides, padding)
        else:
            module = (nn.AvgPool1d if rank == 1 else nn.AvgPool2d)(
                size, strides, padding, count_include_pad=bool(attributes.get("count_include_pad", 0)))
        self.add(node, index, module, inputs[:1], self._kind_of(inputs[0]))

    _maxpool = _averagepool = _pool


def _endpoints(values: Sequence[onnx.ValueInfoProto], exclude: set[str]) -> list[str]:
    return [value.name for value in values if value.name not in exclude]


def read_onnx_model(path: str | Path, dtype: torch.dtype = torch.float32, output: str | int | None = None,
                    max_bytes: int = MAX_BYTES) -> GraphModel:
    """The ONNX model in ``path`` as a :class:`~doclrp.models.graph.GraphModel` with the same
    outputs; see the module docstring for what is read.

    ``dtype``: of the parameters. ``output``: for a model of several outputs, the one to return
    (its name or index); by default all, as a tuple, of which doclrp explains the first.
    ``max_bytes``: the most bytes of the file and its external data read. Raises
    :class:`~doclrp.errors.DoclrpError` with one line naming the node and operator for anything
    it does not read.
    """
    onnx = _onnx()
    path = Path(path)
    if not path.is_file():
        raise DoclrpError(f"no ONNX model file at {path}")
    size = path.stat().st_size
    if size > max_bytes:
        raise DoclrpError(f"{path} is {size} bytes, more than max_bytes={max_bytes}")
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]  # onnx's dependency; no stubs

    try:
        model = onnx.ModelProto.FromString(path.read_bytes())
    except (DecodeError, RuntimeError, ValueError) as error:
        raise DoclrpError(f"{path}: not an ONNX model (the protobuf does not parse: {error})") from None
    graph = model.graph
    if not graph.node:
        raise DoclrpError(f"{path}: the ONNX graph has no nodes")
    if model.functions:
        raise DoclrpError(f"{path}: model-local functions ({model.functions[0].name}) are not read")
    if graph.sparse_initializer:
        raise DoclrpError(f"{path}: sparse initializers are not read")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    budget = [max_bytes - size]
    static: dict[str, np.ndarray] = {}
    for tensor in graph.initializer:
        if tensor.data_location == tensor.EXTERNAL:
            _external(tensor, path.parent, budget)
        static[tensor.name] = _array(tensor, str(path))
    reader = _Reader(graph, static, dtype, opset)
    inputs = _endpoints(graph.input, set(static))
    for value in graph.input:
        if value.name in static:
            continue
        elem = value.type.tensor_type.elem_type
        reader.kind[value.name] = "signal" if elem in (1, 10, 11, 16) else "data"
    try:
        reader.read()
    except DoclrpError as error:
        raise DoclrpError(f"{path}: {error}") from None
    except KeyError as error:
        raise DoclrpError(f"{path}: a node misses attribute or input {error}") from None
    except (TypeError, ValueError, IndexError) as error:
        raise DoclrpError(f"{path}: malformed node or weights ({error})") from None
    outputs = _endpoints(graph.output, set())
    for name in outputs:
        if name in static:
            raise DoclrpError(f"{path}: output {name!r} is a constant")
    shapes = [tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                    for d in value.type.tensor_type.shape.dim[1:])
              for value in graph.input if value.name not in static]
    model_out = GraphModel(reader.layers, reader.steps, inputs, outputs, shapes).eval()
    return model_out if output is None else model_out.with_output(output)
