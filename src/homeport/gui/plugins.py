"""The Plugins page (``/admin/plugins``): what is loaded, turn plugins on and off, install
one from a signed catalogue, add a licence, remove; and the pages plugins add to the GUI.

The same use cases as ``homeport plugins``. Changes take effect at once: ``start`` loads the
plugins again and swaps their routes in the running app (a plugin already imported keeps its
code until the home restarts; the page says so after an upgrade). Changes made by the CLI
while the home runs are noticed by ``watch`` (``state.fingerprint``, every few seconds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from markupsafe import Markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from homeport.core.errors import HomeportError
from homeport.gui import uploads
from homeport.gui.pages import PREFIX, Page, page
from homeport.plugins import catalogue, licences, manager, state
from homeport.plugins.activate import prepare
from homeport.plugins.kinds import AdminPage
from homeport.services.context import Context
from homeport.web.auth import CONNECTORS

log = logging.getLogger("homeport.plugins")
PLUGIN_ROUTES = "plugin_routes"
WATCH_SECONDS = 2.0
"""How often a running home looks whether ``homeport plugins …`` changed something."""


async def start(app: Starlette, ctx: Context) -> manager.Plugins:
    """Load this home's plugins, disable those whose licence does not hold, put what they
    register where it is used, and mount their routes before the API's and the GUI's
    catch-alls (replacing those of an earlier ``start``)."""
    app.state.plugins_seen = await asyncio.to_thread(state.fingerprint, ctx.settings.data_dir)
    found = await prepare(ctx)
    routes = app.router.routes
    for old in getattr(app.state, PLUGIN_ROUTES, []):
        if old in routes:
            routes.remove(old)
    new = [*found.gather("register_routes", settings=ctx.settings), *admin_routes(found)]
    at = next(i for i, r in enumerate(routes) if getattr(r, "path", "") == "/v1/{path:path}")
    routes[at:at] = new
    setattr(app.state, PLUGIN_ROUTES, new)
    app.state.plugins = found
    ctx.caches[CONNECTORS] = found.connectors(ctx.settings)  # web.auth's bearer tokens
    return found


async def watch(app: Starlette, ctx: Context, interval: float = WATCH_SECONDS) -> None:
    """Load the plugins again when another process (the CLI) changed their state; runs
    until cancelled with the home."""
    while True:
        await asyncio.sleep(interval)
        now = await asyncio.to_thread(state.fingerprint, ctx.settings.data_dir)
        if now == getattr(app.state, "plugins_seen", None):
            continue
        try:
            await start(app, ctx)
            log.info("plugins changed outside the home: loaded again")
        except Exception:  # the home keeps its current plugins and serves on
            app.state.plugins_seen = now
            log.exception("loading the plugins again failed")


def admin_pages(plugins: manager.Plugins) -> list[tuple[str, AdminPage]]:
    return [(name, item) for name, items in plugins.call("register_admin_pages")
            for item in items]


def admin_routes(plugins: manager.Plugins) -> list[BaseRoute]:
    """Each plugin's admin page at ``/admin/plugins/<plugin>/<path>``, behind the login."""
    return [Route(_href(name, item), _admin_page(name, item),
                  methods=["GET"])
            for name, item in admin_pages(plugins)]


def _href(name: str, item: AdminPage) -> str:
    return f"{PREFIX}/plugins/{name}/" + item.path.strip("/")


def _admin_page(name: str, item: AdminPage) -> Callable[[Request], Awaitable[Response]]:
    @page()
    async def show(p: Page) -> Response:
        plugins: manager.Plugins = p.request.app.state.plugins
        if not plugins.info.get(name, manager.PluginInfo(name, False, enabled=False)).enabled:
            return _error(p, 404, f"The plugin {name} is turned off.")
        try:
            body = await item.render(p.request, p.session.csrf)
        except Exception as exc:  # a plugin's page failing must not take the GUI down
            log.exception("plugin %r: admin page %s failed", name, item.path)
            plugins.disable(name, f"admin page {item.path} raised {type(exc).__name__}: {exc}")
            return _error(p, 500, f"The plugin {name} failed and was turned off: {exc}")
        return p.render("plugin_page.html", title=item.title, plugin=name, body=Markup(body))

    show.__name__ = f"plugin_page_{name}"
    return show


