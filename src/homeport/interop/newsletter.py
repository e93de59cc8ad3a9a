"""The newsletter's public side at the provider: one-click unsubscribe (RFC 8058) at
``/_homeport/newsletter/unsubscribe?t=TOKEN`` on the site's host. Every mail carries
``List-Unsubscribe: <that URL>`` and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``; a
POST there (what a mail client sends, body ``List-Unsubscribe=One-Click``) suppresses the
address at once and tells the home (inbox kind ``newsletter.unsubscribe``), which stops the
member's newsletter for every provider. A GET only shows a page with the button (mail scanners
follow links). The token is an HMAC the provider makes with a key of its own, over the tenant
and the SHA-256 of the address: it names no address and cannot be made for another one."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from homeport.interop.hosting import ports_of, tenant_of
from homeport.interop.ports import Handler, InboxFull, InboxItem, OneTime

SEND_POWER = "newsletter-send"
"""The delegation that makes a provider the one that sends the newsletter (no params)."""
UNSUBSCRIBE = "/newsletter/unsubscribe"
UNSUBSCRIBE_KIND = "newsletter.unsubscribe"
"""meta: ``email_hash`` (SHA-256 of the address), ``reason``; no body."""
UNSUBSCRIBED = "unsubscribed"


def email_hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _mac(once: OneTime, tenant: str, hashed: str) -> str:
    digest = hmac.new(once.secret("newsletter"), f"{tenant}\0{hashed}".encode(),
                      hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token(once: OneTime, tenant: str, hashed: str) -> str:
    return f"{hashed}.{_mac(once, tenant, hashed)}"


def read_token(once: OneTime, tenant: str, value: str) -> str | None:
    """The address hash a token names, or None when it was not made here for this tenant."""
    hashed, _, mac = value.partition(".")
    if len(hashed) != 64 or not mac:
        return None
    return hashed if hmac.compare_digest(mac, _mac(once, tenant, hashed)) else None


def unsubscribe_headers(once: OneTime, tenant: str, site: str, hashed: str) -> dict[str, str]:
    url = f"{site}/_homeport{UNSUBSCRIBE}?t={token(once, tenant, hashed)}"
    return {"List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def _page(title: str, text: str, status: int = 200, button: bool = False) -> HTMLResponse:
    form = ("<form method=post><input type=hidden name=List-Unsubscribe value=One-Click>"
            "<button type=submit>Unsubscribe</button></form>") if button else ""
    return HTMLResponse(f"<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport "
                        f"content='width=device-width'><title>{title}</title><main><h1>{title}"
                        f"</h1><p>{text}</p>{form}</main></html>", status)


async def unsubscribe(request: Request) -> Response:
    tenant = await tenant_of(request)
    ports = ports_of(request)
    if tenant is None or ports.suppressions is None or ports.once is None:
        return _page("Not found", "No site is served here.", 404)
    hashed = read_token(ports.once, tenant.name, request.query_params.get("t", ""))
    if hashed is None:
        return _page("Link not valid", "This unsubscribe link is not one this site sent.", 400)
    if request.method != "POST":
        return _page("Unsubscribe", "Stop receiving this site's newsletter?", button=True)
    suppressions = ports.suppressions
    await anyio.to_thread.run_sync(suppressions.suppress, tenant.name, hashed, UNSUBSCRIBED,
                                   ports.clock())
    with contextlib.suppress(InboxFull):  # suppressed here already; the home learns from
        await anyio.to_thread.run_sync(lambda: ports.inbox.put(  # the next send's answer
            tenant.name, UNSUBSCRIBE_KIND, {"email_hash": hashed, "reason": UNSUBSCRIBED}, b"",
            item_id=f"unsubscribe-{hashed[:32]}"))
    return _page("Unsubscribed", "You will not receive this site's newsletter any more.")


def provider_routes() -> list[BaseRoute]:
    return [Route(UNSUBSCRIBE, unsubscribe, methods=["GET", "POST"])]


def unsubscribed(ctx: Any, item: InboxItem) -> Mapping[str, Any]:
    from homeport.interop.newsletter_home import stop

    return stop(ctx, str(item.meta.get("email_hash") or ""), str(item.meta.get("reason") or ""))


def home_handlers() -> dict[str, Handler]:
    return {UNSUBSCRIBE_KIND: unsubscribed}


__all__ = ["SEND_POWER", "UNSUBSCRIBE_KIND", "email_hash", "home_handlers", "provider_routes",
           "read_token", "token", "unsubscribe_headers"]
