"""Merge layers (doclrp.core.merge) under the rules: sums against the slow reference of every affine
rule, products split evenly or to one factor, maxima and concatenations conserving with ties; the
forward exact; several model inputs each with their relevance (attribute(model, (a, b)))."""

import pytest
import torch
from torch import nn

from doclrp.core import Composite, Gradient, attribute
from doclrp.core.merge import Concatenate, ElementwiseProduct, Extremum, ProductRule, SumRule, WeightedSum
from doclrp.core.rules import AlphaBeta, Epsilon, Gamma, Pass, Zero, ZPlus
from doclrp.errors import DoclrpError
from references import product_reference, sum_reference

REFERENCE_TOLERANCE = 1e-12     # float64, engine against the explicit equation
CONSERVATION_TOLERANCE = 1e-12  # float64, rules that conserve


class Merged(nn.Module):
    """The merge layer applied to the n slices ``x[:, i]`` of one input ``(batch, n, d)``."""

    def __init__(self, merge: nn.Module) -> None:
        super().__init__()
        self.merge = merge

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.merge(*x.unbind(1))


def relevance_of_terms(merge, composite, x, g):
    result = attribute(Merged(merge), x, target=g, composite=composite)
    return result


def inputs(n=3, seed=0, batch=4, d=5):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, n, d, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("rule", [Zero(), Epsilon(0.3), Gamma(0.5), ZPlus(), AlphaBeta(2.0, 1.0), AlphaBeta(1.5, 0.5)])
@pytest.mark.parametrize("coefficients", [(1.0, 1.0, 1.0), (1.0, -1.0), (0.25, 0.25, 0.25, 0.25)])
def test_sum_rule_equals_reference(rule, coefficients):
    x = inputs(len(coefficients))
    g = torch.rand(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    result = relevance_of_terms(WeightedSum(coefficients), Composite({nn.Linear: rule}), x, g)
    expected = sum_reference(rule, coefficients, list(x.unbind(1)), g)
    torch.testing.assert_close(result.relevance, torch.stack(expected, 1), atol=REFERENCE_TOLERANCE, rtol=0)


def test_sum_takes_the_composites_linear_rule_and_epsilon_stabilizes_cancellation():
    x = torch.tensor([[[1.0, 2.0], [-1.0 + 1e-9, 1.0]]], dtype=torch.float64)  # the first pair cancels
    plain = relevance_of_terms(WeightedSum.add(2), "zero", x, torch.ones(1, 2, dtype=torch.float64))
    # LRP-0: terms that cancel keep their large opposite shares of a near-zero sum
    torch.testing.assert_close(plain.relevance[0, :, 0], x[0, :, 0], atol=REFERENCE_TOLERANCE, rtol=0)
    stable = relevance_of_terms(WeightedSum.add(2), Composite({nn.Linear: Epsilon(1e-3)}), x,
                                torch.ones(1, 2, dtype=torch.float64))
    assert stable.relevance[0, :, 0].abs().max() < 1e-5  # absorbed by ε, shown in delta
    torch.testing.assert_close(stable.relevance[0, :, 1], torch.tensor([2.0, 1.0], dtype=torch.float64) * 3 / 3.001)


@pytest.mark.parametrize("keep", [None, 0, 2])
def test_product_rule_equals_reference_and_conserves(keep):
    x = inputs(3, seed=3)
    g = torch.ones(4, 5, dtype=torch.float64)
    composite = "epsilon" if keep is None else Composite({nn.Linear: Epsilon(), ElementwiseProduct: ProductRule(keep)})
    result = relevance_of_terms(ElementwiseProduct(), composite, x, g)
    expected = product_reference(keep, list(x.unbind(1)), g)
    torch.testing.assert_close(result.relevance, torch.stack(expected, 1), atol=REFERENCE_TOLERANCE, rtol=0)
    torch.testing.assert_close(result.delta, torch.zeros(4, dtype=torch.float64), atol=CONSERVATION_TOLERANCE, rtol=0)


def test_plain_gradient_on_a_product_when_asked():
    x = inputs(2, seed=4)
    composite = Composite({nn.Module: Gradient()})  # gradient × input: every factor gets all of R
    result = relevance_of_terms(ElementwiseProduct(), composite, x, torch.ones(4, 5, dtype=torch.float64))
    torch.testing.assert_close(result.relevance.sum((1, 2)), 2 * result.target_output)


@pytest.mark.parametrize("mode", ["max", "min"])
def test_extremum_gives_winners_relevance_and_splits_ties(mode):
    x = torch.tensor([[[3.0, 1.0, 2.0], [3.0, 0.5, 2.0], [1.0, 4.0, 2.0]]], dtype=torch.float64)
    result = relevance_of_terms(Extremum(mode), "epsilon", x, torch.ones(1, 3, dtype=torch.float64))
    z = x.amax(1) if mode == "max" else x.amin(1)
    winners = (x == z[:, None]).double()
    expected = winners / winners.sum(1, keepdim=True) * z[:, None]
    torch.testing.assert_close(result.relevance, expected, atol=CONSERVATION_TOLERANCE, rtol=0)


def test_concatenation_routes_parts_back():
    class Joined(nn.Module):
        def __init__(self):
            super().__init__()
            self.cat, self.out = Concatenate(-1), nn.Linear(5, 2, bias=False)

        def forward(self, x):
            return self.out(self.cat(x[:, :2], x[:, 2:]))

    model = Joined().double()
    x = inputs(1, seed=5).squeeze(1)
    result = attribute(model, x, target=1, composite="zero")
    torch.testing.assert_close(result.relevance, x * model.out.weight[1].detach(), atol=REFERENCE_TOLERANCE, rtol=0)


def test_forward_is_exact_and_hooks_go_away():
    model = Merged(WeightedSum.average(3))
    x = inputs(3, seed=6).float()
    before = model(x)
    result = attribute(model, x, target=0, composite=Composite({nn.Linear: Gamma(0.25)}))
    assert torch.equal(result.output, before) and not model.merge._forward_hooks


def test_wrong_rules_are_refused_by_name():
    with pytest.raises(DoclrpError, match="rule Pass.. on the sum 'merge'"):
        attribute(Merged(WeightedSum.add(2)), inputs(2), target=0, composite=Composite({WeightedSum: Pass()}))
    with pytest.raises(DoclrpError, match="needs a doclrp ElementwiseProduct"):
        attribute(Merged(WeightedSum.add(2)), inputs(2), target=0, composite=Composite({WeightedSum: ProductRule()}))
    with pytest.raises(DoclrpError, match="the product has 2 factors"):
        attribute(Merged(ElementwiseProduct()), inputs(2), target=0,
                  composite=Composite({ElementwiseProduct: ProductRule(keep=3)}))
    with pytest.raises(DoclrpError, match="two or more tensors of one shape"):
        WeightedSum.add(2)(torch.zeros(2), torch.zeros(3))
    assert repr(SumRule(Epsilon(0.1))) == "SumRule(rule=Epsilon(eps=0.1))"


# -- several inputs ----------------------------------------------------------------------------------
class TwoInputs(nn.Module):
    """Token ids through a shared embedding twice (question, answer) and numeric features."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(12, 4)
        self.features = nn.Linear(3, 4, bias=False)
        self.join = Concatenate(-1)
        self.add = WeightedSum.add(2)
        self.out = nn.Linear(8, 2, bias=False)

    def forward(self, question, answer, features):
        both = self.add(self.embedding(question).sum(1), self.embedding(answer).sum(1))
        return self.out(torch.relu(self.join(both, self.features(features))))


def test_several_inputs_each_get_relevance_and_conserve():
    torch.manual_seed(0)
    model = TwoInputs().double()
    question, answer = torch.randint(0, 12, (3, 5)), torch.randint(0, 12, (3, 4))
    features = torch.randn(3, 3, dtype=torch.float64)
    result = attribute(model, (question, answer, features), target=1, composite="zero")
    shapes = [tuple(r.shape) for r in result.input_relevance]
    assert shapes == [(3, 5), (3, 4), (3, 3)]
    assert torch.equal(result.relevance, result.input_relevance[0])
    total = sum(r.sum(1) for r in result.input_relevance)
    torch.testing.assert_close(total, result.target_output, atol=CONSERVATION_TOLERANCE, rtol=0)
    torch.testing.assert_close(result.delta, torch.zeros(3, dtype=torch.float64), atol=CONSERVATION_TOLERANCE, rtol=0)
    # each input's relevance is its own: the gradient × input of the same network (LRP-0)
    leaves = [model.embedding(question).detach().requires_grad_(), model.embedding(answer).detach().requires_grad_(),
              features.clone().requires_grad_()]
    both = leaves[0].sum(1) + leaves[1].sum(1)
    logits = model.out(torch.relu(torch.cat([both, model.features(leaves[2])], -1)))
    grads = torch.autograd.grad(logits[:, 1].sum(), leaves)
    expected = [(leaves[0] * grads[0]).sum(-1), (leaves[1] * grads[1]).sum(-1), leaves[2] * grads[2]]
    for got, want in zip(result.input_relevance, expected):
        torch.testing.assert_close(got, want.detach(), atol=REFERENCE_TOLERANCE, rtol=0)


def test_one_input_keeps_the_single_result_and_ids_without_embedding_are_refused():
    net = nn.Sequential(nn.Linear(3, 2))
    assert attribute(net, (torch.ones(1, 3),), target=0).input_relevance == ()

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 1)

        def forward(self, ids, x):
            return self.linear(x)

    with pytest.raises(DoclrpError, match="input 0 holds integer ids"):
        attribute(Plain(), (torch.ones(1, 3, dtype=torch.long), torch.ones(1, 3)), target=0)


def test_baselines_of_one_input_refuse_several_and_gradient_x_input_takes_them():
    from doclrp.core import resolve_method

    torch.manual_seed(0)
    model = TwoInputs().double()
    inputs = (torch.randint(0, 12, (2, 5)), torch.randint(0, 12, (2, 4)), torch.randn(2, 3, dtype=torch.float64))
    result = resolve_method("gradient-x-input").attribute(model, inputs, 0)
    assert len(result.input_relevance) == 3 and result.method == "gradient-x-input"
    for name in ("saliency", "integrated-gradients", "occlusion", "random"):
        with pytest.raises(DoclrpError, match=f"{name} takes one input tensor, got a tuple"):
            resolve_method(name).attribute(model, inputs, 0)


def test_first_layer_rules_read_each_inputs_own_bounds():
    """z^B on the layers reading each of two inputs, with the bounds the model declares for that
    input (one pair per input; never the batch's range: issue 29)."""
    from doclrp.core import get_composite
    from doclrp.core.rules import ZBox
    from references import rule_reference

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(4, 2)
            self.join, self.out = Concatenate(-1), nn.Linear(4, 2, bias=False)

        def forward(self, a, b):
            return self.out(self.join(self.a(a), self.b(b)))

    Two.input_bounds = ((0.0, 10.0), (-0.5, 0.5))
    torch.manual_seed(3)
    model = Two().double()
    a = torch.rand(2, 3, dtype=torch.float64) * 10            # a range unlike b's
    b = torch.rand(2, 4, dtype=torch.float64) - 0.5
    result = attribute(model, (a, b), target=0, composite=get_composite("epsilon-gamma-box", eps=0.0))
    g = model.out.weight[0].detach().expand(2, 4)
    for x, layer, grad, got in ((a, model.a, g[:, :2], result.input_relevance[0]),
                                (b, model.b, g[:, 2:], result.input_relevance[1])):
        low, high = Two.input_bounds[0] if x is a else Two.input_bounds[1]
        expected = rule_reference(ZBox(low, high), layer, x, grad)
        torch.testing.assert_close(got, expected, atol=REFERENCE_TOLERANCE, rtol=0)


def test_a_gated_product_holds_its_gates_constant_by_default():
    x = inputs(2, seed=7)
    g = torch.ones(4, 5, dtype=torch.float64)
    result = relevance_of_terms(ElementwiseProduct(signal=1), "epsilon", x, g)
    expected = product_reference(1, list(x.unbind(1)), g)
    torch.testing.assert_close(result.relevance, torch.stack(expected, 1), atol=REFERENCE_TOLERANCE, rtol=0)
