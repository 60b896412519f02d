"""Rules beyond the input layer, each against an explicit float64 form of its equation:
Flat and WSquare on hidden Linear/Conv layers and on pooling layers, αβ with α < 1 and with the
toolbox's 0/0 = 0, and the max-pool tie rule (one winner, or split evenly), which conserves."""

import pytest
import torch
from torch import nn

import doclrp
from doclrp.core.rules import AlphaBeta, Epsilon, Flat, Gradient, Winners, WSquare, Zero
from references import alpha_beta_dropping_reference, pool_reference, rule_reference

RTOL = 1e-9
ATOL = 1e-11
CONSERVATION = 1e-10  # float64, |delta| relative to the explained output


def make_pair(kind):
    """(first layer, hidden layer, input): the hidden layer reads tanh of the first's output (never 0)."""
    torch.manual_seed(5)
    if kind == "linear":
        return nn.Linear(6, 5).double(), nn.Linear(5, 4).double(), torch.randn(3, 6, dtype=torch.float64)
    if kind == "conv1d":
        return (nn.Conv1d(2, 3, 3, padding=1).double(), nn.Conv1d(3, 4, 3, stride=2).double(),
                torch.randn(2, 2, 7, dtype=torch.float64))
    return (nn.Conv2d(2, 3, 3, padding=1).double(), nn.Conv2d(3, 2, 2).double(),
            torch.randn(2, 2, 5, 5, dtype=torch.float64))


@pytest.mark.parametrize("kind", ["linear", "conv1d", "conv2d"])
@pytest.mark.parametrize("rule", [Flat(), WSquare(), AlphaBeta(0.5, -0.5), AlphaBeta(0.0, -1.0),
                                  AlphaBeta(2.0, 1.0, missing="drop"), AlphaBeta(0.5, -0.5, missing="drop")],
                         ids=repr)
def test_rule_on_a_hidden_layer_matches_explicit_equation(kind, rule):
    first, hidden, x = make_pair(kind)
    model = nn.Sequential(first, nn.Tanh(), hidden)
    g = torch.randn_like(model(x))
    attr = doclrp.attribute(model, x, target=g.reshape(x.shape[0], -1),
                            composite=doclrp.Composite({"0": Zero(), "2": rule}))
    h = torch.tanh(first(x)).detach()
    if isinstance(rule, AlphaBeta) and rule.missing == "drop":
        r_hidden = alpha_beta_dropping_reference(rule, hidden, h, g)
    else:
        r_hidden = rule_reference(rule, hidden, h, g)
    # Pass on tanh, LRP-0 on the first layer: R_x = LRP-0 of the first layer with R_z = R_hidden
    expected = rule_reference(Zero(), first, x, r_hidden / first(x).detach())
    torch.testing.assert_close(attr.relevance, expected, rtol=RTOL, atol=ATOL)


def test_alpha_below_one_on_the_input_layer_matches_explicit_equation():
    first, _, x = make_pair("conv2d")
    g = torch.randn_like(first(x))
    rule = AlphaBeta(0.25, -0.75)
    attr = doclrp.attribute(first, x, target=g.reshape(x.shape[0], -1), composite=doclrp.Composite({nn.Conv2d: rule}))
    torch.testing.assert_close(attr.relevance, rule_reference(rule, first, x, g), rtol=RTOL, atol=ATOL)


