"""Recurrent layers (nn.LSTM, nn.GRU): Arras et al.'s rules against a numpy reference, conservation,
every composite, packed and padded batches, layouts, refusals."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from doclrp.core import Composite, Epsilon, Gamma, Gradient, ZBox, Zero, attribute
from doclrp.core.composites import composite_names, get_composite
from doclrp.core.methods import resolve_method
from doclrp.core.recurrent import Recurrent
from doclrp.errors import DoclrpError
from references import arras_lstm_lrp, recurrent_reference

CORE_COMPOSITES = ["zero", "epsilon", "epsilon-plus", "epsilon-gamma-box", "alpha2-beta1"]


class Flat(nn.Module):
    """A recurrent layer's whole output sequence, flattened: ``(batch, T·D·H)``."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        y = self.net(x)[0]
        return (y if self.net.batch_first else y.transpose(0, 1)).flatten(1)


class Words(nn.Module):
    """Embedding → recurrent layer over a packed batch (padding id 0) → max over time → Linear."""

    def __init__(self, cls=nn.LSTM, vocab=30, dim=5, hidden=4, layers=1, packed=True):
        super().__init__()
        self.packed = packed
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0)
        self.net = cls(dim, hidden, num_layers=layers, batch_first=True, bidirectional=True)
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.head = nn.Linear(2 * hidden, 3)

    def forward(self, ids):
        x = self.embedding(ids)
        if self.packed:
            lengths = (ids != 0).sum(1).clamp(min=1).cpu()
            y, _ = pad_packed_sequence(self.net(pack_padded_sequence(x, lengths, batch_first=True,
                                                                     enforce_sorted=False))[0],
                                       batch_first=True, padding_value=-1e4, total_length=ids.shape[1])
        else:
            y = self.net(x)[0]
        return self.head(self.pool(y.transpose(1, 2)).flatten(1))


def _net(cls, bidirectional, layers, bias, seed=0):
    torch.manual_seed(seed)
    return cls(3, 4, num_layers=layers, bias=bias, batch_first=True, bidirectional=bidirectional).double()


@pytest.mark.slow
@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.05])
def test_recurrent_rules_match_arras_reference(cls, bidirectional, layers, bias, eps):
    net = _net(cls, bidirectional, layers, bias)
    model = Flat(net)
    torch.manual_seed(1)
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    weights = torch.randn(3, model(x).shape[1], dtype=torch.float64)
    attr = attribute(model, x, target=weights, composite=Composite({nn.Linear: Epsilon(eps)}))
    assert torch.equal(attr.output, model(x))  # exact forward values
    y = model(x).detach()
    for b in range(3):
        relevance_out = (weights[b] * y[b]).reshape(6, -1).numpy()
        expected = recurrent_reference(net, x[b].numpy(), relevance_out, eps)
        assert torch.allclose(attr.relevance[b], torch.from_numpy(expected), rtol=0, atol=1e-10)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
@pytest.mark.parametrize("composite", ["zero", "alpha2-beta1"])
def test_bias_free_recurrent_layers_conserve_to_float64_precision(cls, composite):
    net = _net(cls, bidirectional=True, layers=2, bias=False)
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    attr = attribute(Flat(net), x, target=torch.randn(4, 7 * 8, dtype=torch.float64), composite=composite)
    assert attr.delta.abs().max() < 1e-12


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
@pytest.mark.parametrize("composite", CORE_COMPOSITES)
def test_every_composite_explains_a_text_model_and_leaves_it_unchanged(cls, composite):
    assert set(CORE_COMPOSITES) <= set(composite_names())
    torch.manual_seed(0)
    model = Words(cls, layers=2).eval()
    ids = torch.tensor([[3, 4, 5, 6, 0, 0], [7, 8, 9, 10, 11, 12]])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        expected = model(ids)
    attr = attribute(model, ids, composite=composite)
    assert torch.equal(attr.output, expected)
    assert attr.relevance.shape == ids.shape and torch.isfinite(attr.relevance).all()
    assert attr.relevance[0, 4:].abs().max() == 0  # padding is no part of a packed document
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model.net._forward_hooks and all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_packed_batch_equals_documents_one_by_one(cls):
    torch.manual_seed(0)
    model = Words(cls, layers=2).double().eval()
    ids = torch.tensor([[3, 4, 5, 0, 0, 0], [7, 8, 9, 10, 11, 12], [13, 14, 0, 0, 0, 0]])
    batch = attribute(model, ids, target=1, composite="epsilon")
    for b, length in enumerate((3, 6, 2)):
        alone = attribute(model, ids[b:b + 1, :length], target=1, composite="epsilon")
        assert torch.allclose(batch.relevance[b, :length], alone.relevance[0], atol=1e-12)
        assert torch.allclose(batch.delta[b], alone.delta[0], atol=1e-12)


