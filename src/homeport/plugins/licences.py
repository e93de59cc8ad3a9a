"""Licences of paid plugins, checked offline: ``{"licence": {plugin, site, tier, expires},
"signature": …}`` signed by the plugin's publisher (``signed.py``).

``site`` is the home's identity (its ``did:key``), ``expires`` an RFC 3339 time (or absent:
no end). No phone-home: the check needs only the publisher's key (kept with the install) and
the clock. Licences are records in the system bucket (collection ``licences``, id the
plugin's name) so they travel with the data through restores and moves. A plugin whose
licence is missing, for another site or expired is disabled with a clear message, and
nothing else is affected.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeport import jsonio
from homeport.core.errors import InvalidParameters, ObjectNotFound
from homeport.plugins import state
from homeport.plugins.catalogue import normalise
from homeport.plugins.manager import Plugins
from homeport.plugins.signed import SignedError, open_signed
from homeport.services import identity, writes
from homeport.services.context import OWNER, Context
from homeport.services.grants import SYSTEM_BUCKET, ensure_private
from homeport.services.resources import RECORD, find_object, unit_of_work

COLLECTION_NAME = "licences"
PARENT = f"/buckets/{SYSTEM_BUCKET}/collections/{COLLECTION_NAME}"


class LicenceError(InvalidParameters):
    """A licence that does not hold; the message says why and what to do."""


@dataclass(frozen=True)
class Licence:
    plugin: str
    site: str
    tier: str
    expires: float | None
    """Unix time; None: does not expire."""


def record_id(plugin: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", normalise(plugin))


def check(raw: bytes, publisher: str, site: str, plugin: str | None = None,
          now: float | None = None) -> Licence:
    """The licence in ``raw`` if it holds for ``site`` (and ``plugin``), else LicenceError."""
    try:
        body = open_signed("licence", raw, publisher)
    except SignedError as exc:
        raise LicenceError(str(exc)) from None
    name, owner, tier = (str(body.get(k, "")) for k in ("plugin", "site", "tier"))
    if plugin is not None and normalise(name) != normalise(plugin):
        raise LicenceError(f"this licence is for plugin {name!r}, not {plugin!r}")
    if owner != site:
        raise LicenceError(f"this licence is for another site ({owner}), not this home "
                           f"({site}): ask the publisher for one made out to {site}")
    expires = body.get("expires")
    when: float | None = None
    if expires not in (None, ""):
        try:
            when = datetime.fromisoformat(str(expires).replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise LicenceError(f"the licence's expiry {expires!r} is not a date") from None
        if when <= (time.time() if now is None else now):
            raise LicenceError(f"the licence of {name} expired on {expires}: renew it with "
                               "its publisher")
    return Licence(name, owner, tier, when)


def _site(ctx: Context) -> str:
    try:
        return identity.load(ctx.settings.data_dir).did
    except identity.IdentityStateError:
        raise LicenceError("this home has no identity yet (homeport init): a licence is made "
                           "out to it") from None


async def add(ctx: Context, raw: bytes) -> Licence:
    """Check a licence for an installed paid plugin and keep it as a record."""
    try:
        doc: Any = jsonio.loads_untrusted(raw)
        plugin = str(doc["licence"]["plugin"])
    except (ValueError, KeyError, TypeError):
        raise LicenceError("this is not a licence document ({\"licence\": …, "
                           "\"signature\": …})") from None
    installed = state.read(ctx.settings.data_dir).installed.get(normalise(plugin))
    if installed is None:
        raise LicenceError(f"plugin {plugin!r} is not installed from a catalogue here")
    licence = check(raw, str(installed["publisher"]), _site(ctx), plugin)
    await _ensure(ctx)
    async with unit_of_work(ctx):
        existing = await find_object(ctx, RECORD, PARENT, record_id(plugin))
        await writes.save(ctx, OWNER, RECORD, PARENT, record_id(plugin),
                          {"plugin": plugin, "document": raw.decode("utf-8")}, None,
                          existing=existing, replace_permissions=False)
    state.mark_changed(ctx.settings.data_dir)  # a running home turns the plugin on
    return licence


async def _ensure(ctx: Context) -> None:
    async with unit_of_work(ctx):
        await ensure_private(ctx, COLLECTION_NAME)


async def _document(ctx: Context, plugin: str) -> bytes | None:
    try:
        record = await ctx.store.get("record", PARENT, record_id(plugin))
    except ObjectNotFound:
        return None
    return str(record.get("document", "")).encode()


async def problem(ctx: Context, plugin: str, installed: dict[str, Any]) -> str:
    """Why a paid plugin may not run here ('' when its licence holds)."""
    raw = await _document(ctx, plugin)
    if raw is None:
        return (f"{plugin} is a paid plugin and this home has no licence for it: add one with "
                "'homeport plugins licence FILE'")
    try:
        check(raw, str(installed["publisher"]), _site(ctx), plugin)
    except LicenceError as exc:
        return str(exc)
    return ""


async def enforce(ctx: Context, plugins: Plugins) -> None:
    """Disable every loaded plugin of a paid install whose licence does not hold."""
    installed = state.read(ctx.settings.data_dir).installed
    for key, info in installed.items():
        if not info.get("paid"):
            continue
        names = [n for n, p in plugins.info.items()
                 if not p.builtin and normalise(p.distribution) == key]
        if not names:
            continue
        why = await problem(ctx, str(info.get("name", key)), info)
        if why:
            for name in names:
                plugins.disable(name, why)


__all__ = ["Licence", "LicenceError", "add", "check", "enforce", "problem"]
