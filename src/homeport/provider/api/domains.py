"""A tenant's own domains: claimed, proven by a TXT record or a file, and what Caddy's on-demand
TLS may ask for."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from homeport.provider import domains, hosts
from homeport.provider.api.context import Provider
from homeport.provider.api.http import json_of
from homeport.provider.api.signed import authenticate
from homeport.provider.db import DELETED
from homeport.provider.errors import ProviderError


def _domain_of(body: bytes, provider: Provider) -> str:
    try:
        return domains.normalise(
            str(json_of(body).get("domain") or ""), provider.settings.base_domain
        )
    except domains.DomainError as exc:
        raise ProviderError(400, "bad-domain", str(exc)) from None


async def add(request: Request, provider: Provider) -> Response:
    tenant, body = await authenticate(request, provider, writes=True)
    domain = _domain_of(body, provider)
    held = await provider.query(provider.db.domain, domain)
    if held is not None and held.tenant != tenant.name:
        owner = await provider.query(provider.db.tenant, held.tenant)
        if held.verified and owner is not None and owner.state != DELETED:
            raise ProviderError(409, "domain-taken", f"{domain} is another tenant's here")
    if held is not None and held.tenant == tenant.name:
        token = held.token
    else:
        token = domains.new_token()
        await provider.query(provider.db.claim_domain, domain, tenant.name, token, provider.clock())
    return JSONResponse(
        {
            "domain": domain,
            "token": token,
            "txt": f'_homeport.{domain} TXT "{domains.TXT_PREFIX}{token}"',
            "file": domains.TOKEN_PATH,
        }
    )


async def verify(request: Request, provider: Provider) -> Response:
    tenant, body = await authenticate(request, provider, writes=True)
    domain = _domain_of(body, provider)
    held = await provider.query(provider.db.domain, domain)
    if held is None or held.tenant != tenant.name:
        raise ProviderError(404, "unknown-domain", f"add {domain} first (POST /domains)")
    if not held.verified:
        if not await domains.proven(domain, held.token, provider.verifiers):
            raise ProviderError(
                422,
                "not-verified",
                f"neither the TXT record _homeport.{domain} nor http://{domain}"
                f"{domains.TOKEN_PATH} shows the token yet: add one and try again",
            )
        await provider.query(provider.db.verify_domain, domain)
    return JSONResponse({"domain": domain, "verified": True})


async def tls_allowed(request: Request, provider: Provider) -> Response:
    """Caddy's on-demand TLS ``ask``: 200 only for names this provider serves."""
    name = (request.query_params.get("domain") or "").strip().lower().rstrip(".")
    base = provider.settings.base_domain.lower().strip(".")
    allowed = await provider.query(hosts.serves, provider.db, base, name)
    if allowed:
        return JSONResponse({"domain": name, "allowed": True})
    return JSONResponse({"domain": name, "allowed": False}, 404)
