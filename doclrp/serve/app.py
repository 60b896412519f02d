"""The web app: ``create_app()`` builds the FastAPI application of ``doclrp serve``.

``GET /`` the page (static HTML, CSS and JavaScript shipped in this package),
``GET /api/models``, ``GET /api/methods``, ``POST /api/explain``; the schema at
``/openapi.json``. Methods and targets go through ``resolve_method``, ``resolve_target``
and ``explain`` as everywhere else: nothing here computes relevance.

>>> from fastapi.testclient import TestClient
>>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
>>> encoder = IdEncoder.fit(["good fun", "bad dull"])
>>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
>>> client = TestClient(create_app(models={"tiny": pipe}), base_url="http://127.0.0.1:8000")
>>> [m["id"] for m in client.get("/api/models").json()]
['tiny']
>>> reply = client.post("/api/explain", json={"text": "good fun", "method": "epsilon", "target": "pos"}).json()
>>> [w["text"] for w in reply["words"]], reply["target"]["name"], reply["method"]["name"]
(['good', 'fun'], 'pos', 'epsilon')
>>> client.post("/api/explain", json={"text": "good", "model": "huge"}).json()
{'error': "unknown model id 'huge'; this server has: tiny"}
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from doclrp._explain import explain, resolve_target
from doclrp.core.baselines import BASELINES
from doclrp.core.methods import method_names, method_parameters, resolve_method
from doclrp.errors import DoclrpError
from doclrp.render.colors import css_gradient, diverging_color, symmetric_vmax, text_color
from doclrp.serve.models import ModelRegistry
from doclrp.serve.schemas import ExplainRequest, ExplainResponse, MethodInfo, ModelInfo
from doclrp.serve.security import LOOPBACK_NAMES, guard

__all__ = ["create_app", "Limits", "STATIC"]

#: The page's files, shipped as package data.
STATIC = Path(__file__).resolve().parent / "static"
#: Words listed for and against the target beside the document.
TOP_WORDS = 10


@dataclass(frozen=True)
class Limits:
    """Bounds on one request: characters of text, seconds of work (waiting for the model
    included), and worker threads for explanations."""

    max_chars: int = 50_000
    timeout_s: float = 60.0
    workers: int = 4

    @property
    def max_body_bytes(self) -> int:
        # Room for the text in UTF-8 (up to 4 bytes a character, JSON escapes) and the other fields.
        return 6 * self.max_chars + 16_384


class _RequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(models: Mapping[str, Any] | Sequence[str | Path] | None = None, results: Sequence[str | Path] = (),
               limits: Limits = Limits(), allowed_hosts: Sequence[str] = (),
               device: str = "cpu") -> FastAPI:
    """The app serving ``models`` (``{id: folder or pipeline}``, folders, or None for the
    shipped BBC model) under ``limits``, answering only to loopback names and ``allowed_hosts``
    (host names, any port). ``results`` (corpus browsing) is not
    built yet and must be empty."""
    if results:
        raise DoclrpError("browsing corpus results is not part of doclrp serve yet")
    registry = ModelRegistry(models, device=device)
    executor = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="doclrp-explain")
    app = FastAPI(title="doclrp", description="Layer-wise Relevance Propagation for text, as a local service.",
                  docs_url=None, redoc_url=None)  # their pages load scripts from a CDN
    app.middleware("http")(guard([*LOOPBACK_NAMES, *allowed_hosts], limits.max_body_bytes))
    app.state.registry, app.state.limits = registry, limits

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _one_line(error)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code)

    @app.exception_handler(_RequestError)
    async def _refused(request: Request, error: _RequestError) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=error.status)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/models", response_model=list[ModelInfo])
    def models_() -> list[dict[str, Any]]:
        """The models this server explains, by id; the first is the default."""
        return [registry.get(id).info() for id in registry.ids()]

    @app.get("/api/methods", response_model=list[MethodInfo])
    def methods() -> list[dict[str, Any]]:
        """Every LRP composite and baseline, with its parameters and their defaults."""
        return [{"name": name, "kind": "baseline" if name in BASELINES else "lrp",
                 "params": _json_defaults(method_parameters(name))} for name in method_names()]

    @app.post("/api/explain", response_model=ExplainResponse)
    async def explain_(request: ExplainRequest) -> dict[str, Any]:
        """Explain ``text`` with one model, one method and one target."""
        if not request.text.strip():
            raise _RequestError(422, "text is empty: paste or type a document")
        if len(request.text) > limits.max_chars:
            raise _RequestError(413, f"text has {len(request.text)} characters; "
                                     f"this server takes at most {limits.max_chars} (--max-chars)")
        try:
            entry = registry.get(request.model)
        except DoclrpError as error:
            raise _RequestError(404, str(error)) from None

        def work() -> Any:
            # One explanation at a time per model: rules are hooks on the shared module.
            with entry.lock:
                pipeline = entry.pipeline()
                method = resolve_method(request.method or pipeline.default_composite, **request.params)
                target = resolve_target(request.target, pipeline, request.reference)
                return explain(pipeline, request.text, target=target, method=method)

        loop = asyncio.get_running_loop()
        try:
            explanation = await asyncio.wait_for(loop.run_in_executor(executor, work), limits.timeout_s)
        except TimeoutError:
            raise _RequestError(503, f"the explanation took over {limits.timeout_s:g} s (--timeout); "
                                     "try a shorter text or a faster method") from None
        except DoclrpError as error:
            raise _RequestError(422, str(error)) from None
        return _response(entry.id, request.granularity, explanation)

    return app


def _response(model: str, granularity: str, explanation: Any) -> dict[str, Any]:
    data = explanation.to_dict()
    word_vmax = symmetric_vmax([w.relevance for w in explanation.words])
    sentence_vmax = symmetric_vmax([s.relevance for s in explanation.sentences])
    words_sum = math.fsum(w.relevance for w in explanation.words)
    special_sum = math.fsum(explanation.special.values())
    return {
        "model": model,
        "text": explanation.text,
        "granularity": granularity,
        "labels": data["labels"],
        "task": data["task"],
        "words": [{**w, **_colors(w["relevance"], word_vmax)} for w in data["words"]],
        "sentences": [{**s, **_colors(s["relevance"], sentence_vmax)} for s in data["sentences"]],
        "prediction": data["prediction"],
        "target": {**data["target"], "name": str(explanation.target)},
        "method": {"name": data["method"].get("name", ""), "params": _json_defaults(data["method"].get("params", {}))},
        "delta": explanation.delta,
        "special": explanation.special,
        "conservation": {"explained": explanation.target_value, "words": words_sum, "special": special_sum,
                         "delta": explanation.delta},
        "top_for": [_top(w) for w in explanation.top_words(TOP_WORDS, +1)],
        "top_against": [_top(w) for w in explanation.top_words(TOP_WORDS, -1)],
        "scale": {"word_vmax": word_vmax, "sentence_vmax": sentence_vmax, "gradient": css_gradient()},
    }


def _colors(relevance: float, vmax: float) -> dict[str, str]:
    background = diverging_color(relevance, vmax)
    return {"color": background, "text_color": text_color(background)}


def _top(word: Any) -> dict[str, Any]:
    return {"text": word.text, "start": word.start, "relevance": word.relevance}


def _json_defaults(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as JSON numbers (a tensor bound is shown as no value)."""
    return {key: value if isinstance(value, (int, float)) or value is None else None
            for key, value in params.items()}


def _one_line(error: RequestValidationError) -> str:
    """FastAPI's list of problems as one line: ``field: problem; …``."""
    parts = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body")
        parts.append(f"{where}: {problem.get('msg', 'invalid')}" if where else str(problem.get("msg", "invalid")))
    return "; ".join(dict.fromkeys(parts)) or "invalid request"
