"""How every GUI page runs: who may see it, its session and CSRF check, and its rendering.

A handler is ``async def handler(page: Page) -> Response`` wrapped by :func:`page`; the wrapper
does, in order, the LAN check, the session (a new anonymous one when there is none), the
first-run redirect, the login check and, for every unsafe method, the CSRF check.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from homeport.core.errors import HomeportError
from homeport.gui import memory, state
from homeport.gui.sessions import COOKIE, LIFETIME_MS, Session, store_of
from homeport.services import handoff
from homeport.services.context import Context

PREFIX = "/admin"
PASSKEY_FIRST = (PREFIX + "/passkeys", PREFIX + "/logout", PREFIX + "/welcome")
"""What a hosted home signed up for with a passkey shows until the passkey is made."""
TEMPLATES = Path(__file__).parent / "templates"
SAFE_METHODS = ("GET", "HEAD")
FORM_OVERHEAD = 1024 * 1024
"""Room for a form's other fields beside its largest allowed file."""
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


def _human_size(size: int | float) -> str:
    """Decimal units (1 GB = 1000 MB), as quotas are given and disks are sold: 5 GB is 5 GB."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.3g} {unit}"
        size /= 1000
    return f"{size:.3g} GB"


_env.filters["size"] = _human_size


def when(ms: int) -> str:
    """A moment as the GUI shows it (UTC, to the minute)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


_env.filters["when"] = when


class Page:
    """One request to a GUI page: the context, the session and helpers to answer."""

    def __init__(self, request: Request, ctx: Context, session: Session, fresh: bool) -> None:
        self.request = request
        self.ctx = ctx
        self.session = session
        self.fresh_session = fresh

    @property
    def now(self) -> int:
        return self.ctx.clock()

    def flash(self, message: str) -> None:
        self.session.flash.append(message)

    async def form(self) -> Any:
        return await self.request.form()

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        flashes, self.session.flash = self.session.flash, []
        html = _env.get_template(template).render(
            csrf=self.session.csrf,
            user=self.session.user,
            flashes=flashes,
            path=self.request.url.path,
            prefix=PREFIX,
            undo=(self.session.secrets.get("undo") or {}).get("label"),
            standby=handoff.standby_note(self.ctx) if self.session.user else None,
            **values,
        )
        return self.finish(HTMLResponse(html, status))

    def redirect(self, url: str) -> Response:
        return self.finish(RedirectResponse(url, status_code=303))

    def json(self, data: Any, status: int = 200) -> Response:
        return self.finish(JSONResponse(data, status))

    def replace_session(self, session: Session) -> None:
        self.session = session
        self.fresh_session = True

    def finish(self, response: Response) -> Response:
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if self.fresh_session:
            response.set_cookie(
                COOKIE,
                store_of(self.ctx).cookie(self.session),
                max_age=LIFETIME_MS // 1000,
                path="/",
                httponly=True,
                samesite="strict",
                secure=self.request.url.scheme == "https",
            )
        return response


Handler = Callable[[Page], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def local_client(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def remote_allowed(ctx: Context) -> bool:
    """Whether the GUI answers clients beyond this computer: on the LAN when the owner said so,
    and anywhere for a hosted home (it lives at a provider; the password guards it)."""
    return ctx.settings.lan_access or ctx.settings.hosted


def safe_next(target: str | None) -> str:
    """Only a path inside the GUI, so the login form cannot send anyone elsewhere."""
    if not target:
        return PREFIX + "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith((PREFIX + "/", "/preview/")):
        return PREFIX + "/"
    return target


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def error_page(page: Page, status: int, title: str, message: str) -> Response:
    if wants_json(page.request):
        return page.json({"error": title, "message": message}, status)
    return page.render("error.html", status, title=title, message=message)


def too_large(request: Request, limit: int) -> bool:
    """Judged from Content-Length before a byte of the body is read or spooled to disk."""
    length = request.headers.get("content-length", "")
    return length.isdigit() and int(length) > limit


async def _csrf_token(request: Request) -> str | None:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    if request.headers.get("content-type", "").startswith(
        ("multipart/form-data", "application/x-www-form-urlencoded")
    ):
        value = (await request.form()).get("csrf")
        return value if isinstance(value, str) else None
    return None


def page(*, login: bool = True, during_setup: bool = False) -> Callable[[Handler], Endpoint]:
    """Wrap a handler with the checks every GUI page needs."""

    def wrap(handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            ctx: Context = request.app.state.ctx
            store = store_of(ctx)
            now = ctx.clock()
            session, expired = store.get(request.cookies.get(COOKIE), now)
            fresh = session is None
            if session is None:
                session = store.new(now)
            current = Page(request, ctx, session, fresh)
            if not remote_allowed(ctx) and not local_client(request):
                return error_page(
                    current,
                    403,
                    "Only on this computer",
                    "The home's GUI answers only on this computer. Turn on 'lan_access' in "
                    "the settings to use it from other devices on your network.",
                )
            needs_setup = await state.setup_needed(ctx)
            if needs_setup and not during_setup:
                return current.redirect(PREFIX + "/setup")
            if during_setup and not needs_setup:
                return current.redirect(PREFIX + "/")  # the wizard runs once, never again
            if needs_setup and not local_client(request):
                return error_page(
                    current,
                    403,
                    "Set up on this computer first",
                    "The first-run setup chooses the owner's password, so it opens only on the "
                    "computer Homeport runs on. Open http://127.0.0.1:8750/admin/ there.",
                )
            if login and session.user is None and not (needs_setup and during_setup):
                return _login_first(current, expired)
            if (session.user is not None and state.passkey_pending(ctx)
                    and not request.url.path.startswith(PASSKEY_FIRST)):
                return current.redirect(PREFIX + "/passkeys")  # nothing else until it is made
            limit = ctx.settings.max_attachment_bytes + FORM_OVERHEAD
            if request.method not in SAFE_METHODS and too_large(request, limit):
                return error_page(
                    current,
                    413,
                    "Too large",
                    f"That upload is bigger than the limit of {_human_size(limit)}. Nothing "
                    "was saved. Try a smaller file, or raise max_attachment_bytes.",
                )
            if request.method not in SAFE_METHODS and not session.check_csrf(
                await _csrf_token(request)
            ):
                return error_page(
                    current,
                    403,
                    "Security token missing",
                    "This form did not carry Homeport's security token (it may be from an "
                    "old page or another site). Nothing was changed. Go back, reload the "
                    "page and try again.",
                )
            try:
                return await handler(current)
            except HomeportError as exc:
                message = exc.message or "That did not work."
                return error_page(current, exc.code, "That did not work", message)
            finally:
                if request.method not in SAFE_METHODS:
                    memory.trim()

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


def _login_first(page: Page, expired: bool) -> Response:
    message = (
        "Your session has expired. Log in again; text you were writing is kept in this browser."
        if expired
        else "Log in to continue."
    )
    if wants_json(page.request):
        login = f"{PREFIX}/login"
        return page.json({"error": "login", "message": message, "login": login}, 401)
    page.flash(message)
    target = page.request.url.path
    if page.request.url.query:
        target += "?" + page.request.url.query
    if page.request.method not in SAFE_METHODS:
        target = page.request.headers.get("referer", "") or PREFIX + "/"
        target = urlsplit(target).path
    return page.redirect(f"{PREFIX}/login?next={quote(safe_next(target))}")


def dumps(value: Any) -> str:
    """JSON for a ``<script type="application/json">`` block (``<`` escaped)."""
    return json.dumps(value).replace("<", "\\u003c")


_env.filters["tojson_safe"] = dumps
