"""One model's work: a bounded queue, one thread, batches, and a deadline that stops the work.

Each served model has its own :class:`ModelQueue`: requests for it wait in its queue (at most
``max_queue``; one more is refused at once with :class:`QueueFull`, which the app answers
with 503 and ``Retry-After``), and its one thread explains them, so a busy model holds up
only its own requests: the model list, the methods, the page and the other models never
wait for it. One thread per model is also what the engine needs: rules are hooks on the
shared ``nn.Module``, so two explanations on one model must not run at once.

The first request in an empty queue opens a short collection window (``window_s``); the
requests that arrive within it, up to ``max_batch``, are grouped by what they ask (method
with its parameters, target, reference) and each group is one call of ``run(key, texts)``.
A group that fails is run again one request at a time, so each request gets its own answer
or its own error.

Every request carries a deadline (its ``--timeout``). A group runs inside
:func:`doclrp.core.cancel.cancellable` with the latest deadline of its requests, so work
that overruns stops within one tensor operation (:class:`~doclrp.core.cancel.Cancelled`)
and the model is free for the next request; requests whose deadline passed while they
waited are answered without running. :meth:`ModelQueue.close` (server shutdown) stops the
running work the same way and answers every request, running or waiting, at once.

>>> import time
>>> calls = []
>>> def run(key, texts):
...     calls.append(list(texts))
...     return [t.upper() for t in texts]
>>> queue = ModelQueue("m", run, window_s=0.05)
>>> futures = [queue.submit("epsilon", t, timeout_s=10) for t in ["a", "b", "c"]]
>>> [f.result() for f in futures], calls
(['A', 'B', 'C'], [['a', 'b', 'c']])
>>> queue.close()
>>> queue.submit("epsilon", "d", timeout_s=10)
Traceback (most recent call last):
doclrp.core.cancel.Cancelled: the server is shutting down
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Any

from doclrp.core.cancel import Cancelled, CancelToken, cancellable

__all__ = ["ModelQueue", "QueueFull", "WINDOW_S", "MAX_BATCH", "MAX_QUEUE", "SHUTDOWN"]

#: How long the first request of a batch waits for others (seconds).
WINDOW_S = 0.015
#: The most requests one batch takes.
MAX_BATCH = 16
#: The most requests that wait for one model; one more is refused at once (503, Retry-After).
MAX_QUEUE = 64
#: What requests are told when the server stops under them.
SHUTDOWN = "the server is shutting down"


class QueueFull(Exception):
    """The model's queue is full; ``retry_after``: whole seconds until a retry may find room."""

    def __init__(self, model: str, waiting: int, retry_after: int) -> None:
        super().__init__(f"model {model!r} is busy ({waiting} requests wait for it): try again in "
                         f"{retry_after} s")
        self.retry_after = retry_after


@dataclass
class _Item:
    key: Hashable
    payload: Any
    future: Future[Any]
    deadline: float


class ModelQueue:
    """Requests for the model ``name``, answered by ``run(key, payloads) -> results`` (one
    result per payload, in order) on this queue's own thread."""

    def __init__(self, name: str, run: Callable[[Hashable, Sequence[Any]], Sequence[Any]], *,
                 window_s: float = WINDOW_S, max_batch: int = MAX_BATCH, max_queue: int = MAX_QUEUE,
                 timeout_message: str = "the work took over its time limit") -> None:
        self.name, self.run = name, run
        self.window_s, self.max_batch, self.max_queue = window_s, max(1, max_batch), max(1, max_queue)
        self.timeout_message = timeout_message
        self._items: deque[_Item] = deque()
        self._condition = threading.Condition()
        self._running: CancelToken | None = None
        self._running_items: list[_Item] = []
        self._closed = False
        #: Sizes of the batches run so far (tests and benchmarks read them).
        self.batch_sizes: list[int] = []
        # A daemon: a stopped server must not wait for it (close() has stopped its work).
        self._thread = threading.Thread(target=self._loop, name=f"doclrp-model-{name}", daemon=True)
        self._thread.start()

    # -- the requests' side --------------------------------------------------------------------
    def submit(self, key: Hashable, payload: Any, timeout_s: float) -> Future[Any]:
        """A future of the result for ``payload`` within ``timeout_s`` seconds (else it holds
        :class:`Cancelled`); ``key`` holds everything of the request but the payload (requests
        batch only with equal keys). Raises :class:`QueueFull` at once when the queue is full."""
        future: Future[Any] = Future()
        with self._condition:
            if self._closed:
                raise Cancelled(SHUTDOWN)
            if len(self._items) >= self.max_queue:
                raise QueueFull(self.name, len(self._items), self._retry_after())
            self._items.append(_Item(key, payload, future, time.monotonic() + timeout_s))
            self._condition.notify()
        return future

    @property
    def busy(self) -> bool:
        """Whether the model is explaining now."""
        return self._running is not None

    @property
    def waiting(self) -> int:
        """Requests in the queue, not yet running."""
        return len(self._items)

    def close(self) -> None:
        """Stop: the running work stops within one operation, waiting requests get
        :class:`Cancelled`, later ones are refused."""
        with self._condition:
            self._closed = True
            if self._running is not None:
                self._running.cancel(SHUTDOWN)
            # The running requests are answered now too: their work stops at its next operation, but
            # a stage that is none (spaCy on a long text, a starved thread) must not hold the answer.
            items, self._items = [*self._running_items, *self._items], deque()
            self._condition.notify_all()
        for item in items:
            _settle(item.future, error=Cancelled(SHUTDOWN))

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end (after :meth:`close`); whether it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _retry_after(self) -> int:
        running = self._running
        left = running.deadline - time.monotonic() if running is not None and running.deadline else 1.0
        return max(1, math.ceil(left))

    # -- the model's thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._condition:
                while not self._items and not self._closed:
                    self._condition.wait()
                if self._closed:
                    return
                # The collection window: the first request waits a little for others to batch with.
                until = time.monotonic() + self.window_s
                while len(self._items) < self.max_batch and not self._closed:
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self._condition.wait(left)
                if self._closed:
                    return
                taken = [self._items.popleft() for _ in range(min(self.max_batch, len(self._items)))]
            groups: dict[Hashable, list[_Item]] = {}
            for item in taken:
                if not item.future.set_running_or_notify_cancel():
                    continue  # the request stopped waiting
                if time.monotonic() >= item.deadline:
                    _settle(item.future, error=Cancelled(self.timeout_message))
                    continue
                groups.setdefault(item.key, []).append(item)
            for key, group in groups.items():
                self._run_group(key, group)

    def _run_group(self, key: Hashable, items: list[_Item]) -> None:
        token = CancelToken(deadline=max(item.deadline for item in items), reason=self.timeout_message)
        with self._condition:
            if self._closed:
                token.cancel(SHUTDOWN)
            self._running, self._running_items = token, items
        self.batch_sizes.append(len(items))
        try:
            with cancellable(token):
                results = self.run(key, [item.payload for item in items])
        except Cancelled as error:
            for item in items:
                _settle(item.future, error=error)
            return
        except Exception as error:
            if len(items) == 1:
                _settle(items[0].future, error=error)
            else:
                # One bad document must not fail the others: answer each on its own.
                for item in items:
                    self._run_group(key, [item])
            return
        finally:
            with self._condition:
                self._running, self._running_items = None, []
        for item, result in zip(items, results):
            _settle(item.future, result=result)


def _settle(future: Future[Any], result: Any = None, error: BaseException | None = None) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:  # the request stopped waiting
        pass
