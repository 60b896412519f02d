"""The web app: ``create_app()`` builds the FastAPI application of ``doclrp serve``.

``GET /`` the page (static HTML, CSS and JavaScript shipped in this package),
``GET /api/models``, ``GET /api/methods``, ``GET /api/colormaps``, ``POST /api/explain``,
``POST /api/export`` (the explanation as doclrp's self-contained HTML page, JSON or CSV),
``GET /api/results…`` (corpus results: pages of the table, per-class top words, one
document), ``POST /api/digits`` (the handwriting demo); the schema at ``/openapi.json``.
Methods and targets go through ``resolve_method``, ``resolve_target`` and ``explain`` as
everywhere else: nothing here computes relevance. Requests for one model that arrive
together are explained in one batch (:mod:`doclrp.serve.batching`).

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
import csv
import functools
import io
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from doclrp._budget import Budget, DocumentTimeout
from doclrp._explain import explain, resolve_target
from doclrp.core.baselines import BASELINES
from doclrp.core.methods import method_names, method_parameters, resolve_method
from doclrp.corpus.output import model_fingerprint, record_to_explanation
from doclrp.errors import DoclrpError
from doclrp.render.colors import css_gradient, diverging_rgb, hex_color, symmetric_vmax, text_color
from doclrp.render.html import to_html
from doclrp.serve.batching import WINDOW_S, Batcher
from doclrp.serve.colormaps import colormap_tables
from doclrp.serve.digits import DigitsModel
from doclrp.serve.models import ModelRegistry
from doclrp.serve.results import MAX_PAGE, Query as ResultsQuery, ResultsFile, results_ids
from doclrp.serve.schemas import (ColormapInfo, DigitsRequest, ExplainRequest, ExplainResponse, ExportRequest,
                                  MethodInfo, ModelInfo, ResultsInfo)
from doclrp.serve.security import LOOPBACK_NAMES, guard

__all__ = ["create_app", "Limits", "STATIC"]

#: The page's files, shipped as package data.
STATIC = Path(__file__).resolve().parent / "static"
#: Words listed for and against the target beside the document.
TOP_WORDS = 10
#: Explanations kept for export (the page exports what it shows without explaining again).
CACHED_EXPLANATIONS = 64
EXPORT_TYPES = {"html": "text/html; charset=utf-8", "json": "application/json",
                "csv": "text/csv; charset=utf-8"}


@dataclass(frozen=True)
class Limits:
    """Bounds on one request: characters of text, seconds of work (waiting for the model
    included), and worker threads for explanations."""

    max_chars: int = 50_000
    timeout_s: float = 60.0
    workers: int = 4
    #: How long the first request for a model waits for others to batch with (seconds; 0: no wait).
    batch_window_s: float = WINDOW_S
    #: The most documents one batch explains.
    max_batch: int = 16

    @property
    def max_body_bytes(self) -> int:
        # Room for the text in UTF-8 (up to 4 bytes a character, JSON escapes) and the other fields.
        return 6 * self.max_chars + 16_384


class _RequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(models: Mapping[str, Any] | Sequence[str | Path] | None = None,
               results: Mapping[str, str | Path] | Sequence[str | Path] = (),
               limits: Limits = Limits(), allowed_hosts: Sequence[str] = (),
               device: str = "cpu", digits: bool = True) -> FastAPI:
    """The app serving ``models`` (``{id: folder or pipeline}``, folders, or None for the
    shipped BBC model) and corpus ``results`` files (``{id: path}`` or paths) under
    ``limits``, answering only to loopback names and ``allowed_hosts`` (host names, any
    port); ``digits``: the handwriting demo (its model is trained on first use)."""
    registry = ModelRegistry(models, device=device)
    result_files = {id: ResultsFile(id, path) for id, path in
                    (results if isinstance(results, Mapping) else results_ids(results)).items()}
    digits_model = DigitsModel(device=device) if digits else None
    executor = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="doclrp-explain")
    app = FastAPI(title="doclrp", description="Layer-wise Relevance Propagation for text, as a local service.",
                  docs_url=None, redoc_url=None)  # their pages load scripts from a CDN
    app.middleware("http")(guard([*LOOPBACK_NAMES, *allowed_hosts], limits.max_body_bytes))
    cache: OrderedDict[str, Any] = OrderedDict()
    cache_lock = threading.Lock()
    fingerprints: dict[str, str] = {}

    def run_batch(key: Hashable, texts: Sequence[str]) -> list[Any]:
        # The batch's budget (--timeout) starts before it waits for the model: a request that
        # has given up (its reply was a 503) stops the work at its next check, in every stage.
        budget = Budget(limits.timeout_s)
        model, method_name, params, target, reference = json.loads(str(key))
        entry = registry.get(model)
        # One explanation at a time per model: rules are hooks on the shared module.
        with entry.lock:
            pipeline = entry.pipeline()
            method = resolve_method(method_name or pipeline.default_composite, **params)
            resolved = resolve_target(target, pipeline, reference)
            explained = explain(pipeline, list(texts), target=resolved, method=method,
                                batch_size=max(1, len(texts)), budget=budget)
        return list(explained)

    batcher = Batcher(executor, run_batch, window_s=limits.batch_window_s, max_batch=limits.max_batch,
                      final=(DocumentTimeout,))
    app.state.registry, app.state.limits, app.state.batcher = registry, limits, batcher
    app.state.results = [f.info() for f in result_files.values()]

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

    @app.get("/api/colormaps", response_model=list[ColormapInfo])
    def colormaps() -> list[dict[str, Any]]:
        """The colour maps (the LRP Toolbox's among them), each sampled from -1 to +1."""
        return colormap_tables()

    async def explanation_for(request: ExplainRequest) -> Any:
        if not request.text.strip():
            raise _RequestError(422, "text is empty: paste or type a document")
        if len(request.text) > limits.max_chars:
            raise _RequestError(413, f"text has {len(request.text)} characters; "
                                     f"this server takes at most {limits.max_chars} (--max-chars)")
        try:
            entry = registry.get(request.model)
        except DoclrpError as error:
            raise _RequestError(404, str(error)) from None
        # Not sorted: a target's weights keep the order given, which names the target.
        key = json.dumps([entry.id, request.method, request.params, request.target, request.reference])
        cache_key = key + "\0" + request.text
        with cache_lock:
            if cache_key in cache:
                cache.move_to_end(cache_key)
                return entry.id, cache[cache_key]
        try:
            explanation = await asyncio.wait_for(asyncio.wrap_future(batcher.submit(entry.id, key, request.text)),
                                                 limits.timeout_s)
        except (TimeoutError, DocumentTimeout):
            raise _RequestError(503, f"the explanation took over {limits.timeout_s:g} s (--timeout); "
                                     "try a shorter text or a faster method") from None
        except DoclrpError as error:
            raise _RequestError(422, str(error)) from None
        with cache_lock:
            cache[cache_key] = explanation
            while len(cache) > CACHED_EXPLANATIONS:
                cache.popitem(last=False)
        return entry.id, explanation

    @app.post("/api/explain", response_model=ExplainResponse)
    async def explain_(request: ExplainRequest) -> dict[str, Any]:
        """Explain ``text`` with one model, one method and one target."""
        model, explanation = await explanation_for(request)
        return _response(model, request.granularity, explanation)

    @app.post("/api/export", responses={200: {"content": {t: {} for t in EXPORT_TYPES.values()}}})
    async def export(request: ExportRequest) -> Response:
        """The explanation of an explain request (the page's last one is not computed again) as
        doclrp's self-contained HTML page, JSON or CSV (one row per word; per model token for
        granularity ``token``)."""
        fields = request.model_dump(exclude={"format"})
        model, explanation = await explanation_for(ExplainRequest(**fields))
        return _export(explanation, request.format, f"doclrp-{model}", _response(model, request.granularity,
                                                                                  explanation))

    # -- corpus results ------------------------------------------------------------------------
    def results_file(id: str) -> ResultsFile:
        found = result_files.get(id)
        if found is None:
            known = ", ".join(result_files) or "none (start with --results FILE)"
            raise _RequestError(404, f"unknown results id {id!r}; this server has: {known}")
        return found

    @app.get("/api/results", response_model=list[ResultsInfo])
    def results_() -> list[dict[str, Any]]:
        """The corpus results this server browses, by id."""
        return [f.info() for f in result_files.values()]

    @app.get("/api/results/{id}/documents")
    def documents(id: str, search: str = Query("", max_length=200), label: str | None = Query(None, max_length=200),
                  predicted: str | None = Query(None, max_length=200), correct: bool | None = None,
                  min_confidence: float | None = Query(None, ge=0, le=1),
                  max_confidence: float | None = Query(None, ge=0, le=1),
                  min_abs_delta: float | None = Query(None, ge=0),
                  sort: str = Query("order", pattern="^(order|id|label|predicted|confidence|delta)$"),
                  descending: bool = False, offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=MAX_PAGE)
                  ) -> dict[str, Any]:
        """One page of the table of documents: a search in ids and the start of texts, filters, a sort."""
        query = ResultsQuery(search, label, predicted, correct, min_confidence, max_confidence, min_abs_delta,
                             sort, descending, offset, limit)  # type: ignore[arg-type]
        page = results_file(id).query(query)
        return {"total": page.total, "offset": offset, "rows": page.rows}

    @app.get("/api/results/{id}/top-words")
    async def top_words(id: str, k: int = Query(10, ge=1, le=100)) -> dict[str, Any]:
        """Per class, the words with the largest summed relevance for and against it."""
        found = results_file(id)
        return await asyncio.get_running_loop().run_in_executor(executor, found.top_words, k)

    def stored(id: str, index: int) -> tuple[ResultsFile, Any]:
        found = results_file(id)
        try:
            record = found.record(index)
            return found, record_to_explanation(record, found.header.get("method"))
        except DoclrpError as error:
            raise _RequestError(404 if "no document" in str(error) else 422, str(error)) from None

    @app.get("/api/results/{id}/documents/{index}")
    def document(id: str, index: int, granularity: str = Query("word", pattern="^(word|sentence|token)$")
                 ) -> dict[str, Any]:
        """One document as the results store it (the same fields as an explanation), with
        ``source``: the id of the served model that made the results (its fingerprint
        matches), or None."""
        found, explanation = stored(id, index)
        served = _matching_model(registry, found.header.get("model_sha256"), fingerprints)
        header = found.header
        return {**_response(served or "", granularity, explanation), "id": explanation.id,
                "source": {"results": id, "index": index, "model": served,
                           "method": header.get("method") or {}, "target": (header.get("target") or {})}}

    @app.get("/api/results/{id}/documents/{index}/export",
             responses={200: {"content": {t: {} for t in EXPORT_TYPES.values()}}})
    def document_export(id: str, index: int, format: str = Query("html", pattern="^(html|json|csv)$"),
                        granularity: str = Query("word", pattern="^(word|sentence|token)$")) -> Response:
        """One stored document as doclrp's HTML page, JSON or CSV."""
        _, explanation = stored(id, index)
        return _export(explanation, format, f"doclrp-{id}-{index}", _response("", granularity, explanation))

    # -- digits ----------------------------------------------------------------------------------
    @app.post("/api/digits")
    async def digits_(request: DigitsRequest) -> dict[str, Any]:
        """The handwriting demo: an 8×8 image in [0, 1], its prediction and pixel relevance."""
        if digits_model is None:
            raise _RequestError(404, "this server has no digits demo")

        def work() -> dict[str, Any]:
            return digits_model.explain(request.pixels, request.method, request.params, request.target)

        try:
            return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(executor, work),
                                          limits.timeout_s)
        except TimeoutError:
            raise _RequestError(503, f"the digit took over {limits.timeout_s:g} s (--timeout)") from None
        except DoclrpError as error:
            raise _RequestError(422, str(error)) from None

    return app


