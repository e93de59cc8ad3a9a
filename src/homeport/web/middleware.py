"""Pure-ASGI middleware: the ``Host`` allow-list, and what every Kinto response has (CORS,
nosniff, Accept checks).

Pure ASGI rather than Starlette's BaseHTTPMiddleware: it adds no task or copy per request and
never buffers a streamed response (change streams, attachment downloads).
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from homeport import jsonio
from homeport.core.errors import Errno, HomeportError, InvalidParameters, NotAcceptable
from homeport.settings import Settings
from homeport.web.errors import error_body, error_headers
from homeport.web.hosts import HostRules

EXPOSED = (
    "Alert, Backoff, ETag, Last-Modified, Next-Page, Retry-After, Total-Objects, "
    "Total-Records, Content-Length, Location"
)
ALLOWED_HEADERS = "Authorization, Content-Type, If-Match, If-None-Match, Last-Event-ID"
ACCEPTABLE = ("application/json", "application/*", "*/*", "text/event-stream")


def acceptable(accept: str) -> bool:
    """True when any range in the header covers JSON (quality values are ignored)."""
    ranges = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return any(r in ACCEPTABLE or r.endswith("+json") for r in ranges if r)


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def forged_by_another_site(method: str, headers: dict[str, str]) -> bool:
    """A write that a page on another origin made without CORS: a form, or a no-cors fetch.

    Such a request cannot set ``Authorization`` itself, so if it is authenticated at all it is
    by a password the browser remembered for the home (CSRF). Browsers say where a request comes
    from in ``Sec-Fetch-Site`` and how in ``Sec-Fetch-Mode``; other clients send neither.
    """
    if method in SAFE_METHODS:
        return False
    site = headers.get("sec-fetch-site", "none")
    return site not in ("same-origin", "none") and headers.get("sec-fetch-mode", "cors") != "cors"


class AllowedHosts:
    """Refuses, before any handler runs, every request (HTTP, server-sent events, websockets)
    whose ``Host`` the home does not answer to: 421 in Kinto's error JSON (see ``web/hosts``)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.rules = HostRules(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
        if self.rules.allows(host):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        description = (
            "This home does not answer to that name. Use http://127.0.0.1 or localhost, or add "
            "the name to the 'allowed_hosts' setting."
        )
        error = HomeportError(
            f"Host {host!r} is not allowed: {description}",
            code=421,
            errno=Errno.INVALID_PARAMETERS,
            details=[{"location": "header", "name": "Host", "description": description}],
        )
        await _send_error(send, error, None)


class KintoHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        is_api = scope["path"].startswith("/v1")
        if scope["method"] == "OPTIONS" and is_api:
            await self._preflight(headers, origin, send)
            return
        if is_api and forged_by_another_site(scope["method"], headers):
            description = (
                "a page on another site cannot change data here through a form or a no-cors "
                "request; clients on other origins send CORS requests with their own credentials"
            )
            error = HomeportError(
                f"Cross-site request refused: {description}",
                code=403,
                errno=Errno.FORBIDDEN,
                details=[
                    {"location": "header", "name": "Sec-Fetch-Mode", "description": description}
                ],
            )
            await _send_error(send, error, None)
            return
        accept = headers.get("accept")
        if is_api and accept and not acceptable(accept):
            description = "Accept header should be one of ['application/json']"
            error = NotAcceptable(
                description,
                details=[{"location": "header", "name": "Accept", "description": description}],
            )
            await _send_error(send, error, origin)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-content-type-options", b"nosniff")]
                if origin:
                    extra += _cors(origin)
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _preflight(self, headers: dict[str, str], origin: str | None, send: Send) -> None:
        method = headers.get("access-control-request-method")
        if not method:
            error = InvalidParameters.at(
                "header", "Access-Control-Request-Method", "this header is mandatory"
            )
            await _send_error(send, error, origin)
            return
        response_headers = [
            (b"access-control-allow-methods", method.encode("latin-1")),
            (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
            (b"access-control-max-age", b"3600"),
            (b"content-length", b"0"),
            *_cors(origin or "*"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": b""})


def _cors(origin: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", EXPOSED.encode()),
    ]


async def _send_error(send: Send, error: HomeportError, origin: str | None) -> None:
    body = jsonio.dumps(error_body(error))
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in error_headers(error).items()]
    if origin:
        headers += _cors(origin)
    start: dict[str, Any] = {"type": "http.response.start", "status": error.code}
    start["headers"] = headers
    await send(start)
    await send({"type": "http.response.body", "body": body})
