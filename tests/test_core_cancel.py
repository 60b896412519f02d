"""Stopping work with a CancelToken (doclrp.core.cancel): within a method's loop, inside a
forward pass without gradients, inside a backward pass; hooks all gone afterwards, the
model's outputs unchanged, other threads untouched."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from doclrp.core import Composite, resolve_method
from doclrp.core.rules import Epsilon, Pass
from doclrp.core.cancel import Cancelled, CancelToken, cancellable, check_cancelled


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def _no_hooks(model: nn.Module) -> bool:
    return not any(m._forward_hooks or m._backward_hooks or m._forward_pre_hooks for m in model.modules()) \
        and not nn.modules.module._global_forward_pre_hooks


class CancelAfter(nn.Module):
    """A layer that cancels ``token`` on its ``n``-th call (a stand-in for a clock running out)."""

    def __init__(self, token: CancelToken, n: int) -> None:
        super().__init__()
        self.token, self.n, self.calls = token, n, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.n:
            self.token.cancel("stopped by the test")
        return x


@pytest.mark.parametrize("method, params", [("integrated-gradients", {"steps": 1000}), ("occlusion", {"batch_size": 1}),
                                            ("epsilon", {})])
def test_a_cancelled_method_stops_and_leaves_the_model_as_it_was(method, params):
    token = CancelToken()
    counter = CancelAfter(token, 3)
    model = nn.Sequential(nn.Linear(6, 8), counter, nn.ReLU(), nn.Linear(8, 3))
    inputs = torch.randn(2, 6, dtype=torch.float32)
    before = model(inputs).detach().clone()
    counter.calls = 0
    # LRP (one forward pass) with the counting layer passed through: cancelled in that pass
    if method == "epsilon":
        attributor = resolve_method(Composite({nn.Linear: Epsilon(), nn.ReLU: Pass(), CancelAfter: Pass()}))
        counter.n = 1
    else:
        attributor = resolve_method(method, **params)
    with pytest.raises(Cancelled, match="stopped by the test"), cancellable(token):
        attributor.attribute(model, inputs, 0)
    # Stopped at once: no further layer ran after the token was cancelled.
    assert counter.calls == counter.n
    assert _no_hooks(model)
    counter.n = 0  # never again
    assert torch.equal(model(inputs), before)


def test_a_backward_pass_stops_within_one_operation():
    token, net = CancelToken(), _net()
    with cancellable(token):
        output = net(torch.randn(4, 6)).sum()
        token.cancel()
        with pytest.raises(Cancelled):
            output.backward()
    assert net[0].weight.grad is None


def test_a_deadline_stops_the_work_and_other_threads_are_untouched():
    import time

    expired = CancelToken(deadline=time.monotonic() - 1, reason="time is up")
    other: list[object] = []

    def elsewhere() -> None:
        try:
            check_cancelled()
            other.append(_net()(torch.ones(1, 6)).shape)
        except Cancelled as error:  # pragma: no cover - the failure this test looks for
            other.append(error)

    with cancellable(expired):
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        with pytest.raises(Cancelled, match="time is up"), torch.no_grad():
            _net()(torch.ones(1, 6))
    assert other == [torch.Size([1, 3])]
    check_cancelled()  # outside the block: no token
