"""Keras functional models that are graphs (issue 25): branches joined by every merge layer, shared
layers, several inputs and outputs, LayerNormalization, gelu, Embedding(mask_zero=True), built with
Keras 3 (torch backend), saved as .keras and .h5, read into a GraphModel whose outputs equal
Keras's predict, and whose LRP-ε equals the same network written by hand in torch."""


import numpy as np
import pytest
import torch
from torch import nn

from references import KERAS_FORMATS, import_keras, randomized_keras as randomized, save_keras as save  # noqa: E402

keras = import_keras()
pytest.importorskip("h5py")

import doclrp  # noqa: E402
from doclrp.core import attribute  # noqa: E402
from doclrp.core.merge import WeightedSum  # noqa: E402
from doclrp.errors import DoclrpError  # noqa: E402
from doclrp.models.graph import GraphModel  # noqa: E402

L = keras.layers
FORWARD_TOLERANCE = 1e-5     # float32, imported model against Keras's predict
RELEVANCE_TOLERANCE = 1e-6   # float64, LRP-ε of the imported model against the hand-written torch one
CONSERVATION_TOLERANCE = 1e-9
FORMATS = list(KERAS_FORMATS)




def floats(*shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def token_ids(batch, seq, vocab, seed=1, low=0):
    return np.random.default_rng(seed).integers(low, vocab, size=(batch, seq)).astype("int32")


def torch_inputs(xs, dtype=torch.float32):
    return tuple(torch.from_numpy(x).long() if x.dtype.kind == "i" else torch.from_numpy(x).to(dtype) for x in xs)


def assert_same_outputs(model, xs, folder):
    expected = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    expected = expected if isinstance(expected, list) else [expected]
    for fmt, path in save(model, folder).items():
        imported = doclrp.read_keras_model(path)
        assert isinstance(imported, GraphModel), fmt
        with torch.no_grad():
            got = imported(*torch_inputs(xs))
        got = list(got) if isinstance(got, tuple) else [got]
        assert len(got) == len(expected), fmt
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g.numpy(), np.asarray(e), atol=FORWARD_TOLERANCE, rtol=0, err_msg=fmt)


# -- the models ----------------------------------------------------------------------------------------
def kim_cnn():
    """Kim (2014): three Conv1D widths over one embedding, max over time, joined, a Dense."""
    ids = keras.Input((12,), dtype="int32", name="ids")
    embedded = L.Embedding(30, 6, name="embedding")(ids)
    pooled = [L.GlobalMaxPooling1D(name=f"pool{k}")(L.Conv1D(4, k, activation="relu", name=f"conv{k}")(embedded))
              for k in (2, 3, 4)]
    joined = L.Concatenate(name="join")(pooled)
    outputs = L.Dense(3, name="out")(L.Dropout(0.5)(joined))
    return keras.Model(ids, outputs), [token_ids(4, 12, 30)]


def residual_block():
    x = keras.Input((6,), name="x")
    h = L.Dense(6, activation="relu", name="inner")(x)
    h = L.Dense(6, name="back")(h)
    added = L.Add(name="add")([x, h])
    outputs = L.Dense(2, name="out")(L.Activation("relu")(added))
    return keras.Model(x, outputs), [floats(5, 6)]


def two_inputs():
    """Text ids and numeric metadata: a bag of embeddings joined with the metadata."""
    ids = keras.Input((7,), dtype="int32", name="ids")
    meta = keras.Input((3,), name="meta")
    text = L.GlobalAveragePooling1D(name="mean")(L.Embedding(20, 5, name="embedding")(ids))
    joined = L.Concatenate(name="join")([text, L.Dense(4, activation="tanh", name="meta_dense")(meta)])
    outputs = L.Dense(2, name="out")(L.Dense(6, activation="relu", name="hidden")(joined))
    return keras.Model([ids, meta], outputs), [token_ids(4, 7, 20), floats(4, 3)]


