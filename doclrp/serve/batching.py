"""Requests for one model that arrive together are explained in one batch.

The first request for a model opens a short collection window (``window_s``); the
requests that arrive within it, up to ``max_batch``, are grouped by what they ask
(method with its parameters, target, reference) and each group is one call of ``run``
(``explain(pipeline, texts, ...)`` under the model's lock) in the executor. A group that
fails is run again one request at a time, so each request gets its own answer or its own
error. Threads, not one event loop, hold the state: FastAPI's test clients and uvicorn
alike may submit from any thread.

>>> from concurrent.futures import ThreadPoolExecutor
>>> calls = []
>>> def run(key, texts):
...     calls.append(list(texts))
...     return [t.upper() for t in texts]
>>> batcher = Batcher(ThreadPoolExecutor(1), run, window_s=0.05)
>>> futures = [batcher.submit("m", "epsilon", t) for t in ["a", "b", "c"]]
>>> [f.result() for f in futures], calls
(['A', 'B', 'C'], [['a', 'b', 'c']])
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Executor, Future, InvalidStateError
from typing import Any

__all__ = ["Batcher", "WINDOW_S", "MAX_BATCH"]

#: How long the first request of a batch waits for others (seconds).
WINDOW_S = 0.015
#: The most requests one batch takes; more open the next batch at once.
MAX_BATCH = 16

_Item = tuple[Hashable, str, "Future[Any]"]


class Batcher:
    """Collects ``(model, key, text)`` requests and answers them with
    ``run(key, texts) -> results`` (one result per text, in order), called in ``executor``."""

    def __init__(self, executor: Executor, run: Callable[[Hashable, Sequence[str]], Sequence[Any]],
                 window_s: float = WINDOW_S, max_batch: int = MAX_BATCH,
                 final: tuple[type[BaseException], ...] = ()) -> None:
        self.executor, self.run = executor, run
        #: Errors that answer every request of the batch as they are (a spent time budget):
        #: running the requests again one by one would only spend it again.
        self.final = final
        self.window_s, self.max_batch = window_s, max_batch
        self._pending: dict[str, list[_Item]] = {}
        self._lock = threading.Lock()
        #: Sizes of the batches run so far (tests and benchmarks read them).
        self.batch_sizes: list[int] = []

    def submit(self, model: str, key: Hashable, text: str) -> Future[Any]:
        """A future of the result for ``text``; ``key`` holds everything of the request but
        the text (requests batch only with equal keys)."""
        future: Future[Any] = Future()
        full = None
        with self._lock:
            pending = self._pending.setdefault(model, [])
            pending.append((key, text, future))
            if len(pending) >= self.max_batch:
                full = self._pending.pop(model)
            elif len(pending) == 1:
                timer = threading.Timer(self.window_s, self._flush, (model, pending))
                timer.daemon = True
                timer.start()
        if full is not None:
            self._dispatch(full)
        return future

    def _flush(self, model: str, pending: list[_Item]) -> None:
        with self._lock:
            # The window's own list only: a full batch may have gone, and a new window opened.
            if self._pending.get(model) is not pending:
                return
            del self._pending[model]
        self._dispatch(pending)

    def _dispatch(self, items: list[_Item]) -> None:
        groups: dict[Hashable, list[_Item]] = {}
        for item in items:
            groups.setdefault(item[0], []).append(item)
        for key, group in groups.items():
            self.executor.submit(self._run_group, key, group)

    def _run_group(self, key: Hashable, items: list[_Item]) -> None:
        self.batch_sizes.append(len(items))
        try:
            results = self.run(key, [text for _, text, _ in items])
        except Exception as error:
            if len(items) == 1 or isinstance(error, self.final):
                for _, _, future in items:
                    _settle(future, error=error)
            else:
                # One bad document must not fail the others: answer each on its own.
                for item in items:
                    self._run_group(key, [item])
            return
        for (_, _, future), result in zip(items, results):
            _settle(future, result=result)


def _settle(future: Future[Any], result: Any = None, error: BaseException | None = None) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:  # the request timed out and stopped waiting
        pass
