"""The GUI's routes, mounted by ``home.py`` at ``/admin`` (pages) and ``/preview`` (the site)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from homeport.gui import auth, dashboard, preview, setup

STATIC = Path(__file__).parent / "static"


async def to_admin(request: Request) -> Response:
    return RedirectResponse("/admin/", status_code=307)


def routes() -> list[BaseRoute]:
    """Every GUI route; plain routes (not a sub-app), so ``request.app`` is the home's."""
    admin: list[BaseRoute] = [
        Route("/", dashboard.dashboard),
        Route("/login", auth.login_form, methods=["GET"]),
        Route("/login", auth.login, methods=["POST"]),
        Route("/logout", auth.logout, methods=["POST"]),
        Route("/setup", setup.wizard, methods=["GET"]),
        Route("/setup", setup.create, methods=["POST"]),
        Route("/setup/phrase", setup.show_phrase, methods=["GET"]),
        Route("/setup/confirm", setup.confirm_form, methods=["GET"]),
        Route("/setup/confirm", setup.confirm, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="gui-static"),
    ]
    return [
        Route("/admin", to_admin),
        Mount("/admin", routes=admin),
        Route("/preview", preview.to_root),
        Mount("/preview", routes=[Route("/{path:path}", preview.serve, methods=["GET", "HEAD"])]),
    ]
