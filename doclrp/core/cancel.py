"""Stopping work that runs too long: a :class:`CancelToken` checked at every operation.

>>> import torch
>>> token = CancelToken()
>>> net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
>>> with cancellable(token):
...     output = net(torch.ones(1, 3, requires_grad=True)).sum()
...     token.cancel("the request timed out")
...     output.backward()
Traceback (most recent call last):
doclrp.core.cancel.Cancelled: the request timed out

Inside ``with cancellable(token)`` the token (cancelled, or past its deadline) is checked
where the time goes, so a stop takes effect within one tensor operation, whatever the
model or the method:

- at every operation that autograd records in a forward pass, and at every one its
  backward pass runs (``torch.autograd.graph.saved_tensors_hooks``: the pack hook runs
  as an operation saves a tensor, the unpack hook as the backward uses it);
- before every module's forward, gradients or not (a process-wide forward pre-hook,
  installed while some block is active, that looks up the token of the running context);
- between steps of the methods' own loops (:func:`check_cancelled`: integrated-gradients
  steps, occlusion batches).

Checks cost a context-variable lookup and a clock read. Work that is neither a module nor
an operation (tokenizing a text) runs to its end; the web app bounds its inputs so such
work is short. The token belongs to the thread that entered the block (context variables
and autograd's saved-tensor hooks are per thread), so other threads' work is untouched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

__all__ = ["Cancelled", "CancelToken", "cancellable", "check_cancelled"]


class Cancelled(Exception):
    """The work was stopped: its token was cancelled or its deadline passed (not a user error)."""


class CancelToken:
    """A stop signal for one piece of work: :meth:`cancel`, or a ``deadline`` on
    ``time.monotonic()``'s clock (None: none).

    >>> token = CancelToken(deadline=time.monotonic() - 1, reason="over 60 s")
    >>> token.cancelled
    True
    >>> token.check()
    Traceback (most recent call last):
    doclrp.core.cancel.Cancelled: over 60 s
    """

    def __init__(self, deadline: float | None = None, reason: str = "the work was stopped: its time is up") -> None:
        self.deadline = deadline
        self.reason = reason
        self._stopped: str | None = None

    def cancel(self, reason: str | None = None) -> None:
        """Stop the work at its next check, with ``reason`` (default: the token's own)."""
        self._stopped = reason or self.reason

    @property
    def cancelled(self) -> bool:
        return self._stopped is not None or (self.deadline is not None and time.monotonic() >= self.deadline)

    def check(self) -> None:
        """Raise :class:`Cancelled` if the work must stop."""
        if self._stopped is not None:
            raise Cancelled(self._stopped)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise Cancelled(self.reason)


_current: ContextVar[CancelToken | None] = ContextVar("doclrp_cancel_token", default=None)
_hook_lock = threading.Lock()
_hook_users = 0
_hook_handle: RemovableHandle | None = None


def check_cancelled() -> None:
    """Raise :class:`Cancelled` if the work of this context must stop (no token: nothing).

    >>> check_cancelled()
    """
    token = _current.get()
    if token is not None:
        token.check()


def _before_forward(module: nn.Module, args: Any) -> None:
    token = _current.get()
    if token is not None:
        token.check()


@contextmanager
def cancellable(token: CancelToken) -> Iterator[CancelToken]:
    """Run the block so that ``token`` stops it within one operation (see the module's page)."""
    global _hook_users, _hook_handle

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        token.check()
        return tensor

    def unpack(tensor: torch.Tensor) -> torch.Tensor:
        token.check()
        return tensor

    with _hook_lock:
        _hook_users += 1
        if _hook_handle is None:
            # Process-wide, but it acts only in contexts that hold a token (a lookup elsewhere).
            _hook_handle = nn.modules.module.register_module_forward_pre_hook(_before_forward)
    reset = _current.set(token)
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            yield token
    finally:
        _current.reset(reset)
        with _hook_lock:
            _hook_users -= 1
            if _hook_users == 0 and _hook_handle is not None:
                _hook_handle.remove()
                _hook_handle = None
