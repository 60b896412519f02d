"""Engine invariants: conservation, exact forward values, reversibility, canonizers, targets, errors."""

import copy

import pytest
import torch
from torch import nn

import doclrp
from doclrp.core import attachment  # its hook-plan cache (_PLANS) is internal: no public name to check it by
from doclrp.core.linear import DenseAdapter, register_dense_adapter
from doclrp.core.rules import Epsilon, Gradient, Pass, Zero, ZPlus

CONSERVATION_RTOL = 1e-10


def relative_delta(attr):
    return (attr.delta.abs() / attr.target_output.abs().clamp(min=1e-300)).max().item()


def bias_free_mlp():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16, bias=False), nn.ReLU(), nn.Linear(16, 16, bias=False), nn.ReLU(),
                        nn.Linear(16, 4, bias=False)).double()
    with torch.no_grad():
        net[2].weight[:, :3] = 0.0          # zero weights
        net[0].weight[5] = 0.0              # a neuron with no input at all
    return net


class MaxPoolCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.ReLU(), nn.AdaptiveMaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16, 3, bias=False))

    def forward(self, x):
        return self.head(self.features(x))


def inputs_with_zeros_and_ties(shape):
    torch.manual_seed(1)
    x = torch.rand(*shape, dtype=torch.float64)
    x.view(x.shape[0], -1)[:, ::3] = 0.0      # exact zeros
    return x


@pytest.mark.parametrize("composite", ["zero", "epsilon-plus", "alpha2-beta1",
                                       doclrp.Composite({nn.Linear: ZPlus(), nn.Conv2d: ZPlus()})],
                         ids=["zero", "eps-plus-tiny-eps", "alpha2-beta1", "zplus"])
def test_bias_free_mlp_conserves(composite):
    if composite == "epsilon-plus":
        composite = doclrp.get_composite("epsilon-plus", eps=0.0)
    net = bias_free_mlp()
    x = inputs_with_zeros_and_ties((5, 6))
    attr = doclrp.attribute(net, x, composite=composite)
    assert torch.isfinite(attr.relevance).all()
    assert relative_delta(attr) < CONSERVATION_RTOL


@pytest.mark.parametrize("composite", ["zero", "alpha2-beta1", "epsilon-plus"])
def test_bias_free_cnn_with_tied_maxpool_conserves(composite):
    if composite == "epsilon-plus":
        composite = doclrp.get_composite("epsilon-plus", eps=0.0)
    torch.manual_seed(2)
    net = MaxPoolCNN().double()
    x = inputs_with_zeros_and_ties((3, 1, 8, 8))
    x[:, :, :4, :4] = 0.5                     # a plateau: every max-pool window there is a tie
    with torch.no_grad():
        net.features[0].weight[1] = 0.0       # a whole filter of zeros
    attr = doclrp.attribute(net, x, target=[0, 1, 2], composite=composite)
    assert torch.isfinite(attr.relevance).all()
    assert relative_delta(attr) < CONSERVATION_RTOL


def test_all_zero_input_gives_no_nan():
    net = MaxPoolCNN().double()
    for name in ["zero", "epsilon", "epsilon-plus", "alpha2-beta1", "epsilon-gamma-box"]:
        rules = doclrp.get_composite(name, low=0.0, high=1.0) if name == "epsilon-gamma-box" else name
        attr = doclrp.attribute(net, torch.zeros(2, 1, 8, 8, dtype=torch.float64), target=0, composite=rules)
        assert torch.isfinite(attr.relevance).all(), name


def test_lrp_zero_equals_gradient_times_input():
    net = bias_free_mlp()
    x = inputs_with_zeros_and_ties((5, 6)).requires_grad_(True)
    out = net(x)
    (grad,) = torch.autograd.grad(out[:, 2].sum(), x)
    attr = doclrp.attribute(net, x.detach(), target=2, composite="zero")
    torch.testing.assert_close(attr.relevance, x.detach() * grad, rtol=0, atol=1e-15)


class ResidualNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(5, 5, bias=False)
        self.relu = nn.ReLU()
        self.b = nn.Linear(5, 2, bias=False)

    def forward(self, x):
        h = self.relu(self.a(x))
        return self.b(h + x)           # residual add written plainly


def test_plain_residual_add_conserves():
    torch.manual_seed(4)
    net = ResidualNet().double()
    attr = doclrp.attribute(net, torch.rand(4, 5, dtype=torch.float64), composite="alpha2-beta1")
    assert relative_delta(attr) < CONSERVATION_RTOL