def _error(p: Page, status: int, message: str) -> Response:
    return p.render("plugin_page.html", status, title="Plugin", plugin="",
                    body=Markup("<p class='error' role='alert'>{}</p>").format(message))


async def _page(p: Page, status: int = 200, error: str | None = None,
                found: catalogue.Catalogue | None = None,
                form: dict[str, str] | None = None) -> Response:
    plugins: manager.Plugins = p.request.app.state.plugins
    current = state.read(p.ctx.settings.data_dir)
    pages = [(name, item, _href(name, item))
             for name, item in admin_pages(plugins)]
    return p.render(
        "plugins.html", status,
        plugins=sorted(plugins.info.values(), key=lambda i: (not i.builtin, i.name)),
        installed=current.installed, pages=pages, error=error, found=found, form=form or {},
    )


@page()
async def index(p: Page) -> Response:
    return await _page(p)


async def _switch(p: Page, enabled: bool) -> Response:
    form = await p.form()
    name = uploads.line(form, "name", 200)
    plugins: manager.Plugins = p.request.app.state.plugins
    if name not in plugins.info:
        return await _page(p, 400, f"There is no plugin named {name!r}.")
    state.set_enabled(p.ctx.settings.data_dir, name, enabled)
    await start(p.request.app, p.ctx)
    p.flash(f"{name} is {'on' if enabled else 'off'}.")
    return p.redirect(PREFIX + "/plugins")


@page()
async def enable(p: Page) -> Response:
    return await _switch(p, True)


@page()
async def disable(p: Page) -> Response:
    return await _switch(p, False)


def _catalogue_form(form: Any) -> dict[str, str]:
    return {"url": uploads.line(form, "url", 2000),
            "publisher": uploads.line(form, "publisher", 200)}


@page()
async def browse(p: Page) -> Response:
    """Read a catalogue (its signature checked) and list what it offers."""
    fields = _catalogue_form(await p.form())
    try:
        found = await catalogue.fetch(p.ctx.settings, fields["url"], fields["publisher"])
    except catalogue.CatalogueError as exc:
        return await _page(p, 400, str(exc), form=fields)
    return await _page(p, found=found, form=fields)


@page()
async def install(p: Page) -> Response:
    form = await p.form()
    fields = _catalogue_form(form)
    name = uploads.line(form, "name", 200)
    try:
        entry = await catalogue.install(p.ctx.settings, fields["url"], fields["publisher"], name)
    except catalogue.CatalogueError as exc:
        return await _page(p, 400, str(exc), form=fields)
    await start(p.request.app, p.ctx)
    note = " It needs a licence before it runs." if entry.paid else ""
    p.flash(f"{entry.name} {entry.version} is installed.{note}")
    return p.redirect(PREFIX + "/plugins")


@page()
async def remove(p: Page) -> Response:
    name = uploads.line(await p.form(), "name", 200)
    try:
        catalogue.remove(p.ctx.settings.data_dir, name)
    except catalogue.CatalogueError as exc:
        return await _page(p, 400, str(exc))
    await start(p.request.app, p.ctx)
    p.flash(f"{name} is removed (its code stays loaded until the home restarts).")
    return p.redirect(PREFIX + "/plugins")


@page()
async def licence(p: Page) -> Response:
    form = await p.form()
    text = str(form.get("licence") or "")[:20_000]  # as signed: whitespace kept
    try:
        added = await licences.add(p.ctx, text.encode())
    except HomeportError as exc:
        return await _page(p, 400, str(exc.message))
    await start(p.request.app, p.ctx)
    p.flash(f"The licence of {added.plugin} is kept.")
    return p.redirect(PREFIX + "/plugins")


__all__ = ["admin_routes", "browse", "disable", "enable", "index", "install", "licence",
           "remove", "start", "watch"]
