"""One limit on password guessing for every way of logging in (Basic auth on ``/v1`` and batch,
the GUI's login form), counted per client and per account, in this process's memory.

Only failures count, and a success does not wipe them: otherwise an attacker with an account of
their own could reset their counter between guesses. While a client or an account is over its
limit every attempt is refused, the right password included, or the limit would only slow the
attacker down until the first lucky guess. The numbers and why are in docs/security.md
("Logging in").
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque
from dataclasses import dataclass

from homeport.core.errors import Errno, HomeportError
from homeport.services.context import Context

MINUTE_MS = 60 * 1000
HOUR_MS = 60 * MINUTE_MS


@dataclass(frozen=True)
class Limit:
    failures: int
    window_ms: int


CLIENT_LIMITS = (Limit(5, MINUTE_MS), Limit(20, HOUR_MS))
"""A client (an address, see :func:`client_key`): 5 failures a minute, 20 an hour."""
ACCOUNT_LIMITS = (Limit(100, HOUR_MS),)
"""An account, from every client together: gentler, so that locking the owner out takes many
addresses, and never longer than an hour after the attack stops."""
MAX_KEYS = 20_000
"""Clients and accounts remembered at most; the oldest are forgotten first."""


class TooManyAttempts(HomeportError):
    """429 in Kinto's shape (errno 117, as Kinto's own rate limits) with ``Retry-After``."""

    code = 429
    errno = Errno.CLIENT_REACHED_CAPACITY

    def __init__(self, wait_seconds: int) -> None:
        super().__init__(
            f"Too many wrong passwords. Wait {wait_seconds} seconds, then try again.",
            headers={"Retry-After": str(wait_seconds)},
        )
        self.wait_seconds = wait_seconds


def client_key(address: str | None, origin: str | None) -> str:
    """Whom a client's failures are counted against: its address (an IPv6 one by its /64, which
    one machine usually holds whole). On loopback the page's ``Origin`` is added: a hostile page
    in the owner's browser then locks out only itself, not the owner's tools or the GUI."""
    text = address or "?"
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if ip.version == 6 and not ip.is_loopback:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    if ip.is_loopback and origin:
        return f"{ip} {origin}"
    return str(ip)


class LoginLimiter:
    """Failure times per key (``client:…``, ``account:…``), newest keys last."""

    def __init__(self) -> None:
        self._failures: OrderedDict[str, deque[int]] = OrderedDict()

    def wait_seconds(self, client: str, account: str | None, now: int) -> int:
        """How long ``client`` must wait before trying ``account`` (0: it may try now)."""
        wait = self._wait(f"client:{client}", CLIENT_LIMITS, now)
        if account is not None:
            wait = max(wait, self._wait(f"account:{account}", ACCOUNT_LIMITS, now))
        return wait

    def check(self, client: str, account: str | None, now: int) -> None:
        wait = self.wait_seconds(client, account, now)
        if wait:
            raise TooManyAttempts(wait)

    def failed(self, client: str, account: str | None, now: int) -> None:
        self._add(f"client:{client}", now)
        if account is not None:
            self._add(f"account:{account}", now)

    def _wait(self, key: str, limits: tuple[Limit, ...], now: int) -> int:
        times = self._failures.get(key)
        if not times:
            return 0
        longest = max(limit.window_ms for limit in limits)
        while times and now - times[0] >= longest:
            times.popleft()
        wait_ms = 0
        for limit in limits:
            recent = [t for t in times if now - t < limit.window_ms]
            if len(recent) >= limit.failures:
                # Free again when the oldest failure that keeps it over the limit expires.
                oldest = recent[len(recent) - limit.failures]
                wait_ms = max(wait_ms, oldest + limit.window_ms - now)
        return max(1, (wait_ms + 999) // 1000) if wait_ms else 0

    def _add(self, key: str, now: int) -> None:
        times = self._failures.pop(key, None) or deque(maxlen=200)
        times.append(now)
        self._failures[key] = times
        while len(self._failures) > MAX_KEYS:
            self._failures.popitem(last=False)


def limiter_of(ctx: Context) -> LoginLimiter:
    found = ctx.caches.get("login_limiter")
    if not isinstance(found, LoginLimiter):
        found = ctx.caches["login_limiter"] = LoginLimiter()
    return found
