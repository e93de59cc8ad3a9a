"""A collection's live change stream (server-sent events)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeport.plugins import hookimpl

if TYPE_CHECKING:
    from starlette.routing import BaseRoute


@hookimpl
def register_routes() -> list[BaseRoute]:
    from starlette.routing import Route  # imported when a server asks (see attachments.py)

    from homeport.api import endpoints
    from homeport.api.routes import COLLECTION

    return [Route("/v1" + COLLECTION + "/changes", endpoints.change_stream, methods=["GET"])]
