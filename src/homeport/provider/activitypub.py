"""The provider's side of ActivityPub's delivery on publish: what a publish (or a rollback)
changed for followers, read from the two trees' manifests (the home's requests are
``activitypub_routes.py``)."""

from __future__ import annotations

import logging
from typing import Any

import anyio

from homeport.interop.activitypub import delivery, inbox, remote
from homeport.interop.ports import ProviderPorts
from homeport.provider.sites import Manifest
from homeport.provider.sitestore import SiteStore
from homeport.web import outbound

log = logging.getLogger("homeport.activitypub")

MAX_MENTIONED = 20
MENTION_DEADLINE = 10.0
Changes = tuple[frozenset[str], dict[str, bytes | None]]
"""Which changed AS2 files the old tree had, and the changed ones' bytes now (None: gone)."""


def _as2(rel: str) -> bool:
    return rel == delivery.ACTOR_FILE or rel == delivery.OBJECT_FILE or rel.endswith(
        "/" + delivery.OBJECT_FILE)


def changed_objects(
    store: SiteStore, tenant: str, before: str | None, after: Manifest
) -> Changes | None:
    """The entry objects and actor that differ between the tree named ``before`` and
    ``after``; None on a tenant's first publish here (nothing to tell: a site arriving at
    this provider must not announce its whole past again)."""
    previous = store.manifest(tenant, before) if before else None
    if previous is None:
        return None
    old, new = previous.files, after.files
    changed = {rel for rel in set(old) | set(new)
               if _as2(rel) and old.get(rel, ("", 0))[0] != new.get(rel, ("", 0))[0]}
    now: dict[str, bytes | None] = {}
    for rel in changed:
        if rel not in new or new[rel][1] > delivery.MAX_OBJECT:
            now[rel] = None
            continue
        try:
            now[rel] = store.read(tenant, after, rel, delivery.MAX_OBJECT)
        except (OSError, ValueError):  # a file that cannot be read now: told as gone
            now[rel] = None
    return frozenset(rel for rel in changed if rel in old), now


def changed_by_switch(
    store: SiteStore, tenant: str, before: str | None, after: str
) -> Changes | None:
    """What a rollback (the live tree switched from ``before`` to the kept tree ``after``)
    changed for followers: the same as a publish of that tree would."""
    manifest = store.manifest(tenant, after)
    return None if manifest is None else changed_objects(store, tenant, before, manifest)


async def after_publish(ports: ProviderPorts, tenant: str, changes: Changes | None) -> int:
    """Queue what the publish tells followers, when this provider is the one whose address
    is the actor's; how many deliveries were queued."""
    if changes is None or not changes[1] or ports.followers is None:
        return 0
    me = await anyio.to_thread.run_sync(inbox.own_actor_of, ports, tenant)
    if me is None:
        return 0
    host = inbox.authority_of(str(me["id"]))
    owner = await anyio.to_thread.run_sync(ports.sites.tenant_for_host, host)
    if owner is None or owner.name != tenant:
        return 0  # another provider's address: that one delivers
    found = delivery.activities(me, changes[0], changes[1])
    queued = await anyio.to_thread.run_sync(delivery.to_followers, ports, tenant, found)
    return queued + await _to_mentioned(ports, tenant, found)


async def _to_mentioned(ports: ProviderPorts, tenant: str, found: list[dict[str, Any]]) -> int:
    """A new or changed entry goes also to the actors it mentions (``Mention`` tags) whose
    server follows nobody here, as Mastodon delivers a mention: each actor fetched (signed as
    the site, through the SSRF guard) for its inbox, at most ``MAX_MENTIONED`` an entry, all
    within ``MENTION_DEADLINE`` seconds (the publish waits for them)."""
    assert ports.followers is not None
    have = set(await anyio.to_thread.run_sync(ports.followers.inboxes, tenant))
    sign = await inbox.site_signer(ports, tenant)
    permitted = outbound.policy(ports.fetch_allow_private)
    queued = 0
    for activity in found:
        if activity.get("type") not in ("Create", "Update"):
            continue
        obj = activity.get("object")
        tags = obj.get("tag") if isinstance(obj, dict) else None
        hrefs = list(dict.fromkeys(
            str(t["href"]) for t in (tags if isinstance(tags, list) else [])
            if isinstance(t, dict) and t.get("type") == "Mention"
            and isinstance(t.get("href"), str)))[:MAX_MENTIONED]
        inboxes: set[str] = set()

        async def look_up(href: str, into: set[str] = inboxes) -> None:
            try:
                actor = await remote.fetch_actor(href, permitted, sign)
            except remote.RemoteError as exc:
                log.info("activitypub: the mentioned %s cannot be reached: %s", href, exc)
                return
            into.add(actor.shared_inbox or actor.inbox)

        with anyio.move_on_after(MENTION_DEADLINE):
            async with anyio.create_task_group() as group:
                for href in hrefs:
                    group.start_soon(look_up, href)
        extra = sorted(inboxes - have)
        if extra:
            queued += await anyio.to_thread.run_sync(delivery.queue, ports, tenant, extra,
                                                     activity)
    return queued


def box_key(ports: ProviderPorts) -> str | None:
    """The public delegation box key homes seal the signing key to."""
    if ports.once is None:
        return None
    return delivery.box_public(ports.once.secret(delivery.BOX_PURPOSE))


__all__ = ["Changes", "after_publish", "box_key", "changed_by_switch", "changed_objects"]
