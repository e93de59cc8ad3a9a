"""Kinto's ``POST /v1/__flush__`` (delete everything; for test suites), mounted only with the
``flush_endpoint`` setting on: without it the path is unknown, as in Kinto."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeport.plugins import hookimpl
from homeport.settings import Settings

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute


async def flush(request: Request) -> Response:
    from homeport.api import root
    from homeport.api.endpoints import error_response, json_response
    from homeport.core.errors import MethodNotAllowed

    try:
        if request.method != "POST":
            raise MethodNotAllowed("Method not allowed on this endpoint.",
                                   headers={"Allow": "POST, OPTIONS"})
        return json_response(await root.flush(request.app.state.ctx))
    except Exception as exc:
        return error_response(exc)


@hookimpl
def register_routes(settings: Settings) -> list[BaseRoute]:
    if not settings.flush_endpoint:
        return []
    from starlette.routing import Route  # imported when a server asks (see attachments.py)

    return [Route("/v1/__flush__", flush,
                  methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])]
