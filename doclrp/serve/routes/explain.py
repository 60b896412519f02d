"""Explain a text (``POST /api/explain``) and export the explanation (``POST /api/export``).

Nothing here computes relevance: the request becomes a key (method, parameters, target,
reference) and its text, which the model's queue (:mod:`doclrp.serve.queues`) hands to
``explain`` with the other requests of its batch. Recent explanations are kept, so the
page's export of what it shows is not computed again.

>>> sorted(route.path for route in router.routes)
['/api/explain', '/api/export']
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from doclrp._explain import method_notes
from doclrp.core.methods import resolve_method
from doclrp.errors import DoclrpError
from doclrp.serve.responses import EXPORT_CONTENT, explanation_response, export_name, export_response
from doclrp.serve.schemas import ExplainRequest, ExplainResponse, ExportRequest
from doclrp.serve.state import ServerState, server_state

__all__ = ["router", "explanation_for"]

router = APIRouter()


async def explanation_for(request: ExplainRequest, server: ServerState, views: bool = False) -> tuple[str, Any]:
    """``(model id, Explanation)`` of ``request``: from the recent ones, or from the model's queue;
    ``views``: a list instead, the explanation and every other target of a page's class switch."""
    entry = server.model_for(request.text, request.model)
    # Not sorted: a target's weights keep the order given, which names the target.
    key = json.dumps([request.method, request.params, request.target, request.reference, views])
    cache_key = f"{entry.id}\0{key}\0{request.text}"
    explanation = server.recall(cache_key)
    if explanation is None:
        explanation = await server.work(entry.id, key, request.text)
        server.remember(cache_key, explanation)
    return entry.id, explanation


@router.post("/api/explain", response_model=ExplainResponse)
async def explain(request: ExplainRequest, server: ServerState = Depends(server_state)) -> dict[str, Any]:
    """Explain ``text`` with one model, one method and one target."""
    model, explanation = await explanation_for(request, server)
    return {**explanation_response(model, request.granularity, explanation),
            "notes": _notes(server.registry.get(model).pipeline, explanation)}


def _notes(pipeline: Any, explanation: Any) -> list[str]:
    """What the command line warns of this explanation's method (α-β on a negative value; a
    composite measured no better than random on this kind of model), one line each."""
    method = explanation.method or {}
    try:
        attributor = resolve_method(method.get("name") or pipeline.default_composite, **method.get("params", {}))
    except DoclrpError:  # a method the app did not make: nothing to say of it
        return []
    return method_notes(pipeline, attributor, [explanation], [explanation.id or "0"])


@router.post("/api/export", responses=EXPORT_CONTENT)
async def export(request: ExportRequest, server: ServerState = Depends(server_state)) -> Response:
    """The explanation of an explain request (the page's last one is not computed again) as
    doclrp's self-contained HTML page (with its switch to every other class and ``X-vs-rest``,
    as ``doclrp explain --out`` writes it), JSON or CSV (one row per word; per model token for
    granularity ``token``), named by model, method and target."""
    fields = request.model_dump(exclude={"format"})
    others: list[Any] = []
    if request.format == "html":  # with the class switch of `doclrp explain --out` pages
        model, (explanation, *others) = await explanation_for(ExplainRequest(**fields), server, views=True)
    else:
        model, explanation = await explanation_for(ExplainRequest(**fields), server)
    name = export_name(model, explanation.method, str(explanation.target), request.format)
    return export_response(explanation, request.format, name,
                           explanation_response(model, request.granularity, explanation), alternatives=others)
