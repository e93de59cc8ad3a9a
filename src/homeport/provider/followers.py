"""``interop.ports.Followers`` over the provider's database (``db.py``'s ``ap_followers`` and
``ap_blocks`` tables, SQLite or PostgreSQL): who follows each tenant's site and where to deliver,
and whom the tenant blocks. Every worker process reads the same rows."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from homeport.interop.ports import ACCEPTED, Follower
from homeport.provider.db import ProviderDB

_COLUMNS = "tenant, actor, inbox, shared_inbox, state, follow_id, created"
_UPSERT = (
    f"INSERT INTO ap_followers ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (tenant, actor) DO UPDATE SET inbox = excluded.inbox,"
    " shared_inbox = excluded.shared_inbox, state = excluded.state,"
    " follow_id = excluded.follow_id"
)


def _follower(row: tuple[Any, ...]) -> Follower:
    return Follower(row[0], row[1], row[2], row[3], row[4], row[5], int(row[6]))


def _values(f: Follower) -> tuple[Any, ...]:
    return (f.tenant, f.actor, f.inbox, f.shared_inbox, f.state, f.follow_id, f.created)


class ProviderFollowers:
    def __init__(self, db: ProviderDB) -> None:
        self.db = db

    def save(self, follower: Follower) -> bool:
        with self.db.transaction(lock=f"followers:{follower.tenant}") as conn:
            found = conn.execute(
                "SELECT 1 FROM ap_followers WHERE tenant = ? AND actor = ?",
                (follower.tenant, follower.actor),
            ).fetchone()
            conn.execute(_UPSERT, _values(follower))
        return found is None

    def remove(self, tenant: str, actor: str) -> bool:
        with self.db.transaction(lock=f"followers:{tenant}") as conn:
            gone = conn.execute(
                "DELETE FROM ap_followers WHERE tenant = ? AND actor = ?", (tenant, actor)
            ).rowcount
        return gone > 0

    def get(self, tenant: str, actor: str) -> Follower | None:
        with self.db.reading() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM ap_followers WHERE tenant = ? AND actor = ?",
                (tenant, actor),
            ).fetchone()
        return None if row is None else _follower(row)

    def of(self, tenant: str, state: str | None = ACCEPTED) -> list[Follower]:
        where, args = self._where(tenant, state)
        with self.db.reading() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM ap_followers WHERE {where} ORDER BY created, actor",
                args,
            ).fetchall()
        return [_follower(row) for row in rows]

    def count(self, tenant: str, state: str | None = ACCEPTED) -> int:
        where, args = self._where(tenant, state)
        with self.db.reading() as conn:
            (found,) = conn.execute(
                f"SELECT count(*) FROM ap_followers WHERE {where}", args
            ).fetchone()
        return int(found)

    @staticmethod
    def _where(tenant: str, state: str | None) -> tuple[str, tuple[Any, ...]]:
        if state is None:
            return "tenant = ?", (tenant,)
        return "tenant = ? AND state = ?", (tenant, state)

    def inboxes(self, tenant: str) -> list[str]:
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT DISTINCT CASE WHEN shared_inbox = '' THEN inbox ELSE shared_inbox END"
                " FROM ap_followers WHERE tenant = ? AND state = ?",
                (tenant, ACCEPTED),
            ).fetchall()
        return sorted(str(row[0]) for row in rows)

    def add_missing(self, tenant: str, followers: Collection[Follower]) -> int:
        if any(f.tenant != tenant for f in followers):
            raise ValueError("every follower must be of this tenant")
        added = 0
        with self.db.transaction(lock=f"followers:{tenant}") as conn:
            for follower in followers:
                added += conn.execute(
                    f"INSERT INTO ap_followers ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (tenant, actor) DO NOTHING",
                    _values(follower),
                ).rowcount
        return added

    def set_blocks(self, tenant: str, blocked: Collection[str]) -> None:
        with self.db.transaction(lock=f"followers:{tenant}") as conn:
            conn.execute("DELETE FROM ap_blocks WHERE tenant = ?", (tenant,))
            for target in sorted(set(blocked)):
                conn.execute("INSERT INTO ap_blocks (tenant, target) VALUES (?, ?)",
                             (tenant, target))

    def blocks(self, tenant: str) -> frozenset[str]:
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT target FROM ap_blocks WHERE tenant = ?", (tenant,)
            ).fetchall()
        return frozenset(str(row[0]) for row in rows)


__all__ = ["ProviderFollowers"]
