"""The Sign-in page: what lets apps sign in as the site (IndieAuth) at each provider.

Two delegations per provider (``docs/interop.md``, "IndieAuth"): ``indieauth-tokens`` (which
scopes its sign-ins may grant) and ``passkey`` (the owner's passkeys that approve them). A
passkey is bound to the host it is made on, so it is made on the provider's page for the
site's host: this page hands the provider a one-off ``passkey-register`` ticket, sends the
browser there, and takes the public key back (``back`` → ``confirm`` → ``add``), then signs it
into the ``passkey`` delegation.
"""

from __future__ import annotations

import base64
import binascii
import html
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from homeport.core.errors import HomeportError
from homeport.crypto.delegations import INDIEAUTH_TOKENS
from homeport.gui import providers as providers_page  # noqa: F401  (its 'when' filter)
from homeport.gui import uploads
from homeport.gui.pages import PREFIX, SECURITY_HEADERS, Page, page
from homeport.interop.indieauth import APPROVAL_POWER
from homeport.interop.indieauth import home as signins
from homeport.interop.indieauth import passkeys as pk
from homeport.services import grants
from homeport.sync import grants as grant_sync
from homeport.sync import providers
from homeport.sync.auth import origin

DAY_MS = 86_400_000
DELEGATION_LIFETIME_MS = 365 * DAY_MS
TICKET_LIFETIME_MS = 10 * 60_000
SCOPES = (
    ("create", "create entries"),
    ("update", "change entries"),
    ("delete", "delete entries"),
    ("undelete", "restore deleted entries"),
    ("media", "upload media"),
    ("draft", "create drafts"),
    ("profile", "see the site's profile"),
)
BACK_FIELDS = ("ticket", "credential_id", "public_key", "rp_id")
MAX_FIELD = 2048


class SigninError(HomeportError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code=400)


def _same(audience: Any, url: str) -> bool:
    try:
        return isinstance(audience, str) and origin(audience) == origin(url)
    except ValueError:
        return False


def _active(records: list[Any], power: str, url: str, now: int) -> list[Mapping[str, Any]]:
    return [
        r
        for r in records
        if r.get("power") == power
        and _same(r.get("audience"), url)
        and grants.state(r, now) == "active"
    ]


async def _push(p: Page) -> list[str]:
    """Hand every provider the new list now; what could not be told (said on the page)."""
    pushed = await grant_sync.sync(p.ctx)
    return [f"{o.url} was not told yet: {o.error}" for o in pushed if o.error]


def _provider(p: Page, url: str) -> dict[str, Any]:
    for entry in providers.load(p.ctx.settings.data_dir):
        if entry.get("url") == url and isinstance(entry.get("site"), str):
            return entry
    raise SigninError("That is not one of this home's providers (see Providers).")


async def _rows(p: Page) -> list[dict[str, Any]]:
    records = await grants.list_grants(p.ctx)
    now = p.now
    rows = []
    for entry in providers.load(p.ctx.settings.data_dir):
        url, site = entry.get("url"), entry.get("site")
        if not isinstance(url, str) or not isinstance(site, str):
            continue
        tokens = _active(records, INDIEAUTH_TOKENS, url, now)
        keys = _active(records, pk.POWER, url, now)
        rows.append(
            {
                "url": url,
                "site": site,
                "scopes": sorted({s for r in tokens for s in r["params"].get("scopes", [])}),
                "until": max((r["expires"] or 0 for r in tokens), default=None),
                "passkeys": [c for r in keys for c in pk.from_params(r["params"])],
            }
        )
    return rows


async def _page(p: Page, status: int = 200, warnings: list[str] | None = None) -> Response:
    waiting = signins.pending(p.ctx.settings.data_dir, p.now)
    return p.render(
        "signin.html",
        status,
        rows=await _rows(p),
        choices=SCOPES,
        waiting=waiting,
        warnings=warnings or [],
    )


