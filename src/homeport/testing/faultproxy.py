"""A loopback HTTP proxy that injects faults: error answers and slow answers, on demand.

::

    with FaultProxy("http://127.0.0.1:8333") as proxy:
        proxy.fail(503, times=2, method="PUT")     # the next two PUTs get a 503
        proxy.slow(3.0, times=1)                   # the next request waits 3 s first
        ... talk to proxy.url instead of the upstream ...
        proxy.injected                             # how many faults were served

Requests are forwarded unchanged, Host header included, so AWS Signature V4 signed for the
proxy's address still verifies at an S3 server behind it. Used to show the S3 store retries
and that a publish through a failing store never leaves a half-published site.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass
from typing import Any, Self

import httpx

from homeport.testing.live import free_port, serving_in_thread

__all__ = ["FaultProxy", "Rule"]

_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "content-encoding",  # httpx hands the body over decoded
}


@dataclass
class Rule:
    """Answer ``status`` (None: forward) after ``delay`` seconds to the next ``times`` requests
    whose method is ``method`` (None: any) and whose path and query contain ``contains``."""

    times: int
    status: int | None = None
    delay: float = 0.0
    method: str | None = None
    contains: str = ""
    body: bytes = b""
    cut_after: int | None = None
    """Forward the answer's head and this many bytes of its body, then drop the connection."""

    def matches(self, method: str, target: str) -> bool:
        return (
            self.times > 0
            and (self.method is None or self.method == method)
            and self.contains in target
        )


class FaultProxy:
    """An HTTP proxy on a free loopback port in a thread of this process."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.rules: list[Rule] = []
        self.requests = 0
        self.injected = 0
        self.in_flight = 0
        self.max_in_flight = 0
        """The most requests the proxy was handling at one time since the last ``clear``."""
        self.log: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._stack = contextlib.ExitStack()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(
        self,
        status: int = 503,
        times: int = 1,
        method: str | None = None,
        contains: str = "",
        code: str = "ServiceUnavailable",
    ) -> Rule:
        """The next ``times`` matching requests get ``status`` with an S3 error body."""
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>injected by FaultProxy</Message></Error>"
        ).encode()
        return self._add(Rule(times, status=status, method=method, contains=contains, body=body))

    def slow(
        self, delay: float, times: int = 1, method: str | None = None, contains: str = ""
    ) -> Rule:
        """The next ``times`` matching requests are forwarded after ``delay`` seconds."""
        return self._add(Rule(times, delay=delay, method=method, contains=contains))

    def cut(
        self, after: int, times: int = 1, method: str | None = None, contains: str = ""
    ) -> Rule:
        """The next ``times`` matching answers break off after ``after`` bytes of body."""
        return self._add(Rule(times, method=method, contains=contains, cut_after=after))

    def clear(self) -> None:
        """Forget every rule and reset the counters and the log."""
        with self._lock:
            self.rules.clear()
            self.requests = self.injected = self.max_in_flight = 0
            self.log.clear()

    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def _take(self, method: str, target: str) -> Rule | None:
        with self._lock:
            self.requests += 1
            for rule in self.rules:
                if rule.matches(method, target):
                    rule.times -= 1
                    self.injected += 1
                    return rule
            return None

    def _app(self, client: httpx.AsyncClient) -> object:
        from starlette.requests import Request

        async def app(scope: dict[str, object], receive: object, send: object) -> None:
            if scope["type"] != "http":
                return
            request = Request(scope, receive)  # type: ignore[arg-type]
            target = request.url.path + ("?" + request.url.query if request.url.query else "")
            rule = self._take(request.method, target)
            self.in_flight += 1  # one event loop: no lock needed
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                await self._answer(client, request, target, rule, scope, receive, send)
            finally:
                self.in_flight -= 1

        return app

    async def _answer(
        self,
        client: httpx.AsyncClient,
        request: Any,
        target: str,
        rule: Rule | None,
        scope: Any,
        receive: Any,
        send: Any,
    ) -> None:
        from starlette.responses import Response

        body = await request.body()
        if rule is not None and rule.delay:
            await asyncio.sleep(rule.delay)
        if rule is not None and rule.status is not None:
            response = Response(rule.body, status_code=rule.status, media_type="application/xml")
            self.log.append((request.method, target, rule.status))
            await response(scope, receive, send)
            return
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP]
        upstream = await client.request(
            request.method, self.upstream + target, content=body, headers=headers
        )
        self.log.append((request.method, target, upstream.status_code))
        if rule is not None and rule.cut_after is not None:
            await _cut(upstream, rule.cut_after, scope, receive, send)
            return
        out = Response(
            upstream.content,
            status_code=upstream.status_code,
            headers={
                k: v
                for k, v in upstream.headers.items()
                if k.lower() not in _HOP
                or (request.method == "HEAD" and k.lower() == "content-length")
            },
        )
        await out(scope, receive, send)

    def __enter__(self) -> Self:
        client = httpx.AsyncClient(timeout=120.0)
        self._stack.enter_context(serving_in_thread(self._app(client), self.port, "fault proxy"))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


async def _cut(upstream: httpx.Response, after: int, scope: Any, receive: Any, send: Any) -> None:
    """Send the answer's head (with its full length) and ``after`` bytes, then fail: uvicorn
    drops the connection and the client sees a body that ended early."""
    from starlette.responses import StreamingResponse

    async def body() -> Any:
        yield upstream.content[:after]
        raise ConnectionAbortedError("cut by FaultProxy")

    headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}
    headers["content-length"] = str(len(upstream.content))
    response = StreamingResponse(body(), status_code=upstream.status_code, headers=headers)
    with contextlib.suppress(ConnectionAbortedError):
        await response(scope, receive, send)
