"""The webmention verification queue in the provider's database (``ports.Mentions``).

One row per received webmention, in the same database as the tenants (SQLite or PostgreSQL),
so a webmention accepted by one of ``provider serve --workers N``'s processes survives a
restart and may be verified by any of them. A job is taken by a compare-and-set on its state
and lease, which both engines do atomically without locks held across the fetch; a verifier
that dies leaves a lease that runs out, and the job is taken again.
"""

from __future__ import annotations

import secrets
from typing import Any

from homeport.interop.ports import MentionJob, RateLimited
from homeport.provider.db import ProviderDB

WINDOW = 60_000
"""The rate limit's window (ms)."""

_COLUMNS = "id, tenant, source, target, state, detail, created, updated"
SENT = ("accepted", "unchanged", "removed")


def _job(row: tuple[Any, ...]) -> MentionJob:
    return MentionJob(row[0], row[1], row[2], row[3], row[4], row[5], int(row[6]), int(row[7]))


class ProviderMentions:
    def __init__(self, db: ProviderDB, per_minute: int) -> None:
        self.db = db
        self.per_minute = per_minute

    def submit(self, tenant: str, source: str, target: str, domain: str, now: int) -> MentionJob:
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT count(*), min(created) FROM webmentions WHERE domain = ? AND created > ?",
                (domain, now - WINDOW),
            ).fetchone()
            count, oldest = int(row[0]), row[1]
            if self.per_minute > 0 and count >= self.per_minute:
                wait = max(1, -(-(int(oldest or now) + WINDOW - now) // 1000))
                raise RateLimited(
                    f"{domain} sent {count} webmentions in the last minute, the most this "
                    f"provider takes from one source host; retry in {wait} s",
                    wait,
                )
            job_id = secrets.token_hex(16)
            conn.execute(
                "INSERT INTO webmentions (id, tenant, source, target, domain, state, detail,"
                " digest, created, updated, lease) VALUES (?, ?, ?, ?, ?, 'queued', '', '', ?,"
                " ?, 0)",
                (job_id, tenant, source, target, domain, now, now),
            )
        return MentionJob(job_id, tenant, source, target, "queued", "", now, now)

    def get(self, tenant: str, job_id: str) -> MentionJob | None:
        with self.db.transaction() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM webmentions WHERE id = ? AND tenant = ?",
                (job_id, tenant),
            ).fetchone()
        return None if row is None else _job(row)

    def claim(
        self, now: int, lease: int, limit: int, job_id: str | None = None
    ) -> list[MentionJob]:
        where = "state IN ('queued', 'verifying') AND lease <= ?"
        args: tuple[Any, ...] = (now,)
        if job_id is not None:
            where += " AND id = ?"
            args += (job_id,)
        with self.db.transaction() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS}, lease FROM webmentions WHERE {where}"
                " ORDER BY created LIMIT ?",
                (*args, limit),
            ).fetchall()
        taken = []
        for row in rows:
            with self.db.transaction() as conn:
                changed = conn.execute(
                    "UPDATE webmentions SET state = 'verifying', lease = ?, updated = ?"
                    " WHERE id = ? AND state = ? AND lease = ?",
                    (now + lease, now, row[0], row[4], row[8]),
                ).rowcount
            if changed == 1:
                taken.append(_job(row[:8]))
        return taken

    def finish(
        self, job_id: str, state: str, detail: str, digest: str, now: int, retry_at: int = 0
    ) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE webmentions SET state = ?, detail = ?, digest = ?, updated = ?, lease = ?"
                " WHERE id = ?",
                (state, detail[:500], digest, now, retry_at, job_id),
            )

    def prune(self, before: int) -> int:
        """Forget what no answer needs any more: rejected webmentions, and sent ones that a
        later one for the same source and target superseded, last changed before ``before``
        (ms). The latest sent one of each pair stays: it tells an update from a repeat."""
        with self.db.transaction() as conn:
            return conn.execute(
                "DELETE FROM webmentions WHERE updated < ? AND (state = 'rejected' OR"
                " (state IN ('accepted', 'unchanged', 'removed') AND EXISTS (SELECT 1 FROM"
                " webmentions AS newer WHERE newer.tenant = webmentions.tenant"
                " AND newer.source = webmentions.source AND newer.target = webmentions.target"
                " AND newer.state IN ('accepted', 'unchanged', 'removed')"
                " AND newer.updated > webmentions.updated)))",
                (before,),
            ).rowcount

    def last_digest(self, tenant: str, source: str, target: str) -> str | None:
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT state, digest FROM webmentions WHERE tenant = ? AND source = ?"
                " AND target = ? AND state IN ('accepted', 'unchanged', 'removed')"
                " ORDER BY updated DESC LIMIT 1",
                (tenant, source, target),
            ).fetchone()
        if row is None or row[0] == "removed":
            return None
        return str(row[1])