def bn_cnn():
    torch.manual_seed(5)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                        nn.Linear(48, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    for bn in (net[1], net[5]):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        nn.init.uniform_(bn.weight, 0.5, 1.5)
        nn.init.uniform_(bn.bias, -0.2, 0.2)
    return net.eval()


def snapshot(model):
    return {
        "params": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "hooks": [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)) for m in model.modules()],
        "flags": [p.requires_grad for p in model.parameters()],
        "training": [m.training for m in model.modules()],
        "grads": [p.grad for p in model.parameters()],
    }


@pytest.mark.parametrize("composite", ["zero", "epsilon", "epsilon-plus", "epsilon-gamma-box", "alpha2-beta1"])
def test_outputs_exact_while_attached_and_model_unchanged_after(composite):
    net = bn_cnn()
    x = torch.rand(4, 1, 4, 4)
    before = snapshot(net)
    with torch.no_grad():
        expected = net(x)
    if composite == "epsilon-gamma-box":  # the pixels' range: a plain nn.Sequential declares none
        composite = doclrp.get_composite(composite, low=0.0, high=1.0)
    attr = doclrp.attribute(net, x, composite=composite)
    assert torch.equal(attr.output, expected)
    after = snapshot(net)
    assert after["hooks"] == before["hooks"] and after["flags"] == before["flags"]
    assert after["training"] == before["training"] and all(g is None for g in after["grads"])
    for key, value in before["params"].items():
        assert torch.equal(after["params"][key], value), key
    with torch.no_grad():
        assert torch.equal(net(x), expected)


def merged_copy(net):
    """The BN-free network with each BatchNorm folded into its preceding layer by hand."""
    merged = copy.deepcopy(net)
    for i in (1, 5):
        layer, bn = merged[i - 1], merged[i]
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        with torch.no_grad():
            layer.weight.mul_(scale.view(-1, *([1] * (layer.weight.dim() - 1))))
            layer.bias.copy_(scale * (layer.bias - bn.running_mean) + bn.bias)
        merged[i] = nn.Identity()
    return merged


@pytest.mark.parametrize("composite", ["epsilon", "epsilon-plus", "alpha2-beta1"])
def test_batchnorm_is_folded_into_the_preceding_layer(composite):
    net = bn_cnn().double()
    merged = merged_copy(net)
    x = torch.rand(4, 1, 4, 4, dtype=torch.float64)
    torch.testing.assert_close(merged(x), net(x), rtol=1e-5, atol=1e-8)
    got = doclrp.attribute(net, x, target=1, composite=composite)
    want = doclrp.attribute(merged, x, target=1, composite=composite)
    torch.testing.assert_close(got.relevance, want.relevance, rtol=1e-9, atol=1e-12)


def test_softmax_at_output_explains_the_logit():
    torch.manual_seed(6)
    logits_net = nn.Sequential(nn.Linear(4, 3))
    net = nn.Sequential(logits_net, nn.Softmax(dim=-1))
    x = torch.rand(2, 4)
    attr = doclrp.attribute(net, x, target=0, composite="epsilon")
    torch.testing.assert_close(attr.output, net(x))
    torch.testing.assert_close(attr.target_output, logits_net(x)[:, 0])
    plain = doclrp.attribute(logits_net, x, target=0, composite="epsilon")
    torch.testing.assert_close(attr.relevance, plain.relevance)


def test_softmax_inside_the_model_is_refused_with_its_path():
    net = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=-1), nn.Linear(3, 2))
    with pytest.raises(doclrp.DoclrpError, match=r"'1' \(Softmax\)"):
        doclrp.attribute(net, torch.rand(2, 4))


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))

    def forward(self, x):
        return x * self.scale


def test_unsupported_module_raises_with_path_and_fix():
    net = nn.Sequential(nn.Linear(4, 4), nn.Sequential(Custom()), nn.Linear(4, 2))
    with pytest.raises(doclrp.DoclrpError, match=r"module '1\.0' \(Custom\) has parameters.*Composite"):
        doclrp.attribute(net, torch.rand(2, 4))
    assert all(len(m._forward_hooks) == 0 for m in net.modules())
    # mapped explicitly, it works
    attr = doclrp.attribute(net, torch.rand(2, 4), composite=doclrp.Composite(
        {nn.Linear: Epsilon(), "1.0": doclrp.Gradient()}))
    assert attr.relevance.shape == (2, 4)


def test_elementwise_activations_pass_relevance():
    torch.manual_seed(7)
    acts = [nn.Tanh(), nn.ELU(), nn.SELU(), nn.GELU(), nn.LeakyReLU(0.1)]
    layers = []
    for act in acts:
        layers += [nn.Linear(6, 6, bias=False), act]
    net = nn.Sequential(*layers, nn.Linear(6, 2, bias=False)).double()
    attr = doclrp.attribute(net, torch.randn(3, 6, dtype=torch.float64), composite="zero")
    assert relative_delta(attr) < 1e-8


