"""Hosted homes: a home that runs inside the provider for a person with no device yet.

Each is an ordinary home (the same app, the same GUI, its own SQLite store and keys) in
``<data>/hosted/<name>/``, answering at ``<name>.<base_domain>`` on the paths a home serves
(``/admin``, ``/v1``, ``/preview``, ``/attachments``); every other path on that host is its
published site, served like any tenant's. It publishes to this provider through the sync
protocol like a home on a device, so moving it to a device later changes nothing for readers.

The provider cannot import ``homeport.home`` (a sibling layer): ``provider serve`` hands in the
function that makes a home app. Every hosted home is started with the provider, by the worker
that owns it (below; a new one at its sign-up), and runs until the provider stops; its lifespan
runs in a task of its own, so it is entered and left in the same task.

With ``provider serve --workers N`` every worker may serve a hosted home's requests, but only
one, its **owner**, runs what a home does by itself (the auto-publisher, the inbox relay): the
worker holding an exclusive ``flock`` on ``<data>/locks/hosted-<name>.lock``. The others start it
on its first request there, without those (their writes reach the same SQLite store, where the
owner's auto-publisher sees them). A worker that dies drops its locks with it; the others try
for unowned homes every few seconds, and the one that gets a lock starts the home again as its
owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from homeport.provider import hosts
from homeport.provider.locks import LOCKS_DIR
from homeport.provider.tenants import valid_name
from homeport.settings import Settings, SettingsError
from homeport.web.hosts import host_name, is_ip_literal

log = logging.getLogger("homeport.provider")

HOSTED_DIR = "hosted"
HOME_PATHS = ("/admin", "/v1", "/preview", "/attachments")
"""The paths on a hosted home's host that reach the home; the rest is its published site."""
SIGNUP_MODES = ("invite", "open")
START_TIMEOUT_S = 60.0
CLAIM_EVERY_S = 5.0
"""How often a worker tries for the hosted homes no worker owns (their owner died)."""
DRAIN_S = 30.0
"""How long a home replaced by its owning copy is given to finish the requests it serves."""

HomeFactory = Callable[[Settings], Any]
"""``create_home_app``: settings in, a Starlette app with a lifespan out."""


def check_settings(settings: Settings) -> None:
    """Refuse a sign-up mode this provider cannot honour (``provider serve`` calls this)."""
    if not settings.hosted_homes:
        return
    if settings.hosted_signup not in SIGNUP_MODES:
        raise SettingsError(
            f"setting 'hosted_signup': {settings.hosted_signup!r} is not one of: invite, open"
        )
    if settings.hosted_signup == "open" and not settings.smtp_url:
        raise SettingsError(
            "setting 'hosted_signup': 'open' verifies each sign-up's email address, so it needs "
            "the setting 'smtp_url' (the SMTP server that sends the codes)"
        )


def is_home_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in HOME_PATHS)


@dataclasses.dataclass
class _Running:
    app: Any
    stop: asyncio.Event
    task: asyncio.Task[None]
    owner: bool
    serving: int = 0


