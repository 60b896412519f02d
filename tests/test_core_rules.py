"""Every rule against a slow, explicit reference of its equation (float64, batch × in × out tensors).

The engine never builds the (batch, in, out) contribution tensor; the references
(``references.rule_reference``) do, on Linear, Conv1d and Conv2d layers with and without bias.
"""

import pytest
import torch
from torch import nn

import doclrp
from doclrp.core.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, Zero, ZPlus
from references import rule_reference

RTOL = 1e-9
ATOL = 1e-11


def make_layer(kind, bias):
    torch.manual_seed(3)
    if kind == "linear":
        return nn.Linear(7, 5, bias=bias).double(), torch.randn(4, 7, dtype=torch.float64)
    if kind == "conv1d":
        return nn.Conv1d(3, 4, 3, padding=1, bias=bias).double(), torch.randn(2, 3, 6, dtype=torch.float64)
    return nn.Conv2d(2, 3, 3, stride=1, padding=1, bias=bias).double(), torch.randn(2, 2, 4, 4, dtype=torch.float64)


AFFINE_RULES = [Zero(), Epsilon(0.3), Epsilon(1e-6), Gamma(0.25), Gamma(1.0), ZPlus(), AlphaBeta(2.0, 1.0), AlphaBeta(1.5, 0.5)]
INPUT_RULES = [Flat(), WSquare(), ZBox(-4.0, 4.0)]


@pytest.mark.parametrize("kind", ["linear", "conv1d", "conv2d"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("rule", AFFINE_RULES + INPUT_RULES, ids=repr)
def test_rule_matches_explicit_equation(rule, kind, bias):
    layer, x = make_layer(kind, bias)
    g = torch.randn_like(layer(x))
    if isinstance(rule, (Flat, WSquare, ZBox)):
        composite = doclrp.Composite(first=rule)
    else:
        composite = doclrp.Composite({type(layer): rule})
    attr = doclrp.attribute(layer, x, target=g.reshape(x.shape[0], -1), composite=composite)
    expected = rule_reference(rule, layer, x, g)
    torch.testing.assert_close(attr.relevance, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("kind", ["linear", "conv1d", "conv2d"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("dead_unit", [False, True], ids=["all-units-positive", "a-unit-without-positive-part"])
def test_zplus_on_nonnegative_inputs_matches_explicit_equation(kind, bias, dead_unit):
    # non-negative inputs take z+'s short path (W+ only); a unit with no positive part, αβ's
    layer, x = make_layer(kind, bias)
    x = x.abs()
    if dead_unit:
        with torch.no_grad():
            layer.weight[0] = -layer.weight[0].abs()
            if bias:
                layer.bias[0] = -layer.bias[0].abs()
    g = torch.randn_like(layer(x))
    attr = doclrp.attribute(layer, x, target=g.reshape(x.shape[0], -1), composite=doclrp.Composite({type(layer): ZPlus()}))
    torch.testing.assert_close(attr.relevance, rule_reference(ZPlus(), layer, x, g), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("rule", [Zero(), ZPlus(), AlphaBeta(2.0, 1.0), Gamma(0.25)], ids=repr)
def test_rules_without_bias_conserve_on_one_layer(rule):
    layer, x = make_layer("conv1d", bias=False)
    attr = doclrp.attribute(layer, x, target=torch.randn(x.shape[0], 24, dtype=torch.float64),
                            composite=doclrp.Composite({nn.Conv1d: rule}))
    assert attr.delta.abs().max() <= 1e-9 * attr.target_output.abs().max()


def test_rule_specs_are_immutable_and_validated():
    with pytest.raises(Exception):
        Epsilon(0.1).eps = 0.2
    with pytest.raises(doclrp.DoclrpError, match="alpha - beta = 1"):
        AlphaBeta(2.0, 2.0)
    with pytest.raises(doclrp.DoclrpError):
        Epsilon(-1.0)
    with pytest.raises(doclrp.DoclrpError):
        Gamma(-0.5)
