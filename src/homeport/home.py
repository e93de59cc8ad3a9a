"""The home server app: the Kinto-compatible API under /v1, attachments, change streams."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import re
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route as StarletteRoute

from homeport import jsonio
from homeport.api.batch import batch
from homeport.api.endpoints import error_response, json_response
from homeport.api.messages import ApiRequest, parse_query
from homeport.api.openapi import openapi_document
from homeport.api.routes import RAW_ROUTES, find_route, method_not_allowed, resolve
from homeport.core.errors import (
    Errno,
    HomeportError,
    MethodNotAllowed,
    MissingResource,
    RequestTooLarge,
)
from homeport.core.permissions import EVERYONE
from homeport.gui import autopublish, lan
from homeport.gui import plugins as gui_plugins
from homeport.gui import routes as gui_routes
from homeport.interop import relay
from homeport.publish.hooks import PUBLISH_HOOKS, register_publish_hooks
from homeport.services import accounts
from homeport.services.context import Context, User
from homeport.services.gc import collect_forever
from homeport.services.maintenance import compact_tombstones
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store
from homeport.web.auth import client_of, identify
from homeport.web.bodies import BodyTooLarge, read_limited
from homeport.web.hosts import origin_of
from homeport.web.middleware import AllowedHosts, KintoHeaders

log = logging.getLogger("homeport")

COMPACT_EVERY_SECONDS = 3600
NOT_FOUND = "The resource you are looking for could not be found."


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 past ``limit`` before it is all read."""
    try:
        return await read_limited(request, limit)
    except BodyTooLarge:
        raise RequestTooLarge(f"Request body is bigger than the limit of {limit} bytes") from None


# Health checks answer whoever asks, and must not need the store to say who that is: with the
# database down, identifying an anonymous caller (its group principals) failed before the
# heartbeat could report it.
HEALTH_PATHS = frozenset({"/__heartbeat__", "/__lbheartbeat__"})
NOBODY = User(None, frozenset({EVERYONE}))


async def api_request(request: Request, ctx: Context, path: str) -> ApiRequest:
    body = b""
    if request.method in ("POST", "PUT", "PATCH"):
        body = await read_body(request, ctx.settings.max_json_bytes)
    return ApiRequest(
        method=request.method,
        path=path,
        query=parse_query(request.scope["query_string"].decode("latin-1")),
        headers={
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.scope["headers"]
        },
        user=(
            NOBODY
            if path in HEALTH_PATHS
            else await identify(ctx, request.headers.get("authorization"), client_of(request))
        ),
        origin=origin_of(request),
        raw_body=body,
    )


async def api_dispatch(request: Request) -> Response:
    """Every /v1 resource endpoint: the same route table serves HTTP and batch."""
    ctx: Context = request.app.state.ctx
    path = "/" + request.path_params["path"]
    try:
        if path != "/" and path.endswith("/"):
            query = f"?{request.url.query}" if request.url.query else ""
            target = f"{origin_of(request)}/v1{path.rstrip('/')}{query}"
            return RedirectResponse(target, status_code=307)
        handler = resolve(request.method, path)
        req = await api_request(request, ctx, path)
        response = await handler(ctx, req)
    except Exception as exc:
        return error_response(exc)
    return json_response(response, head=request.method == "HEAD")