def shared_embedding():
    """Question and answer through one embedding (its weights shared), compared."""
    question = keras.Input((6,), dtype="int32", name="question")
    answer = keras.Input((5,), dtype="int32", name="answer")
    embedding = L.Embedding(25, 4, name="shared")
    dense = L.Dense(4, activation="relu", name="encode")
    q = dense(L.GlobalMaxPooling1D(name="pool_q")(embedding(question)))
    a = dense(L.GlobalMaxPooling1D(name="pool_a")(embedding(answer)))
    outputs = L.Dense(1, name="score")(L.Subtract(name="diff")([q, a]))
    return keras.Model([question, answer], outputs), [token_ids(4, 6, 25), token_ids(4, 5, 25, seed=2)]


def every_merge():
    x = keras.Input((5,))
    a, b, c = (L.Dense(5, activation=act)(x) for act in ("tanh", "sigmoid", "gelu"))
    merged = [L.Add()([a, b, c]), L.Subtract()([a, b]), L.Multiply()([a, b]), L.Average()([a, c]),
              L.Maximum()([a, b, c]), L.Minimum()([b, c])]
    joined = L.LayerNormalization()(L.Concatenate()(merged))
    return keras.Model(x, [L.Dense(3, name="first")(joined), L.Dense(1, name="second")(a)]), [floats(4, 5)]


def layer_norm_image():
    x = keras.Input((6, 6, 2))
    h = L.Conv2D(3, 3, padding="same", activation="gelu")(x)
    h = L.LayerNormalization(epsilon=1e-5)(L.Add()([h, L.Conv2D(3, 1)(x)]))
    return keras.Model(x, L.Dense(2)(L.Flatten()(h))), [floats(3, 6, 6, 2)]


def masked_gru():
    ids = keras.Input((6,), dtype="int32")
    embedded = L.Embedding(20, 4, mask_zero=True)(ids)
    return keras.Model(ids, L.Dense(2)(L.GRU(3)(embedded))), [padded(4, 6, 20)]


def masked_bidirectional_and_mean():
    ids = keras.Input((6,), dtype="int32")
    embedded = L.Embedding(20, 4, mask_zero=True)(ids)
    recurrent = L.Bidirectional(L.LSTM(3))(L.Dense(4, activation="tanh")(embedded))
    mean = L.GlobalAveragePooling1D()(embedded)
    return keras.Model(ids, L.Dense(2)(L.Concatenate()([recurrent, mean]))), [padded(4, 6, 20)]


def masked_sequences():
    """Stacked: a Bidirectional GRU's sequences (masked steps zero), an LSTM's (masked steps repeat the
    last output) into a max over time (which ignores masks), and a last LSTM over the masked steps."""
    ids = keras.Input((7,), dtype="int32")
    embedded = L.Embedding(20, 4, mask_zero=True)(ids)
    both = L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode="sum")(embedded)
    carried = L.LSTM(3, return_sequences=True)(both)
    return keras.Model(ids, L.Dense(2)(L.Concatenate()([L.GlobalMaxPooling1D()(carried), L.LSTM(2)(carried)]))), \
        [padded(4, 7, 20)]


def masked_residual():
    """A residual Add over a masked embedding: Keras 3 records the merged mask as
    ``logical_or(not_equal(ids, 0), not_equal(ids, 0))``, one mask."""
    ids = keras.Input((6,), dtype="int32")
    embedded = L.Embedding(20, 4, mask_zero=True)(ids)
    summed = L.Add()([embedded, L.Dense(4, activation="tanh")(embedded)])
    return keras.Model(ids, L.Dense(2)(L.GlobalAveragePooling1D()(summed))), [padded(4, 6, 20)]


def masked_sequential():
    return keras.Sequential([keras.Input((6,), dtype="int32"), L.Embedding(20, 4, mask_zero=True),
                             L.LSTM(3, return_sequences=True), L.LSTM(3), L.Dense(2)]), [padded(4, 6, 20)]


def padded(batch, seq, vocab):
    """Token ids with 0 as padding before (Keras's pad_sequences), after and inside; every row keeps a token."""
    ids = token_ids(batch, seq, vocab, low=1)
    ids[0, :2] = 0
    ids[1, -3:] = 0
    ids[2, 2] = 0
    return ids


GRAPHS = [kim_cnn, residual_block, two_inputs, shared_embedding, every_merge, layer_norm_image, masked_gru,
          masked_bidirectional_and_mean, masked_sequences, masked_sequential, masked_residual]


