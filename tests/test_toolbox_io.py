"""LRP Toolbox files besides plain-text models: .mat models read as data (the same model as the
text format gives), data matrices from .mat, .npy and .txt, and one line for every malformed file."""

import sys

import numpy as np
import pytest
import torch
from scipy.io import savemat

from doclrp.errors import DoclrpError
from doclrp.models.toolbox import read_toolbox_model
from doclrp.models.toolbox_io import read_toolbox_data
from references import write_toolbox_model


def layers(rng):
    return [("Convolution", rng.normal(size=(2, 2, 1, 2)), rng.normal(size=2), (1, 1)), ("Rect",),
            ("MaxPool", (2, 2), (1, 1)), ("SumPool", (2, 1), (1, 1)), ("Flatten",),
            ("Linear", rng.normal(size=(2 * 2 * 2, 3)), rng.normal(size=3)), ("SoftMax",)]


def as_structs(model_layers):
    structs = []
    for layer in model_layers:
        kind = layer[0]
        if kind == "Linear":
            structs.append({"type": kind, "W": layer[1], "B": layer[2]})
        elif kind == "Convolution":
            structs.append({"type": kind, "W": layer[1], "B": layer[2], "stride": np.array(layer[3])})
        elif kind in ("SumPool", "MaxPool"):
            structs.append({"type": kind, "pool": np.array(layer[1]), "stride": np.array(layer[2])})
        else:
            structs.append({"type": kind})
    cells = np.empty(len(structs), dtype=object)
    cells[:] = structs
    return cells


def test_a_mat_model_reads_as_its_text_twin(tmp_path):
    rng = np.random.default_rng(0)
    model_layers = layers(rng)
    savemat(tmp_path / "model.mat", {"model": as_structs(model_layers)})
    from_mat = read_toolbox_model(tmp_path / "model.mat", input_shape=(5, 4, 1))
    from_txt = read_toolbox_model(write_toolbox_model(tmp_path / "model.txt", model_layers), input_shape=(5, 4, 1))
    x = torch.from_numpy(rng.normal(size=(2, 1, 5, 4)))
    torch.testing.assert_close(from_mat(x), from_txt(x), rtol=0, atol=0)


@pytest.mark.parametrize("suffix", [".mat", ".npy", ".txt"])
def test_data_matrices_read_from_every_format(tmp_path, suffix):
    data = np.random.default_rng(1).normal(size=(4, 3))
    path = tmp_path / f"X{suffix}"
    if suffix == ".mat":
        savemat(path, {"X": data})
    elif suffix == ".npy":
        np.save(path, data)
    else:
        np.savetxt(path, data, fmt="%.17g")
    np.testing.assert_array_equal(read_toolbox_data(path), data)


def malformed(tmp_path, case):
    path = tmp_path / case
    if case == "model-bytes.mat":
        path.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(range(256)) * 2)
    elif case == "model-no-type.mat":
        savemat(path, {"model": np.array([{"W": np.ones((2, 2))}], dtype=object)})
    elif case == "model-missing-field.mat":
        cells = np.empty(1, dtype=object)
        cells[0] = {"type": "Linear", "W": np.ones((2, 2))}
        savemat(path, {"model": cells})
    elif case == "model-conv-2d.mat":
        cells = np.empty(1, dtype=object)
        cells[0] = {"type": "Convolution", "W": np.ones((2, 2, 1, 1, 2)), "B": np.ones(2), "stride": np.array([1, 1])}
        savemat(path, {"model": cells})
    elif case == "empty.mat":
        savemat(path, {})
    elif case == "text.mat":
        savemat(path, {"X": "not numbers"})
    elif case == "objects.npy":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif case == "truncated.npy":
        path.write_bytes(b"\x93NUMPY\x01\x00")
    elif case == "words.txt":
        path.write_text("1 2 3\nfour five six\n")
    elif case == "ragged.txt":
        path.write_text("1 2 3\n4 5\n")
    elif case == "data.npz":
        np.savez(path, X=np.ones(2))
    return path


MODEL_CASES = {"model-bytes.mat": "not a readable .mat file", "model-no-type.mat": "struct with a 'type' field",
               "model-missing-field.mat": "lacks the field 'B'", "model-conv-2d.mat": "needs a 4-D W",
               "empty.mat": "holds no variables"}
DATA_CASES = {"model-bytes.mat": "not a readable .mat file", "empty.mat": "holds no variables",
              "text.mat": "expected a numeric matrix", "objects.npy": "pickle", "truncated.npy": "not a readable .npy",
              "words.txt": "not a plain-text matrix", "ragged.txt": "not a plain-text matrix",
              "data.npz": "not .npz", "missing.txt": "no toolbox data file"}


