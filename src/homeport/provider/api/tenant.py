"""The tenant's own endpoints: what is here (``GET /tenant``), a longer identity log, handoffs
between copies of the home, and leaving (``DELETE /tenant``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from homeport.core import handoff as handoff_rules
from homeport.crypto.signing import verify as verify_signature
from homeport.provider import inbox, receive, sites
from homeport.provider.api.context import Provider, in_thread
from homeport.provider.api.http import json_of
from homeport.provider.api.signed import authenticate, key_in_force
from homeport.provider.db import DELETED, HandoffOffer, ProviderDB, Tenant
from homeport.provider.errors import ProviderError
from homeport.provider.sitestore import SiteStore
from homeport.provider.tenants import TenantDir
from homeport.repo.verify import unreadable


def tenant_doc(provider: Provider, tenant: Tenant) -> dict[str, Any]:
    tdir = provider.tdir(tenant)
    head = first = None
    damaged: list[bytes] = []
    if tdir.has_repo():
        with tdir.opened() as repo:
            head = repo.head()
            first = repo.oldest_seq()
            damaged = unreadable(repo)  # packs lost or cut short: the home sends them again
    live = provider.sites.live(tenant.name)
    return {
        "name": tenant.name,
        "did": tenant.did,
        "site": provider.site_url(tenant.name),
        "head": head.id.hex() if head else None,
        "seq": head.seq if head else None,
        "first": first,
        "live": sites.seq_of(live) if live else None,
        "usage": tenant.usage,
        "quota": tenant.quota,
        "kept": sorted(provider.sites.kept(tenant.name)),
        "domains": [
            {"domain": d.domain, "verified": d.verified}
            for d in provider.db.domains_of(tenant.name)
        ],
        "last_publish": tenant.last_publish,
        "state": tenant.state,
        "handoff": provider.db.handoff(tenant.name),
        "operations": tenant.operations,
        "damaged": [oid.hex() for oid in damaged],
    }


async def get_tenant(request: Request, provider: Provider) -> Response:
    tenant, _ = await authenticate(request, provider)
    return JSONResponse(await in_thread(tenant_doc, provider, tenant))


async def identity(request: Request, provider: Provider) -> Response:
    """A longer identity log (after ``identity rotate``), signed by its new key."""
    tenant, body = await authenticate(request, provider, rotating=True, writes=True)
    ops = json_of(body).get("operations")
    if not isinstance(ops, list):
        raise ProviderError(400, "bad-identity", "operations must be a list")
    receive.check_continues(tenant, ops)
    await provider.query(provider.db.set_operations, tenant.name, ops)
    return JSONResponse({"operations": len(ops)})


async def take_handoff(request: Request, provider: Provider) -> Response:
    """A root-signed handoff making a device key the primary (``core/handoff.py``), with the
    identity log that puts that key in force; both are kept together, and only when the epoch
    is above the one held: of two copies racing to become primary, the first one wins."""
    tenant, body = await authenticate(request, provider, rotating=True)
    doc = json_of(body)
    ops = doc.get("operations", tenant.operations)
    if not isinstance(ops, list):
        raise ProviderError(400, "bad-identity", "operations must be a list")
    try:
        new = handoff_rules.parse(doc.get("handoff"), tenant.did, verify_signature)
    except handoff_rules.HandoffError as exc:
        raise ProviderError(400, "bad-handoff", f"{exc}; nothing was changed") from None
    held_doc = await provider.query(provider.db.handoff, tenant.name)
    if held_doc is not None:  # a loser of the race is told who won before anything else
        _refuse_stale(handoff_rules.parse(held_doc, tenant.did, verify_signature), new)
    receive.check_continues(tenant, ops)
    if new.primary != key_in_force(tenant.did, ops):
        raise ProviderError(
            400,
            "bad-handoff",
            "the handoff names a primary that the identity log does not put in force; "
            "nothing was changed",
        )
    offer = HandoffOffer(tenant.name, new.epoch, new.primary, new.doc, ops, tenant.operations)
    won = await in_thread(provider.db.take_handoff, offer)
    if not won:
        doc_held = await provider.query(provider.db.handoff, tenant.name)
        held = (
            None
            if doc_held is None
            else handoff_rules.parse(doc_held, tenant.did, verify_signature)
        )
        if held is not None:
            _refuse_stale(held, new)
        if held is None or held.digest != new.digest:
            raise ProviderError(
                409, "stale-handoff", "the identity log changed meanwhile: nothing was changed"
            )
    return JSONResponse({"epoch": new.epoch, "primary": new.primary})


def _refuse_stale(held: handoff_rules.Handoff, new: handoff_rules.Handoff) -> None:
    """409 ``stale-handoff`` unless ``new`` follows ``held`` (or is ``held`` again: a retry)."""
    if handoff_rules.follows(held, new) or held.digest == new.digest:
        return
    raise ProviderError(
        409,
        "stale-handoff",
        f"handoff {held.epoch} is already here, making {held.where or 'another copy'} the "
        "primary: this one changes nothing (another copy of the home became the primary first)",
        epoch=held.epoch,
        primary=held.primary,
        where=held.where,
        handoff=held.doc,
    )


async def delete_tenant(request: Request, provider: Provider) -> Response:
    tenant, _ = await authenticate(request, provider, writes=True)
    async with provider.lock(tenant.name):
        await in_thread(
            remove_tenant, provider.db, provider.settings.data_dir, tenant.name, provider.sites
        )
    return JSONResponse({"deleted": tenant.name})


def remove_tenant(db: ProviderDB, data_dir: Path, name: str, store: SiteStore) -> None:
    """Mark deleted first (its hosts answer 410 at once), then remove its sites and files."""
    db.set_state(name, DELETED)
    db.set_live(name, None)
    db.set_usage(name, 0)
    inbox.drop(db, name)
    store.drop(name)
    TenantDir.of(data_dir, name, db.repositories, db.objects).remove()
