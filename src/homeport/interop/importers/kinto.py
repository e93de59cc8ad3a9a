"""A Kinto server, read over its HTTP API → the same buckets, groups, collections and records
in this home's store, with their permissions.

SOURCE is the server's ``/v1`` address (``https://kinto.example/v1``), or one bucket's
(``…/v1/buckets/NAME``) to take only that one. ``--option auth=USER:PASSWORD`` signs in with
Basic auth (Kinto's accounts, or any ``basicauth`` user), ``--option token=TOKEN`` sends a bearer
token; without either the server is read anonymously. What the credentials may read is what
comes: each object with its data and its own permissions (principals are kept as they are
written there: ``account:alice``, ``system.Authenticated``, a group's URI…). Records are fetched
through ``/batch``, 25 a request, as the server lists them (paginated by ``Next-Page``).

The owner names the server, so it may be on their own network: the addresses are not limited
to the public internet, but every request goes through ``web/outbound.py`` (address pinned,
redirects checked, size and time bounded). A record's ``attachment`` (kinto-attachment) is
not copied: the record comes without it and the report says so. A bucket that is one of this
home's sites, or its system bucket, is not written to.

An object that is already here with the same data and permissions is ``unchanged``; one that
differs is replaced (``updated``), so a re-run writes nothing and a later run brings changes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from homeport import jsonio
from homeport.core.errors import HomeportError, ObjectNotFound
from homeport.interop.importers.report import (
    ImportFailed,
    ImportItem,
    ImportRequest,
    ItemAction,
)
from homeport.services import writes
from homeport.services.context import OWNER
from homeport.services.grants import SYSTEM_BUCKET
from homeport.services.resources import BUCKET, COLLECTION, GROUP, RECORD, Resource, unit_of_work
from homeport.web.outbound import FetchRefused, anywhere, exchange

BATCH = 25
"""Kinto's default ``batch_max_requests``."""
LIMIT = 64 * 1024 * 1024
"""The most one answer may hold."""
PAGES = 100_000
"""Bound on the pages of one listing."""
_SOURCE = re.compile(r"^(?P<root>https?://[^?#]+?/v1)(?:/buckets/(?P<bucket>[A-Za-z0-9_-]+))?/?$")
META = ("id", "last_modified")


@dataclass
class Client:
    """The server's ``/v1`` and how to sign in to it."""

    root: str
    headers: dict[str, str] = field(default_factory=dict)

    async def call(self, method: str, url: str, body: Any = None) -> tuple[Any, str]:
        """The answer's JSON and its ``Next-Page``; ImportFailed when the server refuses."""
        if not url.startswith(("http://", "https://")):
            url = self.root + url
        content = jsonio.dumps(body) if body is not None else None
        headers = {**self.headers, "Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            answer = await exchange(method, url, permitted=anywhere, limit=LIMIT, timeout=30.0,
                                    headers=headers, content=content)
        except (FetchRefused, OSError, TimeoutError) as exc:
            raise ImportFailed(f"{url} cannot be read: {exc or type(exc).__name__}") from None
        except Exception as exc:  # httpx's transport errors
            if type(exc).__module__.startswith(("httpx", "httpcore")):
                raise ImportFailed(f"{url} cannot be read: {exc or type(exc).__name__}"
                                   ) from None
            raise
        if answer.status in (401, 403):
            raise ImportFailed(f"{url} answered {answer.status}: the credentials given "
                               "(--option auth=USER:PASSWORD) may not read it")
        if answer.status != 200:
            raise ImportFailed(f"{url} answered {answer.status}: not a Kinto server's answer")
        try:
            return jsonio.loads_untrusted(answer.body), answer.headers.get("Next-Page", "")
        except ValueError:
            raise ImportFailed(f"{url} answered something that is not JSON") from None

    async def listing(self, path: str) -> AsyncIterator[dict[str, Any]]:
        url = path
        for _ in range(PAGES):
            page, url = await self.call("GET", url)
            for obj in page.get("data") or [] if isinstance(page, dict) else []:
                if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                    yield obj
            if not url:
                return
        raise ImportFailed(f"{path} has more than {PAGES} pages")

    async def objects(self, paths: list[str]) -> list[tuple[str, dict[str, Any] | None]]:
        """Each object's ``{data, permissions}``, fetched through ``/batch``."""
        found: list[tuple[str, dict[str, Any] | None]] = []
        for start in range(0, len(paths), BATCH):
            chunk = paths[start:start + BATCH]
            answer, _ = await self.call("POST", "/batch", {
                "requests": [{"method": "GET", "path": p} for p in chunk]})
            responses = answer.get("responses") if isinstance(answer, dict) else None
            if not isinstance(responses, list) or len(responses) != len(chunk):
                raise ImportFailed(f"{self.root}/batch gave no answer for each request")
            for path, response in zip(chunk, responses, strict=True):
                ok = isinstance(response, dict) and response.get("status") == 200
                body = response.get("body") if ok else None
                found.append((path, body if isinstance(body, dict) else None))
        return found


