"""Serving tenants' sites by Host header from their live trees.

A request resolves ``live`` once and then reads only that tree and its manifest, so it sees one
commit whatever publishes happen meanwhile. Files are found through the manifest, never by
walking the filesystem with the request's path, so no path can leave the tree. ETag is the file
object's id (a hash of its content), Last-Modified the commit's time.
"""

from __future__ import annotations

import functools
import gzip
import mimetypes
import os
import re
import threading
from collections import OrderedDict
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response

from homeport.provider import sites
from homeport.provider.db import DELETED, SUSPENDED, ProviderDB, Tenant
from homeport.provider.sites import Manifest, ManifestCache
from homeport.provider.tenants import TenantDir

HASHED = re.compile(r"[.-][0-9a-fA-F]{8,}\.[A-Za-z0-9]+$")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=60, must-revalidate"
GZIP_MAX = 8 * 1024 * 1024
FILE_CHUNK = 1024 * 1024
INLINE_MAX = 256 * 1024
"""Files up to this size are read in one go (a thread hop costs more than the read)."""
GZIP_CACHE_BYTES = 64 * 1024 * 1024
TEXTUAL = ("text/", "application/javascript", "application/json", "application/xml", "image/svg")
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
    ".webp": "image/webp",
}


@functools.lru_cache(maxsize=256)
def _type_of(suffix: str) -> str:
    found = EXTRA_TYPES.get(suffix) or mimetypes.guess_type("x" + suffix)[0]
    return found or "application/octet-stream"


def content_type(path: str) -> str:
    return _type_of(os.path.splitext(path)[1].lower())


def host_of(request: Request) -> str:
    host = (request.headers.get("host") or "").strip().lower().rstrip(".")
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


def tenant_for_host(db: ProviderDB, base_domain: str, host: str) -> Tenant | None:
    """The tenant a Host names: ``<name>.<base domain>`` or a verified custom domain."""
    base = base_domain.lower().strip(".")
    if base and host.endswith("." + base):
        name = host[: -len(base) - 1]
        if "." not in name:
            return db.tenant(name)
        return None
    domain = db.domain(host)
    if domain is None or not domain.verified:
        return None
    return db.tenant(domain.tenant)


class _GzipCache:
    """Compressed bodies by file id, bounded in bytes (file ids name immutable content)."""

    def __init__(self, limit: int = GZIP_CACHE_BYTES) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, key: str, path: str) -> bytes:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        with open(path, "rb") as f:
            body = gzip.compress(f.read(), compresslevel=6, mtime=0)
        with self._lock:
            if key not in self._items:
                self._items[key] = body
                self._size += len(body)
            while self._size > self._limit and self._items:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)
        return body


class SiteServer:
    def __init__(self, db: ProviderDB, data_dir: Path, base_domain: str) -> None:
        self.db = db
        self.data_dir = data_dir
        self.base_domain = base_domain
        self.manifests = ManifestCache()
        self.gzipped = _GzipCache()
        self._dirs: dict[str, TenantDir] = {}

    async def __call__(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return PlainTextResponse("Method Not Allowed", 405, {"Allow": "GET, HEAD"})
        host = host_of(request)
        tenant = tenant_for_host(self.db, self.base_domain, host)
        if tenant is None:
            if host.startswith("www.") and tenant_for_host(self.db, "", host[4:]) is not None:
                return _canonical(request, host[4:])
            return PlainTextResponse("No site is served at this address.", 404)
        if tenant.state == DELETED:
            return PlainTextResponse("This site has left this provider.", 410)
        if tenant.state == SUSPENDED:
            return PlainTextResponse("This site is suspended.", 503, {"Retry-After": "3600"})
        tdir = self._dirs.get(tenant.name)
        if tdir is None:
            tdir = self._dirs[tenant.name] = TenantDir.of(self.data_dir, tenant.name)
        live = sites.live_name(tdir)
        manifest = self.manifests.get(tdir, live) if live else None
        if manifest is None:
            return PlainTextResponse("Nothing is published here yet.", 404)
        return await self._respond(request, tdir, manifest)

    async def _respond(self, request: Request, tdir: TenantDir, manifest: Manifest) -> Response:
        path = request.url.path
        if "\0" in path or ".." in path.split("/"):
            return await self._not_found(request, tdir, manifest)
        rel = path.lstrip("/")
        wanted = rel + "index.html" if rel == "" or rel.endswith("/") else rel
        if wanted in manifest.files:
            return await self._file(request, tdir, manifest, wanted, 200)
        if f"{rel}/index.html" in manifest.files:
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(f"{path}/{query}", status_code=301)
        return await self._not_found(request, tdir, manifest)

    async def _not_found(self, request: Request, tdir: TenantDir, manifest: Manifest) -> Response:
        if "404.html" in manifest.files:
            return await self._file(request, tdir, manifest, "404.html", 404)
        return PlainTextResponse("Not Found", 404)

    async def _file(
        self, request: Request, tdir: TenantDir, manifest: Manifest, rel: str, status: int
    ) -> Response:
        file_id, size = manifest.files[rel]
        path = os.path.join(tdir.sites_str, manifest.name, rel)
        kind = content_type(rel)
        etag = f'"{file_id}"'
        headers = {
            "ETag": etag,
            "Last-Modified": formatdate(manifest.created / 1000, usegmt=True),
            "Cache-Control": IMMUTABLE if HASHED.search(rel) else REVALIDATE,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
        }
        if status == 200 and _not_modified(request, etag, manifest.created):
            return Response(status_code=304, headers=headers)
        textual = kind.startswith(TEXTUAL)
        accepts_gzip = "gzip" in request.headers.get("accept-encoding", "").lower()
        if textual and accepts_gzip and size <= GZIP_MAX and "range" not in request.headers:
            body = await anyio.to_thread.run_sync(self.gzipped.get, file_id, path)
            headers["Content-Encoding"] = "gzip"
            headers["ETag"] = f'"{file_id}-gz"'
            if request.method == "HEAD":
                headers["Content-Length"] = str(len(body))
                return Response(b"", status, headers, media_type=kind)
            return Response(body, status, headers, media_type=kind)
        if size <= INLINE_MAX and "range" not in request.headers:
            body = b""
            if request.method != "HEAD":
                with open(path, "rb") as f:
                    body = f.read()  # in the page cache: cheaper than a thread hop
            headers["Content-Length"] = str(size)
            return Response(body, status, headers, media_type=kind)
        headers["Content-Length"] = str(size)
        response = FileResponse(path, status, headers, media_type=kind)
        response.chunk_size = FILE_CHUNK
        return response


def _canonical(request: Request, host: str) -> Response:
    """``www.<domain>`` → ``<domain>``, same path, same scheme as the front proxy saw."""
    scheme = request.headers.get("x-forwarded-proto") or request.url.scheme
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"{scheme}://{host}{request.url.path}{query}", status_code=301)


def _not_modified(request: Request, etag: str, created_ms: int) -> bool:
    match = request.headers.get("if-none-match")
    if match is not None:
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        return "*" in tags or etag in tags or f'{etag[:-1]}-gz"' in tags
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return parsedate_to_datetime(since).timestamp() >= created_ms // 1000
        except (TypeError, ValueError):
            return False
    return False
