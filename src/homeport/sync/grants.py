"""Handing the home's grants to its providers: each provider gets the whole list of what it may
do (``POST /_homeport/v1/delegations``), signed now by the key in force, with the ids revoked.

The list is stamped before the records are read, and a provider keeps only the newest stamp,
so when two processes push at once (``homeport tokens`` beside ``homeport serve``) the one
that read older records cannot undo the other. Pushed by the command that changed a grant (so
a token works, or stops working, within seconds), on every publish, and by whoever calls
``sync`` (the relay when it connects).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from homeport.crypto.delegations import sign_delegation
from homeport.services import grants as records
from homeport.services.context import Context, run_blocking
from homeport.settings import Settings
from homeport.sync.auth import origin
from homeport.sync.client import Credentials, ProviderClient, ProviderError, normalise_url
from homeport.sync.providers import HttpFactory, credentials, default_http, load

MAX_LIST = 10_000
COMPUTED_MS = 400 * 86_400_000
"""How long a delegation made at push time from other records lasts (each push renews it)."""
MEMBERS_CONTENT = "members-content"
"""The power to open members-only pages (params ``keys``: tier id → content key, hex), given to
every provider whose rules do not say ``members_content: false``."""


@dataclass
class Pushed:
    """One provider's answer to a list."""

    url: str
    delegations: int = 0
    error: str | None = None
    issued_here: list[dict[str, Any]] = field(default_factory=list)


def _for(record: Mapping[str, Any], url: str) -> bool:
    aud = record.get("audience")
    if aud == records.EVERY_PROVIDER:
        return True
    try:
        return isinstance(aud, str) and origin(aud) == origin(url)
    except ValueError:
        return False


def list_for(
    grants: Sequence[Mapping[str, Any]], url: str, creds: Credentials, issued: int,
    computed: Sequence[tuple[str, str, Mapping[str, Any]]] = (),
) -> dict[str, Any]:
    """The signed list for the provider at ``url``: what is in force for it, and what was
    revoked and has not expired (so a token it issued itself stops too)."""
    audience = origin(url)
    docs, revoked = [], []
    for record in grants:
        now_state = records.state(record, issued)
        if now_state == "revoked":
            revoked.append(str(record["id"]))
            continue
        if now_state != "active" or record.get("source") != records.HOME or not _for(record, url):
            continue
        docs.append(
            sign_delegation(
                creds.key,
                creds.did,
                audience,
                str(record["power"]),
                record.get("params") or {},
                issued=int(record["issued"]),
                expires=record.get("expires"),
                delegation_id=str(record["id"]),
            )
        )
    for grant_id, power, params in computed:
        docs.append(sign_delegation(creds.key, creds.did, audience, power, params,
                                    issued=issued, expires=issued + COMPUTED_MS,
                                    delegation_id=grant_id))
    return {"issued": issued, "delegations": docs[:MAX_LIST], "revoked": revoked[-MAX_LIST:]}


def push(
    settings: Settings,
    grants: Sequence[Mapping[str, Any]],
    issued: int,
    only: str | None = None,
    http: HttpFactory = default_http,
    content_keys: Mapping[str, str] | None = None,
) -> list[Pushed]:
    """Send each provider (or ``only`` one) its list, all at once; a failure at one is
    reported, never raised."""
    wanted = None if only is None else normalise_url(only)
    entries = [e for e in load(settings.data_dir) if wanted is None or e["url"] == wanted]
    if not entries:
        return []
    creds = credentials(settings.data_dir)

    def one(entry: Mapping[str, Any]) -> Pushed:
        url = str(entry["url"])
        try:
            with http() as client:
                answer = ProviderClient(url, creds, client).put_delegations(
                    list_for(grants, url, creds, issued, _computed(entry, content_keys))
                )
        except ProviderError as exc:
            if exc.code == "stale-list":  # a newer list got there first: it is in force
                return Pushed(url)
            return Pushed(url, error=str(exc))
        here = answer.get("issued_here") if isinstance(answer, dict) else None
        return Pushed(
            url,
            int(answer.get("delegations") or 0) if isinstance(answer, dict) else 0,
            issued_here=[h for h in here if isinstance(h, dict)] if isinstance(here, list) else [],
        )

    with ThreadPoolExecutor(max_workers=len(entries)) as pool:
        return list(pool.map(one, entries))


def _computed(entry: Mapping[str, Any], content_keys: Mapping[str, str] | None
              ) -> list[tuple[str, str, Mapping[str, Any]]]:
    """The members' content keys, for a provider allowed to serve members' content."""
    rules = entry.get("rules") or {}
    if not content_keys or rules.get("members_content") is False:
        return []
    return [(MEMBERS_CONTENT, MEMBERS_CONTENT, {"keys": dict(content_keys)})]


async def content_keys(ctx: Context) -> dict[str, str]:
    """Tier id → content key (hex), ``members`` included; empty without an identity."""
    from homeport.members.publishing import content_keys as keys

    return {tier: key.hex() for tier, key in (await keys(ctx)).items()}


def now_ms() -> int:
    return int(time.time() * 1000)


async def sync(
    ctx: Context, only: str | None = None, http: HttpFactory = default_http
) -> list[Pushed]:
    """Push the current grants to every provider and record the tokens they issued."""
    issued = max(ctx.clock(), now_ms())  # stamped before reading: see the module's note
    await records.prune(ctx)
    grants = await records.list_grants(ctx)
    keys = await content_keys(ctx)
    pushed = await asyncio.to_thread(push, ctx.settings, grants, issued, only, http, keys)
    for outcome in pushed:
        if outcome.issued_here:
            await records.learn(ctx, outcome.url, outcome.issued_here)
    return pushed


def sync_blocking(
    settings: Settings, only: str | None = None, http: HttpFactory = default_http
) -> list[Pushed]:
    """``sync`` from code without a store at hand (a publish): opens the home's store in a
    thread of its own, so it works from any thread, event loop or not. Nothing for a memory
    store, which another process's copy cannot see."""
    return run_blocking(settings, lambda ctx: sync(ctx, only, http)) or []


__all__ = ["Pushed", "list_for", "push", "sync", "sync_blocking"]
