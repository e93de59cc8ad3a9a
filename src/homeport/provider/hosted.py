"""Hosted homes: a home that runs inside the provider for a person with no device yet.

Each is an ordinary home (the same app, the same GUI, its own SQLite store and keys) in
``<data>/hosted/<name>/``, answering at ``<name>.<base_domain>`` on the paths a home serves
(``/admin``, ``/v1``, ``/preview``, ``/attachments``); every other path on that host is its
published site, served like any tenant's. It publishes to this provider through the sync
protocol like a home on a device, so moving it to a device later changes nothing for readers.

The provider cannot import ``homeport.home`` (a sibling layer): ``provider serve`` hands in the
function that makes a home app. A home is started on its first request and runs until the
provider stops; its lifespan (auto-publisher, relay) runs in a task of its own, so it is
entered and left in the same task.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from homeport.provider.tenants import valid_name
from homeport.settings import Settings, SettingsError
from homeport.web.hosts import host_name, is_ip_literal

log = logging.getLogger("homeport.provider")

HOSTED_DIR = "hosted"
HOME_PATHS = ("/admin", "/v1", "/preview", "/attachments")
"""The paths on a hosted home's host that reach the home; the rest is its published site."""
SIGNUP_MODES = ("invite",)
START_TIMEOUT_S = 60.0

HomeFactory = Callable[[Settings], Any]
"""``create_home_app``: settings in, a Starlette app with a lifespan out."""


def check_settings(settings: Settings) -> None:
    """Refuse a sign-up mode this provider cannot honour (``provider serve`` calls this)."""
    if settings.hosted_homes and settings.hosted_signup not in SIGNUP_MODES:
        if settings.hosted_signup == "open":
            raise SettingsError(
                "setting 'hosted_signup': 'open' (sign-up with email verification) is not "
                "offered yet; use 'invite' and hand out codes with 'homeport provider invite'"
            )
        raise SettingsError(
            f"setting 'hosted_signup': {settings.hosted_signup!r} is not one of: invite"
        )


def is_home_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in HOME_PATHS)


@dataclasses.dataclass
class _Running:
    app: Any
    stop: asyncio.Event
    task: asyncio.Task[None]


class HostedHomes:
    """The hosted homes of one provider process: where they live, and their running apps."""

    def __init__(self, settings: Settings, factory: HomeFactory) -> None:
        self.settings = settings
        self.factory = factory
        self.base = settings.base_domain.strip(".").lower()
        self._running: dict[str, _Running] = {}
        self._starting: dict[str, asyncio.Lock] = {}

    @property
    def root(self) -> Path:
        return self.settings.data_dir / HOSTED_DIR

    def folder(self, name: str) -> Path:
        return self.root / name

    def exists(self, name: str) -> bool:
        """A hosted home is there once its identity is written (the last step of a sign-up)."""
        return valid_name(name) and (self.folder(name) / "identity.json").exists()

    def name_for_host(self, host: str) -> str | None:
        """The hosted home ``host`` names (``<name>.<base_domain>``, any port), or None."""
        found = host_name(host)
        if not found or not self.base or not found.endswith("." + self.base):
            return None
        name = found[: -len(self.base) - 1]
        return name if self.exists(name) else None

    def is_own_host(self, host: str) -> bool:
        """Whether ``host`` is the provider's own address (the base domain, a configured
        public address, an IP address or ``localhost``) rather than a tenant's site."""
        found = host_name(host)
        if not found:
            return False
        if found in (self.base, "localhost") or is_ip_literal(found):
            return True
        return any(urlsplit(url).hostname == found for url in self.settings.provider_public_url)

    def home_settings(self, name: str) -> Settings:
        """The provider's settings made a home's: its own folder and SQLite store, its one
        host name, no password printed, no LAN announcement, nothing of the provider's."""
        return dataclasses.replace(
            self.settings,
            data_dir=self.folder(name),
            storage_url="",
            admin_password=None,
            allowed_hosts=(f"{name}.{self.base}",),
            lan_access=False,
            open_browser=False,
            auto_publish=True,
            inbox_relay=True,
            hosted=True,
            hosted_homes=False,
            base_domain="",
            provider_public_url=(),
            provider_database="",
            operator_password=None,
        )

    async def app(self, name: str) -> Any:
        """The running app of hosted home ``name``, started on first use."""
        running = self._running.get(name)
        if running is not None:
            return running.app
        lock = self._starting.setdefault(name, asyncio.Lock())
        async with lock:
            running = self._running.get(name)
            if running is None:
                running = await self._start(name)
                self._running[name] = running
        return running.app

    async def _start(self, name: str) -> _Running:
        app = self.factory(self.home_settings(name))
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()

        async def live() -> None:
            try:
                async with app.router.lifespan_context(app):
                    ready.set_result(None)
                    await stop.wait()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                    return
                raise

        task = asyncio.create_task(live(), name=f"hosted home {name}")
        await asyncio.wait_for(asyncio.shield(ready), START_TIMEOUT_S)
        log.info("hosted home %s started", name)
        return _Running(app, stop, task)

    async def serve(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        app: ASGIApp = await self.app(name)
        await app(scope, receive, send)

    async def stop(self, name: str) -> None:
        running = self._running.pop(name, None)
        if running is None:
            return
        running.stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(running.task, START_TIMEOUT_S)

    async def close(self) -> None:
        for name in list(self._running):
            await self.stop(name)


__all__ = ["HOSTED_DIR", "HomeFactory", "HostedHomes", "check_settings", "is_home_path"]
