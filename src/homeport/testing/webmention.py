"""For webmention tests and the benchmark: a source site on loopback whose pages a test
changes at will (slow, huge, redirecting, gone…), small in-memory ``Inbox`` and ``Sites``
ports, and an ASGI app under uvicorn in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import uvicorn

from homeport.interop.ports import InboxFull, TenantRef
from homeport.testing.live import free_port


@dataclass
class SourcePage:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    location: str | None = None
    delay: float = 0.0
    """Seconds between chunks of the body (a slow source)."""
    chunks: int = 1


class SourceServer:
    """A loopback HTTP server for sources: ``pages`` maps a path to what it answers; any other
    path is a 404. ``hits`` counts requests per path."""

    def __init__(self) -> None:
        self.pages: dict[str, SourcePage] = {}
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                with server._lock:
                    server.hits[path] = server.hits.get(path, 0) + 1
                    page = server.pages.get(path, SourcePage(b"not here", 404, "text/plain"))
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                if page.location is not None:
                    self.send_header("Location", page.location)
                self.send_header("Content-Length", str(len(page.body)))
                self.end_headers()
                size = max(1, -(-len(page.body) // page.chunks))
                try:
                    for start in range(0, len(page.body), size):
                        if page.delay:
                            time.sleep(page.delay)
                        self.wfile.write(page.body[start:start + size])
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.1,),
                                       daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def page(self, path: str, html: str | bytes, **options: Any) -> str:
        """Serve ``html`` at ``path``; its URL."""
        body = html.encode() if isinstance(html, str) else html
        self.pages[path] = SourcePage(body, **options)
        return self.url(path)

    def __enter__(self) -> SourceServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


@dataclass
class StoredItem:
    tenant: str
    kind: str
    meta: dict[str, Any]
    body: bytes
    id: str


@dataclass
class MemoryInbox:
    """``ports.Inbox`` in memory, idempotent on item ids; ``limit`` items per tenant."""

    limit: int = 10_000
    items: list[StoredItem] = field(default_factory=list)
    results: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, tenant: str, kind: str, meta: Mapping[str, Any], body: bytes, *,
            item_id: str) -> str:
        with self._lock:
            if any(i.id == item_id and i.tenant == tenant for i in self.items):
                return item_id
            if sum(1 for i in self.items if i.tenant == tenant) >= self.limit:
                raise InboxFull(tenant)
            self.items.append(StoredItem(tenant, kind, dict(meta), body, item_id))
        return item_id

    def result(self, tenant: str, item_id: str) -> Mapping[str, Any] | None:
        return self.results.get((tenant, item_id))

    def connected(self, tenant: str) -> bool:
        return False

    def of(self, tenant: str) -> list[StoredItem]:
        with self._lock:
            return [i for i in self.items if i.tenant == tenant]


@dataclass
class StaticSites:
    """``ports.Sites`` from a map of hosts to tenants and each tenant's live paths."""

    hosts: dict[str, TenantRef]
    live: dict[str, set[str]]

    def tenant_for_host(self, host: str) -> TenantRef | None:
        return self.hosts.get(host.lower())

    def live_path(self, tenant: str, path: str) -> bool:
        return path in self.live.get(tenant, set())


class ThreadedApp:
    """An ASGI app under uvicorn in a thread on 127.0.0.1, stopped on exit."""

    def __init__(self, app: Any, lifespan: Literal["auto", "on", "off"] = "off") -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, lifespan=lifespan)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedApp:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the app did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
