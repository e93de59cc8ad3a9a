"""Every hook a plugin may implement, typed and documented in one place.

A plugin implements any of these as plain functions (or methods) marked with
``homeport.plugins.hookimpl``, with the same name and a subset of the parameters. Each hook is
called on every enabled plugin, built-ins first, and the results are gathered into one list
(pluggy's model); a plugin that raises is named, disabled for the rest of the process and
logged, and the home keeps working (``manager.py``).

Plugins run only at the home: providers never run third-party code. What a plugin produces
for the public (pages, content types, feeds) enters the signed snapshot like everything else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from starlette.routing import BaseRoute

from homeport.plugins import hookspec
from homeport.plugins.kinds import (
    AdminPage,
    Connector,
    ContentType,
    Exporter,
    Importer,
    Setting,
)
from homeport.publish.hooks import Published
from homeport.services.context import Context
from homeport.settings import Settings


@hookspec
def register_routes(settings: Settings) -> list[BaseRoute]:  # type: ignore[empty-body]
    """Starlette routes mounted on the home, tried before the ``/v1`` API's catch-all and the
    GUI (as Datasette's hook of the same name). Paths are absolute (``/my-plugin/...``); the
    home's ``/v1/...`` Kinto paths stay Homeport's own. A route checks its own caller (the
    GUI's session for pages, ``web.auth`` for API callers)."""


@hookspec
def register_admin_pages() -> list[AdminPage]:  # type: ignore[empty-body]
    """GUI pages under ``/admin/plugins/<path>``, behind the owner's login and in the GUI's
    layout, linked from the Plugins page."""


@hookspec
def register_content_types() -> list[ContentType]:  # type: ignore[empty-body]
    """Entry types beside the built-in ones, with their schema and page template."""


@hookspec
def register_themes() -> list[Path]:  # type: ignore[empty-body]
    """Theme folders (Jinja2 templates and ``static/``); a theme's name is its folder's name.
    They run in the themes' sandbox like any theme (``render/themes.py``)."""


@hookspec
def register_template_filters() -> dict[str, Callable[..., Any]]:  # type: ignore[empty-body]
    """Jinja2 filters the site's templates may use (``{{ entry.body | my_filter }}``). They run
    outside the sandbox: they must be pure functions of their arguments."""


@hookspec
def register_importers() -> list[Importer]:  # type: ignore[empty-body]
    """Importers for ``homeport import-from KIND SOURCE`` and the GUI's Import page."""


@hookspec
def register_exporters() -> list[Exporter]:  # type: ignore[empty-body]
    """Exporters for ``homeport export-to KIND DIR`` and the GUI's "Take everything with you"."""


@hookspec
def register_connectors(settings: Settings) -> list[Connector]:  # type: ignore[empty-body]
    """Sign-in connectors configured from ``settings`` (return none when unconfigured): the
    owner's GUI login and ``/v1`` bearer tokens (principal ``<connector>:<subject>``)."""


@hookspec
def register_settings() -> list[Setting]:  # type: ignore[empty-body]
    """Settings the plugin reads (TOML key and ``HOMEPORT_<NAME>``); their values are in
    ``settings.plugin_values`` by name."""


@hookspec
def register_protocols() -> list[ModuleType]:  # type: ignore[empty-body]
    """Live-web protocol modules (``interop/registry.py``: ``provider_routes()``,
    ``home_handlers()``). Built-ins only in effect: a provider loads no third-party plugin, so
    a third-party protocol's inbox kinds reach the home only if a built-in routes them."""


@hookspec
def before_snapshot(ctx: Context) -> Awaitable[None] | None:
    """Called before each publish's snapshot (``publish/hooks.py``) on the publish's context,
    in the publishing process, with the publish lock held; an awaitable it returns is awaited
    there. Records written to ``ctx.store`` ride in this publish's commit. Keep it short and
    idempotent; a failure is logged and the publish goes on."""


@hookspec
def after_publish(event: Published) -> None:
    """Called after each publish that made something new live (``publish/hooks.py``), in the
    publishing process, in a worker thread, with the publish lock held: keep it short (queue
    slow work) and idempotent."""


__all__ = [
    "after_publish",
    "before_snapshot",
    "register_admin_pages",
    "register_connectors",
    "register_content_types",
    "register_exporters",
    "register_importers",
    "register_protocols",
    "register_routes",
    "register_settings",
    "register_template_filters",
    "register_themes",
]
