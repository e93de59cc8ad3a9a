"""Responses to a site's entries (webmentions): stored, moderated, shown once approved.

Each mention is a record of the site's ``mentions`` collection, its id derived from its source
and target, so a source that changes replaces its mention and one that disappears removes it.
A mention is ``pending`` until the owner approves it (or a trusted domain's is approved on
arrival: ``mentions_auto_approve``, ``mentions_trusted_domains``); only approved ones are
readable by everyone, so only they are published: the others are sealed in the repository like
any private record and move with the site without being shown. Blocked domains are kept in the
private ``mention_rules`` collection; what they send is dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from homeport.content.errors import ContentError
from homeport.content.types import ENTRY_TYPES, SLUGS_COLLECTION, bucket_uri, collection_uri
from homeport.core.errors import ObjectNotFound
from homeport.core.permissions import EVERYONE
from homeport.services import writes
from homeport.services.context import Context, User
from homeport.services.resources import COLLECTION, RECORD, find_object, unit_of_work
from homeport.store.protocols import JSONObject, Permissions

MENTIONS_COLLECTION = "mentions"
RULES_COLLECTION = "mention_rules"
BLOCKED_RECORD = "blocked"
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
STATUSES = (PENDING, APPROVED, REJECTED)
TYPES = ("reply", "like", "repost", "bookmark", "mention")
SHOWN = ("type", "url", "author", "name", "content")
"""What a page shows of a mention: a change there needs approving again."""
OWNER = User("account:admin", frozenset({"account:admin", "system.Authenticated", EVERYONE}))


@dataclass(frozen=True)
class Applied:
    """What applying one received item did (the result the provider is told)."""

    id: str
    status: str
    """``pending``, ``approved``, ``rejected``, ``removed`` or ``dropped`` (blocked domain,
    or a removal of a mention the home never had)."""

    def result(self) -> dict[str, str]:
        return {"id": self.id, "status": self.status}


def mention_id(source: str, target: str) -> str:
    return "wm" + hashlib.sha256(f"{source}\n{target}".encode()).hexdigest()[:30]


def domain_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def in_domains(host: str, domains: Sequence[str]) -> bool:
    """``host`` is one of ``domains`` or below one (``blog.example.com`` in ``example.com``)."""
    for domain in domains:
        domain = domain.lower().strip().strip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def _permissions(status: str) -> Permissions:
    return {"read": {EVERYONE}} if status == APPROVED else {}


async def _ensure_collections(ctx: Context, site: str) -> None:
    """Sites made before mentions existed get the collections on first use."""
    for name in (MENTIONS_COLLECTION, RULES_COLLECTION):
        if await find_object(ctx, COLLECTION, bucket_uri(site), name) is None:
            await writes.save(ctx, OWNER, COLLECTION, bucket_uri(site), name, {}, None,
                              existing=None, replace_permissions=False)


async def _sites(ctx: Context) -> list[str]:
    buckets = await ctx.store.list_all("bucket", "")
    return sorted(str(b["id"]) for b in buckets if b.get("site"))


async def find_entry(ctx: Context, path: str) -> tuple[str, str, str] | None:
    """The (site, entry type, entry id) a target path names, through the sites' slugs (old
    slugs included): ``/notes/hello/`` or, for pages, ``/about/``."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    slug = parts[-1]
    prefix = parts[-2] if len(parts) >= 2 else ""
    for site in await _sites(ctx):
        claim = await find_object(ctx, RECORD, collection_uri(site, SLUGS_COLLECTION), slug)
        if claim is None:
            continue
        kind = ENTRY_TYPES.get(str(claim.get("type")))
        if kind is not None and kind.prefix == prefix:
            return site, kind.name, str(claim["entry"])
    return None


async def blocked_domains(ctx: Context, site: str) -> list[str]:
    found = await find_object(ctx, RECORD, collection_uri(site, RULES_COLLECTION), BLOCKED_RECORD)
    return [str(d) for d in (found or {}).get("domains", [])]


