"""Serving tenants' sites by Host header from their live trees.

A request resolves ``live`` once and then reads only that tree and its manifest, so it sees one
commit whatever publishes happen meanwhile (in this process or another worker's). Files are found
through the manifest, never by walking the filesystem with the request's path, so no path can
leave the tree. ETag is the file object's id (a hash of its content; ``-gz``/``-br`` appended
for a compressed body), Last-Modified the commit's time.

This is the provider's hot path, so it is a plain ASGI callable rather than Starlette routes:
each (tree, path) gets its answer's headers prepared once, as bytes; files up to 4 MB and
compressed bodies are kept in memory by file id (content never changes under an id), larger
files are streamed in 1 MB reads; nothing but a first read of a file over 256 kB, a first
compression or a large file's reads leaves the event loop. Range requests, rare, go to
Starlette's ``FileResponse``.
"""

from __future__ import annotations

import functools
import gzip
import mimetypes
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

import anyio
import brotli
from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send

from homeport import jsonio
from homeport.interop.activitypub import moves
from homeport.members.sealing import PAGES
from homeport.provider import fediverse, hosts
from homeport.provider.db import DELETED, SUSPENDED, ProviderDB, Tenant
from homeport.provider.sites import Manifest
from homeport.provider.sitestore import DiskSites, SiteStore
from homeport.render import activitypub as ap
from homeport.render import discovery
from homeport.store.connection import DatabaseError

MEMBER_COOKIE = b"hp_member"
"""The members' session cookie (``interop/members/tokens.py``)."""
HASHED = re.compile(r"[.-][0-9a-fA-F]{8,}\.[A-Za-z0-9]+$")
IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = b"public, max-age=60, must-revalidate"
GATED = b"no-cache"
"""A members-only entry's public teaser: asked again every time, so a reader who just signed in
gets the whole page rather than the teaser their browser kept."""
COMPRESS_MAX = 8 * 1024 * 1024
"""Textual files up to this size are sent compressed to clients that accept it."""
SMALL_MAX = 256 * 1024
"""Files up to this size are read on the event loop (a thread hop costs more than the read)."""
MEMORY_MAX = 4 * 1024 * 1024
"""Files up to this size are kept in memory once read: sending a 1 MB image from memory rather
than reading it from the page cache each time was about 1.5-2x the requests/s."""
FILE_CHUNK = 1024 * 1024
BODY_CACHE_BYTES = 64 * 1024 * 1024
"""Memory for files and compressed bodies, per process."""
BROTLI_BEST_MAX = 256 * 1024
"""Brotli at its best quality up to this size (0.1 to 0.3 s, once per file); faster above."""
TEXTUAL = ("text/", "application/javascript", "application/json", "application/xml", "image/svg",
           "application/activity+json")
EXTRA_TYPES = {
    ".webmanifest": "application/manifest+json",
    ".json": "application/json",
    ".xml": "application/xml",
    ".atom": "application/atom+xml",
    ".rss": "application/rss+xml",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".woff2": "font/woff2",
    ".avif": "image/avif",
    ap.AS2_SUFFIX: ap.ACTIVITY_JSON,
    ".webp": "image/webp",
}
ENCODINGS = ("br", "gzip")
"""What we compress with, preferred first when a client rates them equally."""
NOSNIFF = (b"x-content-type-options", b"nosniff")
VARY = (b"vary", b"Accept-Encoding")
VARY_ACCEPT = (b"vary", b"Accept")
"""An entry's page: its URL answers the AS2 object to ActivityPub clients."""
ANYONE = (b"access-control-allow-origin", b"*")
TEXT_PLAIN = (b"content-type", b"text/plain; charset=utf-8")
FEEDS = ("feed.atom", "feed.rss", "feed.json")
"""The renderer's feed files (``render/pages.py``): answered with their WebSub hub."""
PAGE, FEED = 1, 2
"""What a file announces in ``Link`` headers: a page its endpoints, a feed its hub."""