async def batch_endpoint(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    try:
        req = await api_request(request, ctx, "/batch")
        return json_response(await batch(ctx, req))
    except Exception as exc:
        return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error: HomeportError
    route = find_route(request.url.path[3:].rstrip("/") or "/")
    if exc.status_code == 405 and route is not None:
        error = method_not_allowed(route)
    elif exc.status_code == 405:
        error = MethodNotAllowed("Method not allowed on this endpoint.")
    elif exc.status_code == 404:
        error = MissingResource(NOT_FOUND)
    else:
        error = HomeportError(str(exc.detail), code=exc.status_code)
    return error_response(error)


async def anything(request: Request, exc: Exception) -> Response:
    return error_response(exc)


VERSION_PREFIX = re.compile(r"^v\d+(/|$)")


async def outside_v1(request: Request) -> Response:
    """Kinto's routing around the API: unprefixed paths redirect to /v1 (307)."""
    path = request.path_params["path"]
    query = f"?{request.url.query}" if request.url.query else ""
    origin = origin_of(request)
    if path in ("", "v1"):
        return RedirectResponse(f"{origin}/v1/{query}", status_code=307)
    if VERSION_PREFIX.match(path):
        return error_response(
            HomeportError(
                "The requested API version is not available on this server.",
                code=404,
                errno=Errno.VERSION_NOT_AVAILABLE,
            )
        )
    return RedirectResponse(f"{origin}/v1/{path}{query}", status_code=307)


ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
RAW_HANDLERS = {"batch": batch_endpoint}
"""The raw routes the app serves itself; the others (attachments, change streams) are mounted
by their built-in plugins (``plugins/builtin/``)."""


async def openapi_endpoint(request: Request) -> Response:
    cached = request.app.state.openapi
    if cached is None:
        cached = request.app.state.openapi = jsonio.dumps(openapi_document())
    return Response(cached, media_type="application/json")


async def compact_forever(ctx: Context) -> None:
    """Tombstone compaction at start-up and then hourly."""
    while True:
        try:
            purged = await compact_tombstones(ctx)
            if purged:
                log.info("compacted %d tombstones", purged)
        except HomeportError as exc:
            log.warning("tombstone compaction skipped: %s", exc.message)
        await asyncio.sleep(COMPACT_EVERY_SECONDS)


async def open_context(settings: Settings) -> Context:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_record_store(settings.record_store_url)
    await store.initialize()
    blobs = FsBlobStore(settings.blobs_dir)
    if swept := blobs.sweep_incoming():
        log.info("removed %d temporary blob files left by interrupted writes", swept)
    return Context(settings=settings, store=store, blobs=blobs)


async def send_webmentions(ctx: Context) -> None:
    """The webmention sender (``interop/sending.py``): after each publish, the links the public
    entries gained, changed or lost. Imported in a worker thread, as the renderer it reads
    with is heavy to import."""
    module = await asyncio.to_thread(importlib.import_module, "homeport.interop.sending")
    await module.run_sender(ctx)


async def auto_publish(ctx: Context) -> None:
    """Run the auto-publisher (``publish/auto.py``); imported in a worker thread so the sync
    client's imports never hold up the start of the home."""
    module = await asyncio.to_thread(importlib.import_module, "homeport.publish.auto")
    publisher = module.AutoPublisher(ctx, say=autopublish.say)
    ctx.caches["autopublisher"] = publisher
    if ctx.settings.auto_publish:
        await publisher.run()


def create_home_app(settings: Settings, context: Context | None = None) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ctx = context or await open_context(settings)
        app.state.ctx = ctx
        await gui_plugins.start(app, ctx)  # plugins' routes, content types, themes…
        await accounts.ensure_admin(ctx, settings.admin_password)
        compactor = asyncio.create_task(compact_forever(ctx))
        collector = asyncio.create_task(collect_forever(settings, ctx.store, ctx.blobs))
        mentions = asyncio.create_task(send_webmentions(ctx))
        register_publish_hooks()
        publisher = asyncio.create_task(auto_publish(ctx))
        plugin_watch = asyncio.create_task(gui_plugins.watch(app, ctx))  # CLI changes
        announcer = await lan.announce(settings)  # homeport.local, only with lan_access on
        protocols = tuple(app.state.plugins.gather("register_protocols"))
        relays = relay.start(settings, ctx, protocols)  # each provider's inbox, as it arrives
        try:
            yield
        finally:
            if relays is not None:
                await relays.close()
            if announcer is not None:
                await announcer.close()
            for task in (compactor, collector, mentions, publisher, plugin_watch):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await ctx.store.close()

    routes = [
        StarletteRoute("/v1/__api__", openapi_endpoint, methods=["GET"]),
        *[
            StarletteRoute("/v1" + raw.path, RAW_HANDLERS[raw.name], methods=[raw.method])
            for raw in RAW_ROUTES
            if raw.name in RAW_HANDLERS
        ],
        # plugins' routes go here, in the lifespan, once their licences are checked
        StarletteRoute("/v1/{path:path}", api_dispatch, methods=ALL_METHODS),
        *gui_routes(),
        StarletteRoute("/{path:path}", outside_v1, methods=ALL_METHODS),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(AllowedHosts, settings=settings), Middleware(KintoHeaders)],
        exception_handlers={StarletteHTTPException: http_error, Exception: anything},
    )
    app.state.openapi = None
    return app


__all__ = ["PUBLISH_HOOKS", "create_home_app", "open_context", "register_publish_hooks"]
