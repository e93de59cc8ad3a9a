"""The GUI's routes, mounted by ``home.py`` at ``/admin`` (pages) and ``/preview`` (the site)."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from homeport.gui import (
    articles,
    auth,
    dashboard,
    entries,
    hosted,
    live,
    media,
    more_entries,
    notes,
    papers,
    preview,
    setup,
    site_settings,
)

STATIC = Path(__file__).parent / "static"
POST = ["POST"]


def lazy(module: str, name: str) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint whose module is imported on its first request: the providers page pulls in
    the sync client (httpx and more), which would otherwise slow every start of the home."""

    async def endpoint(request: Request) -> Response:
        handler = getattr(importlib.import_module(f"homeport.gui.{module}"), name)
        response: Response = await handler(request)
        return response

    endpoint.__name__ = name
    return endpoint


def with_kind(kind: str, endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[
    [Request], Awaitable[Response]
]:
    """``endpoint`` with ``kind`` among its path parameters (one editor serves four types)."""

    async def run(request: Request) -> Response:
        request.scope.setdefault("path_params", {})["kind"] = kind
        return await endpoint(request)

    run.__name__ = f"{endpoint.__name__}_{kind}"
    return run


def _more_entries() -> list[BaseRoute]:
    found: list[BaseRoute] = []
    for kind in more_entries.KINDS.values():
        found += [
            Route(kind.path, with_kind(kind.name, more_entries.index), methods=["GET"]),
            Route(kind.path + "/new", with_kind(kind.name, more_entries.new), methods=["GET"]),
            Route(kind.path + "/new", with_kind(kind.name, more_entries.save), methods=POST),
            Route(kind.path + "/{id}", with_kind(kind.name, more_entries.edit), methods=["GET"]),
            Route(kind.path + "/{id}", with_kind(kind.name, more_entries.save), methods=POST),
        ]
    return found


async def to_admin(request: Request) -> Response:
    return RedirectResponse("/admin/", status_code=307)


def routes() -> list[BaseRoute]:
    """Every GUI route; plain routes (not a sub-app), so ``request.app`` is the home's."""
    admin: list[BaseRoute] = [
        Route("/", dashboard.dashboard),
        Route("/login", auth.login_form, methods=["GET"]),
        Route("/login", auth.login, methods=POST),
        Route("/login/{name}", auth.connector_begin, methods=["GET"]),
        Route("/login/{name}/callback", auth.connector_complete, methods=["GET"]),
        Route("/logout", auth.logout, methods=POST),
        Route("/setup", setup.wizard, methods=["GET"]),
        Route("/setup", setup.create, methods=POST),
        Route("/setup/restore", lazy("restore", "form"), methods=["GET"]),
        Route("/setup/restore", lazy("restore", "restore"), methods=POST),
        Route("/move-here", lazy("restore", "move_form"), methods=["GET"]),
        Route("/move-here", lazy("restore", "move_here"), methods=POST),
        Route("/setup/phrase", setup.show_phrase, methods=["GET"]),
        Route("/welcome", hosted.welcome, methods=["GET"]),
        Route("/setup/confirm", setup.confirm_form, methods=["GET"]),
        Route("/setup/confirm", setup.confirm, methods=POST),
        Route("/build", entries.build_now, methods=POST),
        Route("/undo", entries.undo, methods=POST),
        Route("/entries/{kind}/{id}/publish", entries.publish, methods=POST),
        Route("/entries/{kind}/{id}/unpublish", entries.unpublish, methods=POST),
        Route("/entries/{kind}/{id}/delete", entries.delete, methods=POST),
        Route("/write", articles.index),
        Route("/write/new", articles.new),
        Route("/write/{id}", articles.edit),
        Route("/live/{type}/{id}", live.fragment),
        Route("/api/articles", articles.save, methods=POST),
        Route("/api/preview", articles.preview, methods=POST),
        Route("/api/images", articles.upload_image, methods=POST),
        Route("/media-file/{hash}/{file}", articles.media_file),
        Route("/notes", notes.index, methods=["GET"]),
        Route("/notes", notes.post, methods=POST),
        Route("/media", media.index),
        Route("/api/photos", media.upload, methods=POST),
        Route("/media/uploaded", media.uploaded, methods=POST),
        Route("/media/{id}", media.edit, methods=["GET"]),
        Route("/media/{id}", media.save, methods=POST),
        Route("/papers", papers.index, methods=["GET"]),
        Route("/papers", papers.create, methods=POST),
        Route("/papers/{id}", papers.detail, methods=["GET"]),
        Route("/papers/{id}", papers.save, methods=POST),
        Route("/providers", lazy("providers", "index"), methods=["GET"]),
        Route("/providers/status", lazy("providers", "status"), methods=["GET"]),
        Route("/providers/events", lazy("providers", "events"), methods=["GET"]),
        Route("/providers/add", lazy("providers", "add"), methods=POST),
        Route("/providers/remove", lazy("providers", "remove"), methods=POST),
        Route("/providers/rules", lazy("providers", "rules"), methods=POST),
        Route("/providers/publish", lazy("providers", "publish"), methods=POST),
        Route("/mentions/sent", lazy("sent_mentions", "index"), methods=["GET"]),
        Route("/responses", lazy("responses", "index"), methods=["GET"]),
        Route("/responses/block", lazy("responses", "block"), methods=POST),
        Route("/responses/unblock", lazy("responses", "unblock"), methods=POST),
        Route("/responses/{id}/approve", lazy("responses", "approve"), methods=POST),
        Route("/responses/{id}/reject", lazy("responses", "reject"), methods=POST),
        Route("/fediverse", lazy("fediverse", "index"), methods=["GET"]),
        Route("/fediverse/approve", lazy("fediverse", "approve"), methods=POST),
        Route("/fediverse/remove", lazy("fediverse", "remove"), methods=POST),
        Route("/fediverse/block", lazy("fediverse", "block"), methods=POST),
        Route("/fediverse/interact", lazy("fediverse", "interact"), methods=POST),
        Route("/members", lazy("members", "index"), methods=["GET"]),
        Route("/members/tiers", lazy("members", "add_tier"), methods=POST),
        Route("/members/tiers/price", lazy("members", "reprice_tier"), methods=POST),
        Route("/members/add", lazy("members", "add_member"), methods=POST),
        Route("/members/remove", lazy("members", "remove_member"), methods=POST),
        Route("/members/export", lazy("members", "export"), methods=["GET"]),
        Route("/members/serving", lazy("members", "serving"), methods=POST),
        Route("/members/payments", lazy("members", "payments"), methods=POST),
        Route("/tokens", lazy("grants", "index"), methods=["GET"]),
        Route("/tokens/create", lazy("grants", "create"), methods=POST),
        Route("/tokens/revoke", lazy("grants", "revoke"), methods=POST),
        Route("/signin", lazy("signin", "index"), methods=["GET"]),
        Route("/signin/allow", lazy("signin", "allow"), methods=POST),
        Route("/signin/answer", lazy("signin", "answer"), methods=POST),
        Route("/signin/passkey", lazy("signin", "start"), methods=POST),
        Route("/signin/passkey/back", lazy("signin", "back"), methods=["GET"]),
        Route("/signin/passkey/confirm", lazy("signin", "confirm"), methods=["GET"]),
        Route("/signin/passkey/add", lazy("signin", "add"), methods=POST),
        Route("/signin/passkey/remove", lazy("signin", "remove"), methods=POST),
        Route("/autopublish", lazy("autopublish", "status"), methods=["GET"]),
        Route("/autopublish", lazy("autopublish", "switch"), methods=POST),
        Route("/plugins", lazy("plugins", "index"), methods=["GET"]),
        Route("/plugins/enable", lazy("plugins", "enable"), methods=POST),
        Route("/plugins/disable", lazy("plugins", "disable"), methods=POST),
        Route("/plugins/catalogue", lazy("plugins", "browse"), methods=POST),
        Route("/plugins/install", lazy("plugins", "install"), methods=POST),
        Route("/plugins/remove", lazy("plugins", "remove"), methods=POST),
        Route("/plugins/licence", lazy("plugins", "licence"), methods=POST),
        Route("/passkeys", lazy("passkeys", "index"), methods=["GET"]),
        Route("/passkeys/options", lazy("passkeys", "options"), methods=POST),
        Route("/passkeys/add", lazy("passkeys", "add"), methods=POST),
        Route("/passkeys/remove", lazy("passkeys", "remove"), methods=POST),
        Route("/import", lazy("imports", "index"), methods=["GET"]),
        Route("/import", lazy("imports", "start"), methods=POST),
        Route("/import/events", lazy("imports", "events"), methods=["GET"]),
        Route("/import/report", lazy("imports", "report"), methods=["GET"]),
        Route("/takeaway", lazy("takeaway", "download"), methods=POST),
        Route("/settings", site_settings.index, methods=["GET"]),
        Route("/settings", site_settings.save, methods=POST),
        Route("/settings/start-at-login", site_settings.start_at_login, methods=POST),
        Route("/site/switch", site_settings.switch_site, methods=POST),
        *_more_entries(),
        Mount("/static", app=StaticFiles(directory=STATIC), name="gui-static"),
    ]
    return [
        Route("/admin", to_admin),
        Mount("/admin", routes=admin),
        Route("/preview", preview.to_root),
        Route("/preview/", preview.to_site),
        Mount("/preview", routes=[Route("/{path:path}", preview.serve, methods=["GET", "HEAD"])]),
    ]