class TokenCNN(nn.Module):
    def __init__(self, bag=False):
        super().__init__()
        self.bag = bag
        self.embedding = nn.EmbeddingBag(50, 8, mode="mean", padding_idx=0) if bag else nn.Embedding(50, 8, padding_idx=0)
        self.convs = nn.ModuleList([nn.Conv1d(8, 5, w, bias=False) for w in (2, 3)])
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.out = nn.Linear(10 if not bag else 8, 3, bias=False)

    def forward(self, ids):
        e = self.embedding(ids)
        if self.bag:
            return self.out(e)
        e = e.transpose(1, 2)
        h = torch.cat([self.pool(self.relu(c(e))).squeeze(-1) for c in self.convs], 1)
        return self.out(h)


def test_token_inputs_give_relevance_per_token_and_conserve():
    torch.manual_seed(8)
    net = TokenCNN().double()
    ids = torch.randint(1, 50, (4, 9))
    attr = doclrp.attribute(net, ids, composite="zero")
    assert attr.relevance.shape == (4, 9)
    assert relative_delta(attr) < CONSERVATION_RTOL


def test_first_layer_rule_reaches_every_parallel_branch():
    torch.manual_seed(9)
    net = TokenCNN().double()
    ids = torch.randint(1, 50, (3, 7))
    seen = []
    rule = doclrp.Flat()
    composite = doclrp.Composite({nn.Linear: Epsilon(0.0), nn.Conv1d: ZPlus()}, first=rule)
    original = composite.rule_for

    def spy(name, module, first=False):
        chosen = original(name, module, first)
        seen.append((name, chosen))
        return chosen

    composite.rule_for = spy
    attr = doclrp.attribute(net, ids, composite=composite)
    assert ("convs.0", rule) in seen and ("convs.1", rule) in seen and ("out", Epsilon(0.0)) in seen
    assert relative_delta(attr) < CONSERVATION_RTOL   # flat conserves, relevance mapped back through the transpose


def test_embedding_bag_relevance_per_token_and_exact_output():
    torch.manual_seed(10)
    net = TokenCNN(bag=True).double()
    ids = torch.randint(0, 50, (4, 6))
    ids[0, 3:] = 0  # padding
    attr = doclrp.attribute(net, ids, composite="zero")
    assert torch.equal(attr.output, net(ids))
    assert attr.relevance.shape == (4, 6)
    assert torch.all(attr.relevance[0, 3:] == 0)
    assert relative_delta(attr) < CONSERVATION_RTOL


def test_later_embeddings_are_inputs_unless_the_composite_makes_them_constants():
    class WithPositions(nn.Module):
        def __init__(self):
            super().__init__()
            self.words, self.positions = nn.Embedding(20, 4), nn.Embedding(6, 4)
            self.out = nn.Linear(4, 2, bias=False)

        def forward(self, ids):
            return self.out((self.words(ids) + self.positions(torch.arange(ids.shape[1])[None])).sum(1))

    torch.manual_seed(12)
    net, ids = WithPositions().double(), torch.randint(0, 20, (3, 6))
    reported = doclrp.attribute(net, ids, target=0, composite="zero")
    assert set(reported.other_relevance) == {"positions"} and reported.other_relevance["positions"].shape == (3, 6)
    assert relative_delta(reported) < CONSERVATION_RTOL
    # Gradient() on an embedding: a table of constants (as a relative position bias is), no input
    constant = doclrp.attribute(net, ids, target=0, composite=doclrp.Composite({"positions": Gradient(), nn.Linear: Zero()}))
    assert not constant.other_relevance
    torch.testing.assert_close(constant.relevance, reported.relevance)
    torch.testing.assert_close(constant.delta, reported.other_relevance["positions"].sum(1))


