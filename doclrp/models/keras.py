"""Keras models read from their files into an equivalent ``torch.nn.Sequential`` that every
doclrp composite explains: Keras 3 ``.keras`` archives (a zip of ``config.json`` and
``model.weights.h5``) and legacy ``.h5`` files (a ``model_config`` attribute and a
``model_weights`` group), read with ``zipfile``, ``json`` and ``h5py`` alone.

>>> import json, pathlib, tempfile, zipfile, io, h5py, numpy as np
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> layers = [{"class_name": "InputLayer", "config": {"name": "input", "batch_shape": [None, 2]}},
...           {"class_name": "Dense", "config": {"name": "dense", "units": 1, "activation": "relu"}}]
>>> weights = io.BytesIO()
>>> with h5py.File(weights, "w") as f:
...     group = f.create_group("layers/dense/vars")
...     group.attrs["name"] = "dense"
...     group["0"], group["1"] = np.array([[1.0], [-1.0]]), np.array([0.5])
>>> with zipfile.ZipFile(folder / "tiny.keras", "w") as archive:
...     archive.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {"layers": layers}}))
...     archive.writestr("model.weights.h5", weights.getvalue())
>>> model = read_keras_model(folder / "tiny.keras")
>>> model
Sequential(
  (0): Linear(in_features=2, out_features=1, bias=True)
  (1): ReLU()
)
>>> model(torch.tensor([[3.0, 1.0]])).item()
2.5

No TensorFlow and no Keras are needed, and nothing in the file runs: a ``Lambda`` layer, a
custom layer, model or activation is refused by name, as is every layer or setting this
reader does not know (one line, nothing loaded). Read are ``Sequential`` models and
functional models with ``Dense``, ``Conv1D``, ``Conv2D``,
``MaxPooling1D/2D``, ``AveragePooling1D/2D``, ``GlobalMaxPooling1D/2D``,
``GlobalAveragePooling1D/2D``, ``Flatten``, ``Embedding`` (``mask_zero`` too), ``Dropout``,
``Activation``, ``ReLU``, ``Softmax`` and the ``activation`` argument (``relu``, ``tanh``,
``sigmoid``, ``softmax``, ``gelu``, ``linear``), ``BatchNormalization``, ``LayerNormalization``,
``LSTM``, ``GRU`` (``reset_after=False`` as a :class:`~doclrp.core.recurrent.ResetBeforeGRU`) and
``Bidirectional`` around either.
A model that is one chain of layers becomes an ``nn.Sequential``; any other graph (the merge
layers ``Concatenate``, ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``,
``Minimum``, shared layers, several inputs or outputs, masks) a
:class:`~doclrp.models.graph.GraphModel` (:mod:`doclrp.models.keras_graph`) that takes the
inputs in the model's order, ``model(ids, features)``; explain it with
``doclrp.attribute(model, (ids, features), ...)``, which gives every input its relevance.

The model takes and returns Keras's layouts: images ``(batch, height, width, channels)``,
sequences ``(batch, seq, features)``, token ids ``(batch, seq)``; the channels move to axis 1
inside, for torch's convolutions (see :mod:`doclrp.models.keras_layers`). A softmax stays a
separate ``nn.Softmax`` as the last module: ``doclrp.attribute`` explains the logits before it,
as for LRP Toolbox models, and ``model[:-1]`` drops it.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from doclrp.errors import DoclrpError
from doclrp.models.graph import GraphModel
from doclrp.models.keras_graph import MERGE_KINDS, functional_nodes, layer_name as _layer_name, read_graph, \
    sequential_nodes
from doclrp.models.keras_layers import LAYER_KINDS, LayerBuilder

if TYPE_CHECKING:
    import h5py  # type: ignore[import-untyped]  # h5py ships no type hints

__all__ = ["read_keras_model"]

_ZIP_MAGIC = b"PK\x03\x04"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_MODEL_CLASSES = ("Sequential", "Functional", "Model")
# where a layer's arrays sit below its group in a .keras weights file
_PARTS = {"LSTM": ("cell",), "GRU": ("cell",), "Bidirectional": ("forward_layer/cell", "backward_layer/cell")}


def _dataset(group: h5py.Group, key: str, where: str) -> np.ndarray:
    """The array at ``group[key]``; links to other files or places are refused, not followed."""
    import h5py  # slow to import (~0.4 s): only reading a Keras file needs it

    link = group.get(key, getlink=True)
    if link is None:
        raise DoclrpError(f"{where}: missing weight {key!r}")
    if not isinstance(link, h5py.HardLink) or not isinstance(group[key], h5py.Dataset):
        raise DoclrpError(f"{where}: weight {key!r} is a link or a group, not an array")
    try:
        return np.asarray(group[key][()])
    except (OSError, ValueError, TypeError) as error:
        raise DoclrpError(f"{where}: weight {key!r} cannot be read ({error})") from None


class _ArchiveWeights:
    """The arrays of a Keras 3 ``model.weights.h5``: ``layers/<group>/vars/0, 1, …`` per layer."""

    def __init__(self, file: h5py.File, where: str) -> None:
        import h5py  # slow to import (~0.4 s): only reading a Keras file needs it

        self.where = where
        self.groups: dict[str, h5py.Group] = {}
        layers = file.get("layers")
        if isinstance(layers, h5py.Group):
            for group in layers.values():
                variables = group.get("vars") if isinstance(group, h5py.Group) else None
                if variables is not None and "name" in variables.attrs:
                    self.groups[_text(variables.attrs["name"])] = group
        self.layers = layers if isinstance(layers, h5py.Group) else None

    def index(self, layers: list[dict[str, Any]]) -> None:
        """Finds the groups of layers whose group records no name, as Keras names them: by the
        class in snake case, numbered in the order of the model's layers (``dense``, ``dense_1``)."""
        if self.layers is None:
            return
        counts: dict[str, int] = {}
        for layer in layers:
            kind = str(layer.get("class_name"))
            if kind == "InputLayer":
                continue
            base = _snake_case(kind)
            key = base if base not in counts else f"{base}_{counts[base]}"
            counts[base] = counts.get(base, 0) + 1
            if _layer_name(layer) not in self.groups and key in self.layers:
                self.groups[_layer_name(layer)] = self.layers[key]

    def arrays(self, name: str, kind: str) -> list[np.ndarray]:
        group = self.groups.get(name)
        if group is None:
            return []
        arrays = []
        for part in _PARTS.get(kind, ("",)):
            owner = group[part] if part and part in group else group if not part else None
            variables = owner.get("vars") if owner is not None else None
            if variables is None:
                continue
            where = f"{self.where}, layer '{name}'"
            arrays += [_dataset(variables, str(i), where) for i in range(len(variables))]
        return arrays