@pytest.mark.parametrize("case", MODEL_CASES)
def test_malformed_mat_models_fail_on_one_line(tmp_path, case):
    path = malformed(tmp_path, case)
    with pytest.raises(DoclrpError, match=MODEL_CASES[case]) as error:
        read_toolbox_model(path)
    assert "\n" not in str(error.value) and str(path.name) in str(error.value)


@pytest.mark.parametrize("case", DATA_CASES)
def test_malformed_data_files_fail_on_one_line(tmp_path, case):
    path = malformed(tmp_path, case)
    with pytest.raises(DoclrpError, match=DATA_CASES[case]) as error:
        read_toolbox_data(path)
    assert "\n" not in str(error.value) and str(path.name) in str(error.value)


# -- Matlab-object models (the toolbox's own .mat files), decoded by the optional package mat-io --
def as_objects(model_layers):
    """The layers as the Matlab toolbox holds them: a modules.Sequential of modules.* objects."""
    from matio.utils.matclass import MatlabOpaque

    objects = []
    for layer in model_layers:
        kind = layer[0]
        properties = {"lrp_var": np.array([]), "lrp_param": np.array([[1.0]])}  # modules.Module's own
        if kind == "Linear":
            properties.update(W=layer[1], B=layer[2][None], m=float(layer[1].shape[0]), n=float(layer[1].shape[1]))
        elif kind == "Convolution":
            properties.update(W=layer[1], B=layer[2][None], stride=np.array([layer[3]], dtype=float),
                              filtersize=np.array([layer[1].shape], dtype=float), X=np.array([]), Y=np.array([]))
        elif kind in ("SumPool", "MaxPool"):
            properties.update(pool=np.array([layer[1]], dtype=float), stride=np.array([layer[2]], dtype=float))
        objects.append(MatlabOpaque(properties, f"modules.{kind}"))
    cells = np.empty((1, len(objects)), dtype=object)
    cells[0, :] = objects
    return MatlabOpaque({"modules": cells}, "modules.Sequential")


@pytest.mark.parametrize("version", ["v7", "v7.3"])
def test_a_matlab_object_model_reads_as_its_text_twin_with_mat_io(tmp_path, version):
    pytest.importorskip("matio")
    from matio import save_to_mat

    rng = np.random.default_rng(2)
    model_layers = layers(rng)
    save_to_mat(str(tmp_path / "nn.mat"), {"nn": as_objects(model_layers)}, version=version)
    from_mat = read_toolbox_model(tmp_path / "nn.mat", input_shape=(5, 4, 1))
    from_txt = read_toolbox_model(write_toolbox_model(tmp_path / "model.txt", model_layers), input_shape=(5, 4, 1))
    x = torch.from_numpy(rng.normal(size=(2, 1, 5, 4)))
    torch.testing.assert_close(from_mat(x), from_txt(x), rtol=0, atol=0)


def test_matlab_objects_of_other_classes_or_missing_properties_fail_on_one_line(tmp_path):
    pytest.importorskip("matio")
    from matio import save_to_mat
    from matio.utils.matclass import MatlabOpaque

    save_to_mat(str(tmp_path / "other.mat"), {"x": MatlabOpaque({"a": np.ones((1, 1))}, "evil.Payload")}, version="v7")
    with pytest.raises(DoclrpError, match="class evil.Payload, not one of the toolbox's modules") as error:
        read_toolbox_model(tmp_path / "other.mat")
    assert "\n" not in str(error.value)
    model = as_objects([("Linear", np.ones((2, 2)), np.zeros(2))])
    del model.properties["modules"][0, 0].properties["B"]
    save_to_mat(str(tmp_path / "nob.mat"), {"nn": model}, version="v7")
    with pytest.raises(DoclrpError, match="lacks the field 'B'"):
        read_toolbox_model(tmp_path / "nob.mat")


def test_a_matlab_object_model_without_mat_io_is_refused_with_what_to_do(tmp_path, monkeypatch):
    matio = pytest.importorskip("matio")
    path = tmp_path / "nn.mat"
    matio.save_to_mat(str(path), {"nn": as_objects([("Rect",)])}, version="v7")
    monkeypatch.setitem(sys.modules, "matio", None)  # as if it were not installed
    with pytest.raises(DoclrpError, match="pip install mat-io to read it, or in Matlab, write it as text with "
                                          r"model_io.write\(model_io.read\('nn.mat'\), 'model.txt'\)") as error:
        read_toolbox_model(path)
    assert "\n" not in str(error.value) and "is a Matlab object" in str(error.value)
