"""The engine on CUDA gives what it gives on the CPU (skipped where there is no GPU)."""

import pytest
import torch
from torch import nn

import doclrp

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def text_cnn():
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(100, 16)
            self.convs = nn.ModuleList(nn.Conv1d(16, 8, w) for w in (3, 4, 5))
            self.relu = nn.ReLU()
            self.pool = nn.AdaptiveMaxPool1d(1)
            self.out = nn.Linear(24, 4)

        def forward(self, ids):
            e = self.embedding(ids).transpose(1, 2)
            return self.out(torch.cat([self.pool(self.relu(c(e))).squeeze(-1) for c in self.convs], 1))

    return Net().double()


def image_cnn():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64, 10))
    net[1].running_mean.uniform_(-0.1, 0.1)
    return net.double().eval()


@pytest.mark.parametrize("composite", ["epsilon", "epsilon-plus", "epsilon-gamma-box", "alpha2-beta1"])
def test_cuda_equals_cpu_for_text_and_image(composite):
    for net, inputs in ((text_cnn(), torch.randint(0, 100, (6, 30))),
                        (image_cnn(), torch.rand(5, 1, 8, 8, dtype=torch.float64))):
        cpu = doclrp.attribute(net, inputs, composite=composite)
        gpu = doclrp.attribute(net.cuda(), inputs.cuda(), composite=composite)
        assert gpu.relevance.device.type == "cuda"
        torch.testing.assert_close(gpu.relevance.cpu(), cpu.relevance, rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(gpu.delta.cpu(), cpu.delta, rtol=1e-7, atol=1e-9)


def test_cuda_float32_text_model_conserves_under_zero_rule():
    net = text_cnn().float().cuda()
    for conv in net.convs:
        conv.bias = None
    net.out.bias = None
    attr = doclrp.attribute(net, torch.randint(0, 100, (8, 40), device="cuda"), composite="zero")
    assert (attr.delta.abs() / attr.target_output.abs()).max() < 1e-4