class _LegacyWeights:
    """The arrays of a legacy ``.h5`` file: ``model_weights/<layer>`` lists its ``weight_names``."""

    def __init__(self, group: h5py.Group, where: str) -> None:
        self.group, self.where = group, where

    def index(self, layers: list[dict[str, Any]]) -> None:
        pass  # every layer's group carries its name

    def arrays(self, name: str, kind: str) -> list[np.ndarray]:
        import h5py  # slow to import (~0.4 s): only reading a Keras file needs it

        layer = self.group.get(name)
        if not isinstance(layer, h5py.Group):
            return []
        names = [_text(n) for n in np.atleast_1d(layer.attrs.get("weight_names", []))]
        return [_dataset(layer, n, f"{self.where}, layer '{name}'") for n in names]


def _snake_case(name: str) -> str:
    """Keras's ``to_snake_case``: ``MaxPooling2D`` → ``max_pooling2d``."""
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", name)))
    return name.lower()


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _inbound_names(nodes: Any) -> Iterator[str]:
    """The layers a functional layer's ``inbound_nodes`` read from (Keras 3 and Keras 2 forms)."""
    if isinstance(nodes, dict):
        history = nodes.get("keras_history")
        if isinstance(history, list) and history and isinstance(history[0], str):
            yield history[0]
            return
        for value in nodes.values():
            yield from _inbound_names(value)
    elif isinstance(nodes, list):
        if len(nodes) >= 3 and isinstance(nodes[0], str) and isinstance(nodes[1], int):
            yield nodes[0]  # Keras 2: [name, node index, tensor index, kwargs]
            return
        for value in nodes:
            yield from _inbound_names(value)


def _layers(model: dict[str, Any]) -> list[dict[str, Any]]:
    """The model's layers as listed, after checking that it is a model class this reader reads."""
    kind = model.get("class_name")
    config = model.get("config")
    if kind not in _MODEL_CLASSES or model.get("registered_name") not in (None, kind) \
            or model.get("module") not in (None, "keras", "keras.models", "keras.src.models.functional"):
        label = model.get("registered_name") or kind
        raise DoclrpError(f"model class {label!r} is not read: doclrp reads Sequential and functional Keras models "
                          "(a subclassed or custom model's code is not run)")
    layers = config.get("layers") if isinstance(config, dict) else config  # old Keras 2: the list itself
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        raise DoclrpError("the model config has no list of layers ('config.layers')")
    if kind != "Sequential" and not isinstance(config, dict):
        raise DoclrpError("the functional model's config is not a JSON object with layers, input_layers, output_layers")
    return layers


