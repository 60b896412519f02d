"""What protects a local server from the pages a browser has open: the ``Host`` check
(DNS rebinding), the ``Origin`` check on requests that change or compute something, a
bound on request bodies, and headers that let the page run only its own scripts.

>>> host_name("127.0.0.1:8000"), host_name("[::1]:80"), host_name("LocalHost")
('127.0.0.1', '::1', 'localhost')
>>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
(True, True, False)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Mapping
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["CONTENT_SECURITY_POLICY", "LOOPBACK_NAMES", "host_name", "is_loopback", "guard"]

#: Only the server's own scripts, styles and requests; no frames, no plugins, no inline script.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
#: The names a loopback server answers to.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def host_name(host: str) -> str:
    """The host of a ``Host`` header value, without its port, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) reaches this machine only."""
    if host_name(host) == "localhost":
        return True
    try:
        return ipaddress.ip_address(host_name(host)).is_loopback
    except ValueError:
        return False


def _refuse(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def guard(allowed_hosts: Iterable[str], max_body_bytes: int, larger_bodies: Mapping[str, int] | None = None
          ) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """An HTTP middleware: foreign ``Host`` → 400, cross-origin ``Origin`` on a state-changing
    request → 403, a body over ``max_body_bytes`` (``larger_bodies``: the bound of a path that
    takes files, such as the upload) → 413; security headers on every response."""
    allowed = {host_name(h) for h in allowed_hosts}
    larger = dict(larger_bodies or {})

    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        host = request.headers.get("host", "")
        if host_name(host) not in allowed:
            response = _refuse(400, f"this server does not answer to host {host!r}: open it by its own address")
        elif request.method in _STATE_CHANGING and not _same_origin(request.headers.get("origin"), host):
            response = _refuse(403, "cross-origin request refused: use the page this server serves")
        elif request.method in _STATE_CHANGING and "content-length" not in request.headers:
            # A chunked body has no size to check before it is read.
            response = _refuse(411, "a Content-Length header is required")
        elif _body_size(request) > larger.get(request.url.path, max_body_bytes):
            response = _refuse(413, f"request body over {larger.get(request.url.path, max_body_bytes)} bytes")
        else:
            response = await call_next(request)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    return middleware


def _same_origin(origin: str | None, host: str) -> bool:
    """No ``Origin`` (a program, not a browser page) or the server's own."""
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower()


def _body_size(request: Request) -> int:
    try:
        return int(request.headers.get("content-length", "0"))
    except ValueError:
        return 0
