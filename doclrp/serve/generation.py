"""Generation on a served language model: the work a ``POST /api/generate`` puts in the model's
queue, and what it runs there (on the model's one thread, as every explanation of that model).

>>> key = generation_key("attnlrp", {}, 8, None)
>>> is_generation(json.loads(key)), is_generation(["attnlrp", {}, "predicted", None])
(True, False)

The key travels as JSON like an explain request's (``routes/explain.py``), marked by its first
item, so the model's queue groups identical requests and hands them to :func:`run_generation`.
"""

from __future__ import annotations

import json
from typing import Any

from doclrp._generate import explain_generation
from doclrp.core import resolve_method
from doclrp.errors import DoclrpError
from doclrp.text.generation import GenerationExplanation

__all__ = ["GENERATE", "MAX_WEB_GENERATE", "generation_key", "is_generation", "run_generation", "generates"]

#: The first item of a generation request's key.
GENERATE = "generate"
#: The most tokens one request of the web app generates (the command line takes more): each one
#: is a forward step and a backward pass, and the model's queue serves one request at a time.
MAX_WEB_GENERATE = 64


def generation_key(method: str | None, params: dict[str, Any], max_new_tokens: int, continuation: str | None) -> str:
    """The queue key of a generation request (everything but its text)."""
    return json.dumps([GENERATE, method, params, max_new_tokens, continuation])


def is_generation(request: Any) -> bool:
    """Whether a decoded queue key is a generation request's."""
    return isinstance(request, list) and bool(request) and request[0] == GENERATE


def generates(pipeline: Any) -> bool:
    """Whether a served pipeline is a language model that writes (a prompted one)."""
    return callable(getattr(pipeline, "next_token_module", None))


def run_generation(pipeline: Any, request: list[Any], text: str) -> GenerationExplanation:
    """Explain what ``pipeline`` writes after ``text``, as the decoded key ``request`` asks."""
    _, method, params, max_new_tokens, continuation = request
    if not generates(pipeline):
        raise DoclrpError("this model does not write text: serve a language model folder with --prompt")
    attributor = resolve_method(method or pipeline.default_composite, **params)
    return explain_generation(pipeline, text, max_new_tokens=max_new_tokens, continuation=continuation,
                              method=attributor)