@pytest.mark.parametrize("build", GRAPHS)
def test_outputs_equal_keras(build, tmp_path):
    model, xs = build()
    assert_same_outputs(randomized(model), xs, tmp_path)


def test_shared_layers_are_one_module_and_outputs_can_be_chosen(tmp_path):
    model, xs = shared_embedding()
    imported = doclrp.read_keras_model(save(randomized(model), tmp_path)["keras"])
    assert [step.layer for step in imported.steps].count("shared") == 2
    assert sum(isinstance(m, nn.Embedding) for m in imported.modules()) == 1
    model, xs = every_merge()
    path = save(randomized(model), tmp_path, "merges")["keras"]
    both = doclrp.read_keras_model(path)
    second = doclrp.read_keras_model(path, output="second")
    with torch.no_grad():
        torch.testing.assert_close(second(*torch_inputs(xs)), both(*torch_inputs(xs))[1])
    assert doclrp.read_keras_model(path, output=0).output_names == ("first:0",)
    with pytest.raises(DoclrpError, match="unknown output 'third'"):
        doclrp.read_keras_model(path, output="third")


# -- LRP-ε against the same networks written in torch ---------------------------------------------------
def keras_weights(model):
    return {layer.name: [np.asarray(w, dtype="float64") for w in layer.get_weights()] for layer in model.layers}


def linear(kernel, bias=None):
    layer = nn.Linear(*kernel.shape, bias=bias is not None).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(kernel.T))
        if bias is not None:
            layer.bias.copy_(torch.from_numpy(bias))
    return layer


def embedding(table):
    layer = nn.Embedding(*table.shape).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(table))
    return layer


def conv1d(kernel, bias):
    layer = nn.Conv1d(kernel.shape[1], kernel.shape[2], kernel.shape[0]).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(kernel.transpose(2, 1, 0)))
        layer.bias.copy_(torch.from_numpy(bias))
    return layer


class NativeKim(nn.Module):
    def __init__(self, w, merges=True):
        super().__init__()
        self.embedding = embedding(*w["embedding"])
        self.convs = nn.ModuleList(conv1d(*w[f"conv{k}"]) for k in (2, 3, 4))
        self.out = linear(*w["out"])

    def forward(self, ids):
        x = self.embedding(ids).transpose(1, 2)
        return self.out(torch.cat([torch.relu(conv(x)).amax(-1) for conv in self.convs], -1))


class NativeResidual(nn.Module):
    """``merges``: the add as doclrp's merge layer (which takes the composite's ε, as the imported
    Add does) or as torch's ``+`` (the plain gradient: LRP-0 on the sum)."""

    def __init__(self, w, merges=True):
        super().__init__()
        self.inner, self.back, self.out = linear(*w["inner"]), linear(*w["back"]), linear(*w["out"])
        self.add = WeightedSum.add(2) if merges else torch.add

    def forward(self, x):
        return self.out(torch.relu(self.add(x, self.back(torch.relu(self.inner(x))))))


class NativeTwoInputs(nn.Module):
    def __init__(self, w, merges=True):
        super().__init__()
        self.embedding, self.meta = embedding(*w["embedding"]), linear(*w["meta_dense"])
        self.hidden, self.out = linear(*w["hidden"]), linear(*w["out"])
        self.tanh = nn.Tanh()  # a module, as Keras's activation becomes: it takes the identity rule

    def forward(self, ids, meta):
        joined = torch.cat([self.embedding(ids).mean(1), self.tanh(self.meta(meta))], -1)
        return self.out(torch.relu(self.hidden(joined)))


class NativeShared(nn.Module):
    def __init__(self, w, merges=True):
        super().__init__()
        self.embedding, self.encode, self.score = embedding(*w["shared"]), linear(*w["encode"]), linear(*w["score"])
        self.subtract = WeightedSum.subtract() if merges else torch.sub

    def forward(self, question, answer):
        # max(): a repeated token ties; the gradient goes to one of them, as in a max pool
        q = torch.relu(self.encode(self.embedding(question).max(1).values))
        a = torch.relu(self.encode(self.embedding(answer).max(1).values))
        return self.score(self.subtract(q, a))


