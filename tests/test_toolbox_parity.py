"""Parity mode: ``toolbox_composite(method, param, first)`` on a model from ``read_toolbox_model``
gives the LRP Toolbox's ``net.lrp(R, method, param)`` (``references.toolbox_lrp``, numpy, written
from the toolbox's equations) to 1e-10 in float64, on small random toolbox-format models with
tied max-pool windows and neurons without positive or negative contributions."""

import numpy as np
import pytest
import torch

import doclrp
from doclrp.core.composites import get_composite
from doclrp.core.rules import AlphaBeta, Winners
from doclrp.errors import DoclrpError
from doclrp.models.toolbox import SumPool2d, WindowSum, read_toolbox_model, toolbox_composite
from references import toolbox_forward, toolbox_lrp, write_toolbox_model

PARITY_TOLERANCE = 1e-10  # float64, relative to the largest |relevance| of the reference

# 10 x 10 x 2 input, values in {0, 1, 2}; integer filters: exact conv outputs, so max pools tie
INPUT_SHAPE = (10, 10, 2)


def relu_cnn(rng):
    """conv 3x3 → 8 x 8, max-pool 2/2 → 4 x 4 (ties), conv 2x2 → 3 x 3, sum-pool 2/1 → 2 x 2, linear."""
    return [
        ("Convolution", rng.integers(-2, 3, size=(3, 3, 2, 3)).astype(float), rng.integers(-1, 2, size=3) * 0.5, (1, 1)),
        ("Rect",),
        ("MaxPool", (2, 2), (2, 2)),
        ("Convolution", rng.normal(size=(2, 2, 3, 4)), rng.normal(size=4) * 0.1, (1, 1)),
        ("Rect",),
        ("SumPool", (2, 2), (1, 1)),
        ("Flatten",),
        ("Linear", rng.normal(size=(16, 5)), rng.normal(size=5) * 0.1),
        ("Rect",),
        ("Linear", rng.normal(size=(5, 3)), rng.normal(size=3) * 0.1),
        ("SoftMax",),
    ]


def tanh_cnn(rng):
    """No activation is exactly zero: flat and ww everywhere are exact as well."""
    return [
        ("Convolution", rng.normal(size=(3, 3, 2, 3)), rng.normal(size=3) * 0.1, (1, 1)),
        ("Tanh",),
        ("SumPool", (2, 2), (2, 2)),
        ("Convolution", rng.normal(size=(2, 2, 3, 4)), rng.normal(size=4) * 0.1, (1, 1)),
        ("Tanh",),
        ("MaxPool", (2, 2), (1, 1)),
        ("Flatten",),
        ("Linear", rng.normal(size=(16, 3)), rng.normal(size=3) * 0.1),
        ("SoftMax",),
    ]


def inputs(rng, n=3):
    return rng.integers(0, 3, size=(n, *INPUT_SHAPE)).astype(float)


def doclrp_relevance(model, x, composite):
    attribution = doclrp.attribute(model, torch.from_numpy(x).permute(0, 3, 1, 2), composite=composite)
    return attribution.relevance.permute(0, 2, 3, 1).numpy(), attribution


def assert_parity(ours, expected):
    scale = np.abs(expected).max()
    np.testing.assert_allclose(ours, expected, rtol=0, atol=PARITY_TOLERANCE * max(scale, 1.0))


CASES = [("simple", None, None), ("epsilon", 1.0, None), ("epsilon", 0.01, "flat"), ("alphabeta", 2.0, None),
         ("alphabeta", 1.0, "ww"), ("alphabeta", 0.5, None), ("alphabeta", 0.0, None)]


# flat and ww on hidden layers: relevance given to dead ReLUs and to pooled windows of them is carried on
FLAT_CASES = [("flat", None, None), ("ww", None, None), ("ww", None, "flat"), ("flat", None, "ww")]


@pytest.mark.parametrize(("method", "param", "first"), CASES + FLAT_CASES, ids=str)
def test_parity_on_a_relu_cnn_with_ties(tmp_path, method, param, first):
    rng = np.random.default_rng(0)
    layers = relu_cnn(rng)
    model = read_toolbox_model(write_toolbox_model(tmp_path / "cnn.txt", layers), input_shape=INPUT_SHAPE)
    x = inputs(rng)
    ours, attribution = doclrp_relevance(model, x, toolbox_composite(method, param, first))
    expected, _ = toolbox_lrp(layers, x, method, param, first)
    assert_parity(ours, expected)
    if method in ("flat", "ww"):  # both conserve in the toolbox (no bias, no ε): so does doclrp
        np.testing.assert_allclose(attribution.delta.numpy(), 0, atol=1e-10 * float(attribution.target_output.abs().max()))


def test_the_relu_cnn_has_dead_units_and_dead_windows_under_flat_layers(tmp_path):
    # the flat/ww parity above would not test carrying relevance past zeros without them
    rng = np.random.default_rng(0)
    layers = relu_cnn(rng)
    x = inputs(rng)
    acts = toolbox_forward(layers, x)[0]
    assert (acts[2] == 0).sum() > 20          # dead units under the max pool
    assert (acts[3] == 0).sum() > 0           # max-pool windows of dead units only, under a conv
    assert (acts[5] == 0).sum() > 0           # dead units under the sum pool
    assert (acts[9] == 0).sum() > 0           # dead units under the last linear layer


@pytest.mark.parametrize(("method", "param", "first"), CASES + [("flat", None, None), ("ww", None, None),
                                                                ("ww", None, "flat")], ids=str)
