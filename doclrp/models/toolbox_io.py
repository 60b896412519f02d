"""Files of the LRP Toolbox other than its plain-text models: Matlab ``.mat`` models (read as data
with ``scipy.io.loadmat``; no code runs) and its data matrices (``.mat``, ``.npy`` without pickles,
``.txt``). A malformed file fails with one line naming the file and the problem; nothing is loaded.

>>> import pathlib, tempfile, numpy as np
>>> path = pathlib.Path(tempfile.mkdtemp()) / "X.txt"
>>> np.savetxt(path, np.eye(2))
>>> read_toolbox_data(path).tolist()
[[1.0, 0.0], [0.0, 1.0]]

A Matlab model saved by the toolbox's ``model_io.write(model, 'model.mat')`` holds Matlab objects
(a ``modules.Sequential`` whose ``modules`` are ``modules.Linear``, ``modules.Convolution``, …),
stored in the file's MCOS subsystem, which scipy cannot decode. With the optional package
``mat-io`` installed (``pip install mat-io``: it decodes the subsystem as data; nothing in the
file is run, and Matlab class names are only read, never looked up as code) such a file, in
v7 or v7.3, is read by the objects' properties; without it the file is refused with the Matlab
line that writes the same model as text. A ``.mat`` that holds the layers as data (a cell array
of structs, one per layer, each with a ``type`` field — ``Linear``, ``Convolution``, ``SumPool``,
``MaxPool``, ``Flatten``, ``Rect``, ``Tanh``, ``SoftMax`` — and the toolbox's property names
``W``, ``B``, ``stride``, ``pool``) is read as the text format would be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from doclrp.errors import DoclrpError

__all__ = ["read_toolbox_data", "mat_model_lines"]

_MATLAB_TO_TEXT = ("in Matlab, write it as text with model_io.write(model_io.read('{name}'), 'model.txt') "
                   "and read the .txt")
#: The toolbox's Matlab classes, by the layer names of the text format.
_TOOLBOX_CLASSES = ("Linear", "Convolution", "SumPool", "MaxPool", "Flatten", "Rect", "Tanh", "SoftMax")


class _ObjectLayer:
    """A toolbox object read by mat-io, seen as the struct of a layer: ``type`` and its properties."""

    def __init__(self, kind: str, properties: dict[str, Any]) -> None:
        self.type, self._properties = kind, properties

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_properties"][name]
        except KeyError:
            raise AttributeError(name, name=name) from None


def _matio_objects(path: Path, why: str) -> tuple[str, Any]:
    """``(name, value)`` of the first variable of ``path`` read by mat-io (Matlab objects decoded
    as data), or the one-line refusal when mat-io is not installed."""
    try:
        # mat-io is optional: only Matlab-object (MCOS) and v7.3 model files need it
        from matio import load_from_mat
        from matio.utils.matclass import MatlabOpaque
    except ImportError:
        raise DoclrpError(f"{path}: {why}, which scipy cannot decode; pip install mat-io to read it, or "
                          + _MATLAB_TO_TEXT.format(name=path.name)) from None
    try:
        content = load_from_mat(str(path))
    except Exception as error:  # mat-io raises many kinds on damaged subsystems
        raise DoclrpError(f"{path}: mat-io cannot read its Matlab objects ({type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else 'no detail'})") from None
    variables = [(k, v) for k, v in content.items() if not k.startswith("__")]
    if not variables:
        raise DoclrpError(f"{path}: the .mat file holds no variables")
    name, value = variables[0]

    def as_layer(item: Any) -> Any:
        item = _one(item)
        if not isinstance(item, MatlabOpaque):
            return item
        kind = str(item.classname).removeprefix("modules.")
        if kind not in _TOOLBOX_CLASSES and kind != "Sequential":
            raise DoclrpError(f"{path}: variable '{name}' holds a Matlab object of class {item.classname}, "
                              "not one of the toolbox's modules")
        properties = item.properties if isinstance(item.properties, dict) else {}
        return _ObjectLayer(kind, properties)

    model = as_layer(value)
    if isinstance(model, _ObjectLayer) and model.type == "Sequential":
        cells = _one(getattr(model, "modules", None))
        cells = list(cells.ravel()) if isinstance(cells, np.ndarray) else [cells]
        model = _ObjectLayer("Sequential", {"modules": [as_layer(cell) for cell in cells]})
    return name, model


def _loadmat(path: Path) -> dict[str, Any]:
    # scipy is imported here: only .mat files need it (a dependency of scikit-learn, always installed)
    try:
        from scipy.io import loadmat
    except ImportError:  # pragma: no cover - scipy comes with scikit-learn
        raise DoclrpError(f"{path}: reading .mat files needs scipy (pip install scipy)") from None
    try:
        content = loadmat(path, squeeze_me=False, struct_as_record=False)
    except NotImplementedError:
        raise _V73(f"{path}: a Matlab v7.3 (HDF5) file; save it with -v7 to read it here") from None
    except Exception as error:  # scipy raises ValueError, TypeError, OSError… on damaged files
        raise DoclrpError(f"{path}: not a readable .mat file ({type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else 'no detail'})") from None
    variables = {k: v for k, v in content.items() if not k.startswith("__")}
    if not variables:
        raise DoclrpError(f"{path}: the .mat file holds no variables")
    return variables


class _V73(DoclrpError):
    """A v7.3 (HDF5) file, which scipy does not read (mat-io does)."""


def _is_matlab_object(value: Any) -> bool:
    from scipy.io.matlab import MatlabOpaque  # only reached after _loadmat imported scipy

    return isinstance(value, MatlabOpaque) or (isinstance(value, np.ndarray) and value.dtype.names is not None
                                               and {"s0", "s1", "s2", "arr"} <= set(value.dtype.names))


def read_toolbox_data(path: str | Path) -> np.ndarray:
    """The data matrix in ``path`` (``.mat``: its first variable, as the toolbox reads it; ``.npy``;
    ``.txt``: whitespace-separated rows) as a float64 array."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".mat", ".npy", ".txt"):
        raise DoclrpError(f"{path}: toolbox data is read from .mat, .npy or .txt, not {suffix or 'a file without suffix'}"
                          + (" (pickles are not read: unpickling runs code)" if suffix in (".pickle", ".pickled", ".nn", ".npz") else ""))
    if not path.is_file():
        raise DoclrpError(f"no toolbox data file at {path}")
    if suffix == ".mat":
        name, value = next(iter(_loadmat(path).items()))
        if _is_matlab_object(value):
            raise DoclrpError(f"{path}: variable '{name}' is a Matlab object, not a matrix")
    elif suffix == ".npy":
        try:
            value = np.load(path, allow_pickle=False)
        except ValueError as error:
            message = "it holds Python objects (a pickle), which are not read" if "pickle" in str(error) else str(error)
            raise DoclrpError(f"{path}: not a readable .npy matrix: {message}") from None
        except (OSError, EOFError) as error:
            raise DoclrpError(f"{path}: not a readable .npy matrix ({type(error).__name__})") from None
    else:
        try:
            value = np.loadtxt(path, dtype=np.float64, ndmin=2)
        except ValueError as error:
            raise DoclrpError(f"{path}: not a plain-text matrix: {str(error).splitlines()[0]}") from None
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise DoclrpError(f"{path}: expected a numeric matrix, found {array.dtype} values")
    if array.size == 0:
        raise DoclrpError(f"{path}: the matrix is empty")
    return array.astype(np.float64)


