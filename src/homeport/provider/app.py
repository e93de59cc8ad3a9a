"""``create_provider_app``: the sync protocol under ``/_homeport/v1``, the operator's page under
``/_homeport/admin/``, and every other path a tenant's site chosen by the Host header."""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from homeport.provider import domains, receive
from homeport.provider.admin import AdminPage
from homeport.provider.api import Provider, routes
from homeport.provider.db import ProviderDB
from homeport.provider.serve import SiteServer
from homeport.settings import Settings

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_provider_app(
    settings: Settings,
    *,
    db: ProviderDB | None = None,
    verifiers: domains.Verifiers = domains.DEFAULT,
    clock: Callable[[], int] = receive.now_ms,
) -> Starlette:
    db = db or ProviderDB(settings.data_dir)
    provider = Provider(settings, db, verifiers, clock)
    site = SiteServer(db, settings.data_dir, settings.base_domain)
    admin = AdminPage(db, settings)

    async def unknown(request: Request) -> Response:
        return JSONResponse(
            {"error": "not-found", "message": f"{request.url.path} is not a provider endpoint"},
            404,
        )

    async def admin_slash(request: Request) -> Response:
        return RedirectResponse("/_homeport/admin/", 301)

    async def sites(request: Request) -> Response:
        if request.url.path.startswith("/_homeport/"):
            return await unknown(request)
        return await site(request)

    app = Starlette(
        routes=[
            Mount(
                "/_homeport/v1",
                routes=[*routes(), Route("/{rest:path}", unknown, methods=ALL_METHODS)],
            ),
            Route("/_homeport/admin", admin_slash, methods=["GET", "HEAD"]),
            Route("/_homeport/admin/", admin.__call__, methods=["GET", "HEAD"]),
            Route("/{path:path}", sites, methods=ALL_METHODS),
        ]
    )
    app.state.provider = provider
    return app
