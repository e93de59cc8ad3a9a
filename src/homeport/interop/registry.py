"""The protocols the provider mounts and the home's relay dispatches to: add yours here.

Each module listed in ``PROTOCOLS`` exposes ``provider_routes() -> list[BaseRoute]`` (mounted
by ``provider/app.py`` under ``/_homeport/`` on every tenant's host, paths relative to it:
``Route("/micropub", …)``) and ``home_handlers() -> dict[str, ports.Handler]`` (inbox ``kind``
→ the handler that applies it at the home; kinds are spelt ``<protocol>.<what>``), and may
expose ``provider_lifespan(state)``, an async context manager each provider process enters
while it serves.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import ModuleType
from typing import Any, cast

from starlette.routing import BaseRoute

from homeport.interop import (
    activitypub,
    grants,
    indieauth,
    members,
    micropub,
    newsletter,
    payments,
    webmention,
    websub,
)
from homeport.interop.ports import Handler

PROTOCOLS: tuple[ModuleType, ...] = (
    micropub, webmention, indieauth, websub, activitypub, grants, payments, members,
    newsletter,
)
"""The protocol modules, in the order their routes are tried."""

EXTRA_HANDLERS: dict[str, Handler] = {}
"""Handlers added at run time, for kinds no protocol module has: tests only
(``homeport.testing.inbox``)."""


def provider_routes(protocols: tuple[ModuleType, ...] = PROTOCOLS) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for module in protocols:
        routes += cast(list[BaseRoute], module.provider_routes())
    return routes


def provider_lifespans(
    protocols: tuple[ModuleType, ...] = PROTOCOLS,
) -> list[Callable[[Any], AbstractAsyncContextManager[None]]]:
    """The optional ``provider_lifespan(state)`` of each protocol: what runs in each provider
    process for as long as it serves (a background worker), entered at startup with the app's
    ``state`` (``state.ports``) and left at shutdown."""
    return [module.provider_lifespan for module in protocols
            if hasattr(module, "provider_lifespan")]


def home_handlers(
    protocols: tuple[ModuleType, ...] = PROTOCOLS,
    extra: dict[str, Handler] | None = None,
) -> dict[str, Handler]:
    """Every kind's handler; two protocols claiming one kind is a programming error."""
    extra = EXTRA_HANDLERS if extra is None else extra
    handlers: dict[str, Handler] = {}
    for module in protocols:
        for kind, handler in cast(dict[str, Handler], module.home_handlers()).items():
            if kind in handlers:
                raise RuntimeError(f"two protocols handle inbox items of kind {kind!r}")
            handlers[kind] = handler
    for kind, handler in extra.items():
        if kind in handlers:
            raise RuntimeError(f"two protocols handle inbox items of kind {kind!r}")
        handlers[kind] = handler
    return handlers


__all__ = ["EXTRA_HANDLERS", "PROTOCOLS", "home_handlers", "provider_lifespans",
           "provider_routes"]
