"""What a served language model writes, explained token by token (``POST /api/generate``): the
page's Generation view.

>>> sorted(route.path for route in router.routes)
['/api/generate']

A request names a model served with a prompt (``doclrp serve --models FOLDER --prompt …``; the
model list says ``generates``), the document, and either ``max_new_tokens`` (greedy, at most
:data:`~doclrp.serve.generation.MAX_WEB_GENERATE`) or the ``continuation`` to explain. The
work goes to the model's queue like an explanation (one thread per model, the time limit, a
full queue refused); the answer is the explanation's JSON, as ``doclrp explain --generate N
--out FILE.json`` writes it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from doclrp.serve.generation import MAX_WEB_GENERATE, generation_key
from doclrp.serve.state import RequestError, ServerState, server_state

__all__ = ["router", "GenerateRequest"]

router = APIRouter()


class GenerateRequest(BaseModel):
    """A document for a served language model to continue; ``method`` defaults to the model's own."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="the document, read inside the model's prompt")
    model: str | None = Field(None, description="a model id from GET /api/models that generates (default: the first)")
    method: str | None = Field(None, max_length=100, description="an LRP composite or gradient-x-input")
    params: dict[str, StrictInt | StrictFloat | None] = Field(default_factory=dict, max_length=16)
    max_new_tokens: int = Field(8, ge=1, le=MAX_WEB_GENERATE, description="tokens to write greedily")
    continuation: str | None = Field(None, min_length=1, max_length=2000,
                                     description="explain these words as the model's next ones instead")


@router.post("/api/generate")
async def generate(request: GenerateRequest, server: ServerState = Depends(server_state)) -> dict[str, Any]:
    """Each token the model writes after ``text``, with the relevance of every document word, every
    earlier written token and the prompt's words."""
    entry = server.model_for(request.text, request.model)
    if not entry.info.get("generates"):
        raise RequestError(422, f"model {entry.id!r} does not write text: serve a language model folder with "
                                "--models FOLDER --prompt … --labels …")
    key = generation_key(request.method, request.params, request.max_new_tokens, request.continuation)
    result = await server.work(entry.id, key, request.text)
    return {"model": entry.id, **result.to_dict()}