NATIVE = {kim_cnn: NativeKim, residual_block: NativeResidual, two_inputs: NativeTwoInputs,
          shared_embedding: NativeShared}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("build", list(NATIVE))
@pytest.mark.parametrize("composite, merges", [("epsilon", True), ("zero", False)])
def test_lrp_equals_native_torch(build, fmt, composite, merges, tmp_path):
    """LRP-ε of the imported graph is that of the network written in torch with doclrp's merge
    layers for its sums; LRP-0 that of the network with torch's own ``+`` and ``-``."""
    model, xs = build()
    model = randomized(model)
    imported = doclrp.read_keras_model(save(model, tmp_path)[fmt], dtype=torch.float64)
    native = NATIVE[build](keras_weights(model), merges)
    inputs = torch_inputs(xs, torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(imported(*inputs), native(*inputs), atol=1e-12, rtol=0)
    ours = attribute(imported, inputs, target=0, composite=composite)
    theirs = attribute(native, inputs, target=0, composite=composite)
    for got, want in zip(ours.input_relevance or (ours.relevance,), theirs.input_relevance or (theirs.relevance,)):
        torch.testing.assert_close(got, want, atol=RELEVANCE_TOLERANCE, rtol=0)
    torch.testing.assert_close(ours.delta, theirs.delta, atol=RELEVANCE_TOLERANCE, rtol=0)


def test_graph_conserves_without_biases(tmp_path):
    ids = keras.Input((7,), dtype="int32")
    meta = keras.Input((3,))
    embedded = L.Embedding(20, 5)(ids)
    text = L.GlobalMaxPooling1D()(L.Conv1D(4, 2, activation="relu", use_bias=False)(embedded))
    joined = L.Concatenate()([text, L.Dense(4, activation="relu", use_bias=False)(meta)])
    summed = L.Add()([joined, L.Dense(8, activation="relu", use_bias=False)(joined)])
    model = randomized(keras.Model([ids, meta], L.Dense(2, use_bias=False)(summed)))
    imported = doclrp.read_keras_model(save(model, tmp_path)["keras"], dtype=torch.float64)
    inputs = torch_inputs([token_ids(3, 7, 20), floats(3, 3)], torch.float64)
    result = attribute(imported, inputs, target=1, composite=doclrp.get_composite("epsilon", eps=1e-12))
    torch.testing.assert_close(result.delta, torch.zeros(3, dtype=torch.float64), atol=CONSERVATION_TOLERANCE, rtol=0)
    assert [tuple(r.shape) for r in result.input_relevance] == [(3, 7), (3, 3)]


@pytest.mark.parametrize("build", [masked_gru, masked_bidirectional_and_mean, masked_sequences, masked_sequential,
                                   masked_residual])
def test_padding_gets_no_relevance(build, tmp_path):
    model, (ids,) = build()
    imported = doclrp.read_keras_model(save(randomized(model), tmp_path)["h5"], dtype=torch.float64)
    result = attribute(imported, torch.from_numpy(ids).long(), target=0, composite="epsilon")
    padding = torch.from_numpy(ids == 0)
    assert padding.any() and torch.all(result.relevance[padding] == 0)
    assert torch.all(result.relevance[~padding] != 0)


# -- refused -------------------------------------------------------------------------------------------
def refused(path, match):
    with pytest.raises(DoclrpError, match=match) as error:
        doclrp.read_keras_model(path)
    assert "\n" not in str(error.value)


def test_masks_read_otherwise_are_refused(tmp_path):
    ids = keras.Input((5,), dtype="int32")
    embedded = L.Embedding(10, 3, mask_zero=True)(ids)
    gru = keras.Model(ids, L.GRU(2, reset_after=False, name="old")(embedded))
    path = tmp_path / "old.keras"
    gru.save(path)
    refused(path, "layer 'old': a GRU with reset_after=False over masked steps is not read")
    softmax = keras.Sequential([keras.Input((5,), dtype="int32"), L.Embedding(10, 3, mask_zero=True),
                                L.Softmax(name="sm")])
    path = tmp_path / "softmax.h5"
    softmax.save(path)
    refused(path, "layer 'sm': a softmax over masked steps is not read")


def test_merges_of_other_shapes_and_unknown_layers_are_refused(tmp_path):
    x = keras.Input((4,))
    model = keras.Model(x, L.Dot(axes=1, name="dot")([L.Dense(3)(x), L.Dense(3)(x)]))
    path = tmp_path / "dot.keras"
    model.save(path)
    refused(path, r"layer 'dot' \(Dot\) is a custom object or a layer doclrp does not read")


def test_keras2_legacy_graph_with_a_shared_layer(tmp_path):
    """A tf.keras 2 .h5 graph (nested-list inbound nodes): one Dense called on two inputs (its second call
    is node 1), the two calls added, a Dense on the sum; against numpy."""
    import h5py
    import json

    rng = np.random.default_rng(0)
    shared, shared_bias, out = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(4, 2))
    layers = [
        {"class_name": "InputLayer", "name": "a", "config": {"batch_input_shape": [None, 3], "name": "a"},
         "inbound_nodes": []},
        {"class_name": "InputLayer", "name": "b", "config": {"batch_input_shape": [None, 3], "name": "b"},
         "inbound_nodes": []},
        {"class_name": "Dense", "name": "shared", "config": {"name": "shared", "units": 4, "activation": "tanh"},
         "inbound_nodes": [[["a", 0, 0, {}]], [["b", 0, 0, {}]]]},
        {"class_name": "Add", "name": "sum", "config": {"name": "sum"},
         "inbound_nodes": [[["shared", 0, 0, {}], ["shared", 1, 0, {}]]]},
        {"class_name": "Dense", "name": "out", "config": {"name": "out", "units": 2, "use_bias": False},
         "inbound_nodes": [[["sum", 0, 0, {}]]]},
    ]
    config = {"class_name": "Functional", "config": {"layers": layers, "input_layers": [["a", 0, 0], ["b", 0, 0]],
                                                     "output_layers": [["out", 0, 0]]}}
    path = tmp_path / "tf2.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config).encode()
        weights = f.create_group("model_weights")
        for name, arrays in {"shared": {"kernel:0": shared, "bias:0": shared_bias}, "out": {"kernel:0": out}}.items():
            group = weights.create_group(name)
            group.attrs["weight_names"] = [f"{name}/{key}".encode() for key in arrays]
            for key, array in arrays.items():
                group[f"{name}/{key}"] = array
    a, b = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    expected = (np.tanh(a @ shared + shared_bias) + np.tanh(b @ shared + shared_bias)) @ out
    model = doclrp.read_keras_model(path, dtype=torch.float64)
    got = model(torch.from_numpy(a), torch.from_numpy(b))
    np.testing.assert_allclose(got.detach().numpy(), expected, atol=1e-12)
    assert [step.layer for step in model.steps].count("shared") == 2


