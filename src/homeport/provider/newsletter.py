"""The newsletter at the provider the creator chose to send it (``docs/members.md``,
"Newsletter"): ``POST /_homeport/v1/newsletter``, signed by the home like every protocol
request, hands over the mails of one new entry; the provider sends each through its SMTP server
(``smtp_url``, ``interop/mail.py``) with RFC 8058 one-click unsubscribe headers, skipping every
address on the tenant's suppression list, and puts there the addresses the SMTP server refuses
for good (a bounce). Only a provider holding the tenant's ``newsletter-send`` delegation sends.
The suppression list (``ports.Suppressions``) is the ``newsletter_suppressed`` table."""

from __future__ import annotations

import smtplib
from collections.abc import Collection
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeport.interop.newsletter import (
    SEND_POWER,
    UNSUBSCRIBED,
    email_hash,
    unsubscribe_headers,
)
from homeport.provider.api import Provider, authenticate, endpoint, in_thread, json_of
from homeport.provider.db import ProviderDB
from homeport.provider.errors import ProviderError

MAX_MESSAGES = 500
MAX_BODY = 8 * 1024 * 1024
BOUNCED = "bounced"


class ProviderSuppressions:
    def __init__(self, db: ProviderDB) -> None:
        self.db = db

    def suppress(self, tenant: str, email_hash: str, reason: str, now: int) -> bool:
        with self.db.transaction() as conn:
            added = conn.execute(
                "INSERT INTO newsletter_suppressed (tenant, email_hash, reason, at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (tenant, email_hash) DO NOTHING",
                (tenant, email_hash, reason, now),
            ).rowcount
        return added > 0

    def suppressed(self, tenant: str, email_hashes: Collection[str]) -> set[str]:
        wanted = sorted(set(email_hashes))
        found: set[str] = set()
        with self.db.reading() as conn:
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = conn.execute(
                    "SELECT email_hash FROM newsletter_suppressed WHERE tenant = ?"
                    f" AND email_hash IN ({marks})", (tenant, *part)).fetchall()
                found.update(str(r[0]) for r in rows)
        return found


def _messages(doc: Any) -> list[dict[str, str]]:
    items = doc.get("messages") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not 0 < len(items) <= MAX_MESSAGES:
        raise ProviderError(400, "bad-request",
                            f"messages must be a list of 1 to {MAX_MESSAGES} mails")
    out: list[dict[str, str]] = []
    for n, item in enumerate(items):
        raw = item if isinstance(item, dict) else {}
        fields = {k: raw.get(k) for k in ("to", "subject", "text")}
        if not all(isinstance(v, str) and v for v in fields.values()):
            raise ProviderError(400, "bad-request", f"message {n}: to, subject and text")
        clean = {k: str(v) for k, v in fields.items()}
        if "@" not in clean["to"] or any(c in clean["to"] + clean["subject"]
                                         for c in "\r\n"):
            raise ProviderError(400, "bad-request", f"message {n}: not a mail it can send")
        out.append(clean)
    return out


def _site(ports: Any, tenant: str, named: Any, base_domain: str) -> str:
    """The site's address the unsubscribe links name: the one the home gave if this
    provider serves the tenant there, else its address under the base domain."""
    if isinstance(named, str) and named.startswith(("https://", "http://")):
        host = named.split("://", 1)[1].split("/", 1)[0]
        found = ports.sites.tenant_for_host(host)
        if found is not None and found.name == tenant:
            return named.rstrip("/")
    return f"https://{tenant}.{base_domain}"


def _bounced(exc: BaseException) -> bool:
    """Whether the SMTP server refused the recipient for good (5xx), not a passing fault."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in cause.recipients.values())
    return False


async def send(request: Request, provider: Provider) -> Response:
    tenant, body = await authenticate(request, provider, MAX_BODY, writes=True)
    ports = request.app.state.ports
    if ports.grants.delegation(tenant.name, SEND_POWER) is None:
        raise ProviderError(403, "forbidden", "the home has not chosen this provider to send "
                            "its newsletter (no newsletter-send delegation)")
    if not provider.settings.smtp_url:
        raise ProviderError(503, "no-smtp", "this provider has no SMTP server (smtp_url)")
    doc = json_of(body)
    messages = _messages(doc)
    site = _site(ports, tenant.name, doc.get("site"), provider.settings.base_domain)
    result = await in_thread(_send_all, provider, ports, tenant.name, site, messages)
    return JSONResponse(result)


def _send_all(provider: Provider, ports: Any, tenant: str, site: str,
              messages: list[dict[str, str]]) -> dict[str, Any]:
    from homeport.interop import mail

    suppressions: ProviderSuppressions = ports.suppressions
    hashes = {m["to"]: email_hash(m["to"]) for m in messages}
    skipped = suppressions.suppressed(tenant, hashes.values())
    sender = f"newsletter@{site.split('://', 1)[-1].split('/')[0].split(':')[0]}"
    sent, bounced, failed = 0, [], []
    for message in messages:
        hashed = hashes[message["to"]]
        if hashed in skipped:
            continue
        headers = unsubscribe_headers(ports.once, tenant, site, hashed)
        try:
            mail.send(provider.settings.smtp_url, sender=sender, to=message["to"],
                      subject=message["subject"], text=message["text"], headers=headers)
            sent += 1
        except mail.MailError as exc:
            if _bounced(exc):
                suppressions.suppress(tenant, hashed, BOUNCED, provider.clock())
                bounced.append(hashed)
            else:
                failed.append({"to": message["to"], "error": str(exc)})
    return {"sent": sent, "suppressed": sorted(skipped), "bounced": bounced, "failed": failed}


def routes() -> list[Route]:
    return [Route("/newsletter", endpoint(send), methods=["POST"])]


__all__ = ["BOUNCED", "UNSUBSCRIBED", "ProviderSuppressions", "routes"]