def _one(value: Any) -> Any:
    """A Matlab scalar (a 1 x 1 struct or cell, a string in an array) as the thing itself."""
    while isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "OU":
        value = value.ravel()[0]
    return value


def _numbers(value: Any) -> str:
    return " ".join(repr(float(v)) for v in np.asarray(value, dtype=np.float64).ravel())


def mat_model_lines(path: Path) -> list[str]:
    """The layers of a ``.mat`` model as lines of the plain-text format."""
    try:
        name, value = next(iter(_loadmat(path).items()))
    except _V73:
        name, value = _matio_objects(path, "a Matlab v7.3 (HDF5) file")
    if _is_matlab_object(value):
        name, value = _matio_objects(path, f"variable '{name}' is a Matlab object (the toolbox's modules.Sequential)")
    value = _one(value)
    layers = _one(getattr(value, "modules", value))
    layers = list(layers.ravel()) if isinstance(layers, np.ndarray) else list(layers) if isinstance(layers, list) \
        else [layers]
    lines = []
    for index, cell in enumerate(layers, 1):
        layer = _one(cell)
        kind = _one(getattr(layer, "type", None))
        if not isinstance(kind, str):
            raise DoclrpError(f"{path}: layer {index} of '{name}' is not a struct with a 'type' field")
        try:
            if kind == "Linear":
                weight = np.atleast_2d(np.asarray(layer.W, dtype=np.float64))
                lines += [f"Linear {weight.shape[0]} {weight.shape[1]}", _numbers(weight), _numbers(layer.B)]
            elif kind == "Convolution":
                weight = np.asarray(layer.W, dtype=np.float64)
                # Matlab drops trailing singleton dimensions (one filter, depth 1)
                weight = weight.reshape(weight.shape + (1,) * (4 - weight.ndim)) if weight.ndim < 4 else weight
                if weight.ndim != 4:
                    raise DoclrpError(f"{path}: layer {index} (Convolution) needs a 4-D W (h, w, d, n), "
                                      f"found {weight.ndim}-D")
                stride = np.asarray(layer.stride, dtype=int).ravel()
                lines += ["Convolution " + " ".join(map(str, (*weight.shape, *stride))), _numbers(weight),
                          _numbers(layer.B)]
            elif kind in ("SumPool", "MaxPool"):
                sizes = np.concatenate([np.asarray(layer.pool, dtype=int).ravel(), np.asarray(layer.stride, dtype=int).ravel()])
                lines.append(f"{kind} " + " ".join(map(str, sizes)))
            else:
                lines.append(kind)  # the text reader names unknown layers
        except DoclrpError:
            raise
        except AttributeError as error:
            raise DoclrpError(f"{path}: layer {index} ({kind}) lacks the field '{error.name}'") from None
        except (TypeError, ValueError):
            raise DoclrpError(f"{path}: layer {index} ({kind}) has non-numeric parameters") from None
    return lines
