"""The provider's side of Micropub: ``/_homeport/micropub`` and ``/_homeport/media``.

The provider cannot change the site: it checks the token and the request, decides the URL the
post will have (``mf2.slug_for``), queues the request in the tenant's inbox and waits a little
for the home, when the home is connected (``Inbox.connected``). If the home applies it and the
site serves the new page within ``wait`` seconds the client gets 201 with the page's URL;
otherwise (at once when the home is not connected) 202 with the URL it will have once the home
has taken it. Errors are Micropub's (``{"error", "error_description"}``), never Kinto's.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from homeport import jsonio
from homeport.content.errors import MediaError
from homeport.content.types import ENTRY_TYPES
from homeport.interop import ports
from homeport.interop.micropub import mf2
from homeport.web.bodies import BodyTooLarge, read_limited

POST_KIND = "micropub.post"
"""Create, update, delete, undelete: applied at the home in order."""
MEDIA_KIND = "micropub.media"
QUERY_KIND = "micropub.query"
MAX_BODY = 1024 * 1024
"""A form or JSON request (no files): far more than any post needs."""
MAX_UPLOAD = 20 * 1024 * 1024
"""A multipart request or a media upload: the provider keeps it in the inbox until the home
takes it, so it is bounded well below the home's own attachment limit."""
WAIT = 9.0
"""How long a request waits for a connected home (and the live site) before answering 202."""
POLL = 0.1
CATEGORY_TTL = 60.0
POST_TYPES = [
    {"type": "note", "name": "Note"},
    {"type": "article", "name": "Article"},
    {"type": "photo", "name": "Photo"},
    {"type": "bookmark", "name": "Bookmark"},
    {"type": "reply", "name": "Reply"},
    {"type": "like", "name": "Like"},
    {"type": "repost", "name": "Repost"},
]
SCOPES = {"create": ("create", "post", "draft"), "update": ("update",),
          "delete": ("delete",), "undelete": ("undelete", "delete"),
          "media": ("media", "create")}


class Refused(Exception):
    """An error response in Micropub's shape."""

    def __init__(self, status: int, error: str, description: str,
                 scope: str | None = None) -> None:
        super().__init__(description)
        self.status, self.error, self.description, self.scope = status, error, description, scope

    def response(self) -> Response:
        body: dict[str, Any] = {"error": self.error, "error_description": self.description}
        headers = {}
        if self.scope:
            body["scope"] = self.scope
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Bearer error="unauthorized"'
        elif self.error == "insufficient_scope":
            headers["WWW-Authenticate"] = (f'Bearer error="insufficient_scope", '
                                           f'scope="{self.scope}"')
        return _json(body, self.status, headers)


