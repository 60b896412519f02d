"""What the routes of one server share: its limits, models and their queues, results files,
the digits demo, recent explanations; and the one error type a route raises.

A route reaches it through FastAPI's dependency :func:`server_state` (``app.state.server``),
so a new router (an upload, another view) needs nothing but ``Depends(server_state)``.

>>> Limits().max_body_bytes
316384
>>> RequestError(404, "no such thing", retry_after=3).headers
{'Retry-After': '3'}
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from doclrp._explain import explain, explain_targets, resolve_target
from doclrp.core.cancel import Cancelled
from doclrp.core.methods import resolve_method
from doclrp.errors import DoclrpError
from doclrp.serve.digits import DigitsModel
from doclrp.serve.generation import is_generation, run_generation
from doclrp.serve.models import ModelRegistry
from doclrp.serve.queues import MAX_QUEUE, WINDOW_S, ModelQueue, QueueFull
from doclrp.serve.results import ResultsFile

__all__ = ["Limits", "ServerState", "RequestError", "server_state", "CACHED_EXPLANATIONS", "DIGITS_QUEUE"]

#: Explanations kept for export (the page exports what it shows without explaining again).
CACHED_EXPLANATIONS = 64
#: Seconds a request waits past its time limit for the stopped work's answer.
STOP_GRACE_S = 1.0
#: The queue id of the digits demo's model.
DIGITS_QUEUE = "digits"


@dataclass(frozen=True)
class Limits:
    """Bounds on one request: characters of text, seconds of work (waiting for the model
    included; work past it is stopped), how long a request waits for others to batch with,
    documents in one batch, requests waiting for one model."""

    max_chars: int = 50_000
    timeout_s: float = 60.0
    #: How long the first request for a model waits for others to batch with (seconds; 0: no wait).
    batch_window_s: float = WINDOW_S
    #: The most documents one batch explains.
    max_batch: int = 16
    #: The most requests that wait for one model; more are refused at once (503, Retry-After).
    max_queue: int = MAX_QUEUE
    #: Largest uploaded document (``--max-bytes``) and most PDF pages read (``--max-pages``).
    max_bytes: int = 20 * 1024 * 1024
    max_pages: int = 500

    @property
    def max_body_bytes(self) -> int:
        # Room for the text in UTF-8 (up to 4 bytes a character, JSON escapes) and the other fields.
        return 6 * self.max_chars + 16_384


class RequestError(Exception):
    """A request refused: its HTTP ``status`` and one line (``{"error": …}``); ``retry_after``
    seconds for a 503 that may succeed later."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}


@dataclass
class ServerState:
    """One server's models (each with its queue), results files, digits demo and limits."""

    registry: ModelRegistry
    limits: Limits
    results: dict[str, ResultsFile]
    digits: DigitsModel | None
    queues: dict[str, ModelQueue] = field(default_factory=dict)
    cache: OrderedDict[str, Any] = field(default_factory=OrderedDict)
    cache_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        limits = self.limits
        timeout = (f"the explanation took over {limits.timeout_s:g} s (--timeout); "
                   "try a shorter text or a faster method")
        for id in self.registry.ids():
            self.queues[id] = ModelQueue(id, self._runner(id), window_s=limits.batch_window_s,
                                         max_batch=limits.max_batch, max_queue=limits.max_queue,
                                         timeout_message=timeout)
        if self.digits is not None:
            digits = self.digits
            self.queues[DIGITS_QUEUE] = ModelQueue(
                DIGITS_QUEUE, lambda key, requests: [digits.explain(*request) for request in requests],
                window_s=0, max_batch=1, max_queue=limits.max_queue,
                timeout_message=f"the digit took over {limits.timeout_s:g} s (--timeout)")

    def _runner(self, id: str) -> Any:
        pipeline = self.registry.get(id).pipeline

        def run(key: Hashable, texts: Sequence[str]) -> list[Any]:
            # The key is the request but its text, as JSON (see routes/explain.py, routes/generation.py);
            # "views": every target of the page's class switch (explain_targets, one list per text), for
            # HTML exports.
            request = json.loads(str(key))
            if is_generation(request):
                return [run_generation(pipeline, request, text) for text in texts]
            method_name, params, target, reference, views = request
            method = resolve_method(method_name or pipeline.default_composite, **params)
            resolved = resolve_target(target, pipeline, reference)
            if views:
                return [explain_targets(pipeline, text, target=resolved, method=method) for text in texts]
            if len(texts) == 1:  # one text: errors speak of "the document", not "document 0"
                return [explain(pipeline, texts[0], target=resolved, method=method)]
            return list(explain(pipeline, list(texts), target=resolved, method=method, batch_size=len(texts)))

        return run

    def model_for(self, text: str, model: str | None) -> Any:
        """The registry entry of ``model`` (None: the first) for a request on ``text``, once the text
        is known to be something to explain within ``--max-chars`` (422, 413; an unknown model 404)."""
        if not text.strip():
            raise RequestError(422, "text is empty: paste or type a document")
        if len(text) > self.limits.max_chars:
            raise RequestError(413, f"text has {len(text)} characters; "
                                    f"this server takes at most {self.limits.max_chars} (--max-chars)")
        try:
            return self.registry.get(model)
        except DoclrpError as error:
            raise RequestError(404, str(error)) from None

    async def work(self, queue: str, key: Hashable, payload: Any) -> Any:
        """The result of ``payload`` from the model ``queue``'s thread, within the time limit:
        a full queue is a 503 with ``Retry-After`` at once, work past the limit (stopped) or
        cut by a shutdown a 503, a user error a 422."""
        try:
            future = self.queues[queue].submit(key, payload, self.limits.timeout_s)
        except QueueFull as error:
            raise RequestError(503, str(error), retry_after=error.retry_after) from None
        except Cancelled as error:
            raise RequestError(503, str(error)) from None
        try:
            # The queue stops the work at the limit; the grace covers the last operation.
            return await asyncio.wait_for(asyncio.wrap_future(future), self.limits.timeout_s + STOP_GRACE_S)
        except TimeoutError:
            raise RequestError(503, self.queues[queue].timeout_message) from None
        except Cancelled as error:
            raise RequestError(503, str(error)) from None
        except DoclrpError as error:
            raise RequestError(422, str(error)) from None

    def remember(self, key: str, explanation: Any) -> None:
        with self.cache_lock:
            self.cache[key] = explanation
            while len(self.cache) > CACHED_EXPLANATIONS:
                self.cache.popitem(last=False)

    def recall(self, key: str) -> Any:
        with self.cache_lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
        return None

    def close(self) -> None:
        """Stop every model's work within one operation and answer what waits (shutdown)."""
        for queue in self.queues.values():
            queue.close()


def server_state(request: Request) -> ServerState:
    """The routes' dependency: this app's :class:`ServerState`."""
    state: ServerState = request.app.state.server
    return state