def test_flat_over_a_relu_over_epsilon_gives_the_epsilon_rule_the_dead_units_relevance():
    # below the ReLU, ε sees R_j / z_j · z_j / (z_j + ε sign z_j): the toolbox's R_j / (z_j + ε sign z_j)
    first, hidden, x = make_pair("linear")
    with torch.no_grad():
        first.bias[0] = -10.0
    model = nn.Sequential(first, nn.ReLU(), hidden)
    g = torch.ones(x.shape[0], 4, dtype=torch.float64)
    attr = doclrp.attribute(model, x, target=g, composite=doclrp.Composite({"0": Epsilon(0.5), "2": WSquare()}))
    z = first(x).detach()
    r_hidden = rule_reference(WSquare(), hidden, torch.relu(z), g)
    torch.testing.assert_close(attr.relevance, rule_reference(Epsilon(0.5), first, x, r_hidden / z),
                               rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("rule", [Flat(), WSquare()], ids=repr)
@pytest.mark.parametrize("inplace", [False, True])
def test_flat_on_a_hidden_layer_carries_the_share_of_dead_units_through_the_relu(rule, inplace):
    # The LRP Toolbox passes relevance through Rect unchanged: the share a Flat/w² layer gives a
    # dead unit reaches the layer below, R_i = Σ_j x_i w_ij R_j / z_j with z_j the ReLU's input.
    first, hidden, x = make_pair("linear")
    with torch.no_grad():
        first.bias[0] = -10.0                            # unit 0 is dead after the ReLU, its input is not 0
    model = nn.Sequential(first, nn.ReLU(inplace=inplace), hidden)
    g = torch.ones(x.shape[0], 4, dtype=torch.float64)
    attr = doclrp.attribute(model, x, target=g, composite=doclrp.Composite({"0": Zero(), "2": rule}))
    z = first(x).detach()
    h = torch.relu(z)
    assert (h[:, 0] == 0).all()
    r_hidden = rule_reference(rule, hidden, h, g)
    if inplace:
        # an in-place ReLU overwrites its input: the dead unit's share cannot be carried and shows in delta
        r_hidden = torch.where(h > 0, r_hidden, 0.0)
    expected = rule_reference(Zero(), first, x, r_hidden / z)
    torch.testing.assert_close(attr.relevance, expected, rtol=RTOL, atol=ATOL)
    bias_share = r_hidden * first.bias.detach() / z      # LRP-0 leaves the bias its share
    lost = rule_reference(rule, hidden, h, g).sum(1) - r_hidden.sum(1)
    torch.testing.assert_close(attr.delta, bias_share.sum(1) + lost, rtol=RTOL, atol=ATOL)
    if not inplace:
        assert (lost == 0).all() and (r_hidden[:, 0].abs() > 0).all()



def test_flat_after_a_functional_relu_keeps_the_gradient_form_and_delta_reports_the_dead_share():
    # a relu applied as a function has no module whose input the engine could see: R_j / x_j
    first, hidden, x = make_pair("linear")
    with torch.no_grad():
        first.bias[0] = -10.0

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.first, self.hidden = first, hidden

        def forward(self, v):
            return self.hidden(torch.relu(self.first(v)))

    g = torch.ones(x.shape[0], 4, dtype=torch.float64)
    attr = doclrp.attribute(Functional(), x, target=g,
                            composite=doclrp.Composite({"first": Zero(), "hidden": Flat()}))
    z = first(x).detach()
    h = torch.relu(z)
    r_hidden = rule_reference(Flat(), hidden, h, g)
    carried = torch.where(h > 0, r_hidden, 0.0)
    torch.testing.assert_close(attr.relevance, rule_reference(Zero(), first, x, carried / z), rtol=RTOL, atol=ATOL)
    stranded = (r_hidden - carried).sum(1)
    assert (stranded.abs() > 0).all()
    torch.testing.assert_close(attr.delta, stranded + (carried * first.bias.detach() / z).sum(1), rtol=RTOL, atol=ATOL)


def test_flat_above_a_relu_leaves_the_model_as_it_was():
    first, hidden, x = make_pair("conv2d")
    model = nn.Sequential(first, nn.ReLU(), nn.MaxPool2d(2, stride=1), hidden)
    before = model(x)
    attr = doclrp.attribute(model, x, composite=doclrp.Composite({nn.Conv2d: Flat(), nn.MaxPool2d: WSquare()}))
    torch.testing.assert_close(attr.output, before, rtol=0, atol=0)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())

def test_flat_layers_over_dead_units_and_dead_windows_conserve_exactly():
    # Flat on every layer of a bias-free ReLU CNN whose first channel is dead everywhere: every
    # pooled window of it is 0, and the relevance handed to it still reaches the input
    torch.manual_seed(9)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, bias=False), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 2, 2, bias=False),
                          nn.ReLU(), nn.Flatten(), nn.Linear(8, 3, bias=False)).double()
    with torch.no_grad():
        model[0].weight[0] = -model[0].weight[0].abs()
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64)
    assert (model[:3](x)[:, 0] == 0).all()
    composite = doclrp.Composite({nn.Conv2d: Flat(), nn.Linear: Flat(), nn.MaxPool2d: Flat()})
    attr = doclrp.attribute(model, x, composite=composite)
    assert (attr.delta.abs() <= CONSERVATION * attr.target_output.abs().clamp(min=1)).all()
    # the dead channel's pooled windows carried relevance down: every input pixel got some
    assert (attr.relevance != 0).all()


