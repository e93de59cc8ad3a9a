"""A collection's live change stream (server-sent events)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from homeport.api import endpoints
from homeport.api.routes import COLLECTION
from homeport.plugins import hookimpl


@hookimpl
def register_routes() -> list[BaseRoute]:
    return [Route("/v1" + COLLECTION + "/changes", endpoints.change_stream, methods=["GET"])]
