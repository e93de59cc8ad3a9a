"""IndieAuth's endpoints at the provider, on each tenant's own host under
``/_homeport/indieauth/``: metadata, authorization (the owner approves with a passkey),
token, introspection, revocation, userinfo, and the page where the owner registers a passkey.

What the provider may do here is what the home delegated, read on every request: ``passkey``
(which credentials approve a sign-in), ``indieauth-tokens`` (which scopes, how long), and
``passkey-register`` (a one-off ticket to make a new passkey on this host).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from homeport import jsonio
from homeport.interop import hosting, ports
from homeport.interop.indieauth import clients, passkeys, rules, sealed
from homeport.interop.indieauth.rules import OAuthError
from homeport.web.bodies import BodyTooLarge, read_limited

ROOT = "/indieauth"
"""Where the routes are, relative to the provider's ``/_homeport`` mount."""
PREFIX = ports.TENANT_PREFIX + ROOT
TOKENS_POWER = "indieauth-tokens"
APPROVAL_POWER = "indieauth-approval"
"""The home's answer to one sign-in (params ``nonce`` and ``scopes``, or ``declined``)."""
SIGNIN_KIND = "indieauth.signin"
"""The inbox item asking the home to approve a sign-in (meta: ``nonce``, ``client_id``,
``redirect_uri``, ``scope``, ``expires``)."""
CODE_LIFETIME_MS = 10 * 60 * 1000
PENDING_LIFETIME_MS = 10 * 60 * 1000
DEFAULT_TOKEN_LIFETIME_S = 30 * 24 * 3600
MAX_FORM = 16 * 1024
MAX_STATE = 1024
SECRET_PURPOSE = "indieauth"

PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
SCRIPT = (Path(__file__).parent / "templates" / "passkey.js").read_bytes()


@dataclass(frozen=True)
class Here:
    """One request's tenant and the provider's ports."""

    tenant: ports.TenantRef
    ports: ports.ProviderPorts

    @property
    def me(self) -> str:
        return self.tenant.origin + "/"

    def url(self, name: str) -> str:
        return f"{self.tenant.origin}{PREFIX}/{name}"

    def key(self) -> bytes:
        if self.ports.once is None:
            raise OAuthError("temporarily_unavailable", "this provider cannot sign in yet", 503)
        return self.ports.once.secret(SECRET_PURPOSE)

    def now(self) -> int:
        return self.ports.clock()


def oauth_error(exc: OAuthError) -> JSONResponse:
    headers = dict(NO_STORE)
    if exc.status == 401:
        headers["www-authenticate"] = f'Bearer error="{exc.code}"'
    return JSONResponse(
        {"error": exc.code, "error_description": exc.description}, exc.status, headers=headers
    )


def page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
    if "options" in values:  # JSON inside <script>: no way to close the element early
        values["options"] = values["options"].replace("<", "\\u003c")
    html = _env.get_template(name).render(**values)
    return HTMLResponse(html, status, headers=PAGE_HEADERS)


def problem(message: str, status: int = 400) -> HTMLResponse:
    """A page for the person at the browser when the request cannot go back to its client."""
    return page("message.html", status, title="This sign-in cannot go on", message=message)


Handler = Callable[[Request, Here], Awaitable[Response]]


