"""Announce the home as ``homeport.local`` over mDNS (zeroconf) while ``lan_access`` is on, so a
phone on the same network finds the GUI without knowing the computer's address.

Best effort: a network without multicast only costs a warning in the log, never the start.
zeroconf is imported only when the setting is on, so a home that stays local pays nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any

from homeport.settings import Settings

log = logging.getLogger("homeport")

SERVICE_TYPE = "_http._tcp.local."
SERVICE_NAME = f"Homeport.{SERVICE_TYPE}"
HOST_NAME = "homeport.local."


def lan_addresses() -> list[str]:
    """This computer's IPv4 addresses other than loopback (no packet is sent)."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        found.update(socket.gethostbyname_ex(socket.gethostname())[2])
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # a documentation address; UDP connect sends nothing
        found.add(probe.getsockname()[0])
    return sorted(a for a in found if not a.startswith("127.") and a != "0.0.0.0")


class Announcer:
    """A registered announcement; ``close`` withdraws it."""

    def __init__(self, zeroconf: Any, info: Any, task: Any) -> None:
        self.zeroconf = zeroconf
        self.info = info
        self.task = task

    async def close(self) -> None:
        try:
            await self.zeroconf.async_unregister_service(self.info)
        except Exception as exc:  # the network may be gone by now
            log.warning("mDNS: could not withdraw the announcement: %s", _describe(exc))
        finally:
            await self.zeroconf.async_close()


async def announce(
    settings: Settings,
    factory: Callable[[], Any] | None = None,
    addresses: list[str] | None = None,
) -> Announcer | None:
    """Start announcing when ``lan_access`` is on; None when off or when it cannot."""
    if not settings.lan_access:
        return None
    found = lan_addresses() if addresses is None else addresses
    if not found:
        log.warning("mDNS: no network address besides loopback; homeport.local not announced")
        return None
    from zeroconf import ServiceInfo
    from zeroconf.asyncio import AsyncZeroconf

    info = ServiceInfo(
        SERVICE_TYPE,
        SERVICE_NAME,
        addresses=[socket.inet_aton(a) for a in found],
        port=settings.port,
        properties={"path": "/admin/"},
        server=HOST_NAME,
    )
    zeroconf = (factory or AsyncZeroconf)()
    try:
        # Registering probes the network for a second or two: let it finish in the background.
        task = await zeroconf.async_register_service(info)
    except Exception as exc:
        log.warning("mDNS: homeport.local not announced: %s", _describe(exc))
        with contextlib.suppress(Exception):
            await zeroconf.async_close()
        return None
    if isinstance(task, asyncio.Future):
        task.add_done_callback(_report)
    return Announcer(zeroconf, info, task)


def _report(task: asyncio.Future[Any]) -> None:
    error = None if task.cancelled() else task.exception()
    if error is not None:
        log.warning("mDNS: homeport.local not announced: %s", _describe(error))


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