def test_layouts_give_the_same_relevance():
    """batch_first or not, one sample unbatched: the same relevance."""
    net = _net(nn.LSTM, bidirectional=True, layers=2, bias=True)
    other = nn.LSTM(3, 4, num_layers=2, bidirectional=True).double()
    other.load_state_dict(net.state_dict())
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    first = attribute(Flat(net), x, target=0, composite="epsilon").relevance

    class TimeFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = other

        def forward(self, x):
            return self.net(x.transpose(0, 1))[0].transpose(0, 1).flatten(1)

    assert torch.allclose(attribute(TimeFirst(), x, target=0, composite="epsilon").relevance, first, atol=1e-12)

    class Unbatched(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x[0])[0].flatten().unsqueeze(0)

    alone = attribute(Unbatched(), x[:1], target=0, composite="epsilon").relevance
    assert torch.allclose(alone, first[:1], atol=1e-12)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_rule_machinery_equals_the_fused_epsilon_path(cls):
    """A rule the cell does not special-case runs the general per-step rule call: for ε both agree."""

    class MyEpsilon(Epsilon):
        pass

    net = _net(cls, bidirectional=True, layers=1, bias=True)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    weights = torch.randn(2, 5 * 8, dtype=torch.float64)
    fused = attribute(Flat(net), x, target=weights, composite=Composite({nn.Linear: Epsilon(0.01)}))
    general = attribute(Flat(net), x, target=weights, composite=Composite({nn.Linear: MyEpsilon(0.01)}))
    assert torch.allclose(fused.relevance, general.relevance, atol=1e-12)
    gamma = attribute(Flat(net), x, target=weights, composite=Composite({nn.Linear: Gamma(0.25)}))
    assert torch.isfinite(gamma.relevance).all() and not torch.allclose(gamma.relevance, fused.relevance)


