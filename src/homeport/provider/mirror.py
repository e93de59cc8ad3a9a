"""Mirrors: a home that keeps a full backup copy of this provider's tenants that opted in.

Community servers and personal ones back each other up. A tenant opts in with a signed
``POST /mirror`` (``homeport providers mirror URL``); the operator hands a mirroring home a
token (``homeport provider mirror-token``), with which it lists the tenants that opted in and
fetches each one's bundle (``homeport provider mirror URL --token …``). A bundle holds the
tenant's objects as the provider holds them: public ones readable, private ones sealed to the
tenant's keys, so a mirror learns what the provider learns and nothing more; the tenant
restores from it with the phrase (``homeport import``), as from a provider.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeport.provider.api.context import Provider, in_thread
from homeport.provider.api.http import endpoint, json_of
from homeport.provider.api.objects import bundle_response
from homeport.provider.api.signed import authenticate
from homeport.provider.api.tenant import tenant_doc
from homeport.provider.db import ACTIVE
from homeport.provider.errors import ProviderError

BEARER = "bearer "


async def opt_in(request: Request, provider: Provider) -> Response:
    """The tenant says whether mirrors may keep a copy of it (``{"mirror": true|false}``)."""
    tenant, body = await authenticate(request, provider, writes=True)
    on = json_of(body).get("mirror")
    if not isinstance(on, bool):
        raise ProviderError(400, "bad-request", "mirror must be true or false")
    await provider.query(provider.db.set_mirrored, tenant.name, on, provider.clock())
    return JSONResponse({"mirror": on})


async def _mirror_of(request: Request, provider: Provider) -> str:
    """The label of the mirror token the request carries; 401 otherwise."""
    header = request.headers.get("authorization", "")
    token = header[len(BEARER) :].strip() if header.lower().startswith(BEARER) else ""
    label = await provider.query(provider.db.mirror_token, token) if token else None
    if label is None:
        raise ProviderError(401, "unauthorized", "a mirror token is needed (ask the operator)")
    return label


async def tenants(request: Request, provider: Provider) -> Response:
    """The tenants that opted in, with their head: what a mirror has to fetch."""
    await _mirror_of(request, provider)
    names = await provider.query(provider.db.mirrored)
    rows = []
    for name in names:
        tenant = await provider.query(provider.db.tenant, name)
        if tenant is None:
            continue
        doc = await in_thread(tenant_doc, provider, tenant)
        rows.append({"name": name, "did": tenant.did, "head": doc["head"], "seq": doc["seq"]})
    return JSONResponse({"tenants": rows})


async def bundle(request: Request, provider: Provider) -> Response:
    """One opted-in tenant's bundle; 404 for any other name (opted out, unknown, gone)."""
    await _mirror_of(request, provider)
    name = request.path_params["name"]
    tenant = await provider.query(provider.db.tenant, name)
    if (
        tenant is None
        or tenant.state != ACTIVE
        or name not in await provider.query(provider.db.mirrored)
    ):
        raise ProviderError(404, "not-mirrored", f"{name} is not a tenant that may be mirrored")
    return await bundle_response(provider, tenant)


def routes() -> list[Route]:
    return [
        Route("/mirror", endpoint(opt_in), methods=["POST"]),
        Route("/mirror/tenants", endpoint(tenants), methods=["GET"]),
        Route("/mirror/tenants/{name}/bundle", endpoint(bundle), methods=["GET"]),
    ]


__all__ = ["routes"]
