"""LRP Toolbox plain-text models: the torch model computes what the toolbox computes (an explicit
numpy forward of the format, images laid out (batch, height, width, depth)), both weight
layouts of Linear layers read, LRP runs on the result, and bad files fail on one line."""

import numpy as np
import pytest
import torch

import doclrp
from doclrp.errors import DoclrpError
from doclrp.models.toolbox import read_toolbox_model
from references import toolbox_forward

TOLERANCE = 1e-12  # float64, the imported model against the reference forward


# -- the toolbox's forward, written out from the format's definition (tests/references.py) -------------
def reference_forward(layers, x):
    """``x`` (batch, height, width, depth) or (batch, features) through the layers as the toolbox runs them."""
    return toolbox_forward(layers, x)[1]


def write_model(path, layers, legacy=False):
    """The layers in the toolbox's plain-text format (what its model_io.write produces)."""
    lines = []
    for layer in layers:
        kind = layer[0]
        if kind == "Linear":
            _, weight, bias = layer
            lines.append(f"Linear {weight.shape[0]} {weight.shape[1]}")
            rows = [weight.ravel()] if not legacy else list(weight)
            lines += [" ".join(repr(float(v)) for v in row) for row in rows]
            lines.append(" ".join(repr(float(v)) for v in bias))
        elif kind == "Convolution":
            _, weight, bias, stride = layer
            lines.append("Convolution " + " ".join(map(str, (*weight.shape, *stride))))
            lines.append(" ".join(repr(float(v)) for v in weight.ravel()))
            lines.append(" ".join(repr(float(v)) for v in bias))
        elif kind in ("SumPool", "MaxPool"):
            _, size, stride = layer
            lines.append(f"{kind} {size[0]} {size[1]} {stride[0]} {stride[1]}")
        else:
            lines.append(kind)
    path.write_text("\n".join(lines) + "\n")
    return path


def cnn_layers(rng):
    return [
        ("Convolution", rng.normal(size=(3, 3, 2, 4)), rng.normal(size=4) * 0.1, (1, 1)),
        ("Rect",),
        ("SumPool", (2, 2), (2, 2)),
        ("Convolution", rng.normal(size=(2, 3, 4, 5)), rng.normal(size=5) * 0.1, (1, 2)),
        ("Rect",),
        ("MaxPool", (2, 1), (1, 1)),
        ("Flatten",),
        ("Linear", rng.normal(size=(2 * 1 * 5, 6)), rng.normal(size=6) * 0.1),
        ("Tanh",),
        ("Linear", rng.normal(size=(6, 3)), rng.normal(size=3) * 0.1),
        ("SoftMax",),
    ]


# 11 x 9 x 2 input: conv 3x3 → 9 x 7, sum-pool 2/2 → 4 x 3, conv 2x3 stride (1, 2) → 3 x 1,
# max-pool 2x1 → 2 x 1 (x 5 channels)
INPUT_SHAPE = (11, 9, 2)