def test_a_gated_unit_gives_its_gate_no_relevance(tmp_path):
    """Multiply(sigmoid gate, signal): the gate is held constant (its input gets nothing), the signal's
    input all of it (bias-free: conserved)."""
    gate_in, signal_in = keras.Input((3,), name="gate_in"), keras.Input((4,), name="signal_in")
    gate = L.Dense(5, activation="sigmoid", use_bias=False)(gate_in)
    signal = L.Dense(5, activation="tanh", use_bias=False)(signal_in)
    model = randomized(keras.Model([gate_in, signal_in], L.Dense(2, use_bias=False)(L.Multiply()([gate, signal]))))
    imported = doclrp.read_keras_model(save(model, tmp_path)["keras"], dtype=torch.float64)
    product = next(m for m in imported.modules() if type(m).__name__ == "ElementwiseProduct")
    assert product.signal == 1
    inputs = torch_inputs([floats(3, 3), floats(3, 4, seed=2)], torch.float64)
    result = attribute(imported, inputs, target=0, composite=doclrp.get_composite("epsilon", eps=1e-12))
    assert torch.all(result.input_relevance[0] == 0)
    torch.testing.assert_close(result.delta, torch.zeros(3, dtype=torch.float64), atol=CONSERVATION_TOLERANCE, rtol=0)