def _chain(model: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The model's layers in the order data flows through them, if they are one chain (one input,
    one output, each layer called once on one tensor); None for any other graph."""
    layers = _layers(model)
    if model.get("class_name") == "Sequential":
        return layers
    config = model["config"]
    by_name = {_layer_name(layer): layer for layer in layers}
    firsts, lasts = list(_inbound_names(config.get("input_layers"))), list(_inbound_names(config.get("output_layers")))
    if len(firsts) != 1 or len(lasts) != 1:
        return None
    chain, name = [], lasts[0]
    while True:
        layer = by_name.get(name)
        if layer is None:
            raise DoclrpError(f"functional model: layer {name!r} is named but not defined")
        chain.append(layer)
        if name == firsts[0]:
            break
        nodes = layer.get("inbound_nodes") or []
        sources = list(_inbound_names(nodes))
        if len(nodes) != 1 or len(sources) != 1:
            return None
        name = sources[0]
        if len(chain) > len(layers):
            raise DoclrpError("functional model: its layers form a loop")
    return chain[::-1] if len(chain) == len(layers) else None


def _check_layer(layer: dict[str, Any]) -> None:
    """Refuses a layer that would need code from the file, or that this reader does not know."""
    kind, name = layer.get("class_name"), _layer_name(layer)
    if kind == "Lambda":
        raise DoclrpError(f"layer '{name}' is a Lambda layer: its Python code is not run; rebuild the model "
                          "without it (or with built-in layers) to read it")
    registered = layer.get("registered_name")
    module = str(layer.get("module") or "keras.layers")
    if (kind not in LAYER_KINDS and kind not in MERGE_KINDS) or registered not in (None, kind) \
            or not module.startswith("keras"):
        label = registered if registered not in (None, kind) else kind
        raise DoclrpError(f"layer '{name}' ({label}) is a custom object or a layer doclrp does not read; "
                          f"it reads {', '.join(k for k in (*LAYER_KINDS, *MERGE_KINDS) if k != 'InputLayer')}")
    config = layer.get("config")
    if not isinstance(config, dict):
        raise DoclrpError(f"layer '{name}' has no config")
    policy = config.get("dtype")
    if isinstance(policy, dict) and ("Quantized" in str(policy.get("class_name"))
                                     or "int" in str((policy.get("config") or {}).get("name"))):
        raise DoclrpError(f"layer '{name}': quantized weights (dtype policy {policy.get('class_name')}) are not read")


def _input_shape(layers: list[dict[str, Any]]) -> tuple[int | None, ...]:
    first = layers[0] if layers else {}
    config = first.get("config") or {}
    shape = config.get("batch_shape") or config.get("batch_input_shape") \
        or (first.get("build_config") or {}).get("input_shape")
    if not isinstance(shape, list) or len(shape) < 2 \
            or not all(s is None or (isinstance(s, int) and s > 0) for s in shape[1:]):
        raise DoclrpError("the model records no input shape (input layer 'batch_shape'); save a model that has "
                          "an Input or was built, e.g. keras.Sequential([keras.Input(shape), ...])")
    return tuple(shape[1:])


def _load(config: Any, weights: _ArchiveWeights | _LegacyWeights, dtype: torch.dtype) -> nn.Sequential | GraphModel:
    if not isinstance(config, dict):
        raise DoclrpError("the model config is not a JSON object")
    all_layers = _layers(config)
    weights.index(all_layers)
    layers = _chain(config)
    if layers is None or any((layer.get("config") or {}).get("mask_zero") for layer in all_layers):
        if config.get("class_name") == "Sequential":
            nodes, inputs, outputs = sequential_nodes(all_layers)
        else:
            nodes, inputs, outputs = functional_nodes(config["config"])
        return read_graph(nodes, inputs, outputs, weights, dtype, _check_layer)
    for layer in layers:
        _check_layer(layer)
    builder = LayerBuilder(_input_shape(layers), dtype)
    kinds = [str(layer["class_name"]) for layer in layers]
    for index, layer in enumerate(layers):
        kind, name = kinds[index], _layer_name(layer)
        try:
            arrays = [] if kind in ("InputLayer", "Dropout") else weights.arrays(name, kind)
            builder.add(kind, layer["config"], arrays, next_kinds=kinds[index + 1:])
        except DoclrpError:
            raise
        except KeyError as error:
            raise DoclrpError(f"layer '{name}' ({kind}): config field {error} is missing") from None
        except (TypeError, ValueError, AttributeError, OSError) as error:
            # a field of the wrong type, or a weights file whose groups are not where Keras puts them
            raise DoclrpError(f"layer '{name}' ({kind}): malformed config or weights ({error})") from None
    if not builder.modules:
        raise DoclrpError("the model has no layers with an effect (only inputs and dropouts)")
    model = builder.finish()
    # what a caller feeding text needs to know (a fixed length); a plain attribute, not a module
    setattr(model, "input_shapes", [_input_shape(layers)])
    return model


def _read_archive(path: Path, dtype: torch.dtype) -> nn.Sequential | GraphModel:
    import h5py  # slow to import (~0.4 s): only reading a Keras file needs it

    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            for member in ("config.json", "model.weights.h5"):
                if member not in names:
                    raise DoclrpError(f"{path}: the Keras archive has no {member}")
            config_bytes = archive.read("config.json")
            weight_bytes = archive.read("model.weights.h5")
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise DoclrpError(f"{path}: not a readable Keras archive (a damaged or truncated zip: {error})") from None
    try:
        config = json.loads(config_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DoclrpError(f"{path}: config.json is not valid JSON ({error})") from None
    try:
        file = h5py.File(io.BytesIO(weight_bytes), "r")
    except OSError:
        raise DoclrpError(f"{path}: model.weights.h5 in the archive is not an HDF5 file") from None
    with file:
        return _load(config, _ArchiveWeights(file, f"{path}: model.weights.h5"), dtype)


def _read_legacy(path: Path, dtype: torch.dtype) -> nn.Sequential | GraphModel:
    import h5py  # slow to import (~0.4 s): only reading a Keras file needs it

    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise DoclrpError(f"{path}: not a readable HDF5 file ({error})") from None
    with file:
        if "model_config" not in file.attrs:
            raise DoclrpError(f"{path}: no 'model_config' attribute: the file holds weights only "
                              "(save the whole model with model.save('model.h5'))")
        try:
            config = json.loads(_text(file.attrs["model_config"]))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DoclrpError(f"{path}: the 'model_config' attribute is not valid JSON ({error})") from None
        group = file.get("model_weights", getlink=True)
        if not isinstance(group, h5py.HardLink) or not isinstance(file["model_weights"], h5py.Group):
            raise DoclrpError(f"{path}: no 'model_weights' group")
        return _load(config, _LegacyWeights(file["model_weights"], str(path)), dtype)


def read_keras_model(path: str | Path, dtype: torch.dtype = torch.float32,
                     output: str | int | None = None) -> nn.Sequential | GraphModel:
    """The Keras model in ``path`` (a ``.keras`` archive or a legacy ``.h5`` file) as a torch
    module with the same outputs: a ``torch.nn.Sequential`` for a chain of layers, a
    :class:`~doclrp.models.graph.GraphModel` for any other graph; see the module docstring.

    ``dtype``: of the parameters; float32 by default, as Keras computes (``.double()`` the
    model for float64 checks of conservation). ``output``: for a model of several outputs, the
    one to return (its output layer's name, or its index); by default all, as a tuple, of which
    doclrp explains the first. Raises :class:`~doclrp.errors.DoclrpError` with one line naming
    the layer or field for anything it does not read.
    """
    path = Path(path)
    if not path.is_file():
        raise DoclrpError(f"no Keras model file at {path}")
    with path.open("rb") as file:
        magic = file.read(8)
    if magic.startswith(_ZIP_MAGIC):
        model = _read_archive(path, dtype)
    elif magic == _HDF5_MAGIC:
        model = _read_legacy(path, dtype)
    else:
        raise DoclrpError(f"{path} is neither a Keras archive (.keras, a zip) nor an HDF5 file (.h5)")
    if output is None:
        return model
    if not isinstance(model, GraphModel):
        if output == 0:
            return model
        raise DoclrpError(f"the model is one chain of layers with one output; output={output!r} is not it (use 0)")
    if isinstance(output, str):  # the output layer's name, as Keras names outputs
        output = next((name for name in model.output_names if name.rsplit(":", 1)[0] == output), output)
    return model.with_output(output)