class Conv1D(nn.Module):
    """transformers' Conv1D (GPT-2): a Linear whose weight is stored (in, out)."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf, self.nx = nf, nx
        self.weight, self.bias = nn.Parameter(torch.randn(nx, nf)), nn.Parameter(torch.randn(nf))

    def forward(self, x):
        return torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight).view(*x.shape[:-1], self.nf)


# declared dense as doclrp.models.hf.layouts declares transformers' own
register_dense_adapter(Conv1D, DenseAdapter(weight=lambda module: module.weight.t()))


@pytest.mark.parametrize("composite", ["zero", "epsilon", "alpha2-beta1", "epsilon-gamma-box"])
def test_transposed_linear_layers_get_the_linear_rules(composite):
    torch.manual_seed(13)
    transposed = nn.Sequential(Conv1D(5, 4), nn.ReLU(), Conv1D(3, 5)).double()
    plain = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    with torch.no_grad():
        for ours, theirs in ((transposed[0], plain[0]), (transposed[2], plain[2])):
            theirs.weight.copy_(ours.weight.t())
            theirs.bias.copy_(ours.bias)
    x = torch.randn(6, 4, dtype=torch.float64)
    # normal inputs: a box that holds them (a plain nn.Sequential declares none)
    rules = doclrp.get_composite(composite, low=-6.0, high=6.0) if composite == "epsilon-gamma-box" else composite
    a = doclrp.attribute(transposed, x, target=1, composite=rules)
    b = doclrp.attribute(plain, x, target=1, composite=rules)
    torch.testing.assert_close(a.relevance, b.relevance, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(a.delta, b.delta, rtol=1e-12, atol=1e-12)


def test_target_forms():
    torch.manual_seed(11)
    net = nn.Sequential(nn.Linear(4, 3, bias=False)).double()
    x = torch.rand(2, 4, dtype=torch.float64)
    out = net(x)
    a = doclrp.attribute(net, x, target=[2, 0], composite="zero")
    torch.testing.assert_close(a.target_output, torch.stack([out[0, 2], out[1, 0]]))
    w = torch.tensor([1.0, -0.5, -0.5], dtype=torch.float64)
    b = doclrp.attribute(net, x, target=w, composite="zero")
    torch.testing.assert_close(b.target_output, out @ w)
    assert relative_delta(b) < CONSERVATION_RTOL
    c = doclrp.attribute(net, x, target=lambda logits: logits.argmin(1), composite="zero")
    torch.testing.assert_close(c.target_output, out.min(1).values)
    for bad in (3, [0], torch.zeros(5)):
        with pytest.raises(doclrp.DoclrpError):
            doclrp.attribute(net, x, target=bad)


def test_attribute_takes_any_method_by_method_or_composite():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    x = torch.randn(2, 4, dtype=torch.float64)
    by_method = doclrp.attribute(net, x, 1, method="epsilon", eps=0.5)
    by_composite = doclrp.attribute(net, x, 1, composite=doclrp.get_composite("epsilon", eps=0.5))
    torch.testing.assert_close(by_method.relevance, by_composite.relevance)
    saliency = doclrp.attribute(net, x, 1, method="saliency")
    assert saliency.method == "saliency"
    torch.testing.assert_close(saliency.relevance, doclrp.resolve_method("saliency").attribute(net, x, 1).relevance)


def test_regression_output_relevance_is_signed():
    torch.manual_seed(12)
    net = nn.Sequential(nn.Linear(5, 1, bias=False)).double()
    x = torch.randn(3, 5, dtype=torch.float64)
    attr = doclrp.attribute(net, x, composite="zero")
    assert (attr.relevance < 0).any() and (attr.relevance > 0).any()
    torch.testing.assert_close(attr.relevance.sum(1), net(x)[:, 0])


def test_bad_inputs_and_names():
    net = nn.Sequential(nn.Linear(4, 2))
    with pytest.raises(doclrp.DoclrpError, match="unknown method 'nope'"):  # attribute takes any method
        doclrp.attribute(net, torch.rand(1, 4), composite="nope")
    with pytest.raises(doclrp.DoclrpError, match="give the method once"):
        doclrp.attribute(net, torch.rand(1, 4), method="zero", composite="zero")
    with pytest.raises(doclrp.DoclrpError, match="no nn.Embedding"):
        doclrp.attribute(net, torch.ones(1, 4, dtype=torch.long))
    with pytest.raises(doclrp.DoclrpError, match="torch.Tensor"):
        doclrp.attribute(net, [[1.0, 2.0, 3.0, 4.0]])


def test_pass_rule_on_custom_elementwise_module():
    class Square(nn.Module):
        def forward(self, x):
            return x * x.abs()

    torch.manual_seed(13)
    net = nn.Sequential(nn.Linear(4, 4, bias=False), Square(), nn.Linear(4, 2, bias=False)).double()
    with pytest.raises(doclrp.DoclrpError, match="is unknown"):
        doclrp.attribute(net, torch.rand(2, 4, dtype=torch.float64))
    composite = doclrp.Composite({nn.Linear: Epsilon(0.0), Square: Pass()})
    attr = doclrp.attribute(net, torch.rand(2, 4, dtype=torch.float64), composite=composite)
    assert relative_delta(attr) < CONSERVATION_RTOL


def test_reference_explains_the_deviation():
    torch.manual_seed(14)
    net = nn.Sequential(nn.Linear(5, 6, bias=False), nn.ReLU(), nn.Linear(6, 2, bias=False)).double()
    x = torch.rand(3, 5, dtype=torch.float64)
    reference = torch.tensor([0.2, -0.1], dtype=torch.float64)
    plain = doclrp.attribute(net, x, target=0, composite="zero")
    shifted = doclrp.attribute(net, x, target=0, composite="zero", reference=reference)
    torch.testing.assert_close(shifted.target_output, plain.target_output - 0.2)
    # LRP-0 leaves the words as they were; the offset is what the shifted bias absorbed
    torch.testing.assert_close(shifted.relevance, plain.relevance)
    torch.testing.assert_close(shifted.delta, torch.full((3,), -0.2, dtype=torch.float64))
    # z+ shares the deviation out instead, conserving it where the deviation is covered
    zplus = doclrp.attribute(net, x, target=0, composite=doclrp.Composite({nn.Linear: ZPlus()}),
                             reference=torch.tensor([-0.3, 0.0], dtype=torch.float64))
    assert torch.isfinite(zplus.relevance).all()
    with pytest.raises(doclrp.DoclrpError, match="reference has 3 values"):
        doclrp.attribute(net, x, reference=torch.zeros(3))


def test_cached_hook_plan_follows_changes_to_the_model_and_composite():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    x = torch.rand(2, 4)
    composite = doclrp.Composite({nn.Linear: Epsilon(1e-6)})
    first = doclrp.attribute(model, x, 0, composite).relevance
    torch.testing.assert_close(doclrp.attribute(model, x, 0, composite).relevance, first)  # from the cache
    model[1] = nn.Tanh()  # replaced module: the plan is made again, Tanh gets Pass
    with_tanh = doclrp.attribute(model, x, 0, composite)
    assert not torch.allclose(with_tanh.relevance, first) and torch.allclose(with_tanh.output, model(x))
    model.append(nn.Hardshrink())  # an unknown module joins: refused, not silently passed
    with pytest.raises(doclrp.DoclrpError, match="Hardshrink"):
        doclrp.attribute(model, x, 0, composite)
    del model[3]
    composite.rules[nn.Linear] = ZPlus()  # a composite changed in place takes effect
    plus = doclrp.attribute(model, x, 0, composite).relevance
    torch.testing.assert_close(plus, doclrp.attribute(model, x, 0, doclrp.Composite({nn.Linear: ZPlus()})).relevance)


def test_hook_plans_of_several_composites_are_kept_per_model():
    plans = attachment._PLANS
    model = nn.Sequential(nn.Linear(3, 2))
    x = torch.rand(1, 3)
    for eps in range(10):  # alternating composites do not evict each other, up to a bound
        doclrp.attribute(model, x, 0, doclrp.Composite({nn.Linear: Epsilon(float(eps))}))
    assert len(plans[model]) == 8
    doclrp.attribute(model, x, 0, doclrp.Composite({nn.Linear: Epsilon(9.0)}))
    assert len(plans[model]) == 8

    class MutableZero(Zero):  # a rule that cannot be hashed: its composite is planned every time
        __hash__ = None

    unhashable = doclrp.attribute(model, x, 0, doclrp.Composite({nn.Linear: MutableZero()}))
    torch.testing.assert_close(unhashable.relevance, doclrp.attribute(model, x, 0, "zero").relevance)


def test_cached_hook_plan_does_not_keep_models_alive():
    import gc
    import weakref

    model = nn.Sequential(nn.Linear(3, 2))
    doclrp.attribute(model, torch.rand(1, 3), 0)
    assert model in attachment._PLANS
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None


def test_reference_needs_the_output_layer_itself_when_its_rule_uses_the_bias():
    class Reshaped(nn.Module):
        def __init__(self):
            super().__init__()
            self.out = nn.Linear(4, 2)

        def forward(self, x):
            return self.out(x).reshape(-1, 2)

    with pytest.raises(doclrp.DoclrpError, match="not reshaped after it"):
        doclrp.attribute(Reshaped(), torch.rand(3, 4), 0, "epsilon", reference=torch.zeros(2))
    # a plain-gradient head (LRP-0 in gradient form): the bias enters no rule, nothing to shift
    plain = doclrp.Composite({nn.Linear: doclrp.Gradient()})
    result = doclrp.attribute(Reshaped(), torch.rand(3, 4), 0, plain, reference=torch.tensor([1.0, 0.0]))
    assert torch.allclose(result.target_output, result.logits[:, 0] - 1.0)
