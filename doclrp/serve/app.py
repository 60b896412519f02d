"""The web app: ``create_app()`` builds the FastAPI application of ``doclrp serve``.

``GET /`` the page (static HTML, CSS and JavaScript shipped in this package),
``GET /api/models``, ``GET /api/methods``, ``GET /api/colormaps``, ``POST /api/explain``,
``POST /api/export`` (the explanation as doclrp's self-contained HTML page, JSON or CSV),
``POST /api/upload`` (a PDF, Word, HTML, e-mail or text file explained, a PDF's pages drawn),
``GET /api/results…`` (corpus results: pages of the table, per-class top words, one
document), ``POST /api/digits`` (the handwriting demo); the schema at ``/openapi.json``.
The routes live in :mod:`doclrp.serve.routes`, one router per part of the page; what they
share (models with their queues, results, limits) in :mod:`doclrp.serve.state`. Methods and
targets go through ``resolve_method``, ``resolve_target`` and ``explain`` as everywhere
else: nothing here computes relevance. Each model has its own queue and thread
(:mod:`doclrp.serve.queues`): requests for one model that arrive together are explained in
one batch, work past ``--timeout`` is stopped, a full queue is refused at once.

>>> from fastapi.testclient import TestClient
>>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
>>> encoder = IdEncoder.fit(["good fun", "bad dull"])
>>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
>>> client = TestClient(create_app(models={"tiny": pipe}, digits=False), base_url="http://127.0.0.1:8000")
>>> [m["id"] for m in client.get("/api/models").json()]
['tiny']
>>> reply = client.post("/api/explain", json={"text": "good fun", "method": "epsilon", "target": "pos"}).json()
>>> [w["text"] for w in reply["words"]], reply["target"]["name"], reply["method"]["name"]
(['good', 'fun'], 'pos', 'epsilon')
>>> client.post("/api/explain", json={"text": "good", "model": "huge"}).json()
{'error': "unknown model id 'huge'; this server has: tiny"}
>>> client.post("/api/explain", json={"text": "good", "method": "integrated-gradients", "params": {"steps": 10**9}}).json()
{'error': "parameter steps of 'integrated-gradients' takes 1 to 1024, got 1000000000"}
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from doclrp.serve.digits import DigitsModel
from doclrp.serve.models import ModelRegistry
from doclrp.serve.results import ResultsFile, results_ids
from doclrp.serve.routes import ROUTERS
from doclrp.serve.routes.catalog import STATIC
from doclrp.serve.routes.upload import FORM_ROOM, UPLOAD_PATH
from doclrp.serve.security import LOOPBACK_NAMES, guard
from doclrp.serve.state import Limits, RequestError, ServerState

__all__ = ["create_app", "Limits", "STATIC"]


def create_app(models: Mapping[str, Any] | Sequence[str | Path] | None = None,
               results: Mapping[str, str | Path] | Sequence[str | Path] = (),
               limits: Limits = Limits(), allowed_hosts: Sequence[str] = (),
               device: str = "cpu", digits: bool = True) -> FastAPI:
    """The app serving ``models`` (``{id: folder, file or pipeline}``, folders and model files,
    or None for the shipped BBC model; all loaded and checked now) and corpus ``results``
    files (``{id: path}`` or paths) under ``limits``, answering only to loopback names and
    ``allowed_hosts`` (host names, any port); ``digits``: the handwriting demo (its model
    ships in ``doclrp/pretrained/digits-mlp``)."""
    registry = ModelRegistry(models, device=device)
    result_files = {id: ResultsFile(id, path) for id, path in
                    (results if isinstance(results, Mapping) else results_ids(results)).items()}
    server = ServerState(registry, limits, result_files, DigitsModel(device=device) if digits else None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        server.close()  # shutdown: running work stops within one operation

    app = FastAPI(title="doclrp", description="Layer-wise Relevance Propagation for text, as a local service.",
                  docs_url=None, redoc_url=None,  # their pages load scripts from a CDN
                  lifespan=lifespan)
    app.state.server = server
    # Kept for tests, benchmarks and the command line.
    app.state.registry, app.state.limits, app.state.queues = registry, limits, server.queues
    app.state.results = [f.info() for f in result_files.values()]
    app.middleware("http")(guard([*LOOPBACK_NAMES, *allowed_hosts], limits.max_body_bytes,
                                 {UPLOAD_PATH: limits.max_bytes + FORM_ROOM}))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        where = _lone_surrogate(getattr(error, "body", None))
        if where is not None:  # pydantic's words for it ("a valid dictionary", "raw data") say nothing
            return _error(422, f"{where} holds a lone surrogate (such as \\ud800, half of a UTF-16 pair): "
                               "not valid Unicode; send valid UTF-8 text")
        return _error(422, _one_line(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == "There was an error parsing the body":
            return _error(400, "the request body is not JSON in UTF-8")  # FastAPI's words name no cause
        return _error(error.status_code, str(error.detail))

    @app.exception_handler(RequestError)
    async def _refused(request: Request, error: RequestError) -> JSONResponse:
        return _error(error.status, str(error), error.headers)

    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """``{"error": message}``; a lone surrogate the message quotes from the request is written as
    its escape (UTF-8 has no such character: the response could not be encoded)."""
    safe = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse({"error": safe}, status_code=status, headers=dict(headers or {}))


def _lone_surrogate(value: Any, where: str = "the request") -> str | None:
    """Where in a parsed JSON body a string holds a lone surrogate (None: nowhere).

    >>> _lone_surrogate({"text": "ok", "params": {"eps" + chr(0xD800): 1}}), _lone_surrogate({"text": [chr(0xDC00)]})
    ('a field name of params', 'text.0')
    """
    if isinstance(value, str):
        return where if any(0xD800 <= ord(c) <= 0xDFFF for c in value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and _lone_surrogate(key) is not None:
            return f"a field name of {where}"
        found = _lone_surrogate(item, str(key) if where == "the request" else f"{where}.{key}")
        if found is not None:
            return found
    return None


def _one_line(error: RequestValidationError) -> str:
    """FastAPI's list of problems as one line: ``field: problem; …``."""
    parts = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body")
        parts.append(f"{where}: {problem.get('msg', 'invalid')}" if where else str(problem.get("msg", "invalid")))
    return "; ".join(dict.fromkeys(parts)) or "invalid request"
