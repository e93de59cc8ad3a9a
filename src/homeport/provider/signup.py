"""``/signup`` at the provider's own address: a person with no device gets a hosted home.

Three pages, and nothing is written before the last one. The first shows a new recovery phrase
beside the form (invite code, or an email address when sign-up is open; address, site title,
password or passkey), the second asks three of its words back exactly as the home's wizard does
(``gui.setup``: same rules, same messages, the right words kept) and, when sign-up is open, the
code just mailed to that address; only then the home is made: its folder, its identity (a device
key the root key authorises in the identity log; the root key itself is never stored), its site
and owner password, and its enrollment at this provider with the invite code (or one made for
it), through the sync protocol as any home enrolls. The person is then sent to
``<name>.<base_domain>/admin/`` with a single-use ticket that logs them in (``gui.hosted``).

A person who chooses a passkey gives no password: a passkey made on this page would belong to
the provider's address, not to the home's, so it is made at the home, on its Passkeys page, where
the ticket leads them first (``gui.hosted``); until then the ticket stays good and the home's GUI
shows nothing else, so the home is never left with neither a password nor a passkey.

Between the pages the phrase and the answers travel in the form, sealed (AES-256-GCM) with a key
only this provider holds, and bound to a cookie of the browser that opened the page, so no worker
needs to remember them and another site cannot post a sign-up in someone's name.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import anyio
import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from homeport import jsonio
from homeport.crypto.keys import new_phrase
from homeport.crypto.seal import SealError, open_sealed, seal
from homeport.gui import hosted as welcome
from homeport.gui import setup as wizard
from homeport.gui import site
from homeport.interop import mail
from homeport.provider.api.context import provider_of
from homeport.provider.hosted import HostedHomes
from homeport.provider.tenants import valid_name
from homeport.services import accounts
from homeport.services import identity as identities
from homeport.sync import providers
from homeport.web.hosts import host_name

KEY_PURPOSE = "hosted_signup"
COOKIE = "homeport_signup"
PENDING_MS = 60 * 60 * 1000
"""How long a sign-up page stays good: time to write 24 words down on paper."""
MAX_FORM = 16 * 1024
OWNER = "admin"
OPEN = "open"
MAIL_CODE_DIGITS = 6
MAIL_CODE_TRIES = 5
"""Wrong mailed codes a sign-up may type before it must start again (a million codes)."""
MAILS_PER_ADDRESS = 3
MAILS_PER_CLIENT = 10
"""Sign-up mails an hour, per address and per client (every worker counts the same)."""
INVITE_FOR_OPEN_MS = 10 * 60 * 1000
PASSWORD = "password"
PASSKEY = "passkey"
"""How the owner will log in (the form's ``login``): a passkey is made at the home itself."""

PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {homes}; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def hosted_of(request: Request) -> HostedHomes:
    found: HostedHomes = request.app.state.hosted
    return found


def _page(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    """A page whose forms may post here and, for the last one's redirect, to the homes."""
    base = provider_of(request).settings.base_domain.strip(".")
    headers = dict(PAGE_HEADERS)
    headers["content-security-policy"] = headers["content-security-policy"].format(
        homes=f"*.{base}:*"
    )
    return HTMLResponse(_env.get_template(name).render(**values), status, headers=headers)


def _now() -> int:
    return int(time.time() * 1000)


def _key(request: Request) -> bytes:
    return bytes(request.app.state.ports.once.secret(KEY_PURPOSE))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _seal(request: Request, kind: str, payload: dict[str, Any]) -> str:
    body = jsonio.dumps({**payload, "k": kind})
    return _b64(seal(_key(request), body, b"hosted-signup"))


def _open(request: Request, kind: str, value: str, binding: str) -> dict[str, Any] | None:
    """What ``_seal`` sealed for ``kind``, still in time and for this browser; else None."""
    if not value or len(value) > 8192:
        return None
    try:
        payload = jsonio.loads(open_sealed(_key(request), _unb64(value), b"hosted-signup"))
    except (SealError, ValueError, TypeError):
        return None
    if not isinstance(payload, dict) or payload.get("k") != kind:
        return None
    if not isinstance(payload.get("exp"), int) or payload["exp"] <= _now():
        return None
    if payload.get("bind") != _hash(binding):
        return None
    return payload


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _operator_reads(request: Request) -> dict[str, Any]:
    settings = provider_of(request).settings
    return {"base": settings.base_domain.strip("."), "mode": settings.hosted_signup}


async def _form(request: Request) -> dict[str, str]:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_FORM:
        return {}
    form = await request.form(max_files=0, max_fields=64)
    return {k: str(v)[:2000] for k, v in form.items() if isinstance(v, str)}


def _expired(request: Request) -> HTMLResponse:
    return _page(
        request,
        "signup_message.html",
        400,
        title="This sign-up page has expired",
        message="Nothing was created. Sign-up pages last an hour and work only in the browser "
        "that opened them. Start again; you will get a new recovery phrase.",
        again=True,
    )


async def form(request: Request) -> Response:
    """The form, with a new phrase to write down while filling it in."""
    binding = secrets.token_urlsafe(24)
    phrase = new_phrase()
    pending = _seal(request, "phrase", {"phrase": phrase, "bind": _hash(binding),
                                        "exp": _now() + PENDING_MS})
    response = _render_form(request, 200, pending, phrase, {}, {})
    response.set_cookie(COOKIE, binding, max_age=PENDING_MS // 1000, path="/signup",
                        httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


def _render_form(
    request: Request, status: int, pending: str, phrase: str, values: dict[str, str],
    errors: dict[str, str],
) -> HTMLResponse:
    return _page(request, "signup.html", status, pending=pending, words=phrase.split(),
                 values=values, errors=errors, **_operator_reads(request))


def is_open(request: Request) -> bool:
    return provider_of(request).settings.hosted_signup == OPEN


def _email_error(email: str) -> str | None:
    """A plain check of the address (the mailed code is the real one)."""
    local, at, domain = email.rpartition("@")
    if (not at or not local or "." not in domain.strip(".") or len(email) > 254
            or any(c.isspace() or c in "<>,;\"" for c in email)):
        return "Give an email address you can read now, like ada@example.org: a code is sent there."
    return None


def _mail_code() -> str:
    return f"{secrets.randbelow(10**MAIL_CODE_DIGITS):0{MAIL_CODE_DIGITS}d}"


def _allowed(once: Any, what: str, limit: int, now: int) -> bool:
    """One of ``limit`` uses of ``what`` in this hour's window, shared by every worker."""
    window = now // 3_600_000
    digest = _hash(what)[:32]
    expires = (window + 2) * 3_600_000
    return any(once.first_use(f"signup-rate:{digest}:{window}:{n}", expires)
               for n in range(limit))


def _send_code(request: Request, email: str, code: str) -> str | None:
    """Mail the code (blocking: in a worker thread); what to tell the person when it fails."""
    settings = provider_of(request).settings
    once = request.app.state.ports.once
    client = request.client.host if request.client else ""
    now = _now()
    if not (_allowed(once, "mail:" + email.lower(), MAILS_PER_ADDRESS, now)
            and _allowed(once, "client:" + client, MAILS_PER_CLIENT, now)):
        return ("Too many sign-up mails were sent to this address or from this network in the "
                "last hour. Try again later.")
    base = settings.base_domain.strip(".")
    try:
        mail.send(settings.smtp_url, sender=f"signup@{base}", to=email,
                  subject=f"Your code to start your home at {base}: {code}",
                  text=f"Your code is {code}\n\nType it on the sign-up page at {base}, in the "
                  "browser where you asked for it; it works for an hour.\n\nIf you did not "
                  "ask for a home there, ignore this mail: nothing is made without the code.\n")
    except mail.MailError:
        return ("This provider could not send mail to that address. Check it, or try again "
                "in a few minutes.")
    return None


async def _check_name_and_code(request: Request, name: str, code: str) -> dict[str, str]:
    """Whether the address is free and the invite code good (re-asked on the last page, as
    either may have changed meanwhile; with open sign-up there is no invite code)."""
    provider = provider_of(request)
    errors: dict[str, str] = {}
    if not valid_name(name):
        errors["address"] = (
            "Use 1 to 63 lower-case letters, digits and hyphens, not starting or ending with a "
            "hyphen (it becomes part of your site's address)."
        )
    else:
        tenant = await provider.query(provider.db.tenant, name)
        if tenant is not None or hosted_of(request).folder(name).exists():
            errors["address"] = f"{name}.{provider.settings.base_domain} is taken: choose another."
    if is_open(request):
        return errors
    invite = await provider.query(provider.db.invite, code) if code else None
    if invite is None or invite.used_by is not None or invite.expires < provider.clock():
        errors["code"] = (
            "That invite code is unknown, already used or expired. Check it against the "
            "message you got from this provider's operator."
        )
    elif invite.name and invite.name != name and "address" not in errors:
        errors["address"] = f"This invite code is for the address {invite.name}; use that one."
    return errors


async def submit(request: Request) -> Response:
    """Check the form; all good, ask three words of the phrase back."""
    binding = request.cookies.get(COOKIE, "")
    raw = await _form(request)
    pending = _open(request, "phrase", raw.get("pending", ""), binding)
    if pending is None:
        return _expired(request)
    phrase = str(pending["phrase"])
    keys = ("code", "email", "address", "name", "title", "password", "password2")
    values = {k: raw.get(k, "").strip() for k in keys}
    values["address"] = values["address"].lower()
    values["login"] = PASSKEY if raw.get("login") == PASSKEY else PASSWORD
    errors = wizard.check_form({**values, "theme": site.DEFAULT_THEME})
    if values["login"] == PASSKEY:  # no password asked: the passkey is made at the home
        values["password"] = ""
        errors.pop("password", None)
        errors.pop("password2", None)
    errors.update(await _check_name_and_code(request, values["address"], values["code"]))
    if is_open(request) and (wrong_email := _email_error(values["email"])):
        errors["email"] = wrong_email
    kept = {k: values[k] for k in ("code", "email", "address", "name", "title", "login")}
    if errors:
        return _render_form(request, 400, raw["pending"], phrase, kept, errors)
    sealed_code = None
    if is_open(request):
        code = _mail_code()
        failed = await anyio.to_thread.run_sync(_send_code, request, values["email"], code)
        if failed:
            return _render_form(request, 400, raw["pending"], phrase, kept, {"email": failed})
        sealed_code = _hash(binding + ":" + code)
    positions = wizard.pick_positions(phrase)
    answers = _seal(request, "answers", {
        **kept, "password": values["password"], "phrase": phrase, "positions": positions,
        "bind": _hash(binding), "exp": _now() + PENDING_MS, "once": secrets.token_urlsafe(18),
        "mailed": sealed_code,
    })
    return _check_page(request, 200, answers, positions)


def _check_page(request: Request, status: int, answers: str, positions: list[int],
                typed: dict[int, str] | None = None, wrong: list[int] | None = None,
                error: str | None = None, mailed: dict[str, str] | None = None) -> HTMLResponse:
    """The second page: three words back, and the mailed code when sign-up is open."""
    return _page(request, "signup_check.html", status, answers=answers, positions=positions,
                 typed=typed or {}, wrong=wrong or [], error=error, open=is_open(request),
                 mailed=mailed or {})


def _code_error(request: Request, answers: dict[str, Any], binding: str, typed: str) -> str | None:
    """Whether the mailed code typed is the one sent (None: it is, or none was needed); each
    wrong one spends one of ``MAIL_CODE_TRIES``."""
    expected = answers.get("mailed")
    if not isinstance(expected, str):
        return None
    once = request.app.state.ports.once
    spent, expires = str(answers["once"]), int(answers["exp"])
    if secrets.compare_digest(_hash(binding + ":" + typed.strip()), expected):
        # right, unless the tries ran out before (then this sign-up is over)
        return None if once.first_use(f"signup-code:{spent}:over", expires) else "too many"
    if not any(once.first_use(f"signup-code:{spent}:{n}", expires)
               for n in range(MAIL_CODE_TRIES)):
        once.first_use(f"signup-code:{spent}:over", expires)
        return "too many"
    return (f"That is not the code mailed to {answers.get('email')}. Check the mail (and its "
            "spam folder) and type the six digits.")


async def check(request: Request) -> Response:
    """Three words right: make the home, enroll it here, and send the person into it."""
    binding = request.cookies.get(COOKIE, "")
    raw = await _form(request)
    answers = _open(request, "answers", raw.get("answers", ""), binding)
    if answers is None:
        return _expired(request)
    positions = [int(n) for n in answers["positions"]]
    typed, wrong, error = wizard.check_words(str(answers["phrase"]), positions, raw)
    code_error = None
    if not error:  # the code is weighed (a try spent) only beside the right words
        code_error = await anyio.to_thread.run_sync(_code_error, request, answers, binding,
                                                    raw.get("mailcode", ""))
    if code_error == "too many":
        return _problem(request, "The mailed code was typed wrong too many times. Nothing was "
                        "created; start again to get a new phrase and a new code.")
    if error or code_error:
        return _check_page(request, 400, raw["answers"], positions, typed, wrong,
                           " ".join(e for e in (error, code_error) if e),
                           {} if code_error else {"mailcode": raw.get("mailcode", "")[:12]})
    name = str(answers["address"])
    errors = await _check_name_and_code(request, name, str(answers["code"]))
    if errors:
        return _problem(request, " ".join(errors.values()))
    once = request.app.state.ports.once
    if not await anyio.to_thread.run_sync(once.first_use, "signup:" + str(answers["once"]),
                                          int(answers["exp"])):
        return _problem(request, "This sign-up was already completed. Log in to your home instead.")
    try:
        url = await _create(request, answers)
    except SignupFailed as exc:
        return _problem(request, str(exc))
    response = RedirectResponse(url, 303)
    response.delete_cookie(COOKIE, path="/signup")
    return response


class SignupFailed(Exception):
    """The home could not be made; the message says what to do. Nothing is left behind."""


def _problem(request: Request, message: str) -> HTMLResponse:
    return _page(request, "signup_message.html", 409, title="Your home was not created",
                 message=message, again=True)


def provider_url(request: Request) -> str:
    """Where the hosted home reaches this provider: its configured public address, else the
    address this request reached directly (a loopback or LAN set-up)."""
    public = provider_of(request).settings.provider_public_url
    if public:
        return public[0].rstrip("/")
    host, port = request.scope["server"][:2]
    shown = f"[{host}]" if ":" in str(host) else str(host)
    return f"{request.url.scheme}://{shown}:{port}"


def home_url(request: Request, name: str) -> str:
    """``<name>.<base_domain>`` on the scheme and port this request came on."""
    base = provider_of(request).settings.base_domain.strip(".")
    header = request.headers.get("host", "")
    found = host_name(header) or ""
    port = header.strip()[len(found):] if header.strip().lower().startswith(found) else ""
    if port and not port.startswith(":"):
        port = ""
    return f"{request.url.scheme}://{name}.{base}{port}"


async def _create(request: Request, answers: dict[str, Any]) -> str:
    hosted = hosted_of(request)
    name = str(answers["address"])
    folder = hosted.folder(name)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=0o700)  # the claim on the name among concurrent sign-ups
    except FileExistsError:
        raise SignupFailed(f"The address {name} was just taken: start again with another.") \
            from None
    try:
        await anyio.to_thread.run_sync(identities.restore, folder, str(answers["phrase"]))
        app = await hosted.app(name)
        ctx = app.state.ctx
        await site.create_first_site(ctx, str(answers["title"]), str(answers["name"]),
                                     site.DEFAULT_THEME)
        passkey = answers.get("login") == PASSKEY
        if not passkey:
            await accounts.set_password(ctx, OWNER, str(answers["password"]))
        home = hosted.home_settings(name)
        code = await _invite_for(request, answers, name)
        try:
            await anyio.to_thread.run_sync(
                providers.add, home, provider_url(request), code, name
            )
        except Exception as exc:  # the enrollment failed: said plainly, nothing kept
            raise SignupFailed(
                f"This provider could not enroll the new home ({exc}). Nothing was kept; "
                "try again in a minute, or ask the operator."
            ) from exc
        ticket = welcome.write_ticket(folder, passkey=passkey)
    except BaseException:
        await hosted.stop(name)
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return f"{home_url(request, name)}/admin/welcome?ticket={ticket}"


async def _invite_for(request: Request, answers: dict[str, Any], name: str) -> str:
    """The enrollment code: the invite typed, or with open sign-up one made now for this
    address alone, with the operator's default quota (``invite_quota``)."""
    if not is_open(request):
        return str(answers["code"])
    provider = provider_of(request)
    code = secrets.token_urlsafe(24)
    now = provider.clock()
    await provider.query(provider.db.add_invite, code, name, provider.settings.invite_quota, now,
                         now + INVITE_FOR_OPEN_MS)
    return code


def routes() -> list[Route]:
    return [
        Route("/signup", form, methods=["GET", "HEAD"]),
        Route("/signup", submit, methods=["POST"]),
        Route("/signup/check", check, methods=["POST"]),
    ]


__all__ = ["routes"]