Headers = list[tuple[bytes, bytes]]


@functools.lru_cache(maxsize=256)
def _type_of(suffix: str) -> str:
    found = EXTRA_TYPES.get(suffix) or mimetypes.guess_type("x" + suffix)[0]
    return found or "application/octet-stream"


def content_type(path: str) -> str:
    return _type_of(os.path.splitext(path)[1].lower())


class HostCache:
    """Host → tenant (or None), kept while the provider's SQLite files are unchanged (their
    size and time: any commit, by this process or another, changes them) and for a second at
    most; so a suspend or delete by the operator's CLI is seen by the next request, as before.
    On PostgreSQL nothing is kept."""

    MAX_AGE = 1.0
    MAX_HOSTS = 10_000

    def __init__(self, db: ProviderDB, base_domain: str) -> None:
        self.db = db
        self.base_domain = base_domain
        sqlite = db.engine == "sqlite"
        self._files = (f"{db.path}-wal", str(db.path)) if sqlite else ()
        self._items: dict[str, Tenant | None] = {}
        self._stamp: tuple[tuple[int, int, int], ...] = ()
        self._taken = 0.0

    def tenant(self, host: str) -> Tenant | None:
        if not self._files:
            return hosts.tenant_for_host(self.db, self.base_domain, host)
        stamp = tuple(_stat(f) for f in self._files)  # before the lookup it guards
        now = time.monotonic()
        if stamp != self._stamp or now - self._taken > self.MAX_AGE:
            self._items.clear()
            self._stamp, self._taken = stamp, now
        try:
            return self._items[host]
        except KeyError:
            pass
        if len(self._items) >= self.MAX_HOSTS:
            self._items.clear()
        found = self._items[host] = hosts.tenant_for_host(self.db, self.base_domain, host)
        return found


def _stat(path: str) -> tuple[int, int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0, 0)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=128)
def negotiate(accept_encoding: bytes) -> str:
    """The coding to send for an ``Accept-Encoding`` value: ``br``, ``gzip`` or ``""``
    (identity), by q-value; ``br`` wins a tie. Browsers send a handful of distinct values,
    hence the cache."""
    q: dict[str, float] = {}
    for item in accept_encoding.decode("latin-1").lower().split(","):
        name, _, params = item.partition(";")
        name = name.strip()
        if not name:
            continue
        value = 1.0
        for param in params.split(";"):
            key, _, number = param.partition("=")
            if key.strip() == "q":
                try:
                    value = min(max(float(number), 0.0), 1.0)
                except ValueError:
                    value = 0.0
        q[name] = value
    rated = [(q.get(c, q.get("*", 0.0)), -i, c) for i, c in enumerate(ENCODINGS)]
    best, _, coding = max(rated)
    if best <= 0.0 or q.get("identity", 0.0) > best:
        return ""
    return coding


def compress(data: bytes, coding: str) -> bytes:
    if coding == "br":
        quality = 11 if len(data) <= BROTLI_BEST_MAX else 6
        return bytes(brotli.compress(data, quality=quality))
    return gzip.compress(data, compresslevel=6, mtime=0)


class BodyCache:
    """Bodies by (file id, coding), bounded in bytes: file ids name immutable content."""

    def __init__(self, limit: int = BODY_CACHE_BYTES) -> None:
        self._items: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._size = 0
        self._limit = limit
        self._lock = threading.Lock()

    def find(self, key: tuple[str, str]) -> bytes | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], body: bytes) -> bytes:
        with self._lock:
            if key not in self._items and len(body) <= self._limit // 4:
                self._items[key] = body
                self._size += len(body)
            while self._size > self._limit and self._items:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)
        return body

    def read(self, file_id: str, path: str, size: int) -> bytes:
        """The first ``size`` bytes of the file (its size when it was looked at), no more."""
        with open(path, "rb") as f:
            return self.put((file_id, ""), f.read(size))

    def compressed(self, file_id: str, path: str, size: int, coding: str) -> bytes:
        """The file compressed with ``coding``, made once (call it in a worker thread)."""
        found = self.find((file_id, coding))
        if found is not None:
            return found
        with open(path, "rb") as f:
            return self.put((file_id, coding), compress(f.read(size), coding))