def test_initial_states_and_final_states_carry_relevance():
    """Relevance that enters through h_n reaches the inputs; h0 given as an input gets its share."""
    net = _net(nn.LSTM, bidirectional=False, layers=1, bias=False)

    class Final(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            _, (h, c) = self.net(x)
            return h[-1] + c[-1]

    x = torch.randn(2, 5, 3, dtype=torch.float64)
    attr = attribute(Final(), x, target=0, composite="zero")
    assert attr.delta.abs().max() < 1e-12


def test_composite_choices_for_recurrent_layers():
    lstm = nn.LSTM(3, 4)
    assert get_composite("epsilon").rule_for("rnn", lstm) == Recurrent(Epsilon(1e-6))
    assert Composite({nn.LSTM: Gamma(0.5)}).rule_for("rnn", lstm) == Recurrent(Gamma(0.5))
    assert Composite({"rnn": Gradient()}).rule_for("rnn", lstm) == Gradient()
    # the input rule of a first layer is no rule for the recurrent maps: the Linear rule is
    assert get_composite("epsilon-gamma-box").rule_for("rnn", lstm) == Recurrent(Epsilon(1e-6))
    # Gradient(): the plain gradient, gradient × input
    net = _net(nn.GRU, bidirectional=True, layers=1, bias=True)
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    plain = attribute(Flat(net), x, target=0, composite=Composite({nn.GRU: Gradient()}))
    xd = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(Flat(net)(xd)[:, 0].sum(), xd)
    assert torch.allclose(plain.relevance, x * grad)
    lrp = attribute(Flat(net), x, target=0, composite=Composite({nn.Linear: Zero()}))
    assert not torch.allclose(lrp.relevance, plain.relevance)


@pytest.mark.parametrize("make, composite, message", [
    (lambda: nn.LSTM(3, 4, proj_size=2, batch_first=True), "epsilon", "proj_size"),
    (lambda: nn.LSTM(3, 4, num_layers=2, dropout=0.5, batch_first=True).train(), "epsilon", "model.eval()"),
    (lambda: nn.GRU(3, 4, batch_first=True), Composite({nn.Conv1d: Epsilon()}), "has no rule"),
    (lambda: nn.GRU(3, 4, batch_first=True), Composite({nn.GRU: ZBox(-1, 1)}), "hidden layers"),
])
def test_refusals_name_the_layer_and_the_fix(make, composite, message):
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = make()

        def forward(self, x):
            return self.rnn(x)[0][:, -1]

    with pytest.raises(DoclrpError, match=message) as error:
        attribute(Model(), torch.randn(2, 4, 3), target=0, composite=composite)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("composite", [Composite({nn.Linear: Epsilon(0.05)}), Composite({nn.Linear: Gamma(0.25)})])
def test_reset_before_gru_matches_arras_reference_and_its_equations(bidirectional, bias, composite):
    """Keras's GRU(reset_after=False): the reset gate before W_hn, its forward by the equations and
    its relevance by the reference (ε); other rules (γ) run through the general per-step path."""
    from doclrp.core.recurrent import ResetBeforeGRU

    net = _net(ResetBeforeGRU, bidirectional, 1, bias)
    torch.manual_seed(1)
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    # the forward by hand, one direction: n = tanh(W_in x + b_in + W_hn (r h) + b_hn)
    h = torch.zeros(3, 4, dtype=torch.float64)
    w_ih, w_hh = net.weight_ih_l0, net.weight_hh_l0
    b_ih = net.bias_ih_l0 if bias else torch.zeros(12, dtype=torch.float64)
    b_hh = net.bias_hh_l0 if bias else torch.zeros(12, dtype=torch.float64)
    for t in range(6):
        a, m = x[:, t] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        r, z = torch.sigmoid(a[:, :4] + m[:, :4]), torch.sigmoid(a[:, 4:8] + m[:, 4:8])
        h = (1 - z) * torch.tanh(a[:, 8:] + (r * h) @ w_hh[8:].T + b_hh[8:]) + z * h
    torch.testing.assert_close(net(x)[0][:, -1, :4], h, atol=1e-12, rtol=0)
    model = Flat(net)
    weights = torch.randn(3, model(x).shape[1], dtype=torch.float64)
    attr = attribute(model, x, target=weights, composite=composite)
    assert torch.equal(attr.output, model(x))
    rule = composite.rules[nn.Linear]
    if isinstance(rule, Epsilon):
        y = model(x).detach()
        for b in range(3):
            relevance_out = (weights[b] * y[b]).reshape(6, -1).numpy()
            expected = recurrent_reference(net, x[b].numpy(), relevance_out, rule.eps)
            assert torch.allclose(attr.relevance[b], torch.from_numpy(expected), rtol=0, atol=1e-10)
    elif not bias:
        assert attr.delta.abs().max() < 1e-10  # γ on bias-free maps conserves


# -- Arras et al.'s published procedure: recurrent="arras" --------------------------------------
class ArrasReader(nn.Module):
    """Arras et al.'s sentence classifier: embeddings, a bidirectional LSTM over the packed batch,
    its two last states into a bias-free linear layer."""

    zero_is_absent = True

    def __init__(self, cls=nn.LSTM, vocab=30, dim=5, hidden=4, classes=3):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0)
        self.lstm = cls(dim, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, classes, bias=False)

    def forward(self, ids):
        lengths = (ids != 0).sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        _, last = self.lstm(packed)
        h = last[0] if isinstance(last, tuple) else last
        return self.head(torch.cat([h[0], h[1]], 1))


