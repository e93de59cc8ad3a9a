"""``interop.ports.Deliveries`` over the provider's database: ActivityPub's outgoing queue.

An activity's body is stored once (``ap_activities``) and each inbox it goes to is a row of
``ap_deliveries`` with its due time; a worker takes due rows by moving their due time past a
lease (a compare-and-set, as the webmention queue does), so a worker that dies leaves rows that
come due again. ``ap_hosts`` counts each remote host's failures in a row: past ``BREAKER`` its
circuit opens for ``OPEN_FOR`` (doubling while it stays down, up to ``OPEN_MAX``) and nothing is
sent there until then; one success closes it.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from homeport.interop.ports import Delivery, RateLimited
from homeport.provider.db import ProviderDB

BREAKER = 8
"""Failures in a row that open a host's circuit."""
OPEN_FOR = 5 * 60_000
OPEN_MAX = 6 * 3600_000


def host_of(inbox: str) -> str:
    return (urlsplit(inbox).netloc or inbox).lower()


class ProviderDeliveries:
    def __init__(self, db: ProviderDB, queue_limit: int) -> None:
        self.db = db
        self.queue_limit = queue_limit

    def enqueue(self, tenant: str, inboxes: Collection[str], body: bytes, now: int) -> int:
        wanted = sorted(set(inboxes))
        if not wanted:
            return 0
        activity = secrets.token_hex(12)
        with self.db.transaction(lock=f"deliveries:{tenant}") as conn:
            (waiting,) = conn.execute(
                "SELECT count(*) FROM ap_deliveries WHERE tenant = ?", (tenant,)
            ).fetchone()
            if self.queue_limit and int(waiting) + len(wanted) > self.queue_limit:
                raise RateLimited(
                    f"{tenant} has {waiting} deliveries waiting, the most it may", 60
                )
            conn.execute(
                "DELETE FROM ap_activities WHERE tenant = ? AND NOT EXISTS (SELECT 1 FROM"
                " ap_deliveries WHERE ap_deliveries.activity = ap_activities.id)",
                (tenant,),
            )
            conn.execute(
                "INSERT INTO ap_activities (id, tenant, body, created) VALUES (?, ?, ?, ?)",
                (activity, tenant, body, now),
            )
            conn.executemany(
                "INSERT INTO ap_deliveries (id, tenant, activity, inbox, host, attempts, due,"
                " created) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                [(secrets.token_hex(12), tenant, activity, inbox, host_of(inbox), now, now)
                 for inbox in wanted],
            )
        return len(wanted)

    def claim(self, now: int, lease: int, limit: int, per_tenant: int) -> list[Delivery]:
        with self.db.reading() as conn:  # an idle worker's poll takes no write lock
            if conn.execute("SELECT 1 FROM ap_deliveries WHERE due <= ? LIMIT 1", (now,)
                            ).fetchone() is None:
                return []
        with self.db.transaction(lock="deliveries") as conn:
            rows = conn.execute(
                "SELECT id, tenant, inbox, attempts, created, due, activity FROM ("
                " SELECT d.*, ROW_NUMBER() OVER (PARTITION BY d.tenant ORDER BY d.due) AS n"
                " FROM ap_deliveries AS d LEFT JOIN ap_hosts AS h ON h.host = d.host"
                " WHERE d.due <= ? AND (h.open_until IS NULL OR h.open_until <= ?)"
                ") AS due_now WHERE n <= ? ORDER BY n, due LIMIT ?",
                (now, now, per_tenant, limit),
            ).fetchall()
            taken: list[tuple[Any, ...]] = []
            for row in rows:
                changed = conn.execute(
                    "UPDATE ap_deliveries SET due = ? WHERE id = ? AND due = ?",
                    (now + lease, row[0], row[5]),
                ).rowcount
                if changed == 1:
                    taken.append(row)
            bodies: dict[str, bytes] = {}
            for activity in {row[6] for row in taken}:
                found = conn.execute(
                    "SELECT body FROM ap_activities WHERE id = ?", (activity,)
                ).fetchone()
                if found is not None:
                    bodies[activity] = bytes(found[0])
        return [Delivery(row[0], row[1], row[2], bodies[row[6]], int(row[3]), int(row[4]))
                for row in taken if row[6] in bodies]

    def done(self, delivery_id: str, host: str, now: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM ap_deliveries WHERE id = ?", (delivery_id,))
            conn.execute(
                "UPDATE ap_hosts SET failures = 0, open_until = 0 WHERE host = ?"
                " AND failures > 0", (host,),
            )

    def drop(self, delivery_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM ap_deliveries WHERE id = ?", (delivery_id,))

    def finish(self, done: Collection[tuple[str, str]], dropped: Collection[str],
               now: int) -> None:
        """A round's successes and drops in one transaction (one commit, not one each): what
        a fan-out to many inboxes spends most of its database time on otherwise."""
        if not done and not dropped:
            return
        with self.db.transaction() as conn:
            conn.executemany("DELETE FROM ap_deliveries WHERE id = ?",
                             [(found,) for found, _ in done] + [(found,) for found in dropped])
            hosts = sorted({host for _, host in done if host})
            if hosts:
                conn.executemany(
                    "UPDATE ap_hosts SET failures = 0, open_until = 0 WHERE host = ?"
                    " AND failures > 0", [(host,) for host in hosts],
                )

    def retry(self, delivery_id: str, host: str, at: int, now: int) -> None:
        with self.db.transaction(lock=f"host:{host}") as conn:
            conn.execute(
                "UPDATE ap_deliveries SET attempts = attempts + 1, due = ? WHERE id = ?",
                (at, delivery_id),
            )
            if not host:  # put back for a reason that is not the host's
                return
            found = conn.execute(
                "SELECT failures FROM ap_hosts WHERE host = ?", (host,)
            ).fetchone()
            failures = (int(found[0]) if found else 0) + 1
            open_until = 0
            if failures >= BREAKER:
                open_until = now + min(OPEN_FOR * 2 ** min(failures - BREAKER, 10), OPEN_MAX)
            conn.execute(
                "INSERT INTO ap_hosts (host, failures, open_until) VALUES (?, ?, ?)"
                " ON CONFLICT (host) DO UPDATE SET failures = excluded.failures,"
                " open_until = excluded.open_until",
                (host, failures, open_until),
            )

    def waiting(self, tenant: str) -> int:
        with self.db.reading() as conn:
            (found,) = conn.execute(
                "SELECT count(*) FROM ap_deliveries WHERE tenant = ?", (tenant,)
            ).fetchone()
        return int(found)


__all__ = ["BREAKER", "ProviderDeliveries", "host_of"]