@dataclass(frozen=True, slots=True)
class SiteFile:
    """One file of one tree, with the headers every answer for it carries."""

    file_id: str
    size: int
    path: str
    kind: str
    compressible: bool
    modified: int
    """The commit's time, whole seconds: Last-Modified and If-Modified-Since."""
    headers: Headers
    """Content-Type, Last-Modified, Cache-Control, nosniff, and Vary when compressible."""
    role: int = 0
    """``PAGE``, ``FEED`` or 0: which ``Link`` headers it is answered with."""
    rel: str = ""

    @classmethod
    def of(cls, store: SiteStore, tenant: str, manifest: Manifest, rel: str) -> SiteFile:
        """Where the bytes are and their size, as the store vouches for them
        (``SiteStore.locate``): memory and compression go by that size."""
        file_id = manifest.files[rel][0]
        path, size = store.locate(tenant, manifest, rel)
        kind = content_type(rel)
        compressible = kind.startswith(TEXTUAL) and size <= COMPRESS_MAX
        shown = kind + "; charset=utf-8" if kind.startswith("text/") else kind
        gated = PAGES + rel in manifest.files
        headers = [
            (b"content-type", shown.encode("latin-1")),
            (b"last-modified", formatdate(manifest.created / 1000, usegmt=True).encode()),
            (b"cache-control", GATED if gated else IMMUTABLE if HASHED.search(rel)
             else REVALIDATE),
            NOSNIFF,
        ]
        if gated:
            headers.append((b"vary", b"Cookie"))
        if compressible:
            headers.append(VARY)
        role = PAGE if kind == "text/html" else FEED if rel.endswith(FEEDS) else 0
        modified = manifest.created // 1000
        return cls(file_id, size, path, kind, compressible, modified, headers, role, rel)

    def etag(self, coding: str) -> bytes:
        return f'"{self.file_id}-{coding}"'.encode() if coding else f'"{self.file_id}"'.encode()


class Tree:
    """A manifest and the files of it answered so far."""

    def __init__(self, store: SiteStore, tenant: str, manifest: Manifest) -> None:
        self.store = store
        self.tenant = tenant
        self.manifest = manifest
        self._files: dict[str, SiteFile] = {}
        self._moved: tuple[str | None] | None = None

    def moved_to(self) -> str | None:
        """The actor the site moved to from this address (the built actor's ``movedTo``,
        read once per tree), or None."""
        if self._moved is None:
            target = None
            found = self.file(ap.ACTOR.lstrip("/") + ap.AS2_SUFFIX)
            if found is not None and found.size <= SMALL_MAX:
                try:
                    data = self.store.read(self.tenant, self.manifest, found.rel, SMALL_MAX)
                    doc = jsonio.loads(data) if data is not None else None
                except (OSError, ValueError):
                    doc = None
                value = doc.get("movedTo") if isinstance(doc, dict) else None
                target = value if isinstance(value, str) else None
            self._moved = (target,)
        return self._moved[0]

    def file(self, rel: str) -> SiteFile | None:
        found = self._files.get(rel)
        if found is None and rel in self.manifest.files:
            found = self._files[rel] = SiteFile.of(self.store, self.tenant, self.manifest, rel)
        return found

    def find(self, path: str, headers: dict[bytes, bytes], extra: Headers) -> SiteFile | None:
        """The file a request path names: a folder's ``index.html``, or its AS2 object
        (``index.as2``) when the client asks for ``application/activity+json``; an AS2
        document by its path without the suffix (``/activitypub/actor``). Adds to ``extra``
        the headers such a choice needs (``Vary: Accept``)."""
        rel = path.lstrip("/")
        if "\0" in path or ".." in path.split("/"):
            return None
        if rel == "" or rel.endswith("/"):
            found = self.file(rel + "index.html")
            if found is not None and rel + ap.ENTRY_FILE in self.manifest.files:
                extra.append(VARY_ACCEPT)
                if ap.wants_activity(headers.get(b"accept", b"").decode("latin-1")):
                    found = self.file(rel + ap.ENTRY_FILE)
        else:
            found = self.file(rel) or self.file(rel + ap.AS2_SUFFIX)
        if found is not None and found.kind == ap.ACTIVITY_JSON:
            extra.append(ANYONE)  # read by web clients of other servers too
        return found


