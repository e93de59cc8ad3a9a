"""``interop.ports.Subscriptions`` over the provider's database (``db.py``'s ``websub`` table,
SQLite or PostgreSQL): the WebSub hub's verified subscriptions, seen by every worker process
and kept across restarts. Expired leases are dropped as new subscriptions come."""

from __future__ import annotations

from collections.abc import Collection

from homeport.interop.ports import Subscription
from homeport.provider.db import ProviderDB
from homeport.provider.serve import FEEDS, content_type
from homeport.provider.sites import Manifest
from homeport.provider.sitestore import SiteStore

_COLUMNS = "tenant, topic, path, callback, secret, expires"


class ProviderSubscriptions:
    def __init__(self, db: ProviderDB) -> None:
        self.db = db

    def save(self, sub: Subscription, limit: int, now: int) -> bool:
        with self.db.transaction(lock=f"websub:{sub.tenant}") as conn:
            conn.execute("DELETE FROM websub WHERE tenant = ? AND expires <= ?",
                         (sub.tenant, now))
            (count,) = conn.execute(
                "SELECT count(*) FROM websub WHERE tenant = ?"
                " AND NOT (topic = ? AND callback = ?)",
                (sub.tenant, sub.topic, sub.callback),
            ).fetchone()
            if int(count) >= limit:
                return False
            conn.execute(
                "INSERT INTO websub (tenant, topic, callback, path, secret, expires)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, topic, callback) DO UPDATE"
                " SET path = excluded.path, secret = excluded.secret,"
                " expires = excluded.expires",
                (sub.tenant, sub.topic, sub.callback, sub.path, sub.secret, sub.expires),
            )
        return True

    def remove(self, tenant: str, topic: str, callback: str) -> bool:
        with self.db.transaction() as conn:
            gone = conn.execute(
                "DELETE FROM websub WHERE tenant = ? AND topic = ? AND callback = ?",
                (tenant, topic, callback),
            ).rowcount
        return gone > 0

    def for_paths(self, tenant: str, paths: Collection[str], now: int) -> list[Subscription]:
        wanted = sorted(set(paths))
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        with self.db.transaction() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM websub WHERE tenant = ? AND path IN ({marks})"
                " AND expires > ? ORDER BY topic, callback",
                (tenant, *wanted, now),
            ).fetchall()
        return [Subscription(*row) for row in rows]


MAX_FEED = 4 * 1024 * 1024
"""A feed larger than this is not distributed (the renderer's are a few hundred kB)."""


def changed_feeds(
    store: SiteStore, tenant: str, before: str | None, after: Manifest
) -> dict[str, tuple[bytes, str]]:
    """The feeds of the tree ``after`` that are new or differ from the tree named ``before``
    (the one live until now): path on the site → (body, content type). What a publish
    changed is known from the two manifests, by file id."""
    previous = store.manifest(tenant, before) if before else None
    old = previous.files if previous is not None else {}
    changed: dict[str, tuple[bytes, str]] = {}
    for rel, (file_id, size) in after.files.items():
        if not rel.endswith(FEEDS) or old.get(rel, ("", 0))[0] == file_id or size > MAX_FEED:
            continue
        try:
            body = store.read(tenant, after, rel, MAX_FEED)
        except (OSError, ValueError):
            continue
        if body is None:
            continue
        changed["/" + rel] = (body, content_type(rel))
    return changed


def feeds_now(
    store: SiteStore, tenant: str, before: str | None, after: str
) -> dict[str, tuple[bytes, str]]:
    """``changed_feeds`` for a switch to the kept tree ``after`` (a rollback)."""
    manifest = store.manifest(tenant, after)
    return changed_feeds(store, tenant, before, manifest) if manifest is not None else {}


__all__ = ["ProviderSubscriptions", "changed_feeds", "feeds_now"]