def _with_tenant(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        found: ports.ProviderPorts | None = getattr(request.app.state, "ports", None)
        host = request.headers.get("host", "")
        tenant = await hosting.tenant_of(request) if found is not None else None
        if found is None or tenant is None:
            return JSONResponse(
                {"error": "not_found", "error_description": f"no site is served at {host}"}, 404
            )
        try:
            return await handler(request, Here(tenant, found))
        except OAuthError as exc:
            return oauth_error(exc)

    return endpoint


async def _form(request: Request) -> dict[str, str]:
    """A form body (urlencoded or multipart) of single values; JSON is accepted too."""
    try:
        body = await read_limited(request, MAX_FORM)
    except BodyTooLarge:
        raise OAuthError("invalid_request", "the request body is too large", 413) from None
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            data = jsonio.loads_untrusted(body)
        except ValueError:
            raise OAuthError("invalid_request", "the body is not JSON") from None
        if not isinstance(data, dict):
            raise OAuthError("invalid_request", "the body is not a JSON object")
        return {k: v for k, v in data.items() if isinstance(v, str)}
    try:
        form = await request.form(max_files=0, max_fields=50)
    except Exception:
        raise OAuthError("invalid_request", "the form cannot be read") from None
    return {k: v for k, v in form.items() if isinstance(v, str)}


# --- metadata ---------------------------------------------------------------------------------


async def metadata(request: Request, here: Here) -> Response:
    """Spec §4.1.1: what a client reads after finding ``rel="indieauth-metadata"``."""
    body = {
        "issuer": here.me,
        "authorization_endpoint": here.url("auth"),
        "token_endpoint": here.url("token"),
        "introspection_endpoint": here.url("introspect"),
        "introspection_endpoint_auth_methods_supported": ["Bearer"],
        "revocation_endpoint": here.url("revoke"),
        "revocation_endpoint_auth_methods_supported": ["none"],
        "userinfo_endpoint": here.url("userinfo"),
        "scopes_supported": list(rules.SCOPES),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "service_documentation": "https://indieauth.spec.indieweb.org/",
    }
    return JSONResponse(body, headers={"access-control-allow-origin": "*"})


# --- authorization ----------------------------------------------------------------------------


def _back(redirect: str, values: Mapping[str, str]) -> str:
    glue = "&" if urlsplit(redirect).query else "?"
    return redirect + glue + urlencode(values)


def _error_back(redirect: str, state: str | None, here: Here, code: str, text: str) -> str:
    values = {"error": code, "error_description": text, "iss": here.me}
    if state:
        values["state"] = state
    return _back(redirect, values)


async def _checked_client(params: Mapping[str, str], here: Here) -> tuple[str, str, str | None]:
    """client_id and redirect_uri, or OAuthError: these two decide whether the browser may be
    sent back at all, so their errors are shown here, never redirected."""
    client = rules.client_id(params.get("client_id", ""))
    redirect = rules.redirect_uri(params.get("redirect_uri", ""))
    name = None
    if not rules.same_origin(client, redirect):
        info = await clients.fetch(client, here.ports.fetch_allow_private)
        if redirect not in info.redirect_uris:
            raise OAuthError(
                "invalid_request",
                f"{redirect} is not on {client}'s host and the client does not publish it",
            )
        name = info.name
    return client, redirect, name


def _delegated_scopes(here: Here) -> frozenset[str]:
    found = here.ports.grants.delegation(here.tenant.name, TOKENS_POWER)
    if found is None:
        return frozenset()
    allowed = found.params.get("scopes")
    if isinstance(allowed, str):
        return rules.scope(allowed)
    if isinstance(allowed, list):
        return frozenset(s for s in allowed if isinstance(s, str))
    return frozenset()


def _passkeys(here: Here) -> list[passkeys.Passkey]:
    found = here.ports.grants.delegation(here.tenant.name, passkeys.POWER)
    return passkeys.from_params(found.params) if found is not None else []


async def authorize(request: Request, here: Here) -> Response:
    if request.method == "POST":
        return await redeem_profile(request, here)
    params = {k: v for k, v in request.query_params.items()}
    try:
        client, redirect, name = await _checked_client(params, here)
    except OAuthError as exc:
        return problem(exc.description)
    state = params.get("state")
    try:
        if params.get("response_type", "code") not in ("code", "id"):
            raise OAuthError("unsupported_response_type", "only response_type=code is supported")
        if not state or len(state) > MAX_STATE:
            raise OAuthError("invalid_request", f"state is required, at most {MAX_STATE} long")
        challenge = rules.pkce_challenge(
            params.get("code_challenge"), params.get("code_challenge_method")
        )
        wanted = rules.scope(params.get("scope"))
        if "me" in params:
            rules.canonical_me(params["me"])
    except OAuthError as exc:
        target = _error_back(redirect, state, here, exc.code, exc.description)
        return RedirectResponse(target, 302, headers=NO_STORE)
    keys, allowed = await run_in_threadpool(lambda: (_passkeys(here), _delegated_scopes(here)))
    deny = _error_back(redirect, state, here, "access_denied", "the owner declined")
    key = here.key()
    pending = sealed.seal(
        key,
        "pending",
        {
            "t": here.tenant.name,
            "c": client,
            "r": redirect,
            "s": state,
            "ch": challenge,
            "sc": sorted(wanted),
            "exp": here.now() + PENDING_LIFETIME_MS,
            "n": sealed.nonce(),
        },
    )
    options = passkeys.authentication_options(
        here.tenant.origin, keys, sealed.challenge(key, pending)
    )
    return page(
        "authorize.html",
        client=client,
        client_name=name or urlsplit(client).netloc,
        redirect=redirect,
        me=here.me,
        scopes=[(s, s in allowed) for s in sorted(wanted)],
        pending=pending,
        options=options,
        approve=here.url("auth/approve"),
        ask=here.url("auth/ask"),
        wait=here.url("auth/wait"),
        has_passkey=bool(keys),
        script=here.url("passkey.js"),
        deny=deny,
    )


async def approve(request: Request, here: Here) -> Response:
    """The page's script posts the passkey's assertion here; the answer names where the
    browser goes next (the client's redirect_uri with a code)."""
    data = await _json_body(request)
    if not isinstance(data, dict) or not isinstance(data.get("pending"), str):
        raise OAuthError("invalid_request", "expected {pending, scope, credential}")
    key = here.key()
    now = here.now()
    pending = sealed.open_sealed(key, "pending", data["pending"], now)
    if pending is None or pending.get("t") != here.tenant.name:
        raise OAuthError("invalid_request", "this sign-in request has expired; start again")
    chosen = data.get("scope")
    granted = (
        frozenset(s for s in chosen if isinstance(s, str)) if isinstance(chosen, list) else None
    )
    requested = frozenset(pending["sc"])
    granted = requested if granted is None else granted & requested

    def decide() -> str:
        keys = _passkeys(here)
        try:
            passkeys.verify_assertion(
                data.get("credential"),
                here.tenant.origin,
                keys,
                sealed.challenge(key, data["pending"]),
            )
        except passkeys.PasskeyError as exc:
            raise OAuthError("access_denied", str(exc), 403) from None
        assert here.ports.once is not None  # here.key() checked it
        if not here.ports.once.first_use("pending:" + pending["n"], pending["exp"]):
            raise OAuthError("invalid_request", "this sign-in was already approved", 409)
        return _code(here, pending, granted)

    code = await run_in_threadpool(decide)
    target = _back(pending["r"], {"code": code, "state": pending["s"], "iss": here.me})
    return JSONResponse({"location": target}, headers=NO_STORE)


# --- approval at the home, while it is online ------------------------------------------------


def _pending_of(here: Here, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("pending"), str):
        raise OAuthError("invalid_request", "expected {pending}")
    pending = sealed.open_sealed(here.key(), "pending", data["pending"], here.now())
    if pending is None or pending.get("t") != here.tenant.name:
        raise OAuthError("invalid_request", "this sign-in request has expired; start again")
    return pending


async def _json_body(request: Request) -> Any:
    """A JSON body (None when it is not JSON); 413 past ``MAX_FORM`` bytes."""
    try:
        return jsonio.loads_untrusted(await read_limited(request, MAX_FORM))
    except BodyTooLarge:
        raise OAuthError("invalid_request", "the request body is too large", 413) from None
    except ValueError:
        return None


async def ask(request: Request, here: Here) -> Response:
    """Queue the sign-in for the home: its admin page lists it (Sign-in) while it is online,
    and the owner's answer comes back as an ``indieauth-approval`` delegation naming it."""
    pending = _pending_of(here, await _json_body(request))
    meta = {
        "nonce": pending["n"],
        "client_id": pending["c"],
        "redirect_uri": pending["r"],
        "scope": pending["sc"],
        "expires": pending["exp"],
    }

    def put() -> None:
        try:
            here.ports.inbox.put(
                here.tenant.name, SIGNIN_KIND, meta, b"", item_id=f"indieauth-{pending['n']}"
            )
        except ports.InboxFull:
            raise OAuthError(
                "temporarily_unavailable", "the site's inbox at this provider is full", 507
            ) from None

    await run_in_threadpool(put)
    return JSONResponse({"asked": True}, headers=NO_STORE)


async def wait(request: Request, here: Here) -> Response:
    """What the home answered so far: ``{"waiting": true}``, or where the browser goes."""
    pending = _pending_of(here, await _json_body(request))

    def look() -> dict[str, Any]:
        found = here.ports.grants.delegation(here.tenant.name, APPROVAL_POWER)
        if found is None or found.params.get("nonce") != pending["n"]:
            return {"waiting": True}
        assert here.ports.once is not None
        if not here.ports.once.first_use("pending:" + pending["n"], pending["exp"]):
            raise OAuthError("invalid_request", "this sign-in was already answered", 409)
        if found.params.get("declined"):
            deny = _error_back(
                pending["r"], pending["s"], here, "access_denied", "the owner declined"
            )
            return {"location": deny}
        chosen = found.params.get("scopes")
        granted = (
            frozenset(s for s in chosen if isinstance(s, str))
            if isinstance(chosen, list)
            else frozenset()
        )
        code = _code(here, pending, granted & frozenset(pending["sc"]))
        return {
            "location": _back(pending["r"], {"code": code, "state": pending["s"], "iss": here.me})
        }

    return JSONResponse(await run_in_threadpool(look), headers=NO_STORE)


def _code(here: Here, pending: Mapping[str, Any], granted: frozenset[str]) -> str:
    return sealed.seal(
        here.key(),
        "code",
        {
            "t": here.tenant.name,
            "c": pending["c"],
            "r": pending["r"],
            "ch": pending["ch"],
            "sc": sorted(granted),
            "exp": here.now() + CODE_LIFETIME_MS,
            "n": sealed.nonce(),
        },
    )


# --- redeeming a code -------------------------------------------------------------------------


def _redeem(form: Mapping[str, str], here: Here) -> dict[str, Any]:
    """The code's grant, checked (spec §5.3.1), and spent: a code works once."""
    if form.get("grant_type", "authorization_code") != "authorization_code":
        raise OAuthError("unsupported_grant_type", "only grant_type=authorization_code")
    code = sealed.open_sealed(here.key(), "code", form.get("code", ""), here.now())
    if code is None or code.get("t") != here.tenant.name:
        raise OAuthError("invalid_grant", "the code is unknown or has expired")
    if form.get("client_id") != code["c"]:
        raise OAuthError("invalid_grant", "client_id is not the one the code was issued to")
    if form.get("redirect_uri") != code["r"]:
        raise OAuthError("invalid_grant", "redirect_uri is not the one of the authorization")
    rules.pkce_verify(form.get("code_verifier"), code["ch"])
    assert here.ports.once is not None
    if not here.ports.once.first_use("code:" + code["n"], code["exp"]):
        raise OAuthError("invalid_grant", "the code was already used")
    return code


async def redeem_profile(request: Request, here: Here) -> Response:
    """Spec §5.3.3: a client that only wanted to know who signed in redeems at the
    authorization endpoint and learns ``me``, and nothing else."""
    form = await _form(request)
    await run_in_threadpool(_redeem, form, here)
    return JSONResponse({"me": here.me}, headers=NO_STORE)


def _lifetime(delegation: ports.Delegation, now: int) -> int:
    seconds = delegation.params.get("token_lifetime", DEFAULT_TOKEN_LIFETIME_S)
    if not isinstance(seconds, int) or seconds <= 0:
        seconds = DEFAULT_TOKEN_LIFETIME_S
    expires = now + seconds * 1000
    return min(expires, delegation.expires) if delegation.expires else expires


async def token(request: Request, here: Here) -> Response:
    if request.method == "GET":
        return await verify_legacy(request, here)
    form = await _form(request)
    if form.get("action") == "revoke":  # the older spec's revocation, still used by clients
        await run_in_threadpool(_revoke, form.get("token", ""), here)
        return Response(status_code=200, headers=NO_STORE)

    def issue() -> dict[str, Any]:
        if here.ports.tokens is None:
            raise OAuthError("temporarily_unavailable", "this provider cannot issue tokens", 503)
        code = _redeem(form, here)
        scope = frozenset(code["sc"])
        if not scope:  # spec §5.3.2: no scope, no access token
            return {"me": here.me}
        delegation = here.ports.grants.delegation(here.tenant.name, TOKENS_POWER)
        if delegation is None:
            raise OAuthError("invalid_grant", "the owner no longer lets this provider issue tokens")
        allowed = _delegated_scopes(here)
        if not scope <= allowed:
            missing = rules.scope_text(scope - allowed)
            raise OAuthError("invalid_scope", f"the owner did not delegate: {missing}")
        now = here.now()
        expires = _lifetime(delegation, now)
        try:
            value, grant = here.ports.tokens.issue_token(
                here.tenant.name, scope, client_id=code["c"], me=here.me, expires=expires
            )
        except PermissionError as exc:
            raise OAuthError("invalid_scope", str(exc)) from None
        expires = grant.expires if grant.expires is not None else expires
        answer: dict[str, Any] = {
            "access_token": value,
            "token_type": "Bearer",
            "scope": rules.scope_text(scope),
            "me": here.me,
            "expires_in": max(1, (expires - now) // 1000),
        }
        if "profile" in scope:
            answer["profile"] = {"url": here.me}
        return answer

    return JSONResponse(await run_in_threadpool(issue), headers=NO_STORE)


# --- tokens: introspection, revocation, userinfo ----------------------------------------------


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _active(here: Here, value: str) -> ports.TokenGrant | None:
    if not value:
        return None
    found = here.ports.grants.token(here.tenant.name, value)
    if found is None or found.tenant != here.tenant.name:
        return None
    if found.expires is not None and found.expires <= here.now():
        return None
    return found


def _caller(request: Request, here: Here) -> ports.TokenGrant:
    value = _bearer(request)
    found = _active(here, value) if value else None
    if found is None:
        raise OAuthError("invalid_token", "a valid bearer token of this site is required", 401)
    return found


async def introspect(request: Request, here: Here) -> Response:
    """RFC 7662 as IndieAuth §6.2 uses it. The caller authorises with a bearer token of this
    site (a resource server holds one); what it asks about is the ``token`` field."""
    form = await _form(request)

    def look() -> dict[str, Any]:
        _caller(request, here)
        asked = form.get("token")
        if not asked:
            raise OAuthError("invalid_request", "token is required")
        found = _active(here, asked)
        if found is None:
            return {"active": False}
        answer: dict[str, Any] = {
            "active": True,
            "me": found.me or here.me,
            "scope": rules.scope_text(found.scope),
        }
        if found.client_id:
            answer["client_id"] = found.client_id
        if found.expires is not None:
            answer["exp"] = found.expires // 1000
        return answer

    return JSONResponse(await run_in_threadpool(look), headers=NO_STORE)


def _revoke(value: str, here: Here) -> None:
    if here.ports.tokens is None:
        raise OAuthError("temporarily_unavailable", "this provider cannot revoke tokens", 503)
    if value:
        here.ports.tokens.revoke_token(here.tenant.name, value)


async def revoke(request: Request, here: Here) -> Response:
    """RFC 7009: 200 whether or not the token was known (nothing to learn by probing)."""
    form = await _form(request)
    if not form.get("token"):
        raise OAuthError("invalid_request", "token is required")
    await run_in_threadpool(_revoke, form["token"], here)
    return Response(status_code=200, headers=NO_STORE)


async def verify_legacy(request: Request, here: Here) -> Response:
    """``GET`` on the token endpoint with a bearer token: the older spec's verification."""
    found = await run_in_threadpool(_caller, request, here)
    answer = {"me": found.me or here.me, "scope": rules.scope_text(found.scope)}
    if found.client_id:
        answer["client_id"] = found.client_id
    return JSONResponse(answer, headers=NO_STORE)


async def userinfo(request: Request, here: Here) -> Response:
    found = await run_in_threadpool(_caller, request, here)
    if "profile" not in found.scope:
        raise OAuthError("insufficient_scope", "the token lacks the profile scope", 403)
    return JSONResponse({"url": found.me or here.me}, headers=NO_STORE)


# --- passkey registration ---------------------------------------------------------------------


def _ticket(here: Here, nonce: str) -> ports.Delegation:
    found = here.ports.grants.delegation(here.tenant.name, passkeys.REGISTER_POWER)
    if found is None or not nonce or found.params.get("nonce") != nonce:
        raise OAuthError("access_denied", "no registration ticket in force for this link", 403)
    if not isinstance(found.params.get("return_url"), str):
        raise OAuthError("access_denied", "the registration ticket names no way home", 403)
    return found


async def register(request: Request, here: Here) -> Response:
    """The owner, sent here by the home's GUI with a ticket (a ``passkey-register``
    delegation naming its nonce), makes a passkey bound to this host; the public key goes
    back to the home, which signs it into a ``passkey`` delegation."""
    if request.method == "POST":
        return await registered(request, here)
    nonce = request.query_params.get("ticket", "")
    try:
        await run_in_threadpool(_ticket, here, nonce)
    except OAuthError as exc:
        return problem(exc.description, 403)
    challenge = sealed.challenge(here.key(), "register:" + nonce)
    options = passkeys.registration_options(here.tenant.origin, here.tenant.name, challenge)
    return page(
        "register.html",
        me=here.me,
        ticket=nonce,
        options=options,
        post=here.url("passkey"),
        script=here.url("passkey.js"),
    )


async def registered(request: Request, here: Here) -> Response:
    data = await _json_body(request)
    if not isinstance(data, dict) or not isinstance(data.get("ticket"), str):
        raise OAuthError("invalid_request", "expected {ticket, credential}")
    nonce = data["ticket"]

    def check() -> str:
        ticket = _ticket(here, nonce)
        challenge = sealed.challenge(here.key(), "register:" + nonce)
        try:
            made = passkeys.verify_registration(
                data.get("credential"), here.tenant.origin, challenge
            )
        except passkeys.PasskeyError as exc:
            raise OAuthError("invalid_request", str(exc)) from None
        assert here.ports.once is not None
        if not here.ports.once.first_use("register:" + nonce, ticket.expires or here.now() + 1):
            raise OAuthError("invalid_request", "this ticket was already used", 409)
        values = {
            "ticket": nonce,
            "credential_id": made.credential_id,
            "public_key": made.public_key,
            "rp_id": made.rp_id,
        }
        return _back(ticket.params["return_url"], values)

    return JSONResponse({"location": await run_in_threadpool(check)}, headers=NO_STORE)


async def script(request: Request) -> Response:
    return Response(
        SCRIPT,
        headers={"content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache"},
    )


def provider_routes() -> list[BaseRoute]:
    """Mounted by the provider under ``/_homeport`` on every tenant host."""
    t = _with_tenant
    return [
        Route(ROOT + "/metadata", t(metadata), methods=["GET", "HEAD"]),
        Route(ROOT + "/auth", t(authorize), methods=["GET", "HEAD", "POST"]),
        Route(ROOT + "/auth/approve", t(approve), methods=["POST"]),
        Route(ROOT + "/auth/ask", t(ask), methods=["POST"]),
        Route(ROOT + "/auth/wait", t(wait), methods=["POST"]),
        Route(ROOT + "/token", t(token), methods=["GET", "POST"]),
        Route(ROOT + "/introspect", t(introspect), methods=["POST"]),
        Route(ROOT + "/revoke", t(revoke), methods=["POST"]),
        Route(ROOT + "/userinfo", t(userinfo), methods=["GET"]),
        Route(ROOT + "/passkey", t(register), methods=["GET", "HEAD", "POST"]),
        Route(ROOT + "/passkey.js", script, methods=["GET", "HEAD"]),
    ]
