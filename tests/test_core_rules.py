"""Every rule against a slow, explicit reference of its equation (float64, batch × in × out tensors).

The engine never builds the (batch, in, out) contribution tensor; these references do,
on Linear, Conv1d and Conv2d layers with and without bias.
"""

import pytest
import torch
from torch import nn

import doclrp
from doclrp.core.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, Zero, ZPlus

RTOL = 1e-9
ATOL = 1e-11


def dense_matrix(layer: nn.Module, weight: torch.Tensor, in_shape) -> torch.Tensor:
    """(in_features, out_features) matrix of the bias-free layer with ``weight``, column by basis vector."""
    n_in = int(torch.tensor(in_shape).prod())
    basis = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *in_shape)
    if isinstance(layer, nn.Linear):
        out = nn.functional.linear(basis, weight)
    else:
        out = layer._conv_forward(basis, weight, None)
    return out.reshape(n_in, -1)


def bias_vector(layer, out_shape):
    if layer.bias is None:
        return torch.zeros(int(torch.tensor(out_shape).prod()), dtype=torch.float64)
    if isinstance(layer, nn.Linear):
        return layer.bias.detach().clone()
    return layer.bias.detach().view(-1, *([1] * (len(out_shape) - 1))).expand(out_shape).reshape(-1)


def reference(rule, layer, x, g):
    """R_j of ``rule`` for one layer, written as its equation over explicit contributions."""
    batch = x.shape[0]
    W = layer.weight.detach()
    M = dense_matrix(layer, W, x.shape[1:])
    xf = x.reshape(batch, -1)
    c = xf[:, :, None] * M[None]                      # (batch, in, out)
    out_shape = layer(x[:1]).shape[1:]
    b = bias_vector(layer, out_shape)[None]            # (1, out)
    z = c.sum(1) + b
    R = z * g.reshape(batch, -1)
    pos, neg = c.clamp(min=0), c.clamp(max=0)
    zp, zn = pos.sum(1) + b.clamp(min=0), neg.sum(1) + b.clamp(max=0)
    if isinstance(rule, Zero):
        share = c / z[:, None]
    elif isinstance(rule, Epsilon):
        share = c / (z + rule.eps * (2.0 * (z >= 0).double() - 1.0))[:, None]
    elif isinstance(rule, Gamma):
        up = (z >= 0)[:, None]
        num = c + rule.gamma * torch.where(up, pos, neg)
        den = z + rule.gamma * torch.where(z >= 0, zp, zn)
        share = num / den[:, None]
    elif isinstance(rule, (AlphaBeta, ZPlus)):
        alpha, beta = (1.0, 0.0) if isinstance(rule, ZPlus) else (rule.alpha, rule.beta)
        has_p, has_n = (zp > 0)[:, None], (zn < 0)[:, None]
        # Documented fallback: an output with no positive (negative) part hands all of
        # its relevance to the other side, so bias-free layers conserve.
        safe_zp, safe_zn = torch.where(zp > 0, zp, 1.0)[:, None], torch.where(zn < 0, zn, -1.0)[:, None]
        share = torch.where(has_p & has_n, alpha * pos / safe_zp - beta * neg / safe_zn,
                            torch.where(has_p, pos / safe_zp, torch.where(has_n, neg / safe_zn, 0.0)))
    elif isinstance(rule, Flat):
        M1 = dense_matrix(layer, torch.ones_like(W), x.shape[1:])[None].expand(batch, -1, -1)
        share = M1 / M1.sum(1, keepdim=True)
    elif isinstance(rule, WSquare):
        M2 = dense_matrix(layer, W**2, x.shape[1:])[None].expand(batch, -1, -1)
        share = M2 / M2.sum(1, keepdim=True)
    elif isinstance(rule, ZBox):
        Mp = dense_matrix(layer, W.clamp(min=0), x.shape[1:])
        Mn = dense_matrix(layer, W.clamp(max=0), x.shape[1:])
        cb = c - rule.low * Mp[None] - rule.high * Mn[None]
        share = cb / cb.sum(1, keepdim=True)
    else:
        raise AssertionError(rule)
    return (share * R[:, None, :]).sum(2).reshape(x.shape)


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
    expected = reference(rule, layer, x, g)
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
    torch.testing.assert_close(attr.relevance, reference(ZPlus(), layer, x, g), rtol=RTOL, atol=ATOL)


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