class Announcements:
    """The ``Link`` headers of pages and feeds, made once per origin a site is reached at
    (its provider address, a custom domain) and per feed."""

    MAX = 4096

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], bytes] = {}

    @staticmethod
    def origin(scope: Scope, headers: dict[bytes, bytes], host: str) -> str:
        """The origin the reader reached the site at (scheme from the front proxy)."""
        proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1")
        scheme = proto if proto in ("http", "https") else scope["scheme"]
        port = headers.get(b"host", b"").decode("latin-1").strip().rpartition(":")[2]
        shown = f"{host}:{port}" if port.isdigit() else host
        return f"{scheme}://{shown}"

    def header(self, scope: Scope, headers: dict[bytes, bytes], host: str,
               found: SiteFile) -> tuple[bytes, bytes]:
        origin = self.origin(scope, headers, host)
        key = (origin, found.rel if found.role == FEED else "")
        value = self._items.get(key)
        if value is None:
            if len(self._items) >= self.MAX:
                self._items.clear()
            if found.role == FEED:
                value = discovery.feed_link_header(origin, f"{origin}/{found.rel}")
            else:
                value = discovery.page_link_header(origin)
            self._items[key] = value
        return (b"link", value)


class SiteServer:
    """The ASGI app for every request that is not the provider's own (``/_homeport/…``)."""

    def __init__(self, db: ProviderDB, data_dir: Path, base_domain: str,
                 open_signup: bool = False, sites: SiteStore | None = None,
                 body_cache_bytes: int = BODY_CACHE_BYTES) -> None:
        self.db = db
        self.data_dir = data_dir
        self.sites: SiteStore = sites or DiskSites(data_dir)
        """Where the live trees are (``sitestore.py``); one whose files are fetched on
        demand is asked in a worker thread."""
        self.base_domain = base_domain
        self.open_signup = open_signup
        """Anyone may sign up for a hosted home here: NodeInfo's ``openRegistrations``."""
        self.bodies = BodyCache(body_cache_bytes)
        self.hosts = HostCache(db, base_domain)
        self.announcements = Announcements()
        self._trees: OrderedDict[tuple[str, str], Tree] = OrderedDict()
        self.gate: Callable[[str, str, str, str], bytes | None] | None = None
        """``(tenant, host, path, session) -> page``: a members-only page for the member
        whose session cookie this is, or None (``interop/members/gate.py``; set by the app)."""
        self.threaded = db.engine != "sqlite"
        """PostgreSQL: the tenant is looked up in a worker thread (a round trip, and an outage
        must not stall the event loop); SQLite answers faster than a thread hop."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await _plain(send, 405, "Method Not Allowed", False, [(b"allow", b"GET, HEAD")])
            return
        head = method == "HEAD"
        headers: dict[bytes, bytes] = dict(scope["headers"])
        host = hosts.host_of(headers.get(b"host", b"").decode("latin-1"))
        try:
            if self.threaded:
                tenant = await anyio.to_thread.run_sync(self.hosts.tenant, host)
            else:
                tenant = self.hosts.tenant(host)
            bare = hosts.www_alias(self.db, host) if tenant is None else None
            if bare is not None:
                await _canonical(scope, headers, bare, send)
                return
        except DatabaseError:  # PostgreSQL unreachable: a moment's outage, not a missing site
            retry = [(b"retry-after", b"10")]
            await _plain(send, 503, "This site is unavailable for a moment.", head, retry)
            return
        if tenant is None:
            await self._no_site(scope, send, headers, host, head)
            return
        if tenant.state == DELETED:
            await _plain(send, 410, "This site has left this provider.", head)
            return
        if tenant.state == SUSPENDED:
            await _plain(send, 503, "This site is suspended.", head, [(b"retry-after", b"3600")])
            return
        await self._site(scope, receive, send, headers, host, tenant, head)

    async def _site(self, scope: Scope, receive: Receive, send: Send,
                    headers: dict[bytes, bytes], host: str, tenant: Tenant, head: bool) -> None:
        """A file of an active tenant's live tree (or its 404 page, a redirect…)."""
        try:
            if self.sites.on_demand:
                tree = await anyio.to_thread.run_sync(self._tree, tenant.name)
            else:
                tree = self._tree(tenant.name)
        except DatabaseError:
            retry = [(b"retry-after", b"10")]
            await _plain(send, 503, "This site is unavailable for a moment.", head, retry)
            return
        if tree is None:
            await _plain(send, 404, "Nothing is published here yet.", head)
            return
        path: str = scope["path"]
        if await self._not_a_file(scope, send, headers, host, tree, head):
            return
        extra: Headers = []
        found = tree.find(path, headers, extra)
        if found is None and f"{path.strip('/')}/index.html" in tree.manifest.files:
            query = scope.get("query_string", b"").decode("latin-1")
            await _redirect(send, f"{path}/" + (f"?{query}" if query else ""))
            return
        status = 200
        if found is None:
            found, status = tree.file("404.html"), 404
            if found is None:
                await _plain(send, 404, "Not Found", head)
                return
        if b"cookie" in headers and status == 200 and await self._members(
                send, headers, tenant.name, host, tree, found.rel, head):
            return
        if self.sites.on_demand and not head and not os.path.exists(found.path):
            try:
                await anyio.to_thread.run_sync(self._fill, tree, found)
            except DatabaseError:
                retry = [(b"retry-after", b"10")]
                await _plain(send, 503, "This site is unavailable for a moment.", head, retry)
                return
        await self._answer(scope, receive, send, headers, host, found, status, head, extra)

    def _fill(self, tree: Tree, found: SiteFile) -> None:
        """Bring a file to this node's disk when the store fetches on demand (blocking)."""
        if self.sites.on_demand:
            self.sites.fill(tree.tenant, tree.manifest, found.rel)

    async def _answer(self, scope: Scope, receive: Receive, send: Send,
                      headers: dict[bytes, bytes], host: str, found: SiteFile, status: int,
                      head: bool, extra: Headers) -> None:
        link = self.announcements.header(scope, headers, host, found) if found.role else None
        if b"range" in headers and status == 200:
            await self._range(scope, receive, send, found)
            return
        await self._file(send, headers, found, status, head, link, extra)

    async def _no_site(self, scope: Scope, send: Send, headers: dict[bytes, bytes], host: str,
                       head: bool) -> None:
        """A host with no site: the provider's own name answers NodeInfo for the provider
        (how many sites it serves, whether anyone may sign up), anything else 404."""
        own = host == self.base_domain.lower().strip(".")
        if not own or scope["path"] not in (ap.NODEINFO_INDEX, ap.NODEINFO):
            await _plain(send, 404, "No site is served at this address.", head)
            return
        users = await anyio.to_thread.run_sync(fediverse.site_count, self.db)
        origin = self.announcements.origin(scope, headers, host)
        answer = fediverse.provider_nodeinfo(scope["path"], origin, users, self.open_signup)
        await _answer(send, answer, head)

    async def _not_a_file(self, scope: Scope, send: Send, headers: dict[bytes, bytes],
                          host: str, tree: Tree, head: bool) -> bool:
        """Answered before the tree's files: WebFinger and NodeInfo, and readers' redirect
        once the site moved away from this address."""
        if scope["path"] in fediverse.PATHS:
            await self._fediverse(scope, send, headers, host, tree, head)
            return True
        if self.sites.on_demand:  # the actor file may have to be fetched: off the loop
            await anyio.to_thread.run_sync(tree.moved_to)
        return await _moved(scope, headers, tree, send)

    async def _fediverse(self, scope: Scope, send: Send, headers: dict[bytes, bytes],
                         host: str, tree: Tree, head: bool) -> None:
        """WebFinger and NodeInfo, from the files of the live tree (small: read on the loop)."""
        def read(rel: str) -> bytes | None:
            found = tree.file(rel)
            if found is None or found.size > SMALL_MAX:
                return None
            body = self.bodies.find((found.file_id, ""))
            if body is None:
                self._fill(tree, found)
                body = self.bodies.read(found.file_id, found.path, found.size)
            return body

        origin = self.announcements.origin(scope, headers, host)
        query = scope.get("query_string", b"")
        if self.sites.on_demand:  # its files may have to be fetched first
            answer = await anyio.to_thread.run_sync(
                fediverse.answer, scope["path"], query, host, origin, read)
        else:
            answer = fediverse.answer(scope["path"], query, host, origin, read)
        await _answer(send, answer, head)

    async def _members(self, send: Send, headers: dict[bytes, bytes], tenant: str, host: str,
                       tree: Tree, rel: str, head: bool) -> bool:
        """A members-only page's whole version for a signed-in member (never cached by
        anyone but the member's browser); False to answer the public teaser."""
        if self.gate is None or b"cookie" not in headers or PAGES + rel not in tree.manifest.files:
            return False
        session = _cookie(headers[b"cookie"], MEMBER_COOKIE)
        if not session:
            return False
        page = await anyio.to_thread.run_sync(self.gate, tenant, host, rel, session)
        if page is None:
            return False
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(page)).encode()),
            (b"cache-control", b"private, no-store"), (b"vary", b"Cookie"), NOSNIFF]})
        await send({"type": "http.response.body", "body": b"" if head else page})
        return True

    def _tree(self, name: str) -> Tree | None:
        """The tree that is live now: asked on every request, so a publish by any process (or
        any node, with shared sites) is seen by the next request."""
        live = self.sites.live(name)
        if live is None:
            return None
        key = (name, live)
        tree = self._trees.get(key)
        if tree is None:
            manifest = self.sites.manifest(name, live)
            if manifest is None:
                return None
            tree = self._trees[key] = Tree(self.sites, name, manifest)
            if len(self._trees) > 256:
                self._trees.popitem(last=False)
        return tree

    async def _file(
        self,
        send: Send,
        headers: dict[bytes, bytes],
        found: SiteFile,
        status: int,
        head: bool,
        link: tuple[bytes, bytes] | None = None,
        extra: Headers | None = None,
    ) -> None:
        coding = ""
        accept = headers.get(b"accept-encoding")
        if found.compressible and accept:
            coding = negotiate(accept)
        etag = found.etag(coding)
        out = [*found.headers, (b"etag", etag), *(extra or ())]
        if link is not None:
            out.append(link)
        if status == 200 and _not_modified(headers, found, etag):
            await send({"type": "http.response.start", "status": 304, "headers": out})
            await send({"type": "http.response.body", "body": b""})
            return
        if coding:
            out.append((b"content-encoding", coding.encode()))
            body = self.bodies.find((found.file_id, coding))
            if body is None:
                body = await anyio.to_thread.run_sync(
                    self.bodies.compressed, found.file_id, found.path, found.size, coding
                )
        elif found.size <= MEMORY_MAX:
            body = self.bodies.find((found.file_id, ""))
            if body is None:
                if found.size <= SMALL_MAX:
                    body = self.bodies.read(found.file_id, found.path, found.size)
                else:
                    body = await anyio.to_thread.run_sync(
                        self.bodies.read, found.file_id, found.path, found.size
                    )
        else:
            out.append((b"content-length", str(found.size).encode()))
            await send({"type": "http.response.start", "status": status, "headers": out})
            if head:
                await send({"type": "http.response.body", "body": b""})
            else:
                await _stream(send, found.path, found.size)
            return
        out.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": b"" if head else body})

    async def _range(self, scope: Scope, receive: Receive, send: Send, found: SiteFile) -> None:
        """Never compressed; Starlette parses the ranges (and If-Range)."""
        headers = {k.decode(): v.decode("latin-1") for k, v in found.headers if k != b"vary"}
        headers["etag"] = found.etag("").decode()
        headers.pop("content-type")
        response = FileResponse(found.path, 200, headers, media_type=found.kind)
        response.chunk_size = FILE_CHUNK
        await response(scope, receive, send)


