"""Explain an uploaded document (``POST /api/upload``): a PDF, Word, HTML, e-mail or text file
sent as ``multipart/form-data`` (the file as ``file``, the explain request without its text as
``request``, JSON), read by :mod:`doclrp.documents` within ``--max-bytes`` and ``--max-pages``,
explained like a typed text, and answered with the explain response, what was read
(``document``) and, for a PDF, its first pages drawn (``pages``, data URLs) with every word's
``page`` and ``box``.

>>> sorted(route.path for route in router.routes)
['/api/upload']

The request body is bounded by the guard (:func:`doclrp.serve.security.guard`: this path may
carry ``max_bytes`` plus room for the form) before a byte of it is parsed, and the file part
again as it is read. Reading and drawing run in a worker thread within ``--timeout``; the
explanation goes through the model's queue as every other (and is kept for the export).
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request

from doclrp.documents import Limits as ReadLimits, SourceText, read_bytes, render_pages
from doclrp.errors import DoclrpError
from doclrp.serve.responses import explanation_response
from doclrp.serve.routes.explain import explanation_for
from doclrp.serve.schemas import ExplainRequest, ExplainResponse, Word
from doclrp.serve.state import RequestError, ServerState, server_state

__all__ = ["router", "UPLOAD_PATH", "UPLOAD_PAGES", "FORM_ROOM", "UploadResponse"]

router = APIRouter()

#: The route's path (the guard lets its body be as large as ``--max-bytes`` allows).
UPLOAD_PATH = "/api/upload"
#: Pages of a PDF drawn into the answer (each ~75 kB of PNG); later pages are in the text.
UPLOAD_PAGES = 20
#: Bytes of a form beyond its file: the request's fields, the parts' headers and boundaries.
FORM_ROOM = 64 * 1024


class LaidOutWord(Word):
    """A word with its place on the page (PDF files): 0-based ``page``, ``box`` ``[x0, y0, x1, y1]``
    as fractions of the page from its top-left corner; ``parts`` ``[page, x0, y0, x1, y1]`` of a
    word broken over lines."""

    page: int | None = None
    box: list[float] | None = None
    parts: list[list[float]] | None = None


class DocumentInfo(BaseModel):
    name: str
    kind: str
    pages: int | None = None
    attachments: list[str] = []
    notes: list[str] = []


class PageOut(BaseModel):
    page: int
    width: int
    height: int
    src: str


class UploadResponse(ExplainResponse):
    """The explain response of the file's text, with what was read and the pages drawn."""

    words: list[LaidOutWord]  # type: ignore[assignment]  # words with their places
    document: DocumentInfo
    pages: list[PageOut]


def _read(data: bytes, name: str, limits: ReadLimits) -> tuple[SourceText, list[dict[str, Any]]]:
    """The file read and, for a PDF, its first pages drawn (in a worker thread)."""
    deadline = limits.deadline()
    source = read_bytes(data, name, limits, deadline)
    pages: list[dict[str, Any]] = []
    if source.kind == "pdf" and source.pages:
        for image in render_pages(data, name, pages=range(min(source.pages, UPLOAD_PAGES)), deadline=deadline):
            pages.append({"page": image.page, "width": image.width, "height": image.height,
                          "src": f"data:{image.mime};base64,{base64.b64encode(image.data).decode('ascii')}"})
    return source, pages


async def _form_parts(request: Request, max_bytes: int) -> tuple[bytes, str, dict[str, Any]]:
    """The uploaded file's bytes and name, and the explain request's fields."""
    try:
        form = await request.form(max_files=1, max_fields=4, max_part_size=FORM_ROOM)
    except Exception as error:  # starlette raises its own multipart errors (and AssertionError without the parser)
        raise RequestError(400, f"not a form with a file: {error}") from None
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise RequestError(422, "no file in the form: send the document as the field 'file'")
    data = await file.read(max_bytes + 1)
    name = (file.filename or "document").replace("\\", "/").rsplit("/", 1)[-1][:200] or "document"
    if len(data) > max_bytes:
        raise RequestError(413, f"{name} is over --max-bytes {max_bytes:,} bytes: this server takes smaller files")
    raw = form.get("request") or "{}"
    try:
        fields = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        raise RequestError(422, "the field 'request' must be a JSON object (model, method, target, ...)")
    return data, name, fields


@router.post(UPLOAD_PATH, response_model=UploadResponse)
async def upload(request: Request, server: ServerState = Depends(server_state)) -> dict[str, Any]:
    """Explain an uploaded PDF, Word, HTML, e-mail or text file (multipart: ``file``, ``request``)."""
    limits = server.limits
    data, name, fields = await _form_parts(request, limits.max_bytes)
    read_limits = ReadLimits(max_bytes=limits.max_bytes, max_pages=limits.max_pages, timeout=limits.timeout_s)
    try:
        source, pages = await asyncio.to_thread(_read, data, name, read_limits)
    except DoclrpError as error:
        raise RequestError(422, str(error)) from None
    try:
        explain_request = ExplainRequest(**{**fields, "text": source.text})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors())
        raise RequestError(422, f"the field 'request' is not an explain request ({problems})") from None
    model, explanation = await explanation_for(explain_request, server)
    response = explanation_response(model, explain_request.granularity, source.attach(explanation))
    response["document"] = {"name": name, "kind": source.kind, "pages": source.pages,
                            "attachments": source.attachments, "notes": source.notes}
    response["pages"] = pages
    return response
