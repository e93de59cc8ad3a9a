"""The home server app: the Kinto-compatible API under /v1, attachments, change streams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from homeport.api import attachments, changes
from homeport.api.batch import batch
from homeport.api.messages import ApiRequest, ApiResponse
from homeport.api.root import HTTP_API_VERSION
from homeport.api.routes import ROUTES, Route, find_route, method_not_allowed, resolve
from homeport.core.errors import (
    Errno,
    HomeportError,
    MethodNotAllowed,
    MissingResource,
    RequestTooLarge,
)
from homeport.services import accounts
from homeport.services.context import Context, User
from homeport.services.maintenance import compact_tombstones
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store
from homeport.web.auth import identify
from homeport.web.errors import error_body, error_headers, unexpected
from homeport.web.middleware import KintoHeaders

log = logging.getLogger("homeport")

COMPACT_EVERY_SECONDS = 3600
NOT_FOUND = "The resource you are looking for could not be found."


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


RECORD_PATH = "/v1/buckets/{bucket_id}/collections/{collection_id}/records/{id}"


def add_extra_routes(app: FastAPI) -> None:
    @app.post("/v1/batch", summary="Several requests in one", name="batch")
    async def batch_route(request: Request) -> Response:
        return await batch_endpoint(request)

    @app.post(RECORD_PATH + "/attachment", summary="Attach a file to a record")
    async def attach(request: Request, bucket_id: str, collection_id: str, id: str) -> Response:
        try:
            ctx = request.app.state.ctx
            user = await _user(request)
            return await attachments.upload(ctx, request, user, bucket_id, collection_id, id)
        except Exception as exc:
            return error_response(exc)

    @app.delete(RECORD_PATH + "/attachment", summary="Remove a record's attachment")
    async def detach(request: Request, bucket_id: str, collection_id: str, id: str) -> Response:
        try:
            ctx = request.app.state.ctx
            user = await _user(request)
            return await attachments.remove(ctx, user, bucket_id, collection_id, id)
        except Exception as exc:
            return error_response(exc)

    @app.get("/attachments/{bucket_id}/{collection_id}/{id}/{name}", include_in_schema=False)
    async def download(
        request: Request, bucket_id: str, collection_id: str, id: str, name: str
    ) -> Response:
        try:
            ctx = request.app.state.ctx
            return await attachments.serve(ctx, bucket_id, collection_id, id, name)
        except Exception as exc:
            return error_response(exc)

    @app.get(
        "/v1/buckets/{bucket_id}/collections/{collection_id}/changes",
        summary="Live change stream of a collection (server-sent events)",
    )
    async def change_stream(request: Request, bucket_id: str, collection_id: str) -> Response:
        try:
            ctx = request.app.state.ctx
            user = await _user(request)
            return await changes.stream(ctx, request, user, bucket_id, collection_id)
        except Exception as exc:
            return error_response(exc)


def add_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error: HomeportError
        route = find_route(request.url.path[3:].rstrip("/") or "/")
        if exc.status_code == 405 and route is not None:
            error = method_not_allowed(route)
        elif exc.status_code == 405:
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


VERSION_PREFIX = re.compile(r"^v\d+(/|$)")


async def outside_v1(request: Request) -> Response:
    """Kinto's routing around the API: unprefixed paths and trailing slashes redirect (307)."""
    path = request.path_params["path"]
    query = f"?{request.url.query}" if request.url.query else ""
    origin = origin_of(request)
    if path in ("", "v1"):
        return RedirectResponse(f"{origin}/v1/{query}", status_code=307)
    if path.startswith("v1/"):
        if path.endswith("/"):
            return RedirectResponse(f"{origin}/{path.rstrip('/')}{query}", status_code=307)
        try:
            resolve(request.method, "/" + path[3:])
        except HomeportError as exc:
            return error_response(exc)
        return error_response(
            MissingResource("The resource you are looking for could not be found.")
        )
    if VERSION_PREFIX.match(path):
        return error_response(
            HomeportError(
                "The requested API version is not available on this server.",
                code=404,
                errno=Errno.VERSION_NOT_AVAILABLE,
            )
        )
    return RedirectResponse(f"{origin}/v1/{path}{query}", status_code=307)


def kinto_openapi(app: FastAPI) -> dict[str, Any]:
    """OpenAPI 3 with paths relative to the ``/v1`` server, as Kinto's are to its basePath."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=HTTP_API_VERSION,
            description=app.description,
            routes=app.routes,
        )
        schema["servers"] = [{"url": "/v1"}]
        schema["paths"] = {
            (path[3:] or "/"): item
            for path, item in schema.get("paths", {}).items()
            if path.startswith("/v1")
        }
        app.openapi_schema = schema
    return app.openapi_schema


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
        version=HTTP_API_VERSION,
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

    app.add_api_route(
        "/{path:path}",
        outside_v1,
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    app.openapi = lambda: kinto_openapi(app)  # type: ignore[method-assign]
    app.add_middleware(KintoHeaders)
    return app


__all__ = ["create_home_app", "open_context"]
