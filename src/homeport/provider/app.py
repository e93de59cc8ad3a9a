"""``create_provider_app``: the sync protocol under ``/_homeport/v1``, the operator's page under
``/_homeport/admin/`` (Starlette), and every other path a tenant's site chosen by the Host header
(``serve.SiteServer``, a plain ASGI callable in front of Starlette: the hot path)."""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from types import ModuleType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from homeport import jsonio
from homeport.interop import registry
from homeport.interop.members.gate import members_page
from homeport.interop.ports import InboxFull
from homeport.plugins import manager
from homeport.provider import (
    activitypub_routes,
    domains,
    fedmove,
    grants,
    mirror,
    newsletter,
    receive,
    relay,
)
from homeport.provider import gc as provider_gc
from homeport.provider.admin import AdminPage
from homeport.provider.api.context import Provider
from homeport.provider.api.http import storage_fault
from homeport.provider.api.routes import routes
from homeport.provider.db import ProviderDB
from homeport.provider.hosted import HomeFactory, HostedHomes, is_home_path
from homeport.provider.lifeline import die_with_parent
from homeport.provider.ports import make_ports
from homeport.provider.serve import SiteServer
from homeport.settings import Settings
from homeport.store.connection import DatabaseError
from homeport.store.protocols import ObjectStoreError
from homeport.web.slowclients import BodyDeadline

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class ProviderApp:
    """Sites straight to ``SiteServer``; ``/_homeport/…`` and lifespan through Starlette."""

    def __init__(self, api: Starlette, site: SiteServer, hosted: HostedHomes | None = None) -> None:
        self.api = api
        self.site = site
        self.hosted = hosted
        """Hosted homes (``hosted_homes`` on): ``/signup`` and their home paths."""
        self.paced = BodyDeadline(self._dispatch, _timeout_body)
        """Slow request bodies are cut (``web/slowclients.py``)."""

    @property
    def state(self) -> Any:
        return self.api.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.hosted is not None
            and scope["type"] == "http"
            and await self._hosted(scope, receive, send)
        ):
            return
        if scope["type"] == "http" and not scope["path"].startswith("/_homeport/"):
            await self.site(scope, receive, send)  # GET and HEAD only: no body to wait for
        else:
            await self.paced(scope, receive, send)

    async def _hosted(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """A hosted home's own paths go to that home, ``/signup`` on the provider's own address
        to the sign-up pages; False for everything else (sites, the protocol)."""
        assert self.hosted is not None
        path = str(scope["path"])
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        if is_home_path(path):
            name = self.hosted.name_for_host(host)
            if name is not None:
                await self.hosted.serve(name, scope, receive, send)
                return True
        elif path in ("/signup", "/signup/check") and self.hosted.is_own_host(host):
            await self.paced(scope, receive, send)
            return True
        return False

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.api(scope, receive, send)


def _timeout_body(message: str) -> bytes:
    return jsonio.dumps({"error": "timeout", "message": message})


class ProviderWorker:
    """The app, made on its first event in the process that serves it. Only the settings are
    pickled, so each of ``provider serve --workers N``'s processes opens its own database
    connection and keeps its own caches. Unpickling happens in the worker as it starts: that
    is where it ties its life to the supervisor's (``lifeline``)."""

    def __init__(self, settings: Settings, home_factory: HomeFactory | None = None) -> None:
        self.settings = settings
        self.home_factory = home_factory
        self._app: ProviderApp | None = None
        self._parent = os.getpid()

    def __getstate__(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "home_factory": self.home_factory,
            "_app": None,
            "_parent": os.getpid(),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if os.getpid() != self._parent:
            die_with_parent(self._parent)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            settings = self.settings
            db = ProviderDB(
                settings.data_dir, settings.provider_database or "", settings.objects
            )
            self._app = create_provider_app(settings, db=db, home_factory=self.home_factory)
        await self._app(scope, receive, send)


def _protocols_lifespan(
    protocols: tuple[ModuleType, ...], hosted: HostedHomes | None = None
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """Each protocol's ``provider_lifespan`` (a verifier…) for as long as this process serves;
    the hosted homes this process started are stopped at the end."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        relay.end_polls_on_exit()  # a waiting relay poll must not hold up a stop
        async with AsyncExitStack() as stack:
            if hosted is not None:
                stack.push_async_callback(hosted.close)
                hosted.start_all()
            for enter in registry.provider_lifespans(protocols):
                await stack.enter_async_context(enter(app.state))
            await stack.enter_async_context(newsletter.lifespan(app.state))
            await stack.enter_async_context(provider_gc.lifespan(app.state))
            yield

    return lifespan


def _signup_routes() -> list[Route]:
    """``/signup``; imported only when hosted homes are offered, as it pulls in the home's GUI
    (its wizard's checks), which every worker would otherwise import at its start."""
    from homeport.provider import signup

    return signup.routes()


def create_provider_app(
    settings: Settings,
    *,
    db: ProviderDB | None = None,
    verifiers: domains.Verifiers | None = None,
    clock: Callable[[], int] = receive.now_ms,
    protocols: tuple[ModuleType, ...] | None = None,
    home_factory: HomeFactory | None = None,
) -> ProviderApp:
    """``protocols``: the live-web modules whose routes are mounted (tests pass their own;
    by default the built-in plugins' ``register_protocols``: a provider runs no third-party
    plugin). ``home_factory`` (``create_home_app``, handed in by ``provider serve``) runs
    hosted homes when the ``hosted_homes`` setting is on."""
    if protocols is None:
        protocols = tuple(manager.builtins_only().gather("register_protocols"))
    db = db or ProviderDB(settings.data_dir, settings.provider_database, settings.objects)
    verifiers = verifiers or domains.verifiers_for(settings.fetch_allow_private)
    provider = Provider(settings, db, verifiers, clock)
    open_signup = settings.hosted_homes and settings.hosted_signup == "open"
    site = SiteServer(db, settings.data_dir, settings.base_domain, open_signup, provider.sites,
                      settings.provider_body_cache_mb * 1024 * 1024)
    admin = AdminPage(db, settings, provider.sites)
    hosted = None
    if settings.hosted_homes and home_factory is not None:
        hosted = HostedHomes(settings, home_factory)

    async def unknown(request: Request) -> Response:
        return JSONResponse(
            {"error": "not-found", "message": f"{request.url.path} is not a provider endpoint"},
            404,
        )

    async def admin_slash(request: Request) -> Response:
        return RedirectResponse("/_homeport/admin/", 301)

    async def inbox_full(request: Request, exc: Exception) -> Response:
        """A protocol endpoint that could not queue for this tenant's home (``InboxFull``)."""
        return JSONResponse({"error": "inbox-full", "message": str(exc)}, 507)

    app = Starlette(
        routes=[
            Mount(
                "/_homeport/v1",
                routes=[
                    *routes(),
                    *grants.routes(),
                    *activitypub_routes.routes(),
                    *relay.routes(),
                    *mirror.routes(),
                    *fedmove.routes(),
                    *newsletter.routes(),
                    Route("/{rest:path}", unknown, methods=ALL_METHODS),
                ],
            ),
            Route("/_homeport/admin", admin_slash, methods=["GET", "HEAD"]),
            Route("/_homeport/admin/", admin.__call__, methods=["GET", "HEAD"]),
            *(_signup_routes() if hosted is not None else []),
            # the live web's endpoints on tenants' hosts (``interop/registry.py``)
            Mount(
                "/_homeport",
                routes=[
                    *registry.provider_routes(protocols),
                    Route("/{rest:path}", unknown, methods=ALL_METHODS),
                ],
            ),
            Route("/{path:path}", unknown, methods=ALL_METHODS),
        ],
        exception_handlers={
            DatabaseError: storage_fault,
            sqlite3.Error: storage_fault,
            ObjectStoreError: storage_fault,
            InboxFull: inbox_full,
        },
        lifespan=_protocols_lifespan(protocols, hosted),
    )
    app.state.provider = provider
    app.state.ports = make_ports(settings, db, site, clock)
    app.state.activitypub_inbox_rate = settings.activitypub_inbox_rate
    app.state.activitypub_delivery_rate = settings.activitypub_delivery_rate
    app.state.hosted = hosted
    site.gate = functools.partial(members_page, app.state.ports)
    return ProviderApp(app, site, hosted)