def test_parity_on_a_tanh_cnn(tmp_path, method, param, first):
    rng = np.random.default_rng(1)
    layers = tanh_cnn(rng)
    model = read_toolbox_model(write_toolbox_model(tmp_path / "cnn.txt", layers), input_shape=INPUT_SHAPE)
    x = rng.normal(size=(3, *INPUT_SHAPE))
    ours, _ = doclrp_relevance(model, x, toolbox_composite(method, param, first))
    expected, _ = toolbox_lrp(layers, x, method, param, first)
    assert_parity(ours, expected)


@pytest.mark.parametrize(("method", "param", "first"), [("epsilon", 0.1, None), ("alphabeta", 2.0, "flat"),
                                                        ("simple", None, "ww")], ids=str)
def test_parity_on_an_mlp_with_a_unit_without_positive_part(tmp_path, method, param, first):
    rng = np.random.default_rng(2)
    hidden = rng.normal(size=(6, 4))
    hidden[:, 0] = -np.abs(hidden[:, 0])   # on non-negative inputs unit 0 has no positive part
    layers = [("Linear", hidden, np.zeros(4)), ("Rect",), ("Linear", np.abs(rng.normal(size=(4, 3))), np.zeros(3)),
              ("SoftMax",)]
    model = read_toolbox_model(write_toolbox_model(tmp_path / "mlp.txt", layers))
    x = rng.uniform(size=(4, 6))
    ours = doclrp.attribute(model, torch.from_numpy(x), composite=toolbox_composite(method, param, first)).relevance
    assert_parity(ours.numpy(), toolbox_lrp(layers, x, method, param, first)[0])


def test_toolbox_alphabeta_differs_from_doclrps_on_sum_pools(tmp_path):
    # three sum pools after ReLUs: α = 2 multiplies relevance by 2 per pool in the toolbox (0/0 = 0),
    # doclrp's own αβ hands it all to the positive part and conserves
    layers = [("SumPool", (2, 2), (2, 2)), ("Rect",), ("SumPool", (2, 2), (2, 2)), ("Rect",),
              ("SumPool", (2, 2), (2, 2)), ("Flatten",), ("Linear", np.ones((1, 2)), np.zeros(2))]
    model = read_toolbox_model(write_toolbox_model(tmp_path / "pools.txt", layers), input_shape=(8, 8, 1))
    x = np.random.default_rng(3).uniform(size=(2, 8, 8, 1))
    _, toolbox = doclrp_relevance(model, x, toolbox_composite("alphabeta", 2.0))
    _, own = doclrp_relevance(model, x, doclrp.Composite({torch.nn.Linear: AlphaBeta(2.0, 1.0),
                                                         torch.nn.Conv2d: AlphaBeta(2.0, 1.0)}))
    explained = own.target_output
    np.testing.assert_allclose(own.relevance.sum((1, 2, 3)), explained, rtol=1e-12)
    np.testing.assert_allclose(toolbox.relevance.sum((1, 2, 3)), 16 * explained, rtol=1e-12)  # 2 (linear) x 2^3


def test_sum_pool_is_a_known_module_and_epsilon_is_on_the_unscaled_sum(tmp_path):
    layers = [("SumPool", (2, 2), (2, 2)), ("Flatten",), ("Linear", np.ones((4, 1)), np.zeros(1))]
    model = read_toolbox_model(write_toolbox_model(tmp_path / "pool.txt", layers), input_shape=(4, 4, 1))
    assert isinstance(model[0], SumPool2d) and isinstance(model[0].window, WindowSum)
    x = np.random.default_rng(4).uniform(size=(2, 4, 4, 1))
    # doclrp's own epsilon composite: ε on the pool's window sum S, as the toolbox puts it
    eps = 0.5
    ours, _ = doclrp_relevance(model, x, get_composite("epsilon", eps=eps))
    expected, _ = toolbox_lrp(layers, x, "epsilon", eps)
    assert_parity(ours, expected)
    # the scaled output (S / 2) with ε on it would keep (S/2) / (S/2 + ε): a different number
    windows = x.reshape(2, 2, 2, 2, 2).sum((2, 4)).ravel()
    assert not np.allclose(ours.sum(), (windows * (windows / 2) / (windows / 2 + eps) / 2).sum())


def test_the_relu_cnn_has_tied_windows_that_carry_relevance(tmp_path):
    # the parity above would not test ties if no tied window carried relevance
    rng = np.random.default_rng(0)
    layers = relu_cnn(rng)
    x = inputs(rng)
    pooled_input = toolbox_forward(layers, x)[0][2]          # the input of the max pool
    windows = pooled_input.reshape(3, 4, 2, 4, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(3, 4, 4, 3, 4)
    tied = ((windows == windows.max(-1, keepdims=True)).sum(-1) > 1) & (windows.max(-1) > 0)
    assert tied.sum() >= 5
    model = read_toolbox_model(write_toolbox_model(tmp_path / "cnn.txt", layers), input_shape=INPUT_SHAPE)
    split, _ = doclrp_relevance(model, x, toolbox_composite("epsilon", 1.0))
    one = toolbox_composite("epsilon", 1.0)
    one.rules[torch.nn.MaxPool2d] = Winners("one")
    assert not np.allclose(split, doclrp_relevance(model, x, one)[0])


def test_toolbox_composite_refuses_what_it_cannot_be():
    for call, message in [(lambda: toolbox_composite("zplus"), "unknown toolbox method"),
                          (lambda: toolbox_composite("epsilon"), "needs its param"),
                          (lambda: toolbox_composite("simple", first="zbox"), "first-layer rule")]:
        with pytest.raises(DoclrpError, match=message):
            call()
