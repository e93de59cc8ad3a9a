"""Sign-in by email link at the site's own address.

``POST /_homeport/members/signin`` (form ``email``, ``next``) answers the same page whether or
not the address is a member, so it tells nobody who is one: a member gets a link by mail; an
address that is not one also becomes a sign-up for the home (inbox kind ``members.signup``),
and its link works once the home has confirmed it and published. Requests are limited per
address and per client address, across every worker (``OneTime``).

``GET /_homeport/members/link?token=…`` spends the link (once, within 15 minutes, on the host it
was made for) and sets the session cookie for this host only; ``POST …/signout`` clears it.
"""

from __future__ import annotations

import hashlib
import html
import logging
from urllib.parse import parse_qsl, quote

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from homeport import jsonio
from homeport.interop.hosting import ports_of, tenant_of
from homeport.interop.mail import MailError, send
from homeport.interop.members import tokens
from homeport.interop.ports import InboxFull, OneTime, TenantRef
from homeport.members.model import MemberError, normal_email
from homeport.web.bodies import BodyTooLarge, read_limited

log = logging.getLogger("homeport.members")

SIGNIN = "/members/signin"
LINK = "/members/link"
SIGNOUT = "/members/signout"
SIGNUP_KIND = "members.signup"
"""Inbox kind: an address that asked to sign in and is not a member. meta: ``{}``; body (for
the home only): ``{"email", "site", "next"}``."""
MAX_FORM = 4096
PER_ADDRESS = 5
PER_CLIENT = 30
WINDOW_MS = 3_600_000


def page(title: str, text: str, status: int = 200, form: bool = False, next_path: str = "/"
         ) -> HTMLResponse:
    """A small page of its own, escaped; ``form`` adds the sign-in form again."""
    again = ""
    if form:
        again = ("<form method=post action='/_homeport/members/signin'><label for=e>Email"
                 "</label> <input id=e type=email name=email required autocomplete=email>"
                 f"<input type=hidden name=next value='{html.escape(next_path, quote=True)}'>"
                 " <button>Send me a sign-in link</button></form>")
    body = (f"<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport "
            f"content='width=device-width'><title>{html.escape(title)}</title><main>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{again}"
            f"<p><a href='/'>Back to the site</a></p></main></html>")
    return HTMLResponse(body, status, headers={"Cache-Control": "no-store"})


def host_of(request: Request) -> str:
    host = request.headers.get("host", "").strip().lower().rstrip(".")
    return host.rsplit(":", 1)[0] if ":" in host and not host.startswith("[") else host


def origin_of(request: Request) -> str:
    proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    return f"{proto if proto in ('http', 'https') else 'https'}://{request.headers['host']}"


def safe_next(value: str) -> str:
    """Only a path on this site: never another origin (``//evil``, ``https://…``)."""
    value = value.strip()
    ok = value.startswith("/") and not value.startswith("//") and "\\" not in value
    return value if ok and len(value) <= 1000 and value.isprintable() else "/"


def _allowed(once: OneTime, what: str, limit: int, now: int) -> bool:
    """One of ``limit`` uses of ``what`` in this hour's window, shared by every worker."""
    window = now // WINDOW_MS
    expires = (window + 2) * WINDOW_MS
    digest = hashlib.sha256(what.encode()).hexdigest()[:32]
    return any(once.first_use(f"members-rate:{digest}:{window}:{n}", expires)
               for n in range(limit))