def _arrival_status(ctx: Context, source: str) -> str:
    settings = ctx.settings
    if not settings.mentions_auto_approve:
        return PENDING
    trusted = settings.mentions_trusted_domains
    return APPROVED if not trusted or in_domains(domain_of(source), trusted) else PENDING


def _clean(payload: Mapping[str, Any]) -> JSONObject:
    """Only the fields a mention has, each of its expected shape (the provider is trusted
    to verify, not to write arbitrary fields into the home's records)."""
    author = payload.get("author")
    author = author if isinstance(author, Mapping) else {}
    content = payload.get("content")
    content = content if isinstance(content, Mapping) else {}
    kind = str(payload.get("type") or "mention")

    def text(value: Any, limit: int) -> str:
        return str(value or "")[:limit]

    return {
        "source": text(payload.get("source"), 2048),
        "target": text(payload.get("target"), 2048),
        "type": kind if kind in TYPES else "mention",
        "url": text(payload.get("url"), 2048),
        "author": {k: text(author.get(k), 2048) for k in ("name", "url", "photo")},
        "name": text(payload.get("name"), 300),
        "content": {"html": text(content.get("html"), 20_000),
                    "text": text(content.get("text"), 5_000)},
        "published": text(payload.get("published") or payload.get("verified"), 40),
        "verified": text(payload.get("verified"), 40),
    }


async def apply(ctx: Context, item_id: str, payload: Mapping[str, Any]) -> Applied:
    """Apply one verified webmention (``action`` upsert or delete) from the inbox. Idempotent:
    the record remembers the last item applied, and an item older than what is stored (by
    its ``verified`` time) changes nothing."""
    source, target = str(payload.get("source") or ""), str(payload.get("target") or "")
    rid = mention_id(source, target)
    found = await find_entry(ctx, urlsplit(target).path)
    if found is None:
        return Applied(rid, "dropped")
    site, entry_type, entry_id = found
    parent = collection_uri(site, MENTIONS_COLLECTION)
    async with unit_of_work(ctx):
        await _ensure_collections(ctx, site)
        existing = await find_object(ctx, RECORD, parent, rid)
        if existing is not None and existing.get("item") == item_id:
            return Applied(rid, str(existing.get("status")))
        verified = str(payload.get("verified") or "")
        if existing is not None and str(existing.get("verified") or "") > verified:
            return Applied(rid, str(existing.get("status")))
        if payload.get("action") == "delete":
            if existing is None:
                return Applied(rid, "dropped")
            await writes.delete(ctx, OWNER, RECORD, parent, rid)
            return Applied(rid, "removed")
        if in_domains(domain_of(source), await blocked_domains(ctx, site)):
            return Applied(rid, "dropped")
        cleaned = _clean(payload)
        status = _arrival_status(ctx, source)
        if existing is not None and existing.get("status") == REJECTED:
            status = REJECTED  # the owner said no; a new version does not ask again
        elif existing is not None and existing.get("status") == APPROVED and all(
                existing.get(k) == cleaned[k] for k in SHOWN):
            status = APPROVED  # sent again unchanged: what was approved is what shows
        data = {**cleaned, "status": status, "entry": entry_id,
                "entry_type": entry_type, "item": item_id,
                "received": str(existing.get("received")) if existing else verified}
        await writes.save(ctx, OWNER, RECORD, parent, rid, data, _permissions(status),
                          existing=existing, replace_permissions=True)
    return Applied(rid, status)


async def keep_imported(ctx: Context, site: str, entry_type: str, entry_id: str,
                        payload: Mapping[str, Any], status: str) -> bool:
    """Keep a response brought from elsewhere (a WordPress comment) as a mention of the entry,
    ``approved`` (shown) or ``pending``; False when it is already kept as given. Its id comes
    from its ``source`` and the entry, so importing it again finds it; a status the owner
    has since chosen is kept."""
    source = str(payload.get("source") or "")
    rid = mention_id(source, f"{site}/{entry_type}/{entry_id}")
    parent = collection_uri(site, MENTIONS_COLLECTION)
    async with unit_of_work(ctx):
        await _ensure_collections(ctx, site)
        existing = await find_object(ctx, RECORD, parent, rid)
        if existing is not None:
            status = str(existing.get("status") or status)
        cleaned = _clean(payload)
        data = {**cleaned, "status": status, "entry": entry_id, "entry_type": entry_type,
                "item": "import", "received": cleaned["published"]}
        if existing is not None and all(existing.get(k) == v for k, v in data.items()):
            return False
        await writes.save(ctx, OWNER, RECORD, parent, rid, data, _permissions(status),
                          existing=existing, replace_permissions=True)
    return True


