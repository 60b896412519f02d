"""Corpus results (``--results``): the files' list, pages of their table, per-class top words,
one stored document and its export. Files are named by the ids the server lists, never by path.

>>> sorted(route.path for route in router.routes)[:2]
['/api/results', '/api/results/{id}/documents']
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from doclrp.corpus.output import record_to_explanation
from doclrp.errors import DoclrpError
from doclrp.serve.responses import EXPORT_CONTENT, explanation_response, export_name, export_response
from doclrp.serve.results import MAX_PAGE, Query as ResultsQuery, ResultsFile
from doclrp.serve.schemas import ResultsInfo
from doclrp.serve.state import RequestError, ServerState, server_state

__all__ = ["router"]

router = APIRouter()
_GRANULARITY = Query("word", pattern="^(word|sentence|token)$")


def results_file(server: ServerState, id: str) -> ResultsFile:
    found = server.results.get(id)
    if found is None:
        known = ", ".join(server.results) or "none (start with --results FILE)"
        raise RequestError(404, f"unknown results id {id!r}; this server has: {known}")
    return found


def stored(server: ServerState, id: str, index: int) -> tuple[ResultsFile, Any]:
    found = results_file(server, id)
    try:
        record = found.record(index)
        return found, record_to_explanation(record, found.header.get("method"))
    except DoclrpError as error:
        raise RequestError(404 if "no document" in str(error) else 422, str(error)) from None


@router.get("/api/results", response_model=list[ResultsInfo])
def results(server: ServerState = Depends(server_state)) -> list[dict[str, Any]]:
    """The corpus results this server browses, by id."""
    return [f.info() for f in server.results.values()]


@router.get("/api/results/{id}/documents")
def documents(id: str, search: str = Query("", max_length=200), label: str | None = Query(None, max_length=200),
              predicted: str | None = Query(None, max_length=200), correct: bool | None = None,
              min_confidence: float | None = Query(None, ge=0, le=1),
              max_confidence: float | None = Query(None, ge=0, le=1),
              min_abs_delta: float | None = Query(None, ge=0),
              sort: str = Query("order", pattern="^(order|id|label|predicted|confidence|delta)$"),
              descending: bool = False, offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=MAX_PAGE),
              server: ServerState = Depends(server_state)) -> dict[str, Any]:
    """One page of the table of documents: a search in ids and the start of texts, filters, a sort."""
    query = ResultsQuery(search, label, predicted, correct, min_confidence, max_confidence, min_abs_delta,
                         sort, descending, offset, limit)  # type: ignore[arg-type]
    page = results_file(server, id).query(query)
    return {"total": page.total, "offset": offset, "rows": page.rows}


@router.get("/api/results/{id}/top-words")
async def top_words(id: str, k: int = Query(10, ge=1, le=100),
                    server: ServerState = Depends(server_state)) -> dict[str, Any]:
    """Per class, the words with the largest summed relevance for and against it."""
    found = results_file(server, id)
    result: dict[str, Any] = await run_in_threadpool(found.top_words, k)
    return result


@router.get("/api/results/{id}/documents/{index}")
def document(id: str, index: int, granularity: str = _GRANULARITY,
             server: ServerState = Depends(server_state)) -> dict[str, Any]:
    """One document as the results store it (the same fields as an explanation), with
    ``source``: the id of the served model that made the results (its fingerprint
    matches), or None."""
    found, explanation = stored(server, id, index)
    header = found.header
    served = server.registry.matching(header.get("model_sha256"))
    return {**explanation_response(served or "", granularity, explanation), "id": explanation.id,
            "source": {"results": id, "index": index, "model": served,
                       "method": header.get("method") or {}, "target": (header.get("target") or {})}}


@router.get("/api/results/{id}/documents/{index}/export", responses=EXPORT_CONTENT)
def document_export(id: str, index: int, format: str = Query("html", pattern="^(html|json|csv)$"),
                    granularity: str = _GRANULARITY, server: ServerState = Depends(server_state)) -> Response:
    """One stored document as doclrp's HTML page, JSON or CSV."""
    _, explanation = stored(server, id, index)
    return export_response(explanation, format, export_name(id, explanation.id or index, format),
                           explanation_response("", granularity, explanation))
