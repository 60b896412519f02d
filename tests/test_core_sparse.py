"""The sparse Conv1d path (rules run only where the output gradient is nonzero) equals the dense one."""

import pytest
import torch
from torch import nn

import doclrp
from doclrp.core import linear
from doclrp.core.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, Zero, ZPlus


class MaxOverTime(nn.Module):
    def __init__(self, conv):
        super().__init__()
        self.embedding = nn.Embedding(30, 6)
        self.conv = conv
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.out = nn.Linear(conv.out_channels, 3)

    def forward(self, ids):
        h = self.pool(self.relu(self.conv(self.embedding(ids).transpose(1, 2))))
        return self.out(h.squeeze(-1))


CONVS = [
    dict(kernel_size=3),
    dict(kernel_size=4, padding=2),
    dict(kernel_size=3, stride=2, dilation=2, padding=1),
    dict(kernel_size=2, bias=False),
]
RULES = [Zero(), Epsilon(0.1), Gamma(0.25), ZPlus(), AlphaBeta(2.0, 1.0)]
FIRST = [None, Flat(), WSquare(), ZBox(None, None)]


@pytest.mark.parametrize("conv_kwargs", CONVS)
@pytest.mark.parametrize("rule", RULES, ids=repr)
@pytest.mark.parametrize("first", FIRST, ids=repr)
def test_sparse_path_equals_dense_path(conv_kwargs, rule, first, monkeypatch):
    torch.manual_seed(0)
    net = MaxOverTime(nn.Conv1d(6, 5, **conv_kwargs)).double()
    ids = torch.randint(0, 30, (4, 11))
    composite = doclrp.Composite({nn.Conv1d: rule, nn.Linear: Epsilon(1e-9)}, first=first)
    monkeypatch.setattr(linear, "SPARSE_DENSITY", 0.0)
    dense = doclrp.attribute(net, ids, composite=composite)
    built = []

    class Counting(linear.SparseConv1dMap):
        def __init__(self, *args):
            super().__init__(*args)
            built.append(self)

    monkeypatch.setattr(linear, "SparseConv1dMap", Counting)
    monkeypatch.setattr(linear, "SPARSE_DENSITY", 1.0)
    monkeypatch.setattr(linear, "_SPARSE_CHUNK", 50)  # several chunks
    sparse = doclrp.attribute(net, ids, composite=composite)
    assert built, "the sparse path was not taken"
    torch.testing.assert_close(sparse.relevance, dense.relevance, rtol=1e-10, atol=1e-12)
