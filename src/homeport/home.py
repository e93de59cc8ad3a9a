"""The home server app: the Kinto-compatible API under /v1, attachments, change streams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from homeport.api import attachments, changes
from homeport.api.batch import batch
from homeport.api.messages import ApiRequest, ApiResponse
from homeport.api.routes import ROUTES, Route, resolve
from homeport.core.errors import (
    HomeportError,
    MethodNotAllowed,
    MissingResource,
    RequestTooLarge,
)
from homeport.services import accounts
from homeport.services.context import Context, User
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store
from homeport.web.auth import identify
from homeport.web.errors import error_body, error_headers, unexpected

log = logging.getLogger("homeport")

COMPACT_EVERY_SECONDS = 3600


def json_response(response: ApiResponse, head: bool = False) -> Response:
    body = b"" if head else response.encode()
    media = "application/json" if response.status != 304 else None
    return Response(body, response.status, response.headers, media_type=media)


def error_response(exc: BaseException) -> Response:
    error = unexpected(exc)
    return json_response(ApiResponse(error.code, error_body(error), error_headers(error)))


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 past ``limit`` before it is all read."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise RequestTooLarge(f"Request body is bigger than the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"Request body is bigger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def origin_of(request: Request) -> str:
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}"


async def api_request(request: Request, ctx: Context, path: str) -> ApiRequest:
    body = b""
    if request.method in ("POST", "PUT", "PATCH"):
        body = await read_body(request, ctx.settings.max_json_bytes)
    return ApiRequest(
        method=request.method,
        path=path,
        query=list(request.query_params.multi_items()),
        headers={
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.scope["headers"]
        },
        user=await identify(ctx, request.headers.get("authorization")),
        origin=origin_of(request),
        raw_body=body,
    )


def endpoint_for(route: Route) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        ctx: Context = request.app.state.ctx
        try:
            path = request.url.path[3:].rstrip("/") or "/"
            req = await api_request(request, ctx, path)
            handler = route.methods[request.method]
            response = await handler(ctx, req)
        except Exception as exc:
            return error_response(exc)
        return json_response(response, head=request.method == "HEAD")

    endpoint.__name__ = route.name.replace("-", "_")
    return endpoint


async def batch_endpoint(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    try:
        req = await api_request(request, ctx, "/batch")
        return json_response(await batch(ctx, req))
    except Exception as exc:
        return error_response(exc)


async def _user(request: Request) -> User:
    ctx: Context = request.app.state.ctx
    return await identify(ctx, request.headers.get("authorization"))


RECORD_PATH = "/v1/buckets/{bid}/collections/{cid}/records/{rid}"


def add_extra_routes(app: FastAPI) -> None:
    @app.post("/v1/batch", summary="Several requests in one", name="batch")
    async def batch_route(request: Request) -> Response:
        return await batch_endpoint(request)

    @app.post(RECORD_PATH + "/attachment", summary="Attach a file to a record")
    async def attach(request: Request, bid: str, cid: str, rid: str) -> Response:
        try:
            ctx = request.app.state.ctx
            return await attachments.upload(ctx, request, await _user(request), bid, cid, rid)
        except Exception as exc:
            return error_response(exc)

    @app.delete(RECORD_PATH + "/attachment", summary="Remove a record's attachment")
    async def detach(request: Request, bid: str, cid: str, rid: str) -> Response:
        try:
            ctx = request.app.state.ctx
            return await attachments.remove(ctx, await _user(request), bid, cid, rid)
        except Exception as exc:
            return error_response(exc)

    @app.get("/attachments/{bid}/{cid}/{rid}/{name}", summary="Download an attachment")
    async def download(request: Request, bid: str, cid: str, rid: str, name: str) -> Response:
        try:
            ctx = request.app.state.ctx
            return await attachments.serve(ctx, await _user(request), bid, cid, rid, name)
        except Exception as exc:
            return error_response(exc)

    @app.get("/v1/buckets/{bid}/collections/{cid}/changes", summary="Live change stream (SSE)")
    async def change_stream(request: Request, bid: str, cid: str) -> Response:
        try:
            ctx = request.app.state.ctx
            return await changes.stream(ctx, request, await _user(request), bid, cid)
        except Exception as exc:
            return error_response(exc)


def add_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error: HomeportError
        if exc.status_code == 405:
            error = MethodNotAllowed("Method not allowed on this endpoint.")
        elif exc.status_code == 404:
            error = MissingResource("The resource you are looking for could not be found.")
        else:
            error = HomeportError(str(exc.detail), code=exc.status_code)
        return error_response(error)

    async def anything(request: Request, exc: Exception) -> Response:
        return error_response(exc)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, anything)


async def compact_forever(ctx: Context) -> None:
    """Tombstones older than the retention are dropped, hourly."""
    while True:
        try:
            before = ctx.clock() - ctx.settings.tombstone_retention_seconds * 1000
            for resource in ("record", "collection", "group", "bucket", "account"):
                await ctx.store.purge_deleted(resource, "*", before=before)
        except HomeportError as exc:
            log.warning("tombstone compaction skipped: %s", exc.message)
        await asyncio.sleep(COMPACT_EVERY_SECONDS)


async def open_context(settings: Settings) -> Context:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_record_store(settings.record_store_url)
    await store.initialize()
    return Context(settings=settings, store=store, blobs=FsBlobStore(settings.blobs_dir))


def create_home_app(settings: Settings, context: Context | None = None) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = context or await open_context(settings)
        app.state.ctx = ctx
        await accounts.ensure_admin(ctx, settings.admin_password)
        compactor = asyncio.create_task(compact_forever(ctx))
        try:
            yield
        finally:
            compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await compactor
            await ctx.store.close()

    app = FastAPI(
        title="Homeport",
        version=_version(),
        description="A home for your data, spoken over Kinto's HTTP API.",
        openapi_url="/v1/__api__",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    for route in ROUTES:
        app.add_api_route(
            "/v1" + (route.path if route.path != "/" else "/"),
            endpoint_for(route),
            methods=list(route.methods),
            name=route.name,
            summary=route.summary,
        )
    add_extra_routes(app)
    add_error_handlers(app)

    @app.api_route(
        "/{path:path}",
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    async def unprefixed(request: Request, path: str) -> Response:
        if path.startswith("v1/") or path == "v1":
            try:
                resolve(request.method, "/" + path[3:].rstrip("/"))
            except HomeportError as exc:
                return error_response(exc)
            return error_response(
                MissingResource("The resource you are looking for could not be found.")
            )
        target = f"/v1/{path}" + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(target, status_code=307)

    return app


def _version() -> str:
    import homeport

    return homeport.__version__


__all__ = ["create_home_app", "open_context"]