def _cookie(header: bytes, name: bytes) -> str:
    """One cookie's value from a ``Cookie`` header, or ``""``."""
    for part in header.split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key == name:
            return value.decode("latin-1")
    return ""


async def _answer(send: Send, answer: fediverse.Answer, head: bool) -> None:
    out = [(b"content-type", answer.content_type.encode()),
           (b"content-length", str(len(answer.body)).encode()), NOSNIFF, ANYONE,
           (b"cache-control", REVALIDATE)]
    await send({"type": "http.response.start", "status": answer.status, "headers": out})
    await send({"type": "http.response.body", "body": b"" if head else answer.body})


async def _stream(send: Send, path: str, size: int) -> None:
    """A large file in FILE_CHUNK pieces, each read in a worker thread."""
    fd = os.open(path, os.O_RDONLY)
    try:
        offset = 0
        while offset < size:
            chunk = await anyio.to_thread.run_sync(os.pread, fd, FILE_CHUNK, offset)
            if not chunk:
                break  # the file shrank: not ours to explain, end the body
            offset += len(chunk)
            more = offset < size
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
        if offset < size:
            await send({"type": "http.response.body", "body": b""})
    finally:
        os.close(fd)


async def _plain(
    send: Send, status: int, text: str, head: bool, extra: Headers | None = None
) -> None:
    body = text.encode()
    headers = [TEXT_PLAIN, (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _redirect(send: Send, location: str) -> None:
    where = quote(location, safe=":/%#?=@[]!$&'()*+,;").encode("latin-1")
    headers = [(b"location", where), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 301, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _moved(scope: Scope, headers: dict[bytes, bytes], tree: Tree, send: Send) -> bool:
    """The site moved away from this address (its actor's ``movedTo``): readers go to the
    same path at the new address (301); ActivityPub clients still get the old documents,
    where followers' servers check the Move's signature and the old actor's ``movedTo``."""
    moved = tree.moved_to()
    if moved is None or ap.wants_activity(headers.get(b"accept", b"").decode("latin-1")):
        return False
    query = scope.get("query_string", b"").decode("latin-1")
    location = moves.moved_location(moved, scope["path"], query)
    if location is None:
        return False
    await _redirect(send, location)
    return True


async def _canonical(scope: Scope, headers: dict[bytes, bytes], host: str, send: Send) -> None:
    """``www.<domain>`` → ``<domain>``, same path, same scheme as the front proxy saw."""
    scheme = headers.get(b"x-forwarded-proto", b"").decode("latin-1") or scope["scheme"]
    query = scope.get("query_string", b"").decode("latin-1")
    target = f"{scheme}://{host}{scope['path']}" + (f"?{query}" if query else "")
    await _redirect(send, target)


def _not_modified(headers: dict[bytes, bytes], found: SiteFile, etag: bytes) -> bool:
    match = headers.get(b"if-none-match")
    if match is not None:
        tags = {t.strip().removeprefix(b"W/") for t in match.split(b",")}
        return b"*" in tags or etag in tags
    since = headers.get(b"if-modified-since")
    if since:
        try:
            return parsedate_to_datetime(since.decode("latin-1")).timestamp() >= found.modified
        except (TypeError, ValueError):
            return False
    return False