def _json(doc: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(jsonio.dumps(doc), status, headers=dict(headers or {}),
                    media_type="application/json")


def invalid(description: str) -> Refused:
    return Refused(400, "invalid_request", description)


class Micropub:
    """The two endpoints over the provider's ports (``request.app.state.ports``)."""

    def __init__(self, wait: float = WAIT) -> None:
        self.wait = wait
        self._categories: dict[str, tuple[float, Any]] = {}

    # --- plumbing ------------------------------------------------------------------------
    @staticmethod
    def _ports(request: Request) -> ports.ProviderPorts:
        found: ports.ProviderPorts = request.app.state.ports
        return found

    async def _tenant(self, request: Request) -> ports.TenantRef:
        host = request.headers.get("host", "")
        tenant = await anyio.to_thread.run_sync(self._ports(request).sites.tenant_for_host, host)
        if tenant is None:
            raise Refused(404, "not_found", f"no site is served at {host!r} here")
        return tenant

    async def _body(self, request: Request, limit: int) -> bytes:
        try:
            return await read_limited(request, limit)
        except BodyTooLarge:
            raise Refused(
                413, "invalid_request", f"the request is larger than {limit} bytes"
            ) from None

    async def _grant(self, request: Request, tenant: ports.TenantRef,
                     in_body: str | None) -> ports.TokenGrant | None:
        """The token's grant, None when no token was sent; 401 for one that is not valid."""
        header = request.headers.get("authorization")
        token = None
        if header is not None:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise Refused(401, "unauthorized", "the Authorization header must be "
                              "'Bearer <token>'")
            token = value.strip()
        if in_body is not None:
            if token is not None:
                raise invalid("the token was sent both in the Authorization header and in "
                              "the body: send it once")
            token = in_body
        if token is None:
            return None
        grant = await anyio.to_thread.run_sync(
            self._ports(request).grants.token, tenant.name, token)
        now = self._ports(request).clock()
        if grant is None or (grant.expires is not None and grant.expires <= now):
            raise Refused(401, "unauthorized", "the access token is not valid (unknown, "
                          "expired or revoked)")
        if grant.tenant != tenant.name:
            raise Refused(403, "forbidden", "this token is for another site")
        return grant

    @staticmethod
    def _known(grant: ports.TokenGrant | None) -> ports.TokenGrant:
        if grant is None:
            raise Refused(401, "unauthorized", "no access token: send 'Authorization: Bearer "
                          "<token>' or an access_token field")
        return grant

    def _require(self, grant: ports.TokenGrant | None, action: str) -> ports.TokenGrant:
        grant = self._known(grant)
        if not grant.scope & set(SCOPES[action]):
            raise Refused(403, "insufficient_scope",
                          f"this token's scope does not allow {action}", SCOPES[action][0])
        return grant

    def _target(self, tenant: ports.TenantRef, url: str) -> str:
        """The path of a post of this site named by ``url``."""
        parts = urlsplit(url)
        own = urlsplit(tenant.origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise invalid(f"url {url!r} is not an absolute http(s) URL")
        if parts.netloc.lower() != own.netloc.lower():
            raise Refused(403, "forbidden", f"{url} is not a post of this site ({tenant.origin})")
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        segments = [s for s in path.split("/") if s]
        prefixes = {t.prefix for t in ENTRY_TYPES.values() if t.prefix}
        if not (len(segments) == 1 or (len(segments) == 2 and segments[0] in prefixes)):
            raise invalid(f"{url} is not the URL of a post")
        return path

    async def _put(self, request: Request, tenant: ports.TenantRef, kind: str,
                   meta: Mapping[str, Any], body: bytes, item_id: str) -> None:
        inbox = self._ports(request).inbox
        try:
            await anyio.to_thread.run_sync(
                lambda: inbox.put(tenant.name, kind, meta, body, item_id=item_id))
        except ports.InboxFull:
            raise Refused(507, "insufficient_storage", "this site's inbox is full until its "
                          "home comes online and takes what waits") from None

    async def _until(self, probe: Callable[[], Any], deadline: float) -> Any:
        """Poll ``probe`` (in a thread: ports may touch a database) until truthy or past
        ``deadline`` (monotonic); its last value."""
        while True:
            found = await anyio.to_thread.run_sync(probe)
            if found or time.monotonic() >= deadline:
                return found
            await anyio.sleep(POLL)

    async def _result(self, request: Request, tenant: ports.TenantRef, item_id: str,
                      deadline: float) -> Mapping[str, Any] | None:
        inbox = self._ports(request).inbox
        if not await anyio.to_thread.run_sync(inbox.connected, tenant.name):
            deadline = time.monotonic()  # one look (a retried item may have its result)
        found: Mapping[str, Any] | None = await self._until(
            lambda: inbox.result(tenant.name, item_id), deadline)
        if found is not None and found.get("error"):
            raise _refusal(found)
        return found

    # --- /_homeport/micropub -------------------------------------------------------------
    async def micropub(self, request: Request) -> Response:
        try:
            tenant = await self._tenant(request)
            if request.method in ("GET", "HEAD"):
                return await self._query(request, tenant)
            return await self._post(request, tenant)
        except mf2.Invalid as exc:
            return invalid(str(exc)).response()
        except Refused as refused:
            return refused.response()

    async def _post(self, request: Request, tenant: ports.TenantRef) -> Response:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        files: dict[str, list[UploadFile]] = {}
        if kind == "application/json":
            raw = await self._body(request, MAX_BODY)
            grant = self._known(await self._grant(request, tenant, None))
            try:
                action = mf2.from_json(jsonio.loads_untrusted(raw))
            except jsonio.JSONRejected as exc:
                raise invalid(f"the body is not JSON Homeport accepts: {exc}") from None
        elif kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
            raw = await self._body(request, MAX_UPLOAD if kind.startswith("multi") else MAX_BODY)
            pairs = (await self._multipart(request, raw, files) if kind.startswith("multi")
                     else _form_pairs(raw))
            tokens = [v for k, v in pairs if k == "access_token"]
            if len(tokens) > 1:
                raise invalid("access_token is given more than once")
            grant = self._known(
                await self._grant(request, tenant, tokens[0] if tokens else None))
            action = mf2.from_form(pairs)
        else:
            raise invalid("send application/x-www-form-urlencoded, multipart/form-data or "
                          "application/json")
        grant = self._require(grant, action.action)
        if action.action == "create":
            return await self._create(request, tenant, grant, action, files)
        if files:
            raise invalid("files are only accepted with a new post")
        return await self._change(request, tenant, grant, action)

    async def _multipart(self, request: Request, raw: bytes,
                         files: dict[str, list[UploadFile]]) -> list[tuple[str, str]]:
        async def replay() -> Any:
            yield raw

        try:
            form = await MultiPartParser(request.headers, replay(), max_files=8,
                                         max_fields=1000, max_part_size=MAX_BODY).parse()
        except MultiPartException as exc:
            raise invalid(f"the multipart body is not valid: {exc.message}") from None
        pairs = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                name = key[:-2] if key.endswith("[]") else key
                if name != "photo":
                    raise invalid(f"file field {key!r}: only photo uploads are accepted")
                files.setdefault(name, []).append(value)
            else:
                pairs.append((key, value))
        return pairs

    async def _create(self, request: Request, tenant: ports.TenantRef,
                      grant: ports.TokenGrant, action: mf2.Action,
                      files: dict[str, list[UploadFile]]) -> Response:
        item_id = uuid.uuid4().hex
        uploads = []
        for upload in files.get("photo", []):
            data = await upload.read()
            await upload.close()
            uploads.append(self._image(tenant, data, upload.filename or "photo"))
        props = dict(action.properties)
        if uploads:
            props["photo"] = [*props.get("photo", []), *(url for url, _, _ in uploads)]
        if "draft" in grant.scope and not grant.scope & {"create", "post"}:
            props["post-status"] = ["draft"]  # a draft-only token makes drafts
        action = mf2.Action("create", properties=props, commands=action.commands)
        try:
            kind, _ = mf2.check(action)
        except mf2.Invalid as exc:
            raise invalid(str(exc)) from None
        slug, chosen = mf2.slug_for(props, action.commands, item_id[:6])
        sites = self._ports(request).sites
        if chosen and await anyio.to_thread.run_sync(
                sites.live_path, tenant.name, mf2.entry_path(kind, slug)):
            slug = mf2.fallback_slug(slug, item_id[:6])
        path = mf2.entry_path(kind, slug)
        url = tenant.origin + path
        deadline = time.monotonic() + self.wait
        for media_url, digest, data in uploads:
            await self._put(request, tenant, MEDIA_KIND, {"action": "media", "url": media_url,
                                              "token": grant.id}, data, f"media-{digest[:40]}")
        doc = {**action.to_json(), "entry_type": kind, "slug": slug, "short_id": item_id[:6]}
        await self._put(request, tenant, POST_KIND,
                        {"action": "create", "url": url, "token": grant.id},
                        jsonio.dumps(doc), item_id)
        result = await self._result(request, tenant, item_id, deadline)
        if result is None:
            return Response(status_code=202, headers={"Location": url})
        url = tenant.origin + str(result.get("path", path))
        if result.get("public"):
            live = await self._until(
                lambda: sites.live_path(tenant.name, str(result.get("path", path))), deadline)
            if not live:
                return Response(status_code=202, headers={"Location": url})
        return Response(status_code=201, headers={"Location": url})

    def _image(self, tenant: ports.TenantRef, data: bytes,
               filename: str) -> tuple[str, str, bytes]:
        """An uploaded image checked here (so a bad file is refused now, not at the home):
        its final URL, content hash and bytes."""
        from homeport.content import media

        if not data:
            raise invalid(f"{filename} is empty")
        try:
            width, _, _ = media.check_image(data, filename)
        except MediaError as exc:
            raise invalid(str(exc.message)) from None
        digest = hashlib.sha256(data).hexdigest()
        return mf2.media_url(tenant.origin, digest, width), digest, data

    async def _change(self, request: Request, tenant: ports.TenantRef,
                      grant: ports.TokenGrant, action: mf2.Action) -> Response:
        assert action.url is not None
        path = self._target(tenant, action.url)
        item_id = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait
        doc = {**action.to_json(), "path": path}
        await self._put(request, tenant, POST_KIND, {"action": action.action, "url": action.url,
                                          "token": grant.id}, jsonio.dumps(doc), item_id)
        result = await self._result(request, tenant, item_id, deadline)
        if result is None:
            return Response(status_code=202)
        return Response(status_code=204)

    # --- queries -------------------------------------------------------------------------
    async def _query(self, request: Request, tenant: ports.TenantRef) -> Response:
        params = request.query_params
        grant = await self._grant(request, tenant, params.get("access_token"))
        q = params.get("q")
        if q == "source":
            return await self._source(request, tenant, grant, params.get("url"),
                                      [*params.getlist("properties[]"),
                                       *params.getlist("properties")])
        grant = self._known(grant)
        media = f"{tenant.origin}{ports.TENANT_PREFIX}/media"
        if q == "config":
            return _json({"media-endpoint": media, "syndicate-to": [], "post-types": POST_TYPES,
                          "q": ["config", "source", "syndicate-to", "category"]})
        if q == "syndicate-to":
            return _json({"syndicate-to": []})
        if q == "category":
            return await self._category(request, tenant, grant, params.get("filter"))
        if q is None:
            raise invalid("a GET needs q (config, source, syndicate-to, category)")
        raise invalid(f"unknown query q={q} (config, source, syndicate-to, category)")

    async def _source(self, request: Request, tenant: ports.TenantRef,
                      grant: ports.TokenGrant | None, url: str | None,
                      wanted: list[str]) -> Response:
        """A post's properties, asked of the home. With a token: any post, every property.
        Without: only a post the live site shows, without its private properties (status,
        visibility), and at most one query per post and minute reaches the inbox."""
        if not url:
            raise invalid("q=source needs the url of a post")
        path = self._target(tenant, url)
        doc: dict[str, Any] = {"action": "source", "url": url, "path": path,
                               "properties": wanted}
        if grant is not None:
            return await self._relayed(request, tenant, grant.id, doc, uuid.uuid4().hex)
        sites = self._ports(request).sites
        if not await anyio.to_thread.run_sync(sites.live_path, tenant.name, path):
            raise Refused(401, "unauthorized", "no access token: without one, only posts the "
                          "site shows can be read")
        doc["public_only"] = True
        minute = self._ports(request).clock() // 60_000
        digest = hashlib.sha256(f"{path}\0{sorted(wanted)}".encode()).hexdigest()[:24]
        return await self._relayed(request, tenant, None, doc, f"source-{digest}-{minute}")

    async def _relayed(self, request: Request, tenant: ports.TenantRef, grant_id: str | None,
                       doc: dict[str, Any], item_id: str) -> Response:
        meta = {"action": doc["action"], "url": doc.get("url"), "token": grant_id}
        await self._put(request, tenant, QUERY_KIND, meta, jsonio.dumps(doc), item_id)
        result = await self._result(request, tenant, item_id, time.monotonic() + self.wait)
        if result is None:
            raise Refused(503, "temporarily_unavailable", "the site's home is offline: its "
                          "data cannot be read now; try again later")
        return _json(result.get("answer", {}))

    async def _category(self, request: Request, tenant: ports.TenantRef,
                        grant: ports.TokenGrant, prefix: str | None) -> Response:
        """The site's tags, from the home (kept a minute per process; one query item per
        tenant per minute at most, so a client polling while the home sleeps queues little)."""
        cached = self._categories.get(tenant.name)
        now = time.monotonic()
        if cached is None or now - cached[0] > CATEGORY_TTL:
            minute = self._ports(request).clock() // 60_000
            item_id = f"category-{minute}"
            await self._put(request, tenant, QUERY_KIND, {"action": "category", "url": None,
                                              "token": grant.id},
                            jsonio.dumps({"action": "category"}), item_id)
            result = await self._result(request, tenant, item_id, now + min(self.wait, 3.0))
            tags = list((result or {}).get("answer", {}).get("categories", []))
            if result is not None:
                self._categories[tenant.name] = (now, tags)
        else:
            tags = cached[1]
        if prefix:
            tags = [t for t in tags if str(t).lower().startswith(prefix.lower())]
        return _json({"categories": tags})

    # --- /_homeport/media ----------------------------------------------------------------
    async def media(self, request: Request) -> Response:
        try:
            tenant = await self._tenant(request)
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "multipart/form-data":
                raise invalid("upload the file as multipart/form-data in a part named 'file'")
            raw = await self._body(request, MAX_UPLOAD)
            files: dict[str, list[UploadFile]] = {}
            pairs = await self._media_parts(request, raw, files)
            tokens = [v for k, v in pairs if k == "access_token"]
            grant = self._require(
                await self._grant(request, tenant, tokens[0] if tokens else None), "media")
            found = files.get("file", [])
            if len(found) != 1:
                raise invalid("send exactly one file, in a part named 'file'")
            data = await found[0].read()
            for upload in (f for parts in files.values() for f in parts):
                await upload.close()
            url, digest, data = self._image(tenant, data, found[0].filename or "file")
            await self._put(request, tenant, MEDIA_KIND, {"action": "media", "url": url,
                                              "token": grant.id}, data, f"media-{digest[:40]}")
            return Response(status_code=201, headers={"Location": url})
        except Refused as refused:
            return refused.response()

    async def _media_parts(self, request: Request, raw: bytes,
                           files: dict[str, list[UploadFile]]) -> list[tuple[str, str]]:
        async def replay() -> Any:
            yield raw

        try:
            form = await MultiPartParser(request.headers, replay(), max_files=2,
                                         max_fields=20, max_part_size=MAX_BODY).parse()
        except MultiPartException as exc:
            raise invalid(f"the multipart body is not valid: {exc.message}") from None
        pairs = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.setdefault(key, []).append(value)
            else:
                pairs.append((key, value))
        return pairs


def _refusal(result: Mapping[str, Any]) -> Refused:
    """The client's error for a result the home acknowledged with an error: its handler's
    ``{"error": "invalid_request", …}``, or the relay's ``{"error": {"status", "message"}}``
    for an item the home refused for good."""
    error = result["error"]
    if isinstance(error, Mapping):
        status = int(error.get("status") or 400)
        return Refused(status if 400 <= status < 500 else 400, "invalid_request",
                       str(error.get("message") or "the home refused the request"))
    return Refused(int(result.get("status") or 400), str(error),
                   str(result.get("error_description") or "the home refused the request"))


def _form_pairs(raw: bytes) -> list[tuple[str, str]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("the form is not UTF-8") from None
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False,
                         max_num_fields=4000)
    except ValueError as exc:
        raise invalid(f"the form is not valid: {exc}") from None


def provider_routes(*, wait: float = WAIT) -> list[BaseRoute]:
    """The Micropub and media endpoints, paths relative to ``ports.TENANT_PREFIX`` where
    ``provider/app.py`` mounts them on every tenant's host."""
    endpoint = Micropub(wait)
    return [
        Route("/micropub", endpoint.micropub, methods=["GET", "HEAD", "POST"]),
        Route("/media", endpoint.media, methods=["POST"]),
    ]