@page()
async def answer(p: Page) -> Response:
    """The owner's answer to a sign-in a provider queued: an ``indieauth-approval``
    delegation naming it (the scopes ticked, or declined), for the provider that asked (every
    provider when the item did not say), short-lived; the sign-in page there goes on."""
    form = await p.form()
    nonce = uploads.line(form, "nonce", 200)
    found = signins.take(p.ctx.settings.data_dir, nonce, p.now)
    if found is None:
        raise SigninError("That sign-in is no longer waiting (answered, or expired).")
    approved = uploads.line(form, "decision", 10) == "approve"
    scopes = sorted({str(v) for v in form.getlist("scope")} & set(found["scope"]))
    params: dict[str, Any] = (
        {"nonce": nonce, "scopes": scopes} if approved else {"nonce": nonce, "declined": True}
    )
    provider = found.get("provider") or grants.EVERY_PROVIDER
    await grants.create_delegation(
        p.ctx, provider, APPROVAL_POWER, params, expires_in=TICKET_LIFETIME_MS
    )
    for warning in await _push(p):
        p.flash(warning)
    p.flash(
        f"Sign-in by {found['client_id']} approved ({' '.join(scopes) or 'no scope'})."
        if approved
        else f"Sign-in by {found['client_id']} declined."
    )
    return p.redirect(PREFIX + "/signin")


@page()
async def index(p: Page) -> Response:
    return await _page(p)


@page()
async def allow(p: Page) -> Response:
    """Let the provider's sign-ins grant these scopes (none: sign-ins give no token)."""
    form = await p.form()
    url = uploads.line(form, "provider", 2000)
    _provider(p, url)
    wanted = sorted({str(v) for v in form.getlist("scope")})
    known = {value for value, _ in SCOPES}
    if not set(wanted) <= known:
        raise SigninError("Unknown scope: " + " ".join(sorted(set(wanted) - known)))
    old = _active(await grants.list_grants(p.ctx), INDIEAUTH_TOKENS, url, p.now)
    if wanted:
        await grants.create_delegation(
            p.ctx, url, INDIEAUTH_TOKENS, {"scopes": wanted}, expires_in=DELEGATION_LIFETIME_MS
        )
    for record in old:
        await grants.revoke(p.ctx, record["id"])
    for warning in await _push(p):
        p.flash(warning)
    p.flash(
        f"Sign-ins at {url} may now grant: {' '.join(wanted)}."
        if wanted
        else f"Sign-ins at {url} grant no token now."
    )
    return p.redirect(PREFIX + "/signin")


@page()
async def start(p: Page) -> Response:
    """A one-off ticket for the provider, then a link there (a form may not redirect to
    another origin under the GUI's CSP, and the owner should see where they are going)."""
    form = await p.form()
    url = uploads.line(form, "provider", 2000)
    entry = _provider(p, url)
    nonce = secrets.token_urlsafe(18)
    back = f"{p.request.url.scheme}://{p.request.url.netloc}{PREFIX}/signin/passkey/back"
    await grants.create_delegation(
        p.ctx,
        url,
        pk.REGISTER_POWER,
        {"nonce": nonce, "return_url": back},
        expires_in=TICKET_LIFETIME_MS,
    )
    warnings = await _push(p)
    target = entry["site"].rstrip("/") + "/_homeport/indieauth/passkey?" + urlencode(
        {"ticket": nonce}
    )
    return p.render("signin_go.html", target=target, site=entry["site"], warnings=warnings)


async def back(request: Request) -> Response:
    """Where the provider sends the browser back. That navigation comes from another site, so
    the GUI's session cookie (SameSite=Strict) is not sent; this page only carries the values
    on to ``confirm`` with a navigation of its own, which is same-site. It reads no session
    and changes nothing."""
    values = {k: request.query_params.get(k, "")[:MAX_FIELD] for k in BACK_FIELDS}
    target = html.escape(f"{PREFIX}/signin/passkey/confirm?{urlencode(values)}")
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta http-equiv='refresh' content='0;url={target}'><title>Back home</title></head>"
        f"<body><p><a href='{target}'>Continue</a></p></body></html>"
    )
    return HTMLResponse(body, headers=SECURITY_HEADERS)


