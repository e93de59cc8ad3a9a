"""The operator's page, ``/_homeport/admin/``: the tenants at a glance, behind a password.

HTTP Basic over the front proxy's TLS, checked against an argon2 hash kept in the provider's
database (set by the first ``provider serve``). Read-only, so it needs no session or CSRF token;
the operator changes things with ``homeport provider suspend|resume|delete``. Failed logins
are limited per client address.
"""

from __future__ import annotations

import base64
import html
import time
from collections import defaultdict, deque
from datetime import UTC, datetime

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from homeport.provider import sites
from homeport.provider.db import ProviderDB
from homeport.provider.sitestore import SiteStore
from homeport.settings import Settings

PASSWORD_KEY = "operator_password"
OPERATOR = "operator"
FAILURES_PER_MINUTE = 10


def hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib
    )


def set_password(db: ProviderDB, settings: Settings, password: str) -> None:
    db.set_meta(PASSWORD_KEY, hasher(settings).hash(password))


def has_password(db: ProviderDB) -> bool:
    return db.meta(PASSWORD_KEY) is not None


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def when(ms: int | None) -> str:
    if ms is None:
        return "never"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


class AdminPage:
    def __init__(self, db: ProviderDB, settings: Settings, store: SiteStore) -> None:
        self.db = db
        self.settings = settings
        self.sites = store
        self.failures: dict[str, deque[float]] = defaultdict(deque)

    async def __call__(self, request: Request) -> Response:
        client = request.client.host if request.client else "?"
        recent = self.failures[client]
        while recent and recent[0] < time.monotonic() - 60:
            recent.popleft()
        if len(recent) >= FAILURES_PER_MINUTE:
            return PlainTextResponse("Too many failed logins: wait a minute.", 429)
        if not await self._authorised(request.headers.get("authorization")):
            recent.append(time.monotonic())
            return PlainTextResponse(
                "The operator's password is needed.",
                401,
                {"WWW-Authenticate": 'Basic realm="Homeport provider", charset="UTF-8"'},
            )
        return HTMLResponse(self.render(), headers={"Cache-Control": "no-store"})

    async def _authorised(self, header: str | None) -> bool:
        stored = self.db.meta(PASSWORD_KEY)
        if stored is None or not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        if user != OPERATOR:
            return False

        def check() -> bool:
            try:
                return hasher(self.settings).verify(stored, password)
            except (VerificationError, InvalidHashError):
                return False

        return await anyio.to_thread.run_sync(check)

    def render(self) -> str:
        rows = []
        for t in self.db.tenants():
            live = self.sites.live(t.name)
            domains = ", ".join(
                d.domain + ("" if d.verified else " (unverified)")
                for d in self.db.domains_of(t.name)
            )
            cells = [
                t.name,
                t.did,
                t.state,
                domains or "—",
                f"{size(t.usage)} of {size(t.quota)}",
                when(t.last_publish),
                str(sites.seq_of(live)) if live else "—",
            ]
            rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        heads = "".join(
            f"<th>{h}</th>"
            for h in ("tenant", "identity", "state", "domains", "usage", "last publish", "live seq")
        )
        body = "\n".join(rows) or '<tr><td colspan="7">No tenants yet.</td></tr>'
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Homeport provider</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;font-size:.9rem}}</style></head>
<body><h1>Homeport provider</h1>
<p>Base domain: {html.escape(self.settings.base_domain or "(not set)")}.
Invite with <code>homeport provider invite</code>; suspend, resume or delete with
<code>homeport provider suspend|resume|delete NAME</code>.</p>
<table><thead><tr>{heads}</tr></thead><tbody>
{body}
</tbody></table></body></html>
"""
