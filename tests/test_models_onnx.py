"""ONNX files (issue 25): doclrp's built-in BoW MLP, text CNN (three branches, its padding mask) and
image CNN exported with torch.onnx.export and read back by doclrp.read_onnx_model: outputs equal,
LRP-ε and LRP-z⁺ equal the original modules'; a transformer's attention, unknown operators, custom
domains, external data outside the model's folder or beyond the size bound, and broken files are
refused on one line."""

import os
import warnings

import numpy as np
import pytest
import torch
from torch import nn

onnx = pytest.importorskip("onnx")

import doclrp  # noqa: E402
from doclrp.core import Composite, ZPlus, attribute  # noqa: E402
from doclrp.errors import DoclrpError  # noqa: E402
from doclrp.models.image import ImageCNN  # noqa: E402
from doclrp.models.text import BowMLP, TextCNN  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

FORWARD_TOLERANCE = 1e-6     # float32, the read model against the exported module
RELEVANCE_TOLERANCE = 1e-5   # float32, relevance of the read model against the module's
Z_PLUS = Composite({nn.Linear: ZPlus(), nn.Conv1d: ZPlus(), nn.Conv2d: ZPlus()}, name="z-plus")


def export(model, x, path, dynamic=None, exporter="torchscript"):
    """``model`` exported by torch's TorchScript exporter (axes ``dynamic`` of any size), or by its
    newer ``torch.export`` one (``dynamo``, fixed shapes; it needs onnxscript)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch announces its newer (dynamo) exporter
        if exporter == "dynamo":
            pytest.importorskip("onnxscript")
            torch.onnx.export(model.eval(), (x,), path, dynamo=True, input_names=["x"], output_names=["y"],
                              verbose=False)
        else:
            torch.onnx.export(model.eval(), (x,), path, dynamo=False, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": dynamic or {0: "batch"}})
    return path


def bow():
    torch.manual_seed(0)
    return BowMLP(n_features=30, hidden=(8, 4), n_outputs=3), torch.rand(4, 30) * (torch.rand(4, 30) > 0.6)


def text_cnn():
    torch.manual_seed(0)
    ids = torch.randint(1, 40, (4, 11))
    ids[1, 7:] = 0  # padding: the model's mask (computed from the ids in the graph) keeps it out
    ids[3, 4:] = 0
    return TextCNN(vocab_size=40, embed_dim=6, widths=(2, 3, 4), channels=5, n_outputs=3), ids


def image_cnn():
    torch.manual_seed(0)
    model = ImageCNN(in_shape=(1, 8, 8), channels=(4, 6), n_outputs=3, hidden=16)
    with torch.no_grad():  # BatchNorm statistics that are not the identity (the exporter folds them into Conv)
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model, torch.rand(4, 1, 8, 8)


BUILT_IN = {"bow": (bow, {0: "batch"}), "text-cnn": (text_cnn, {0: "batch", 1: "seq"}),
            "image-cnn": (image_cnn, {0: "batch"})}


@pytest.mark.parametrize("exporter", ["torchscript", pytest.param("dynamo", marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", list(BUILT_IN))
def test_built_in_models_read_back_with_their_outputs_and_relevance(name, exporter, tmp_path):
    build, dynamic = BUILT_IN[name]
    model, x = build()
    model.eval()
    read = doclrp.read_onnx_model(export(model, x, tmp_path / "m.onnx", dynamic, exporter))
    with torch.no_grad():
        torch.testing.assert_close(read(x), model(x), atol=FORWARD_TOLERANCE, rtol=0)
    for composite in ("epsilon", Z_PLUS):
        ours, theirs = attribute(read, x, target=1, composite=composite), attribute(model, x, target=1,
                                                                                   composite=composite)
        torch.testing.assert_close(ours.relevance, theirs.relevance, atol=RELEVANCE_TOLERANCE, rtol=0)
        torch.testing.assert_close(ours.delta, theirs.delta, atol=RELEVANCE_TOLERANCE, rtol=0)


def test_text_cnn_reads_other_lengths_and_padding_gets_no_relevance(tmp_path):
    model, ids = text_cnn()
    read = doclrp.read_onnx_model(export(model.eval(), ids, tmp_path / "m.onnx", {0: "batch", 1: "seq"}))
    longer = torch.randint(1, 40, (2, 15))
    longer[0, 9:] = 0
    with torch.no_grad():
        torch.testing.assert_close(read(longer), model(longer), atol=FORWARD_TOLERANCE, rtol=0)
    relevance = attribute(read, longer, target=0, composite="epsilon").relevance
    assert torch.all(relevance[0, 9:] == 0) and torch.all(relevance[0, :9] != 0)
    assert sum(isinstance(m, nn.Embedding) for m in read.modules()) == 1
    assert sum(isinstance(m, nn.Conv1d) for m in read.modules()) == 3


def test_several_outputs_and_choosing_one(tmp_path):
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 1)

        def forward(self, x):
            return self.a(x), self.b(x)

    model, x = Two().eval(), torch.rand(2, 3)
    path = tmp_path / "two.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), path, dynamo=False, input_names=["x"], output_names=["first", "second"])
    both = doclrp.read_onnx_model(path)
    assert both.output_names == ("first", "second")
    torch.testing.assert_close(doclrp.read_onnx_model(path, output="second")(x), model(x)[1])


# -- refused --------------------------------------------------------------------------------------------
def refused(path, match, **kwargs):
    with pytest.raises(DoclrpError, match=match) as error:
        doclrp.read_onnx_model(path, **kwargs)
    assert "\n" not in str(error.value)


def test_a_transformers_attention_is_refused_by_name(tmp_path):
    from references import batch, tiny_model

    model = tiny_model("bert").eval()
    ids = batch(model)[0][:1]

    class Logits(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids):
            return self.model(input_ids=input_ids).logits

    path = export(Logits(), ids, tmp_path / "bert.onnx", {0: "batch", 1: "seq"})
    refused(path, r"node '.*' \(MatMul\): a product of two computed tensors \(attention\) is not read; explain "
                  "transformers from their Hugging Face folders")


def write(path, nodes, inputs, outputs, initializers=(), domain_opsets=(("", 17),)):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in domain_opsets])
    onnx.save(model, path)
    return path


def value(name, *shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, list(shape))


def test_unknown_operators_and_custom_domains_are_refused_by_node(tmp_path):
    path = write(tmp_path / "erf.onnx", [helper.make_node("Erf", ["x"], ["y"], name="odd")],
                 [value("x", 1, 3)], [value("y", 1, 3)])
    refused(path, r"node 'odd' \(Erf\): operator Erf is not read; doclrp reads")
    path = write(tmp_path / "custom.onnx", [helper.make_node("Relu", ["x"], ["y"], name="mine", domain="com.evil")],
                 [value("x", 1, 3)], [value("y", 1, 3)], domain_opsets=(("", 17), ("com.evil", 1)))
    refused(path, r"node 'mine' \(Relu\): operator of domain 'com.evil' is not read")
    path = write(tmp_path / "sqrt.onnx", [helper.make_node("Sqrt", ["x"], ["y"], name="root")],
                 [value("x", 1, 3)], [value("y", 1, 3)])
    refused(path, r"node 'root' \(Sqrt\): operator Sqrt on a computed tensor has no LRP rule")
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x08\x07this is not protobuf\xff\xff")
    refused(path, "not an ONNX model")
    refused(tmp_path / "missing.onnx", "no ONNX model file")


def linear_with_external_weight(folder, location, weight):
    """A MatMul whose weight lies in an external file at ``location`` (written by hand)."""
    tensor = numpy_helper.from_array(weight, "w")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, val in (("location", location), ("offset", "0"), ("length", str(weight.nbytes))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, val
    return write(folder / "model.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                 [value("x", 1, 3)], [value("y", 1, 2)], [tensor])


def test_external_data_is_read_from_the_models_folder_only(tmp_path):
    weight = np.arange(6, dtype=np.float32).reshape(3, 2)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(weight.tobytes())
    path = linear_with_external_weight(folder, "weights.bin", weight)
    read = doclrp.read_onnx_model(path)
    torch.testing.assert_close(read(torch.ones(1, 3)), torch.ones(1, 3) @ torch.from_numpy(weight))
    refused(path, "exceed max_bytes", max_bytes=path.stat().st_size + 8)
    (tmp_path / "outside.bin").write_bytes(weight.tobytes())
    for location in ("../outside.bin", str(tmp_path / "outside.bin"), "sub/../../outside.bin"):
        refused(linear_with_external_weight(folder, location, weight), "external data at .* is refused")
    os.symlink(tmp_path / "outside.bin", folder / "link.bin")
    refused(linear_with_external_weight(folder, "link.bin", weight), "is not a file in the model's folder")
    (folder / "short.bin").write_bytes(weight.tobytes()[:8])
    refused(linear_with_external_weight(folder, "short.bin", weight), "lies outside 'short.bin'")


def test_read_onnx_model_is_exported():
    assert doclrp.read_onnx_model is doclrp.models.onnx_files.read_onnx_model


def test_a_gated_product_holds_the_sigmoid_gate_constant(tmp_path):
    class Gated(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate, self.signal, self.out = nn.Linear(3, 4), nn.Linear(3, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.out(torch.sigmoid(self.gate(x)) * torch.tanh(self.signal(x)))

    torch.manual_seed(0)
    model, x = Gated().eval(), torch.rand(3, 3)
    read = doclrp.read_onnx_model(export(model, x, tmp_path / "gated.onnx"))
    product = next(m for m in read.modules() if type(m).__name__ == "ElementwiseProduct")
    assert product.signal == 1
    with torch.no_grad():
        torch.testing.assert_close(read(x), model(x), atol=FORWARD_TOLERANCE, rtol=0)


@pytest.mark.parametrize("operator", ["Add", "Mul"])
def test_a_tensor_read_twice_by_one_node(operator, tmp_path):
    """``Add(m, m)`` and ``Mul(m, m)`` (a doubling, a square): the graph frees ``m`` once, after its
    last reader, and the relevance still sums to the output (no biases)."""
    weight = np.arange(-3, 3, dtype=np.float32).reshape(3, 2) / 3
    path = write(tmp_path / "twice.onnx", [helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
                                            helper.make_node(operator, ["m", "m"], ["y"], name="twice")],
                 [value("x", 1, 3)], [value("y", 1, 2)], [numpy_helper.from_array(weight, "w")])
    read = doclrp.read_onnx_model(path)
    x = torch.tensor([[1.0, 2.0, 0.5]])
    m = x @ torch.from_numpy(weight)
    with torch.no_grad():
        torch.testing.assert_close(read(x), m + m if operator == "Add" else m * m)
    explained = attribute(read, x, target=1, composite="epsilon")
    torch.testing.assert_close(explained.relevance.sum(), read(x)[0, 1].detach(), atol=1e-5, rtol=0)