def _b64(value: str, what: str, limit: int) -> str:
    try:
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, binascii.Error):
        raise SigninError(f"The passkey's {what} is not base64url.") from None
    if not value or not 0 < len(data) <= limit:
        raise SigninError(f"The passkey's {what} is missing or too long.")
    return value.rstrip("=")


async def _ticket(p: Page, values: Mapping[str, str]) -> tuple[Mapping[str, Any], dict[str, str]]:
    """The ticket this home issued, still good, and the passkey's values, checked."""
    nonce = values.get("ticket", "")
    found = [
        r
        for r in await grants.list_grants(p.ctx)
        if r.get("power") == pk.REGISTER_POWER
        and grants.state(r, p.now) == "active"
        and r["params"].get("nonce") == nonce
    ]
    if not nonce or not found:
        raise SigninError(
            "This passkey does not answer a request of this home, or it came back too late. "
            "Start again from Sign-in."
        )
    ticket = found[0]
    entry = _provider(p, str(ticket["audience"]))
    credential = {
        "credential_id": _b64(values.get("credential_id", ""), "id", 1023),
        "public_key": _b64(values.get("public_key", ""), "public key", 1024),
        "rp_id": values.get("rp_id", ""),
    }
    if credential["rp_id"] != urlsplit(entry["site"]).hostname:
        raise SigninError("The passkey was made for another host than the site's.")
    return ticket, credential


@page()
async def confirm(p: Page) -> Response:
    values = {k: p.request.query_params.get(k, "") for k in BACK_FIELDS}
    ticket, credential = await _ticket(p, values)
    return p.render(
        "signin_confirm.html",
        provider=ticket["audience"],
        values={"ticket": values["ticket"], **credential},
    )


@page()
async def add(p: Page) -> Response:
    form = await p.form()
    values = {k: uploads.line(form, k, MAX_FIELD) for k in BACK_FIELDS}
    ticket, credential = await _ticket(p, values)
    url = str(ticket["audience"])
    await _replace_passkeys(p, url, lambda keys: [*keys, credential])
    await grants.revoke(p.ctx, ticket["id"])
    for warning in await _push(p):
        p.flash(warning)
    p.flash(f"Passkey added: it approves sign-ins at {url} from now on.")
    return p.redirect(PREFIX + "/signin")


@page()
async def remove(p: Page) -> Response:
    form = await p.form()
    url = uploads.line(form, "provider", 2000)
    _provider(p, url)
    gone = uploads.line(form, "credential_id", MAX_FIELD)
    await _replace_passkeys(p, url, lambda keys: [k for k in keys if k["credential_id"] != gone])
    for warning in await _push(p):
        p.flash(warning)
    p.flash(f"Passkey removed: it no longer approves sign-ins at {url}.")
    return p.redirect(PREFIX + "/signin")


async def _replace_passkeys(p: Page, url: str, change: Any) -> None:
    """One ``passkey`` delegation per provider names every passkey (the provider reads the
    newest in force): a new one with the change, then the old ones revoked."""
    old = _active(await grants.list_grants(p.ctx), pk.POWER, url, p.now)
    keys = [
        {"credential_id": k.credential_id, "public_key": k.public_key, "rp_id": k.rp_id}
        for r in old
        for k in pk.from_params(r["params"])
    ]
    changed = change(keys)
    if changed:
        await grants.create_delegation(
            p.ctx, url, pk.POWER, {"credentials": changed}, expires_in=DELEGATION_LIFETIME_MS
        )
    for record in old:
        await grants.revoke(p.ctx, record["id"])


__all__ = ["add", "allow", "answer", "back", "confirm", "index", "remove", "start"]