def _client(request: ImportRequest) -> tuple[Client, str | None]:
    found = _SOURCE.match(request.source.strip())
    if found is None:
        raise ImportFailed(f"{request.source!r} is not a Kinto server's address "
                           "(http(s)://HOST/v1, or …/v1/buckets/NAME)")
    root, bucket = found.group("root"), found.group("bucket")
    parts = urlsplit(root)
    headers: dict[str, str] = {}
    auth = request.options.get("auth") or (
        f"{parts.username}:{parts.password or ''}" if parts.username else "")
    if parts.username:
        root = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    if auth:
        if ":" not in auth:
            raise ImportFailed("--option auth must be USER:PASSWORD")
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    elif request.options.get("token"):
        headers["Authorization"] = "Bearer " + request.options["token"]
    return Client(root, headers), bucket


class KintoImporter:
    name = "kinto"
    title = "Kinto server"
    accepts = "a Kinto server's address (https://HOST/v1, or …/v1/buckets/NAME for one bucket)"
    whole_home = True
    """Writes buckets of its own, into no site: ``--site`` is not asked for."""

    async def run(self, request: ImportRequest) -> AsyncIterator[ImportItem]:
        from homeport.content import sites

        client, only = _client(request)
        hello, _ = await client.call("GET", "/")
        if not isinstance(hello, dict) or "capabilities" not in hello or "url" not in hello:
            raise ImportFailed(f"{client.root} is not a Kinto server (its root has no "
                               "capabilities)")
        names = [only] if only else [b["id"] async for b in client.listing("/buckets")]
        ours = {SYSTEM_BUCKET, *await sites.list_sites(request.ctx)}
        for name in names:
            uri = f"/buckets/{name}"
            if name in ours:
                yield ImportItem(uri, "skipped", "bucket", uri,
                                 "this home has a site or system bucket of that name")
                continue
            [(_, bucket)] = await client.objects([uri])
            if bucket is None:
                yield ImportItem(uri, "failed", "bucket", uri, "the server would not give it")
                continue
            yield await _write(request, BUCKET, "", name, bucket)
            for resource, plural in ((GROUP, "groups"), (COLLECTION, "collections")):
                ids = [o["id"] async for o in client.listing(f"{uri}/{plural}")]
                for path, found in await client.objects([f"{uri}/{plural}/{i}" for i in ids]):
                    yield await _one(request, resource, uri, path, found)
                if resource is GROUP:
                    continue
                for cid in ids:
                    async for item in _records(request, client, f"{uri}/collections/{cid}"):
                        yield item


async def _records(request: ImportRequest, client: Client,
                   collection: str) -> AsyncIterator[ImportItem]:
    ids: list[str] = []
    async for record in client.listing(f"{collection}/records"):
        ids.append(record["id"])
        if len(ids) == BATCH * 8:
            for path, found in await client.objects([f"{collection}/records/{i}" for i in ids]):
                yield await _one(request, RECORD, collection, path, found)
            ids = []
    for path, found in await client.objects([f"{collection}/records/{i}" for i in ids]):
        yield await _one(request, RECORD, collection, path, found)


async def _one(request: ImportRequest, resource: Resource, parent: str, path: str,
               found: dict[str, Any] | None) -> ImportItem:
    if found is None:
        return ImportItem(path, "failed", resource.name, path, "the server would not give it")
    return await _write(request, resource, parent, path.rsplit("/", 1)[1], found)


async def _write(request: ImportRequest, resource: Resource, parent: str, object_id: str,
                 found: dict[str, Any]) -> ImportItem:
    """Create or replace one object with its permissions (the owner keeps ``write``, as the
    author of every write here does); ``unchanged`` when it is already as the server has it."""
    ctx = request.ctx
    uri = resource.uri(parent, object_id)
    data = found.get("data")
    given = found.get("permissions")
    if not isinstance(data, dict) or not isinstance(given, dict):
        return ImportItem(uri, "failed", resource.name, uri, "not an object with its data")
    meta = (*META, "schema") if resource is RECORD else META  # the collection's stamp
    body = {k: v for k, v in data.items() if k not in meta}
    note = ""
    if resource is RECORD and "attachment" in body:
        del body["attachment"]
        note = "its attachment was not copied"
    permissions = {str(p): {str(x) for x in s} for p, s in given.items()
                   if isinstance(s, list) and s}
    wanted = {**permissions, "write": {*permissions.get("write", ()), str(OWNER.user_id)}}
    try:
        existing: dict[str, Any] | None = await ctx.store.get(resource.name, parent, object_id)
    except ObjectNotFound:
        existing = None
    if existing is not None:
        same = {k: v for k, v in existing.items() if k not in meta} == body
        if same and await ctx.store.get_permissions(uri) == wanted:
            return ImportItem(uri, "unchanged", resource.name, uri, note)
    action: ItemAction = "created" if existing is None else "updated"
    if request.dry_run:
        return ImportItem(uri, action, resource.name, uri, note)
    try:
        async with unit_of_work(ctx):
            await writes.save(ctx, OWNER, resource, parent, object_id, body, permissions,
                              existing=existing, replace_permissions=True)
    except HomeportError as exc:
        return ImportItem(uri, "failed", resource.name, uri, str(exc.message or exc))
    return ImportItem(uri, action, resource.name, uri, note)