POOLS = [nn.MaxPool2d(2), nn.MaxPool2d(3, stride=2, padding=1), nn.AvgPool2d(2, stride=1), nn.MaxPool1d(2)]


def pool_input(pool):
    torch.manual_seed(7)
    shape = (2, 3, 8) if isinstance(pool, nn.MaxPool1d) else (2, 3, 6, 6)
    # values in {0.5, 1, 1.5}: many tied maxima
    return (torch.randint(1, 4, shape) * 0.5).double()


@pytest.mark.parametrize("pool", POOLS, ids=repr)
@pytest.mark.parametrize("where", ["input", "hidden"])
@pytest.mark.parametrize("rule", [Flat(), WSquare(), Winners("split"), Winners("one")], ids=repr)
def test_pool_rule_matches_explicit_equation(pool, where, rule):
    x = pool_input(pool)
    if isinstance(rule, Winners) and isinstance(pool, nn.AvgPool2d):  # Winners is for max pooling: refused
        with pytest.raises(doclrp.DoclrpError, match="needs a max pooling layer"):
            doclrp.attribute(pool, x, composite=doclrp.Composite({nn.AvgPool2d: rule}))
        return
    scale = torch.linspace(0.5, 2.0, x.shape[1], dtype=torch.float64).view(1, -1, *[1] * (x.dim() - 2))

    class Scaled(nn.Module):  # a hidden position for the pool: a constant factor (gradient = LRP-0) before it
        def forward(self, v):
            return v * scale

    model = pool if where == "input" else nn.Sequential(Scaled(), pool)
    g = torch.randn_like(model(x))
    # the constant factor is linear: its plain gradient (Gradient()) is LRP-0
    composite = doclrp.Composite({type(pool): rule, Scaled: Gradient()})
    attr = doclrp.attribute(model, x, target=g.reshape(x.shape[0], -1), composite=composite)
    seen = x if where == "input" else x * scale
    if isinstance(rule, Winners) and rule.ties == "one":
        (gradient,) = torch.autograd.grad(pool(seen.requires_grad_(True)), seen, g)
        expected = seen.detach() * gradient
    else:
        expected = pool_reference("split" if isinstance(rule, Winners) else "flat", pool, seen.detach(), g)
    torch.testing.assert_close(attr.relevance, expected, rtol=RTOL, atol=ATOL)


def test_split_ties_conserve_in_a_bias_free_relu_cnn():
    torch.manual_seed(8)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, bias=False), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(27, 4, bias=False)).double()
    with torch.no_grad():  # integer filters on integer pixels: exact outputs, tied maxima
        model[0].weight.copy_(torch.randint(-2, 3, model[0].weight.shape))
    x = torch.randint(0, 3, (4, 1, 8, 8)).double()
    composite = doclrp.Composite({nn.Conv2d: Zero(), nn.Linear: Zero(), nn.MaxPool2d: Winners("split")})
    attr = doclrp.attribute(model, x, composite=composite)
    assert (attr.delta.abs() <= CONSERVATION * attr.target_output.abs().clamp(min=1)).all()


def test_rules_are_refused_where_they_make_no_sense():
    with pytest.raises(doclrp.DoclrpError, match="needs a max pooling layer"):
        doclrp.attribute(nn.AvgPool2d(2), torch.rand(1, 1, 4, 4), target=0,
                         composite=doclrp.Composite({nn.AvgPool2d: Winners()}))
    with pytest.raises(doclrp.DoclrpError, match="choose 'one' or 'split'"):
        Winners("first")
    with pytest.raises(doclrp.DoclrpError, match="alpha - beta = 1"):
        AlphaBeta(0.5, 0.5)
    with pytest.raises(doclrp.DoclrpError, match="ceil_mode=False"):
        doclrp.attribute(nn.MaxPool2d(3, ceil_mode=True), torch.rand(1, 1, 5, 5), target=0,
                         composite=doclrp.Composite({nn.MaxPool2d: Winners()}))
