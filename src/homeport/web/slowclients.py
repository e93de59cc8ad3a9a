"""Clients that send a request too slowly are cut: the home and the provider face the internet,
and a connection held open by one byte a second costs a socket and buffers forever (uvicorn only
times out idle keep-alive connections).

Two guards, used by ``homeport serve`` and ``homeport provider serve`` alike:

- ``GuardedHttpTools``, uvicorn's httptools protocol with a deadline for a request's line and
  headers (``HEADER_TIMEOUT`` from the connection's first byte, or from its opening) and a cap
  on their size (``MAX_HEADER_BYTES``): past either the connection is closed;
- ``BodyDeadline``, ASGI middleware that holds a request's body to a pace: after
  ``BODY_GRACE`` seconds it must have averaged ``BODY_MIN_RATE`` bytes a second. A body that
  falls behind is treated as a cut (the app sees ``http.disconnect``: a provider keeps the
  segments that arrived whole) and the client gets ``408`` in the app's error shape, with the
  connection closed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT = 10.0
"""Seconds for a request's line and headers to arrive."""
MAX_HEADER_BYTES = 64 * 1024
"""A request's line and headers together; more is refused (431)."""
BODY_GRACE = 10.0
BODY_MIN_RATE = 8 * 1024
"""A body must arrive at ``BODY_MIN_RATE`` bytes a second on average once ``BODY_GRACE``
seconds have passed: 64 kbit/s, slower than any uplink a home is behind, while a client
trickling one byte a second is cut after the grace."""


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's protocol with a deadline and a size cap for each request's head."""

    header_timeout = HEADER_TIMEOUT
    max_header_bytes = MAX_HEADER_BYTES
    _deadline: asyncio.TimerHandle | None = None
    _head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_header_bytes:
            self._refuse(b"431 Request Header Fields Too Large")

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        self._refuse(b"408 Request Timeout")

    def _refuse(self, status: bytes) -> None:
        """Answer in plain text and close: the request never reached the app."""
        self._disarm()
        if self.transport.is_closing():
            return
        text = b"the request's headers were too slow or too large"
        self.transport.write(
            b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(text)).encode() + b"\r\nconnection: close\r\n\r\n" + text
        )
        self.transport.close()


def server_options() -> dict[str, Any]:
    """What ``uvicorn.Config`` needs for the guards on the connection."""
    return {"http": GuardedHttpTools, "h11_max_incomplete_event_size": MAX_HEADER_BYTES}


class BodyDeadline:
    """Cut request bodies that arrive slower than the pace (module docstring). ``answer`` makes
    the 408's JSON body in the app's error shape from a message."""

    def __init__(self, app: ASGIApp, answer: Callable[[str], bytes]) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        received = 0
        done = cut = responded = replaced = False

        async def paced() -> Message:
            nonlocal received, done, cut
            if cut:
                return {"type": "http.disconnect"}
            if done:  # the body is in: waiting for a disconnect is not ours to time
                return await receive()
            deadline = started + BODY_GRACE + received / BODY_MIN_RATE
            with anyio.move_on_after(max(deadline - time.monotonic(), 0.0)):
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    done = not message.get("more_body", False)
                return message
            cut = True
            return {"type": "http.disconnect"}

        async def guarded(message: Message) -> None:
            nonlocal responded, replaced
            if message["type"] == "http.response.start":
                if cut:  # the app answers the "disconnect": the client gets the 408 instead
                    replaced = True
                    await self._timeout(send)
                    return
                responded = True
            elif replaced:
                return
            await send(message)

        await self.app(scope, paced, guarded)
        if cut and not responded and not replaced:
            await self._timeout(send)

    async def _timeout(self, send: Send) -> None:
        body = self.answer(
            f"the request's body came slower than {BODY_MIN_RATE} bytes a second "
            f"(after {BODY_GRACE:g} s): the connection was closed"
        )
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 408, "headers": headers})
        await send({"type": "http.response.body", "body": body})
