"""Record attachments (kinto-attachment's API): upload, remove, download."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeport.plugins import hookimpl

if TYPE_CHECKING:
    from starlette.routing import BaseRoute


@hookimpl
def register_routes() -> list[BaseRoute]:
    # the API's modules, imported when a server asks: a publish loads the plugins too
    from starlette.routing import Route

    from homeport.api import endpoints
    from homeport.api.routes import RECORD_PATH

    return [
        Route("/v1" + RECORD_PATH + "/attachment", endpoints.attach, methods=["POST"]),
        Route("/v1" + RECORD_PATH + "/attachment", endpoints.detach, methods=["DELETE"]),
        Route("/attachments/{bucket_id}/{collection_id}/{id}/{name}", endpoints.download,
              methods=["GET"]),
    ]
