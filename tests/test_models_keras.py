"""Keras files: models built with Keras 3 (torch backend), saved as .keras archives and legacy
.h5 files, read by doclrp.read_keras_model into torch modules whose outputs equal Keras's for
every supported layer; LRP runs on the result and conserves as on a native model; every
malformed or unsupported file fails on one line naming the layer or field, and nothing in a
file runs."""

import io
import json
import os
import shutil
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from references import KERAS_FORMATS, import_keras, randomized_keras as randomized, save_keras as save  # noqa: E402

keras = import_keras()
h5py = pytest.importorskip("h5py")

import doclrp  # noqa: E402
from doclrp.core import attribute  # noqa: E402
from doclrp.core.composites import get_composite  # noqa: E402
from doclrp.errors import DoclrpError  # noqa: E402

L = keras.layers
FORWARD_TOLERANCE = 1e-5        # float32, imported model against Keras's predict
CONSERVATION_TOLERANCE = 1e-9   # float64, bias-free ReLU nets under LRP-ε with a tiny ε
RELEVANCE_TOLERANCE = 1e-10     # float64, imported against a native torch model with the same weights
FORMATS = list(KERAS_FORMATS)




def images(*shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def token_ids(batch, seq, vocab, seed=1):
    return np.random.default_rng(seed).integers(0, vocab, size=(batch, seq)).astype("int32")


def assert_same_outputs(model, x, folder):
    """Both saved files read into torch modules that compute Keras's outputs."""
    expected = np.asarray(model.predict(x, verbose=0))
    for fmt, path in save(model, folder).items():
        imported = doclrp.read_keras_model(path)
        with torch.no_grad():
            got = imported(torch.from_numpy(x)).numpy()
        assert got.shape == expected.shape, fmt
        np.testing.assert_allclose(got, expected, atol=FORWARD_TOLERANCE, rtol=0, err_msg=fmt)


# -- outputs equal Keras's, layer type by layer type ------------------------------------------------------
def mlp():
    return keras.Sequential([keras.Input((6,)), L.Dense(5, activation="relu", name="hidden"), L.Dropout(0.3),
                             L.Dense(4, activation="tanh"), L.Dense(3, activation="sigmoid"),
                             L.Activation("linear"), L.Dense(2, activation="softmax", name="out")],
                            name="mlp"), images(3, 6)


def image_cnn():
    return keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(),
                             L.Conv2D(3, 2, padding="same"), L.AveragePooling2D(1), L.Flatten(),
                             L.Dense(5, activation="softmax")]), images(3, 8, 8, 3)


def strided_cnn():
    # TensorFlow's "same" with strides pads the odd pixel on the right; the pools pad evenly
    return keras.Sequential([keras.Input((8, 7, 2)), L.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
                             L.MaxPooling2D(3, strides=1, padding="same"), L.AveragePooling2D(2, padding="same"),
                             L.GlobalAveragePooling2D(), L.Dense(2)]), images(3, 8, 7, 2)


def global_max_image():
    return keras.Sequential([keras.Input((6, 6, 2)), L.Conv2D(3, 3, dilation_rate=2), L.GlobalMaxPooling2D(),
                             L.Activation("relu")]), images(3, 6, 6, 2)


def text_cnn():
    return keras.Sequential([keras.Input((12,), dtype="int32"), L.Embedding(30, 6),
                             L.Conv1D(5, 3, activation="relu"), L.MaxPooling1D(2), L.Conv1D(4, 2, padding="causal"),
                             L.AveragePooling1D(2), L.Conv1D(4, 2, padding="same"), L.GlobalMaxPooling1D(),
                             L.Dense(3)]), token_ids(4, 12, 30)


def text_cnn_mean():
    return keras.Sequential([keras.Input((10,), dtype="int32"), L.Embedding(20, 4), L.Conv1D(3, 3),
                             L.GlobalAveragePooling1D(), L.Dense(2)]), token_ids(4, 10, 20)