async def list_mentions(ctx: Context, status: str | None = None) -> list[JSONObject]:
    """Every mention of every site, newest first, with its ``site``."""
    found: list[JSONObject] = []
    for site in await _sites(ctx):
        for record in await ctx.store.list_all("record", collection_uri(site, MENTIONS_COLLECTION)):
            if status is None or record.get("status") == status:
                found.append({**record, "site": site})
    found.sort(key=lambda r: str(r.get("verified") or ""), reverse=True)
    return found


async def _locate(ctx: Context, rid: str) -> tuple[str, JSONObject]:
    for site in await _sites(ctx):
        try:
            record = await ctx.store.get("record", collection_uri(site, MENTIONS_COLLECTION), rid)
        except ObjectNotFound:
            continue
        return site, record
    raise ContentError(f"there is no mention {rid!r}")


async def set_status(ctx: Context, rid: str, status: str) -> JSONObject:
    """Approve (published with the site) or reject (kept, not shown) a mention."""
    if status not in (APPROVED, REJECTED, PENDING):
        raise ContentError(f"unknown status {status!r} (one of: {', '.join(STATUSES)})")
    async with unit_of_work(ctx):
        site, existing = await _locate(ctx, rid)
        data = {k: v for k, v in existing.items() if k not in ("id", "last_modified")}
        data["status"] = status
        written = await writes.save(
            ctx, OWNER, RECORD, collection_uri(site, MENTIONS_COLLECTION), rid, data,
            _permissions(status), existing=existing, replace_permissions=True)
    return {**written.obj, "site": site}


async def block_domain(ctx: Context, domain: str) -> int:
    """Block ``domain`` (and the hosts below it) on every site: its mentions are rejected now
    and what it sends later is dropped. How many mentions were rejected."""
    domain = domain.lower().strip().strip(".")
    if not domain or "/" in domain or " " in domain or len(domain) > 253:
        raise ContentError(f"{domain!r} is not a domain name (like example.com)")
    rejected = 0
    for site in await _sites(ctx):
        async with unit_of_work(ctx):
            await _ensure_collections(ctx, site)
            parent = collection_uri(site, RULES_COLLECTION)
            existing = await find_object(ctx, RECORD, parent, BLOCKED_RECORD)
            domains = [str(d) for d in (existing or {}).get("domains", [])]
            if domain not in domains:
                await writes.save(ctx, OWNER, RECORD, parent, BLOCKED_RECORD,
                                  {"domains": sorted([*domains, domain])}, None,
                                  existing=existing, replace_permissions=False)
        for record in await list_mentions(ctx):
            if (record["site"] == site and record.get("status") != REJECTED
                    and in_domains(domain_of(str(record.get("source"))), [domain])):
                await set_status(ctx, str(record["id"]), REJECTED)
                rejected += 1
    return rejected


async def unblock_domain(ctx: Context, domain: str) -> None:
    domain = domain.lower().strip().strip(".")
    for site in await _sites(ctx):
        async with unit_of_work(ctx):
            parent = collection_uri(site, RULES_COLLECTION)
            existing = await find_object(ctx, RECORD, parent, BLOCKED_RECORD)
            if existing is None:
                continue
            domains = [str(d) for d in existing.get("domains", []) if d != domain]
            await writes.save(ctx, OWNER, RECORD, parent, BLOCKED_RECORD, {"domains": domains},
                              None, existing=existing, replace_permissions=False)