def _matching_model(registry: ModelRegistry, sha256: str | None, known: dict[str, str]) -> str | None:
    """The id of the served model whose fingerprint is ``sha256`` (fingerprints kept in ``known``)."""
    if not sha256:
        return None
    for id in registry.ids():
        if id not in known:
            entry = registry.get(id)
            source = entry.source
            if not isinstance(source, (str, Path)):
                with entry.lock:
                    source = entry.pipeline()
            known[id] = model_fingerprint(source)
        if known[id] == sha256:
            return id
    return None


def _export(explanation: Any, format: str, name: str, response: dict[str, Any]) -> Response:
    if format == "html":
        body = to_html(explanation)
    elif format == "json":
        body = json.dumps({key: value for key, value in response.items() if key != "scale"}, ensure_ascii=False)
    else:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if response["granularity"] == "token" and explanation.tokens:
            writer.writerow(["token", "start", "end", "word", "relevance"])
            writer.writerows((t.text, t.start, t.end, "" if t.word is None else t.word, repr(t.relevance))
                             for t in explanation.tokens)
        else:
            writer.writerow(["word", "start", "end", "sentence", "relevance"])
            writer.writerows((w.text, w.start, w.end, w.sentence, repr(w.relevance)) for w in explanation.words)
        body = out.getvalue()
    return Response(body, media_type=EXPORT_TYPES[format],
                    headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'})


def _response(model: str, granularity: str, explanation: Any) -> dict[str, Any]:
    data = explanation.to_dict()
    word_vmax = symmetric_vmax([w.relevance for w in explanation.words])
    sentence_vmax = symmetric_vmax([s.relevance for s in explanation.sentences])
    token_vmax = symmetric_vmax([t.relevance for t in explanation.tokens])
    words_sum = math.fsum(w.relevance for w in explanation.words)
    special_sum = math.fsum(explanation.special.values())
    return {
        "model": model,
        "text": explanation.text,
        "granularity": granularity,
        "labels": data["labels"],
        "task": data["task"],
        "words": _coloured(data["words"], word_vmax),
        "sentences": _coloured(data["sentences"], sentence_vmax),
        "tokens": _coloured(data["tokens"], token_vmax),
        "prediction": data["prediction"],
        "target": {**data["target"], "name": str(explanation.target)},
        "method": {"name": data["method"].get("name", ""), "params": _json_defaults(data["method"].get("params", {}))},
        "delta": explanation.delta,
        "special": explanation.special,
        "conservation": {"explained": explanation.target_value, "words": words_sum, "special": special_sum,
                         "delta": explanation.delta},
        "top_for": [_top(w) for w in explanation.top_words(TOP_WORDS, +1)],
        "top_against": [_top(w) for w in explanation.top_words(TOP_WORDS, -1)],
        "scale": {"word_vmax": word_vmax, "sentence_vmax": sentence_vmax, "token_vmax": token_vmax,
                  "gradient": css_gradient()},
    }


def _coloured(units: list[dict[str, Any]], vmax: float) -> list[dict[str, Any]]:
    """Each unit with its background and text colour (the scale computed for all units at once:
    one value at a time cost twice the explanation itself on a news article)."""
    backgrounds = [hex_color(rgb) for rgb in diverging_rgb([u["relevance"] for u in units], vmax).reshape(-1, 3)]
    return [{**unit, "color": background, "text_color": _text_color(background)}
            for unit, background in zip(units, backgrounds)]


#: At most 2 × 255 backgrounds exist on the diverging scale: each text colour is worked out once.
_text_color = functools.lru_cache(maxsize=1024)(text_color)


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
