"""The Starlette endpoints of the API's raw routes (attachments, change streams) and the two
ways every endpoint answers (a JSON response, an error in Kinto's shape).

Here rather than in ``home.py`` so the built-in plugins that mount them
(``plugins/builtin/``) reach them from below the app.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from homeport.api import attachments, changes, default_bucket
from homeport.api.messages import ApiResponse
from homeport.services.context import Context, User
from homeport.web.auth import client_of, identify
from homeport.web.errors import error_body, error_headers, unexpected


def json_response(response: ApiResponse, head: bool = False) -> Response:
    body = b"" if head else response.encode()
    media = "application/json" if response.status != 304 else None
    return Response(body, response.status, response.headers, media_type=media)


def error_response(exc: BaseException) -> Response:
    error = unexpected(exc)
    return json_response(ApiResponse(error.code, error_body(error), error_headers(error)))


async def user_of(request: Request) -> User:
    ctx: Context = request.app.state.ctx
    return await identify(ctx, request.headers.get("authorization"), client_of(request))


def _record_params(request: Request) -> tuple[str, str, str]:
    p = request.path_params
    return p["bucket_id"], p["collection_id"], p["id"]


async def _own_record_params(request: Request, user: User) -> tuple[str, str, str]:
    """The record's ids, the ``default`` bucket being the user's personal one."""
    bid, cid, rid = _record_params(request)
    return await default_bucket.bucket_for(request.app.state.ctx, user, bid, cid), cid, rid


async def attach(request: Request) -> Response:
    try:
        ctx = request.app.state.ctx
        user = await user_of(request)
        return await attachments.upload(
            ctx, request, user, *await _own_record_params(request, user)
        )
    except Exception as exc:
        return error_response(exc)


async def detach(request: Request) -> Response:
    try:
        ctx = request.app.state.ctx
        user = await user_of(request)
        return await attachments.remove(ctx, user, *await _own_record_params(request, user))
    except Exception as exc:
        return error_response(exc)


async def download(request: Request) -> Response:
    try:
        ctx = request.app.state.ctx
        name = request.path_params["name"]
        return await attachments.serve(ctx, *_record_params(request), name)
    except Exception as exc:
        return error_response(exc)


async def change_stream(request: Request) -> Response:
    try:
        ctx = request.app.state.ctx
        p = request.path_params
        user = await user_of(request)
        cid = p["collection_id"]
        bid = await default_bucket.bucket_for(ctx, user, p["bucket_id"], cid)
        return await changes.stream(ctx, request, user, bid, cid)
    except Exception as exc:
        return error_response(exc)


__all__ = ["attach", "change_stream", "detach", "download", "error_response", "json_response",
           "user_of"]