def batchnorm():
    # over features (2-D), per channel of a sequence (3-D) and of an image (4-D); a Flatten of a sequence
    return keras.Sequential([keras.Input((5, 4)), L.BatchNormalization(), L.Conv1D(2, 2),
                             L.BatchNormalization(center=False), L.Flatten(), L.Dropout(0.1), L.Dense(3),
                             L.BatchNormalization(scale=False)]), images(3, 5, 4)


def batchnorm_image():
    return keras.Sequential([keras.Input((6, 6, 2)), L.Conv2D(3, 3), L.BatchNormalization(), L.Activation("relu"),
                             L.Flatten(), L.Dense(2)]), images(3, 6, 6, 2)


def any_length_text():
    # sequences of any length: (None,) inputs through convolutions, pools and recurrent layers
    return keras.Sequential([keras.Input((None,), dtype="int32"), L.Embedding(20, 4), L.Conv1D(3, 3, padding="same"),
                             L.ReLU(), L.MaxPooling1D(2), L.LSTM(3, return_sequences=True), L.GlobalMaxPooling1D(),
                             L.Dense(2), L.Softmax()]), token_ids(3, 9, 20)


def functional_chain():
    inputs = keras.Input((6,))
    hidden = L.Dense(4, activation="tanh", name="hidden")(inputs)
    outputs = L.Dense(2, name="dense")(L.Dropout(0.5)(hidden))
    return keras.Model(inputs, outputs), images(3, 6)


@pytest.mark.parametrize("build", [mlp, image_cnn, strided_cnn, global_max_image, text_cnn, text_cnn_mean, batchnorm,
                                   batchnorm_image, any_length_text, functional_chain])
def test_outputs_equal_keras(build, tmp_path):
    model, x = build()
    assert_same_outputs(randomized(model), x, tmp_path)


def recurrent(kind, return_sequences, bidirectional=False, merge="concat", use_bias=True):
    layer = getattr(L, kind)(4, return_sequences=return_sequences, use_bias=use_bias)
    if bidirectional:
        layer = L.Bidirectional(layer, merge_mode=merge)
    return keras.Sequential([keras.Input((7,), dtype="int32"), L.Embedding(25, 5), layer, L.Dense(2)])


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_outputs_equal_keras(kind, return_sequences, bidirectional, tmp_path):
    model = recurrent(kind, return_sequences, bidirectional)
    assert_same_outputs(randomized(model), token_ids(4, 7, 25), tmp_path)
    imported = doclrp.read_keras_model(tmp_path / "model.keras")
    rnn = imported[1].rnn
    assert type(rnn) is (nn.LSTM if kind == "LSTM" else nn.GRU) and rnn.batch_first and rnn.bidirectional == bidirectional


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("use_bias", [False, True])
def test_gru_with_reset_before_the_product(bidirectional, use_bias, tmp_path):
    """GRU(reset_after=False): the reset gate before the recurrent product (a ResetBeforeGRU)."""
    layer = L.GRU(4, reset_after=False, use_bias=use_bias, return_sequences=True)
    layer = L.Bidirectional(layer) if bidirectional else layer
    model = keras.Sequential([keras.Input((7,), dtype="int32"), L.Embedding(25, 5), layer,
                              L.GlobalMaxPooling1D(), L.Dense(2)])
    assert_same_outputs(randomized(model), token_ids(4, 7, 25), tmp_path)
    imported = doclrp.read_keras_model(tmp_path / "model.keras", dtype=torch.float64)
    assert type(imported[1].rnn).__name__ == "ResetBeforeGRU"
    result = attribute(imported, torch.from_numpy(token_ids(4, 7, 25)).long(), target=0, composite="epsilon")
    assert result.relevance.shape == (4, 7) and torch.isfinite(result.relevance).all()


@pytest.mark.parametrize("merge", ["sum", "ave"])
def test_bidirectional_merge_modes_and_stacks(merge, tmp_path):
    model = keras.Sequential([keras.Input((6, 3)), L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode=merge),
                              L.GRU(3, use_bias=False), L.Activation("tanh")])
    assert_same_outputs(randomized(model), images(4, 6, 3), tmp_path)


