"""The newsletter at home: which provider sends it (a ``newsletter-send`` delegation to that one
provider), and, after each publish, the mails of the entries published since the last send —
public ones to every member who takes the newsletter, members-only ones to the members they are
for — handed to that provider (``POST /_homeport/v1/newsletter``), which queues and sends
them. The record ``homeport/newsletter/settings`` (sealed, it moves with the site) remembers
the provider and which entries were sent; choosing a provider marks what is already published
as sent, so nobody gets the archive."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from homeport.content import sites
from homeport.content.types import ENTRY_TYPES
from homeport.core.errors import InvalidParameters
from homeport.interop.newsletter import SEND_POWER, email_hash
from homeport.members import store
from homeport.members.model import entitled_tier, is_members_visibility
from homeport.services import grants, writes
from homeport.services.context import OWNER, Context, run_blocking
from homeport.services.grants import SYSTEM_BUCKET
from homeport.services.resources import COLLECTION, RECORD, find_object, unit_of_work
from homeport.store.protocols import JSONObject

log = logging.getLogger("homeport.newsletter")

COLLECTION_NAME = "newsletter"
PARENT = f"/buckets/{SYSTEM_BUCKET}/collections/{COLLECTION_NAME}"
RECORD_ID = "settings"
BATCH = 500
DELEGATION_MS = 365 * 86_400_000
MAX_SENT = 50_000
"""Entry ids remembered as sent (the oldest are forgotten past this)."""
T = TypeVar("T")


class NewsletterError(InvalidParameters):
    """The newsletter cannot be set as asked; the message says why."""


async def settings(ctx: Context) -> JSONObject | None:
    try:
        return await find_object(ctx, RECORD, PARENT, RECORD_ID)
    except Exception:  # no system bucket or collection yet
        return None


async def _save(ctx: Context, record: JSONObject, existing: JSONObject | None) -> JSONObject:
    await store.ensure(ctx)
    parent = f"/buckets/{SYSTEM_BUCKET}"
    body = {k: v for k, v in record.items() if k != "last_modified"}
    async with unit_of_work(ctx):
        if await find_object(ctx, COLLECTION, parent, COLLECTION_NAME) is None:
            await writes.save(ctx, OWNER, COLLECTION, parent, COLLECTION_NAME, {}, None,
                              existing=None, replace_permissions=False)
        written = await writes.save(ctx, OWNER, RECORD, PARENT, RECORD_ID, body, None,
                                    existing=existing, replace_permissions=False)
    return written.obj


def _sendable(entry: sites.Entry) -> bool:
    data = entry.data
    visibility = data.get("visibility", "public")
    return not data.get("draft") and entry.type in ENTRY_TYPES and ENTRY_TYPES[
        entry.type].in_feed and (visibility == "public" or is_members_visibility(visibility))


async def _entries(ctx: Context) -> list[sites.Entry]:
    found: list[sites.Entry] = []
    for name in await sites.list_sites(ctx):
        found += [e for e in await sites.list_entries(ctx, name) if _sendable(e)]
    return found


async def choose(ctx: Context, provider: str | None) -> JSONObject:
    """Make ``provider`` (an enrolled provider's address) the one that sends, or stop the
    newsletter (None). Entries already published are not sent."""
    existing = await settings(ctx)
    for grant in await grants.list_grants(ctx):
        if grant.get("power") == SEND_POWER and grants.state(grant, ctx.clock()) == "active":
            await grants.revoke(ctx, str(grant["id"]))
    record: JSONObject = dict(existing or {"id": RECORD_ID, "sent": []})
    record["provider"] = provider
    if provider is not None:
        await grants.create_delegation(ctx, provider, SEND_POWER, {},
                                       expires_in=DELEGATION_MS)
        if existing is None or not existing.get("provider"):
            record["sent"] = [e.id for e in await _entries(ctx)][-MAX_SENT:]
    return await _save(ctx, record, existing)


def _recipients(entry: sites.Entry, members: list[JSONObject], now: int) -> list[str]:
    visibility = str(entry.data.get("visibility") or "public")
    out = []
    for member in members:
        if not member.get("subscribed", True) or not member.get("email"):
            continue
        tier = entitled_tier(member, now)
        if visibility in ("public", "members") or tier == visibility:
            out.append(str(member["email"]))
    return out


def _mail(entry: sites.Entry, site_url: str) -> tuple[str, str, str]:
    """The subject, plain text and link of one entry's mail."""
    data = entry.data
    kind = ENTRY_TYPES[entry.type]
    title = str(data.get(kind.title_field) or data.get("title") or "A new post").strip()
    subject = " ".join(title.split())[:150]
    body = str(data.get("body") or data.get("text") or data.get("summary") or "")
    url = site_url.rstrip("/") + kind.path(str(data.get("slug") or entry.id))
    return subject, f"{subject}\n\n{body}\n\nOn the site: {url}\n", url


async def _html(ctx: Context, entry: sites.Entry, site_url: str, url: str) -> str:
    """The mail's HTML part: the site theme's ``email.html`` (``base`` has one) around the
    entry's body rendered as on its page (sanitised Markdown)."""
    from markupsafe import Markup

    from homeport.render.markdown import render_markdown
    from homeport.render.themes import find_theme, load_theme

    site = await sites.get_site(ctx, entry.site)
    theme = load_theme(find_theme(str(site.get("theme") or "journal"),
                                  ctx.settings.data_dir / "themes"))
    data = entry.data
    kind = ENTRY_TYPES[entry.type]
    heading = str(data.get(kind.title_field) or data.get("title") or "").strip()
    body = str(data.get("body") or data.get("text") or data.get("summary") or "")
    return theme.render("email.html", {
        "lang": str(site.get("language") or "en"), "site_title": str(site.get("title") or ""),
        "site_url": site_url, "title": heading or str(site.get("title") or ""),
        "heading": heading, "body": Markup(render_markdown(body)), "url": url})


async def send_new(ctx: Context, providers: Sequence[Mapping[str, Any]],
                   post: Callable[[str, dict[str, Any]], Mapping[str, Any]]
                   ) -> dict[str, Any]:
    """Hand the chosen provider the mails of what was published since the last send; what
    happened. ``post(url, batch)`` hands one entry's mail and up to 500 recipients
    (``ProviderClient.newsletter``); the provider queues them and sends after this returns,
    so the publish lock is not held while mail goes out. Handing a batch again (a crash before
    the entry was marked sent here) queues nothing twice: the provider keys each mail by
    entry and address."""
    record = await settings(ctx)
    if record is None or not record.get("provider"):
        return {"queued": 0}
    chosen = next((p for p in providers if p["url"] == record["provider"]), None)
    if chosen is None or not chosen.get("site"):
        return {"queued": 0, "error": f"{record['provider']} is not an enrolled provider"}
    sent_ids = list(record.get("sent") or [])
    new = [e for e in await _entries(ctx) if e.id not in set(sent_ids)]
    if not new:
        return {"queued": 0}
    members = await store.list_members(ctx)
    total, stopped = 0, set[str]()
    for entry in reversed(new):  # oldest first
        site_url = str(chosen["site"])
        subject, text, url = _mail(entry, site_url)
        mail = {"entry": entry.id, "subject": subject, "text": text,
                "html": await _html(ctx, entry, site_url, url)}
        to = _recipients(entry, members, ctx.clock())
        for start in range(0, len(to), BATCH):
            answer = await asyncio.to_thread(post, str(chosen["url"]),
                                             {**mail, "to": to[start : start + BATCH]})
            total += int(answer.get("queued") or 0)
            stopped.update(answer.get("suppressed") or [])
        sent_ids.append(entry.id)
    for hashed in stopped:
        await _stop(ctx, hashed)
    fresh = await settings(ctx)
    await _save(ctx, {**(fresh or record), "sent": sent_ids[-MAX_SENT:]}, fresh)
    return {"queued": total, "entries": len(new), "stopped": len(stopped)}


async def _stop(ctx: Context, hashed: str) -> str | None:
    for member in await store.list_members(ctx):
        email = str(member.get("email") or "")
        if email and email_hash(email) == hashed:
            if member.get("subscribed", True):
                await store.update_member(ctx, email, {"subscribed": False})
            return email
    return None


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    import anyio.from_thread

    try:
        return anyio.from_thread.run(work)
    except RuntimeError:
        return asyncio.run(work())


def stop(ctx: Context, hashed: str, reason: str) -> Mapping[str, Any]:
    """Inbox handler: a member unsubscribed (or bounced) at the provider."""
    found = _run(lambda: _stop(ctx, hashed))
    return {"stopped": found is not None, "reason": reason}


def post_with(settings_: Any) -> Callable[[str, dict[str, Any]], Mapping[str, Any]]:
    from homeport.sync import providers
    from homeport.sync.client import ProviderClient

    def post(url: str, batch: dict[str, Any]) -> Mapping[str, Any]:
        creds = providers.credentials(settings_.data_dir)
        site = str(providers.find(settings_.data_dir, url).get("site") or "")
        with providers.default_http() as client:
            return ProviderClient(url, creds, client).newsletter({**batch, "site": site})

    return post


def after_publish(event: Any) -> None:
    """After each publish: mail what it made new, on the home's store opened for the call."""
    from homeport.sync import providers

    config = event.settings

    async def work(ctx: Context) -> None:
        done = await send_new(ctx, providers.load(config.data_dir), post_with(config))
        if done.get("queued"):
            log.info("newsletter: %s mails queued for %s entries", done["queued"],
                     done["entries"])

    run_blocking(config, work)


__all__ = ["NewsletterError", "after_publish", "choose", "send_new", "settings", "stop"]