ARRAS_TOLERANCE = 1e-8  # float64, relative to the document's largest |relevance|
# several lengths in one batch, a one-word document among them
ARRAS_IDS = torch.tensor([[3, 4, 5, 6, 7, 8, 9, 10], [11, 12, 0, 0, 0, 0, 0, 0], [13, 4, 14, 15, 16, 0, 0, 0],
                          [17, 0, 0, 0, 0, 0, 0, 0]])


@pytest.mark.parametrize("bias_factor", [0.0, 1.0])
@pytest.mark.parametrize("target", [0, 2])
def test_arras_mode_is_their_published_procedure(bias_factor, target):
    torch.manual_seed(3)
    model = ArrasReader().double().eval()
    with torch.no_grad():  # biases of a trained model's size: their share is what bias_factor moves
        for name, p in model.lstm.named_parameters():
            if "bias" in name:
                p.uniform_(-1.0, 1.0)
    method = resolve_method("epsilon", eps=0.001, recurrent="arras", bias_factor=bias_factor)
    attr = method.attribute(model, ARRAS_IDS, target)
    for row, ids in enumerate(ARRAS_IDS):
        words = ids[ids != 0].tolist()
        expected, scores = arras_lstm_lrp(model.embedding.weight, model.lstm, model.head.weight, words, target,
                                          eps=0.001, bias_factor=bias_factor)
        assert torch.allclose(attr.logits[row], torch.from_numpy(scores), rtol=0, atol=1e-12)
        got = attr.relevance[row].numpy()
        assert abs(got[len(words):]).max(initial=0) == 0  # padding is no part of the document
        assert abs(got[:len(words)] - expected).max() <= ARRAS_TOLERANCE * abs(expected).max()
    # doclrp's own mode splits the cell sums without ε: not their figures
    own = resolve_method("epsilon", eps=0.001).attribute(model, ARRAS_IDS, target).relevance
    assert (own - attr.relevance).abs().max() > 1e-6 * attr.relevance.abs().max()


@pytest.mark.parametrize("cls", ["lstm", "gru", "reset-before-gru"])
def test_arras_mode_without_epsilon_is_doclrps_rule(cls):
    # with ε = 0 both modes are LRP-0 with plain sums: the relevance-form backward of the Arras
    # mode and the gradient-form backward of doclrp's agree, for the LSTM and the GRU
    from doclrp.core.recurrent import ResetBeforeGRU

    torch.manual_seed(4)
    if cls == "reset-before-gru":  # padded batches only: its whole output sequence, explained by random weights
        model = Flat(_net(ResetBeforeGRU, True, 1, True))
        inputs = torch.randn(3, 6, 3, dtype=torch.float64)
        target = torch.randn(3, model(inputs).shape[1], dtype=torch.float64)
    else:
        model = ArrasReader({"lstm": nn.LSTM, "gru": nn.GRU}[cls]).double().eval()
        inputs, target = ARRAS_IDS, 1
    arras = resolve_method("epsilon", eps=0.0, recurrent="arras").attribute(model, inputs, target)
    own = resolve_method("epsilon", eps=0.0).attribute(model, inputs, target)
    torch.testing.assert_close(arras.relevance, own.relevance, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("params, message", [
    ({"recurrent": "arass"}, "recurrent='arass': choose one of doclrp, arras"),
    ({"bias_factor": 1.0}, "only with recurrent='arras'"),
    ({"recurrent": 1.0}, "choose one of doclrp, arras"),
    ({"eps": "small"}, "parameter eps of 'epsilon' takes a number, got 'small'"),
])
def test_arras_mode_refuses_what_it_is_not(params, message):
    with pytest.raises(DoclrpError, match=message):
        resolve_method("epsilon", **params)
