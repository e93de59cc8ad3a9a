"""A provider's Micropub endpoints and a home on loopback, joined by an in-memory inbox.

The provider side is the real routes (``provider_routes``) served by uvicorn over ports kept in
memory; the home side is a real store (SQLite or PostgreSQL) and blob store, and a relay loop
that takes queued items in order, calls the real ``home_handlers`` in a worker thread (as the
home's relay does) and then "publishes": every public entry's path becomes live, as
auto-publish makes it. The home can be stopped and started to test the offline path.
"""

from __future__ import annotations

import io
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import uvicorn
from anyio.from_thread import BlockingPortal, start_blocking_portal
from PIL import Image
from starlette.applications import Starlette
from starlette.routing import Mount

from homeport.content import sites
from homeport.interop import ports
from homeport.interop.micropub import home_handlers, provider_routes
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store
from homeport.testing.live import free_port

TENANT = "ada"
SITE = "blog"


def image(fmt: str = "JPEG", size: tuple[int, int] = (1200, 800), color: str = "teal") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class MemoryInbox:
    """``ports.Inbox`` in memory: items in arrival order, idempotent on the item id."""

    items: list[ports.InboxItem] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    online: bool = False
    """Whether the home's relay runs (``Home.start``): ``connected``."""

    def put(self, tenant: str, kind: str, meta: Any, body: bytes, *, item_id: str) -> str:
        with self.lock:
            if not any(i.id == item_id for i in self.items):
                self.items.append(ports.InboxItem(item_id, kind, dict(meta), body, now_ms()))
        return item_id

    def result(self, tenant: str, item_id: str) -> Any:
        with self.lock:
            return self.results.get(item_id)

    def connected(self, tenant: str) -> bool:
        return self.online

    def pending(self) -> list[ports.InboxItem]:
        with self.lock:
            return [i for i in self.items if i.id not in self.results]


@dataclass
class MemoryGrants:
    tokens: dict[str, ports.TokenGrant] = field(default_factory=dict)

    def issue(self, scope: str, expires: int | None = None, tenant: str = TENANT) -> str:
        value = secrets.token_urlsafe(24)
        self.tokens[value] = ports.TokenGrant(secrets.token_hex(6), tenant,
                                              frozenset(scope.split()), expires)
        return value

    def token(self, tenant: str, token: str) -> ports.TokenGrant | None:
        found = self.tokens.get(token)
        if found is None or found.tenant != tenant:
            return None
        if found.expires is not None and found.expires <= now_ms():
            return None
        return found

    def delegation(self, tenant: str, power: str) -> ports.Delegation | None:
        return None


@dataclass
class MemorySites:
    hosts: dict[str, ports.TenantRef] = field(default_factory=dict)
    live: set[str] = field(default_factory=set)

    def tenant_for_host(self, host: str) -> ports.TenantRef | None:
        return self.hosts.get(host.lower())

    def live_path(self, tenant: str, path: str) -> bool:
        return path in self.live


@dataclass
class Home:
    """A home's store and the relay loop that applies the inbox (while ``online``)."""

    ctx: Context
    portal: BlockingPortal
    inbox: MemoryInbox
    sites: MemorySites
    publish_delay: float = 0.0
    online: bool = False
    applied: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def call(self, fn: Any, *args: Any) -> Any:
        """Run an async function of the home on its event loop."""
        return self.portal.call(fn, *args)

    def start(self) -> None:
        self._stop.clear()
        self.online = self.inbox.online = True
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.online = self.inbox.online = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join(20)

    def _relay(self) -> None:
        handlers = home_handlers()
        while not self._stop.is_set():
            items = self.inbox.pending()
            for item in items:
                if self._stop.is_set():
                    return
                result = self.portal.call(anyio.to_thread.run_sync, handlers[item.kind],
                                          self.ctx, item)
                with self.inbox.lock:
                    self.inbox.results[item.id] = dict(result)
                self.applied.append(item.id)
            if items:
                if self.publish_delay:
                    time.sleep(self.publish_delay)
                self.publish()
            self._stop.wait(0.05)

    def publish(self) -> None:
        """What auto-publish does for this test: every public entry's page is live."""
        entries = self.call(sites.list_entries, self.ctx, SITE)
        self.sites.live = {e.path for e in entries
                           if e.data.get("visibility") == "public" and not e.data.get("draft")}

    def entries(self) -> list[sites.Entry]:
        result: list[sites.Entry] = self.call(sites.list_entries, self.ctx, SITE)
        return result

    def wait_drained(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.inbox.pending():
            assert time.monotonic() < deadline, "the home did not drain its inbox"
            time.sleep(0.05)


@dataclass
class Stack:
    home: Home
    grants: MemoryGrants
    sites: MemorySites
    inbox: MemoryInbox
    port: int
    host: str
    origin: str
    photos: PhotoServer | None = None

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Host": self.host}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", headers=headers,
                            timeout=30, **kw)


class PhotoServer:
    """A loopback web server serving a few images (photo by URL)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.port = free_port()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            body = self.files.get(scope["path"])
            status = 200 if body is not None else 404
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"image/jpeg")]})
            await send({"type": "http.response.body", "body": body or b""})

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def serving(server: uvicorn.Server) -> Iterator[None]:
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def stack(tmp: Path, store_url: str, *, wait: float = 4.0, online: bool = True,
          photos: dict[str, bytes] | None = None) -> Iterator[Stack]:
    """A provider (the Micropub routes over memory ports) and a home with one site."""
    port = free_port()
    host = f"{TENANT}.localhost:{port}"
    origin = f"http://{host}"
    inbox, grants, site_ports = MemoryInbox(), MemoryGrants(), MemorySites()
    site_ports.hosts[host] = ports.TenantRef(TENANT, "did:key:z6MkTest", origin)
    app = Starlette(routes=[Mount(ports.TENANT_PREFIX, routes=provider_routes(wait=wait))])
    app.state.ports = ports.ProviderPorts(inbox=inbox, grants=grants, sites=site_ports,
                                          clock=now_ms, fetch_allow_private=True)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    settings = Settings(data_dir=tmp, fetch_allow_private=True)
    with start_blocking_portal() as portal:
        store = open_record_store(store_url)
        portal.call(store.initialize)
        ctx = Context(settings, store, FsBlobStore(tmp / "blobs"))
        portal.call(sites.create_site, ctx, SITE, "Ada's notebook")
        home = Home(ctx, portal, inbox, site_ports)
        photo_server = PhotoServer(photos) if photos else None
        try:
            with serving(server):
                if photo_server is not None:
                    with serving(photo_server.server):
                        if online:
                            home.start()
                        yield Stack(home, grants, site_ports, inbox, port, host, origin,
                                    photo_server)
                else:
                    if online:
                        home.start()
                    yield Stack(home, grants, site_ports, inbox, port, host, origin)
        finally:
            home.stop()
            close = getattr(store, "close", None)
            if close is not None:
                portal.call(close)