class HostedHomes:
    """The hosted homes of one provider process: where they live, and their running apps."""

    def __init__(self, settings: Settings, factory: HomeFactory) -> None:
        self.settings = settings
        self.factory = factory
        self.base = settings.base_domain.strip(".").lower()
        self._running: dict[str, _Running] = {}
        self._starting: dict[str, asyncio.Lock] = {}
        self._owned: dict[str, int] = {}
        """name → the open lock file that makes this process the home's owner."""
        self._claimer: asyncio.Task[None] | None = None

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
        name = hosts.label_of(host_name(host) or "", self.base)
        return name if name is not None and self.exists(name) else None

    def is_own_host(self, host: str) -> bool:
        """Whether ``host`` is the provider's own address (the base domain, a configured
        public address, an IP address or ``localhost``) rather than a tenant's site."""
        found = host_name(host)
        if not found:
            return False
        if found in (self.base, "localhost") or is_ip_literal(found):
            return True
        return any(urlsplit(url).hostname == found for url in self.settings.provider_public_url)

    def names(self) -> list[str]:
        """Every hosted home there is, by name."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if self.exists(p.name))

    def owns(self, name: str) -> bool:
        return name in self._owned

    def _claim(self, name: str) -> bool:
        """Take the home's owner lock if no process holds it (never waits)."""
        if name in self._owned:
            return True
        locks = self.settings.data_dir / LOCKS_DIR
        locks.mkdir(exist_ok=True)
        fd = os.open(locks / f"hosted-{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._owned[name] = fd
        return True

    def _release(self, name: str) -> None:
        fd = self._owned.pop(name, None)
        if fd is not None:
            os.close(fd)

    def home_settings(self, name: str, owner: bool = True) -> Settings:
        """The provider's settings made a home's: its own folder and SQLite store, its one
        host name, no password printed, no LAN announcement, nothing of the provider's; the
        auto-publisher and the relay only in the home's owner (module docstring). Its owner may
        always log in with a passkey (``signin_passkey``): a sign-up may have chosen one."""
        return dataclasses.replace(
            self.settings,
            data_dir=self.folder(name),
            storage_url="",
            admin_password=None,
            allowed_hosts=(f"{name}.{self.base}",),
            lan_access=False,
            open_browser=False,
            auto_publish=owner,
            inbox_relay=owner,
            hosted=True,
            hosted_homes=False,
            base_domain="",
            provider_public_url=(),
            provider_database="",
            operator_password=None,
            plugins={**self.settings.plugins, "signin_passkey": True},
        )

    async def app(self, name: str) -> Any:
        """The running app of hosted home ``name``, started on first use."""
        return (await self._get(name)).app

    async def _get(self, name: str) -> _Running:
        running = self._running.get(name)
        if running is not None:
            return running
        lock = self._starting.setdefault(name, asyncio.Lock())
        async with lock:
            running = self._running.get(name)
            if running is None:
                running = await self._start(name, self._claim(name))
                self._running[name] = running
        return running

    def start_all(self) -> None:
        """At the provider's start, in the background (the provider answers meanwhile): start
        every hosted home no other worker owns, as its owner (the others start a home on its
        first request here, without the owner's tasks), then keep trying for homes whose
        owner died."""
        self._claimer = asyncio.create_task(self._run(), name="hosted homes")

    async def _run(self) -> None:
        for name in self.names():
            try:
                if self._claim(name):
                    await self._get(name)
            except Exception:  # one home that cannot start never keeps the others down
                log.exception("hosted home %s did not start", name)
        while True:
            await asyncio.sleep(CLAIM_EVERY_S)
            for name in self.names():
                running = self._running.get(name)
                if running is not None and running.owner:
                    continue
                try:
                    await self._take_over(name)
                except Exception:
                    log.exception("hosted home %s: taking it over failed", name)

    async def _take_over(self, name: str) -> None:
        """Become ``name``'s owner if no process is: start it as the owner, send new requests
        there, and stop the copy without the owner's tasks once its requests are done."""
        lock = self._starting.setdefault(name, asyncio.Lock())
        async with lock:
            before = self._running.get(name)
            if (before is not None and before.owner) or not self._claim(name):
                return
            try:
                self._running[name] = await self._start(name, True)
            except BaseException:
                self._release(name)
                raise
        if before is not None:
            for _ in range(int(DRAIN_S * 10)):
                if before.serving == 0:
                    break
                await asyncio.sleep(0.1)
            await self._stop(before)
        log.info("hosted home %s: this worker is its owner now", name)

    async def _start(self, name: str, owner: bool) -> _Running:
        app = self.factory(self.home_settings(name, owner))
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
        log.info("hosted home %s started%s", name, " (its owner)" if owner else "")
        return _Running(app, stop, task, owner)

    async def serve(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        running = await self._get(name)
        app: ASGIApp = running.app
        running.serving += 1
        try:
            await app(scope, receive, send)
        finally:
            running.serving -= 1

    async def stop(self, name: str) -> None:
        running = self._running.pop(name, None)
        if running is not None:
            await self._stop(running)
        self._release(name)

    @staticmethod
    async def _stop(running: _Running) -> None:
        running.stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(running.task, START_TIMEOUT_S)

    async def close(self) -> None:
        if self._claimer is not None:
            self._claimer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._claimer
        for name in list(self._running):
            await self.stop(name)
        for name in list(self._owned):
            self._release(name)


__all__ = ["HOSTED_DIR", "HomeFactory", "HostedHomes", "check_settings", "is_home_path"]
