"""Record attachments (kinto-attachment's API): upload, remove, download."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from homeport.api import endpoints
from homeport.api.routes import RECORD_PATH
from homeport.plugins import hookimpl


@hookimpl
def register_routes() -> list[BaseRoute]:
    return [
        Route("/v1" + RECORD_PATH + "/attachment", endpoints.attach, methods=["POST"]),
        Route("/v1" + RECORD_PATH + "/attachment", endpoints.detach, methods=["DELETE"]),
        Route("/attachments/{bucket_id}/{collection_id}/{id}/{name}", endpoints.download,
              methods=["GET"]),
    ]
