"""The handwriting demo (``POST /api/digits``): an 8×8 drawing, its prediction and pixel
relevance, computed on the digits model's own queue like any served model.

>>> [route.path for route in router.routes]
['/api/digits']
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from doclrp.serve.schemas import DigitsRequest
from doclrp.serve.state import DIGITS_QUEUE, RequestError, ServerState, server_state

__all__ = ["router"]

router = APIRouter()


@router.post("/api/digits")
async def digits(request: DigitsRequest, server: ServerState = Depends(server_state)) -> dict[str, Any]:
    """The handwriting demo: an 8×8 image in [0, 1], its prediction and pixel relevance."""
    if server.digits is None:
        raise RequestError(404, "this server has no digits demo")
    payload = (request.pixels, request.method, request.params, request.target)
    result: dict[str, Any] = await server.work(DIGITS_QUEUE, None, payload)
    return result