def test_imported_cnn_computes_what_the_toolbox_computes(tmp_path):
    rng = np.random.default_rng(0)
    layers = cnn_layers(rng)
    model = read_toolbox_model(write_model(tmp_path / "cnn.txt", layers), input_shape=INPUT_SHAPE)
    x = rng.uniform(size=(4, *INPUT_SHAPE))
    ours = model(torch.from_numpy(x).permute(0, 3, 1, 2)).detach().numpy()
    np.testing.assert_allclose(ours, reference_forward(layers, x), rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(model[:-1](torch.from_numpy(x).permute(0, 3, 1, 2)).detach().numpy(),
                               reference_forward(layers[:-1], x), rtol=0, atol=TOLERANCE)


def test_both_linear_layouts_read_the_same(tmp_path):
    rng = np.random.default_rng(1)
    layers = [("Linear", rng.normal(size=(5, 4)), rng.normal(size=4)), ("Rect",),
              ("Linear", rng.normal(size=(4, 2)), rng.normal(size=2))]
    new = read_toolbox_model(write_model(tmp_path / "new.txt", layers))
    old = read_toolbox_model(write_model(tmp_path / "old.txt", layers, legacy=True))
    x = rng.normal(size=(3, 5))
    for model in (new, old):
        np.testing.assert_allclose(model(torch.from_numpy(x)).detach().numpy(), reference_forward(layers, x),
                                   rtol=0, atol=TOLERANCE)


# relative |delta| allowed on a bias-free ReLU net: exact rules conserve, ε absorbs a little by design
CONSERVATION = {"zero": 1e-10, "alpha2-beta1": 1e-10, "epsilon": 1e-4, "epsilon-plus": 1e-4}


def test_flat_inputs_through_a_flatten_keep_their_order(tmp_path):
    rng = np.random.default_rng(4)
    layers = [("Flatten",), ("Linear", rng.normal(size=(6, 2)), rng.normal(size=2))]
    model = read_toolbox_model(write_model(tmp_path / "flat.txt", layers), input_shape=(1, 6, 1))
    x = rng.normal(size=(3, 6))
    np.testing.assert_allclose(model(torch.from_numpy(x)).detach().numpy(), reference_forward(layers, x),
                               rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("composite", [*CONSERVATION, "epsilon-gamma-box"])
def test_imported_model_is_explained_by_every_composite(tmp_path, composite):
    rng = np.random.default_rng(2)
    layers = [layer if layer[0] not in ("Convolution", "Linear") else (layer[0], layer[1], 0 * layer[2], *layer[3:])
              for layer in cnn_layers(rng)]  # bias-free: LRP-0-like rules conserve
    layers[8] = ("Rect",)  # ReLU nets conserve under z+ and αβ
    model = read_toolbox_model(write_model(tmp_path / "cnn.txt", layers), input_shape=INPUT_SHAPE)
    x = torch.from_numpy(rng.uniform(size=(3, *INPUT_SHAPE))).permute(0, 3, 1, 2)
    # an imported model declares no input range: z^B gets the data's, [0, 1)
    rules = doclrp.get_composite(composite, low=0.0, high=1.0) if composite == "epsilon-gamma-box" else composite
    attribution = doclrp.attribute(model, x, composite=rules)
    assert attribution.relevance.shape == x.shape
    # the final SoftMax is skipped: logits are explained
    torch.testing.assert_close(attribution.logits, model[:-1](x).detach())
    if composite in CONSERVATION:  # (z^B hands relevance to the box bounds as well)
        assert (attribution.delta.abs() <= CONSERVATION[composite] * attribution.target_output.abs()).all()


def bad_file(tmp_path, case):
    rng = np.random.default_rng(3)
    conv = [("Convolution", rng.normal(size=(2, 2, 1, 2)), np.zeros(2), (1, 1)), ("Flatten",),
            ("Linear", rng.normal(size=(8, 2)), np.zeros(2))]
    text = {
        "unknown-layer": "Linear 2 2\n1 2 3 4\n0 0\nDropout\n",
        "wrong-count": "Linear 2 2\n1 2 3\n0 0\n",
        "not-numbers": "Linear 2 2\n1 2 three 4\n0 0\n",
        "nan": "Linear 2 2\n1 2 nan 4\n0 0\n",
        "truncated": "Linear 2 2\n1 2 3 4\n",
        "header-sizes": "Linear 2\n1 2\n0 0\n",
        "negative-size": "MaxPool 2 -2 1 1\n",
        "size-mismatch": "Linear 2 3\n1 2 3 4 5 6\n0 0 0\nLinear 2 1\n1 1\n0\n",
        "empty": "\n\n",
        "flatten-without-shape": "Flatten\nLinear 4 1\n1 2 3 4\n0\n",
    }.get(case)
    path = tmp_path / ("model.pickle" if case == "pickled" else "model.txt")
    if case == "non-ascii":
        path.write_bytes("Linear 1 1\n1\n0\n# modèle\n".encode("latin-1"))
    elif case in ("conv-without-shape", "depth-mismatch", "window-too-large", "linear-after-conv"):
        layers = conv if case != "linear-after-conv" else [conv[0], conv[2]]
        write_model(path, layers)
    elif text is not None:
        path.write_text(text)
    elif case == "pickled":
        path.write_bytes(b"\x80\x04K\x01.")
    return path


BAD = {
    "unknown-layer": ("line 4", "unknown layer 'Dropout'", None),
    "wrong-count": ("line 2", "expected 4 values, found 3", None),
    "not-numbers": ("line 2", "expected numbers", None),
    "nan": ("line 2", "NaN or infinite", None),
    "truncated": ("line 3", "the file ends where 2 biases should follow", None),
    "header-sizes": ("line 1", "Linear takes 2 sizes", None),
    "negative-size": ("line 1", "positive whole numbers", (4, 4, 1)),
    "size-mismatch": ("line 4", "Linear takes 2 inputs but receives 3", None),
    "empty": ("", "describes no layers", None),
    "conv-without-shape": ("line 1", "input_shape=(height, width, depth)", None),
    "flatten-without-shape": ("line 1", "Flatten on an input of unknown shape", None),
    "depth-mismatch": ("line 1", "filters have depth 1 but the input has depth 3", (3, 3, 3)),
    "window-too-large": ("line 1", "larger than its input 1 x 3", (1, 3, 1)),
    "linear-after-conv": ("line 4", "needs a Flatten between them", (3, 3, 1)),
    "pickled": ("", "pickled toolbox models are not read", None),
    "non-ascii": ("", "not a plain-text toolbox model", None),
    "missing": ("", "no toolbox model file", None),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_files_fail_with_the_line_and_the_reason(tmp_path, case):
    where, reason, shape = BAD[case]
    path = tmp_path / "absent.txt" if case == "missing" else bad_file(tmp_path, case)
    with pytest.raises(DoclrpError) as error:
        read_toolbox_model(path, input_shape=shape)
    message = str(error.value)
    assert reason in message and where in message and "\n" not in message, message