async def signin(request: Request) -> Response:
    tenant = await tenant_of(request)
    ports = ports_of(request)
    if tenant is None or ports.members is None or ports.once is None:
        return page("Not found", "No site with members is served here.", 404)
    raw = await _form(request)
    if raw is None:
        return page("Too large", "That form is larger than a sign-in form.", 413)
    next_path = safe_next(raw.get("next", "/"))
    try:
        email = normal_email(raw.get("email", ""))
    except MemberError:
        return page("Not an email address", "Give the address to send the link to.", 400,
                    form=True, next_path=next_path)
    if not ports.smtp_url:
        return page("Sign-in is unavailable", "This provider cannot send email yet: try the "
                    "site at another of its addresses, or later.", 503)
    client = request.client.host if request.client else "?"
    now = ports.clock()
    limited = not await anyio.to_thread.run_sync(_limits, ports.once, tenant, email, client, now)
    if limited:
        return page("Too many requests", "Too many sign-in links were asked for. Wait an "
                    "hour and try again.", 429)
    host = host_of(request)
    member = await anyio.to_thread.run_sync(ports.members.entitlement, tenant.name, email)
    if member is None:
        body = jsonio.dumps({"email": email, "site": origin_of(request), "next": next_path})
        item = "signup-" + hashlib.sha256(f"{tenant.name}\n{email}".encode()).hexdigest()[:32]
        try:
            await anyio.to_thread.run_sync(
                lambda: ports.inbox.put(tenant.name, SIGNUP_KIND, {}, body, item_id=item))
        except InboxFull:
            return page("Try again later", "This site cannot take sign-ups right now.", 503)
    link = tokens.make_link(ports.once, host, email, next_path, now)
    url = f"{origin_of(request)}/_homeport{LINK}?token={quote(link)}"
    text = (f"To sign in at {host}, open this link within 15 minutes:\n\n{url}\n\n"
            "If you did not ask for it, ignore this mail: nothing happens.\n")
    try:
        await anyio.to_thread.run_sync(lambda: send(
            ports.smtp_url, sender=f"no-reply@{host}", to=email,
            subject=f"Your sign-in link for {host}", text=text))
    except MailError as exc:
        log.warning("members: mail to a member of %s failed: %s", tenant.name, exc)
        return page("Mail could not be sent", "The link could not be sent just now: try "
                    "again in a few minutes.", 503)
    return page("Check your email", f"If {email} can sign in here, a link is on its way. "
                "It works once, for 15 minutes.")


def _limits(once: OneTime, tenant: TenantRef, email: str, client: str, now: int) -> bool:
    return (_allowed(once, f"address\n{tenant.name}\n{email}", PER_ADDRESS, now)
            and _allowed(once, f"client\n{client}", PER_CLIENT, now))


async def _form(request: Request) -> dict[str, str] | None:
    try:
        body = await read_limited(request, MAX_FORM)
    except BodyTooLarge:
        return None
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def link(request: Request) -> Response:
    tenant = await tenant_of(request)
    ports = ports_of(request)
    if tenant is None or ports.members is None or ports.once is None:
        return page("Not found", "No site with members is served here.", 404)
    once, now, host = ports.once, ports.clock(), host_of(request)
    claim = tokens.read_link(once, request.query_params.get("token", ""), host, now)
    if claim is None:
        return page("This link does not work", "It expired, was used already, or is for "
                    "another site. Ask for a new one.", 400, form=True)
    tier = await anyio.to_thread.run_sync(ports.members.entitlement, tenant.name, claim.email)
    if tier is None:
        return page("Not confirmed yet", "Your sign-up reaches the site's owner first. Open "
                    "this link again in a few minutes.", 403)
    if not await anyio.to_thread.run_sync(tokens.spend, once, claim):
        return page("This link does not work", "It was used already. Ask for a new one.",
                    400, form=True)
    answer = RedirectResponse(safe_next(claim.next), 303, headers={"Cache-Control": "no-store"})
    answer.set_cookie(tokens.COOKIE, tokens.make_session(once, host, claim.email, now),
                      max_age=tokens.SESSION_MS // 1000, path="/", httponly=True,
                      samesite="lax", secure=origin_of(request).startswith("https:"))
    return answer


async def signout(request: Request) -> Response:
    answer = RedirectResponse("/", 303, headers={"Cache-Control": "no-store"})
    answer.delete_cookie(tokens.COOKIE, path="/")
    return answer


def provider_routes() -> list[BaseRoute]:
    return [
        Route(SIGNIN, signin, methods=["POST"]),
        Route(LINK, link, methods=["GET"]),
        Route(SIGNOUT, signout, methods=["POST"]),
    ]