def test_softmax_is_the_last_module_and_logits_are_explained(tmp_path):
    model, x = image_cnn()
    imported = doclrp.read_keras_model(save(randomized(model), tmp_path)["keras"])
    assert isinstance(imported[-1], nn.Softmax)
    logits = imported[:-1](torch.from_numpy(x))
    torch.testing.assert_close(torch.softmax(logits, -1), imported(torch.from_numpy(x)))
    result = attribute(imported, torch.from_numpy(x), target=1, composite="epsilon")
    torch.testing.assert_close(result.logits, logits.detach())  # the logits, as for LRP Toolbox models


def test_takes_keras_layouts(tmp_path):
    """Images go in as Keras has them, (batch, height, width, channels), and come out likewise."""
    model = keras.Sequential([keras.Input((5, 4, 2)), L.Conv2D(3, 2, padding="same")])
    imported = doclrp.read_keras_model(save(randomized(model), tmp_path)["h5"])
    assert imported(torch.zeros(1, 5, 4, 2)).shape == (1, 5, 4, 3)


# -- LRP on imported models -----------------------------------------------------------------------------
def native_cnn(imported):
    """The image CNN built by hand in torch, channels first, with the imported weights (the Dense rows
    are already in torch's flattening order)."""
    conv, pool, linear = (m for m in imported if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.Linear)))
    return nn.Sequential(conv, nn.ReLU(), pool, nn.Flatten(), linear)


@pytest.mark.parametrize("fmt", FORMATS)
def test_lrp_on_imported_cnn_conserves(fmt, tmp_path):
    model = keras.Sequential([keras.Input((8, 8, 2)), L.Conv2D(4, 3, activation="relu", use_bias=False),
                              L.MaxPooling2D(), L.Flatten(), L.Dense(3, use_bias=False)])
    imported = doclrp.read_keras_model(save(randomized(model), tmp_path)[fmt], dtype=torch.float64)
    x = torch.from_numpy(images(3, 8, 8, 2)).double()
    composite = get_composite("epsilon", eps=1e-12)
    result = attribute(imported, x, target=0, composite=composite)
    assert result.relevance.shape == x.shape
    torch.testing.assert_close(result.delta, torch.zeros(3, dtype=torch.float64), atol=CONSERVATION_TOLERANCE, rtol=0)


@pytest.mark.parametrize("composite", ["epsilon", "epsilon-plus", "epsilon-gamma-box", "alpha2-beta1"])
def test_lrp_on_imported_cnn_equals_native(composite, tmp_path):
    """The permutes inside change nothing: relevance (the first-layer rule included) is a native model's."""
    model = keras.Sequential([keras.Input((8, 8, 2)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(),
                              L.Flatten(), L.Dense(3)])
    imported = doclrp.read_keras_model(save(randomized(model), tmp_path)["keras"], dtype=torch.float64)
    x = torch.from_numpy(images(3, 8, 8, 2)).double()
    if composite == "epsilon-gamma-box":  # an imported model declares no input range: one that holds x
        composite = get_composite(composite, low=-6.0, high=6.0)
    result = attribute(imported, x, target=0, composite=composite)
    native = attribute(native_cnn(imported), x.permute(0, 3, 1, 2), target=0, composite=composite)
    torch.testing.assert_close(result.relevance, native.relevance.permute(0, 2, 3, 1),
                               atol=RELEVANCE_TOLERANCE, rtol=0)
    torch.testing.assert_close(result.delta, native.delta, atol=RELEVANCE_TOLERANCE, rtol=0)


def test_lrp_on_imported_mlp_conserves(tmp_path):
    model = keras.Sequential([keras.Input((6,)), L.Dense(5, activation="relu", use_bias=False),
                              L.Dense(3, use_bias=False, activation="softmax")])
    imported = doclrp.read_keras_model(save(randomized(model), tmp_path)["keras"], dtype=torch.float64)
    x = torch.from_numpy(images(4, 6)).double()
    result = attribute(imported, x, target=2, composite=get_composite("epsilon", eps=1e-12))
    torch.testing.assert_close(result.relevance.sum(1), imported[:-1](x)[:, 2].detach(),
                               atol=CONSERVATION_TOLERANCE, rtol=0)


def test_lrp_on_imported_text_cnn_gives_one_relevance_per_token(tmp_path):
    model, ids = text_cnn()
    imported = doclrp.read_keras_model(save(randomized(model), tmp_path)["keras"], dtype=torch.float64)
    result = attribute(imported, torch.from_numpy(ids).long(), target=0, composite="epsilon")
    assert result.relevance.shape == ids.shape and torch.isfinite(result.relevance).all()


# -- files that are refused: one line, naming the layer or field -----------------------------------------
def refused(path, match):
    with pytest.raises(DoclrpError, match=match) as error:
        doclrp.read_keras_model(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_lambda_layer_is_refused_and_never_runs(fmt, tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    monkeypatch.setenv("DOCLRP_TEST_MARKER", str(marker))
    # the lambda leaves a file behind if its code ever runs
    model = keras.Sequential([keras.Input((3,)), L.Lambda(
        lambda x: (open(os.environ["DOCLRP_TEST_MARKER"], "w").close(), x)[1], name="hook"), L.Dense(2)])
    marker.unlink(missing_ok=True)  # building the model ran the lambda once
    path = tmp_path / f"m.{fmt}"
    model.save(path)
    marker.unlink(missing_ok=True)
    refused(path, "layer 'hook' is a Lambda layer")
    assert not marker.exists()


@keras.saving.register_keras_serializable(package="doclrp_tests")
class Doubling(L.Layer):
    def call(self, x):
        return 2 * x


@pytest.mark.parametrize("fmt", FORMATS)
def test_custom_layer_is_refused_by_name(fmt, tmp_path):
    model = keras.Sequential([keras.Input((3,)), Doubling(name="twice"), L.Dense(2)])
    path = tmp_path / f"m.{fmt}"
    model.save(path)
    refused(path, r"layer 'twice' \(doclrp_tests>Doubling\) is a custom object")


@keras.saving.register_keras_serializable(package="doclrp_tests")
def doubled(x):
    return 2 * x


@pytest.mark.parametrize("fmt", FORMATS)
def test_unsupported_layers_and_settings_are_refused(fmt, tmp_path):
    cases = {
        "custom": (keras.Sequential([keras.Input((3,)), L.Dense(2, activation=doubled, name="d")]),
                   "layer 'd': unknown activation 'doclrp_tests>doubled'"),
        "elu": (keras.Sequential([keras.Input((3,)), L.Dense(2, activation="elu", name="d")]),
                "layer 'd': unknown activation 'elu'"),
        "layer": (keras.Sequential([keras.Input((4, 3)), L.UnitNormalization(name="un")]),
                  r"layer 'un' \(UnitNormalization\) is a custom object or a layer doclrp does not read"),
        "rms": (keras.Sequential([keras.Input((4, 3)), L.LayerNormalization(rms_scaling=True, name="ln")]),
                "layer 'ln': rms_scaling=True is not read"),
        "relu6": (keras.Sequential([keras.Input((3,)), L.ReLU(max_value=6.0, name="r6")]),
                  "layer 'r6': ReLU with max_value=6.0 is not read"),
        "nchw": (keras.Sequential([keras.Input((2, 5, 5)), L.Conv2D(2, 3, data_format="channels_first", name="c")]),
                 "layer 'c': data_format 'channels_first' is not read"),
        "backwards": (keras.Sequential([keras.Input((4, 3)), L.LSTM(2, go_backwards=True, name="b")]),
                      "layer 'b': LSTM with go_backwards=True is not read"),
        "mul": (keras.Sequential([keras.Input((4, 3)), L.Bidirectional(L.GRU(2), merge_mode="mul", name="bi")]),
                "layer 'bi': merge_mode 'mul' is not read"),
        "uneven": (keras.Sequential([keras.Input((5, 5, 1)), L.AveragePooling2D(2, padding="same", name="p")]),
                   r"layer 'p': padding='same' here pads unevenly"),
    }
    for name, (model, message) in cases.items():
        path = tmp_path / f"{name}.{fmt}"
        model.save(path)
        refused(path, message)


def test_branching_functional_model_is_a_graph(tmp_path):
    """Chains stay an nn.Sequential; anything else is a GraphModel (tests/test_models_keras_graph.py)."""
    inputs = keras.Input((3,))
    outputs = L.Add(name="sum")([L.Dense(3)(inputs), inputs])
    path = tmp_path / "m.keras"
    keras.Model(inputs, outputs).save(path)
    assert type(doclrp.read_keras_model(path)).__name__ == "GraphModel"


def rewrite_archive(source, target, config=None, edit_weights=None):
    """A copy of the .keras archive ``source`` with its config and/or weights changed."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if config is not None:
        members["config.json"] = config(json.loads(members["config.json"]))
    if edit_weights is not None:
        buffer = io.BytesIO(members["model.weights.h5"])
        with h5py.File(buffer, "r+") as weights:
            edit_weights(weights)
        members["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data if isinstance(data, bytes) else json.dumps(data))


@pytest.fixture()
def mlp_files(tmp_path):
    model, _ = mlp()
    return save(randomized(model), tmp_path, "good")


def test_malformed_archives_are_refused(mlp_files, tmp_path):
    good = mlp_files["keras"]
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    refused(truncated, "not a readable Keras archive")

    missing = tmp_path / "missing.keras"
    rewrite_archive(good, missing, edit_weights=lambda f: f.__delitem__("layers/dense_3/vars/1"))
    refused(missing, "layer 'out': missing weight bias")

    wrong = tmp_path / "wrong.keras"

    def bad_shape(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = np.zeros((7, 5), dtype="float32")
    rewrite_archive(good, wrong, edit_weights=bad_shape)
    refused(wrong, r"layer 'hidden': weight 'kernel' has shape \(7, 5\), expected \(6, 5\)")

    not_json = tmp_path / "config.keras"
    rewrite_archive(good, not_json, config=lambda c: b"{not json")
    refused(not_json, "config.json is not valid JSON")

    no_field = tmp_path / "field.keras"

    def drop_units(config):
        del config["config"]["layers"][1]["config"]["units"]
        return config
    rewrite_archive(good, no_field, config=drop_units)
    refused(no_field, r"layer 'hidden' \(Dense\): config field 'units' is missing")

    wrong_type = tmp_path / "type.keras"

    def text_units(config):
        config["config"]["layers"][1]["config"]["units"] = "five"
        return config
    rewrite_archive(good, wrong_type, config=text_units)
    refused(wrong_type, r"layer 'hidden' \(Dense\): malformed config or weights")

    misplaced = tmp_path / "misplaced.keras"

    def vars_as_array(f):
        del f["layers/dense/vars"]
        f["layers/dense/vars"] = np.zeros(3)
    rewrite_archive(good, misplaced, edit_weights=vars_as_array)
    refused(misplaced, r"layer 'hidden' \(Dense\): (malformed config or weights|missing weight)")

    no_weights = tmp_path / "noweights.keras"
    with zipfile.ZipFile(no_weights, "w") as archive:
        archive.writestr("config.json", "{}")
    refused(no_weights, "the Keras archive has no model.weights.h5")

    garbage_weights = tmp_path / "garbage.keras"
    with zipfile.ZipFile(garbage_weights, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"not hdf5")
    refused(garbage_weights, "model.weights.h5 in the archive is not an HDF5 file")

    subclassed = tmp_path / "subclassed.keras"
    rewrite_archive(good, subclassed, config=lambda c: {**c, "class_name": "MyModel", "registered_name": "x>MyModel"})
    refused(subclassed, "model class 'x>MyModel' is not read")


def test_malformed_legacy_files_are_refused(mlp_files, tmp_path):
    good = mlp_files["h5"]
    not_hdf5 = tmp_path / "text.h5"
    not_hdf5.write_text("hello")
    refused(not_hdf5, "neither a Keras archive")

    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[:3000])
    refused(truncated, "not a readable HDF5 file")

    missing = tmp_path / "missing.h5"
    shutil.copy(good, missing)
    with h5py.File(missing, "r+") as f:
        del f["model_weights/hidden/mlp/hidden/kernel"]
    refused(missing, "layer 'hidden': missing weight 'mlp/hidden/kernel'")

    no_config = tmp_path / "weights_only.h5"
    shutil.copy(good, no_config)
    with h5py.File(no_config, "r+") as f:
        del f.attrs["model_config"]
    refused(no_config, "no 'model_config' attribute")

    linked = tmp_path / "linked.h5"
    shutil.copy(good, linked)
    with h5py.File(linked, "r+") as f:
        del f["model_weights/hidden/mlp/hidden/bias"]
        f["model_weights/hidden/mlp/hidden/bias"] = h5py.ExternalLink("/etc/passwd", "/x")
    refused(linked, "weight 'mlp/hidden/bias' is a link or a group")

    refused(tmp_path / "absent.keras", "no Keras model file")


def test_nonfinite_weights_are_refused(mlp_files):
    with h5py.File(mlp_files["h5"], "r+") as f:
        f["model_weights/out/mlp/out/bias"][0] = np.nan
    refused(mlp_files["h5"], "layer 'out': weight 'bias' holds NaN or infinite values")


def test_archive_without_group_names_is_read_by_keras_naming(mlp_files, tmp_path):
    """Weight groups that record no layer name are found as Keras names them (dense, dense_1, …)."""
    def strip_names(f):
        for group in f["layers"].values():
            del group["vars"].attrs["name"]
    path = tmp_path / "unnamed.keras"
    rewrite_archive(mlp_files["keras"], path, edit_weights=strip_names)
    x = torch.from_numpy(images(3, 6))
    torch.testing.assert_close(doclrp.read_keras_model(path)(x), doclrp.read_keras_model(mlp_files["keras"])(x))


def test_keras2_legacy_file(tmp_path):
    """A legacy .h5 as tf.keras 2 wrote it: the input shape on the first layer, weight names with ':0',
    functional inbound nodes as nested lists."""
    rng = np.random.default_rng(0)
    kernel, bias, out = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(3, 2))
    layers = [
        {"class_name": "InputLayer", "name": "input_1", "config": {"batch_input_shape": [None, 4], "name": "input_1"},
         "inbound_nodes": []},
        {"class_name": "Dense", "name": "dense", "config": {"name": "dense", "units": 3, "activation": "relu"},
         "inbound_nodes": [[["input_1", 0, 0, {}]]]},
        {"class_name": "Dense", "name": "dense_1",
         "config": {"name": "dense_1", "units": 2, "activation": "linear", "use_bias": False},
         "inbound_nodes": [[["dense", 0, 0, {}]]]},
    ]
    config = {"class_name": "Model", "config": {"layers": layers, "input_layers": [["input_1", 0, 0]],
                                                "output_layers": [["dense_1", 0, 0]]}}
    path = tmp_path / "tf2.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config).encode()
        weights = f.create_group("model_weights")
        for name, arrays in {"dense": {"kernel:0": kernel, "bias:0": bias}, "dense_1": {"kernel:0": out}}.items():
            group = weights.create_group(name)
            group.attrs["weight_names"] = [f"{name}/{key}".encode() for key in arrays]
            for key, array in arrays.items():
                group[f"{name}/{key}"] = array
    x = rng.normal(size=(5, 4))
    expected = np.maximum(x @ kernel + bias, 0) @ out
    got = doclrp.read_keras_model(path, dtype=torch.float64)(torch.from_numpy(x))
    np.testing.assert_allclose(got.detach().numpy(), expected, atol=1e-12)


def test_read_keras_model_is_exported(mlp_files):
    from doclrp.models import read_keras_model

    assert read_keras_model is doclrp.read_keras_model
    assert isinstance(read_keras_model(mlp_files["keras"]), nn.Sequential)
