"""Each tenant's inbox: what the public sent for a sleeping home, kept until the home takes it.

Items live in the provider's database (``db.py``'s ``inbox`` table, SQLite or PostgreSQL), so
they survive restarts and every worker process of ``provider serve --workers N`` sees them.
A put is one transaction holding the tenant's write lock (SQLite's ``BEGIN IMMEDIATE``, a
PostgreSQL advisory lock per tenant), so the bound per tenant holds across processes and the
items of a tenant are numbered in the order they were accepted.

Bodies are sealed to the home as they are stored (``crypto/boxes.py``) once the home has
named its box key (every relay poll does, signed), so the database holds only what the
protocols put in ``meta`` in clear; an item received before a home ever connected is kept as
it came and sent as it is.

An item waits (``acked`` NULL) until the home acknowledges it over the relay (``relay.py``);
then its body is dropped and its result kept for ``RESULT_MS`` so ``result()`` can answer
(Micropub waits on it). Only waiting items count against the bound.

Whether the home is connected (``connected``, which Micropub asks before it waits for the
home) is kept per tenant in ``inbox_polls``: when a relay poll starts to wait and when it
ends, two small writes per poll, never one per re-read.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeport import jsonio
from homeport.crypto.boxes import seal_box
from homeport.interop.ports import InboxFull
from homeport.provider.db import ProviderDB
from homeport.store.connection import Connection

RESULT_MS = 7 * 24 * 3600 * 1000
"""How long an acknowledged item's result stays readable (``Inbox.result``)."""
MAX_ID = 200
CONNECTED_MS = 5_000
"""A home whose last poll ended this recently counts as connected: it is applying what that
poll brought and polls again as soon as it is done."""
POLL_MAX_MS = 35_000
"""A poll that started waiting longer ago than this has ended, whatever ``inbox_polls`` says
(a poll waits 30 s at most, ``relay.MAX_WAIT_MS``; the process that held it was killed)."""
MAX_KIND = 100


@dataclass(frozen=True)
class Waiting:
    """An item as the relay hands it to the home."""

    seq: int
    id: str
    kind: str
    meta: dict[str, Any]
    body: bytes
    received: int
    sealed: bool = False


class Wakeups:
    """Event loops waiting for a tenant's next item in this process: a put wakes them at once.
    Other worker processes' puts are found by the relay's short re-reads (``relay.py``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def register(self, tenant: str) -> asyncio.Event:
        event = asyncio.Event()
        with self._lock:
            self._waiting.setdefault(tenant, set()).add((asyncio.get_running_loop(), event))
        return event

    def unregister(self, tenant: str, event: asyncio.Event) -> None:
        with self._lock:
            found = self._waiting.get(tenant, set())
            found -= {entry for entry in found if entry[1] is event}
            if not found:
                self._waiting.pop(tenant, None)

    def wake(self, tenant: str) -> None:
        with self._lock:
            entries = list(self._waiting.get(tenant, ()))
        for loop, event in entries:
            loop.call_soon_threadsafe(event.set)


class ProviderInbox:
    """``interop.ports.Inbox`` over the provider's database, plus what the relay needs."""

    def __init__(
        self,
        db: ProviderDB,
        max_items: int,
        max_bytes: int,
        clock: Callable[[], int],
        wakeups: Wakeups | None = None,
    ) -> None:
        self.db = db
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.clock = clock
        self.wakeups = wakeups or Wakeups()
        self._keys: dict[str, bytes] = {}
        """Box keys this process wrote (so a poll writes only a changed one)."""

    # --- the port ------------------------------------------------------------------------
    def put(
        self,
        tenant: str,
        kind: str,
        meta: Mapping[str, Any],
        body: bytes,
        *,
        item_id: str,
    ) -> str:
        if not item_id or len(item_id) > MAX_ID or not kind or len(kind) > MAX_KIND:
            raise ValueError("an inbox item needs an id (≤200 chars) and a kind (≤100 chars)")
        meta_text = jsonio.dumps_text(dict(meta))
        size = len(body) + len(meta_text)
        now = self.clock()
        with self.db.transaction(lock=f"inbox:{tenant}") as conn:
            found = conn.execute(
                "SELECT 1 FROM inbox WHERE tenant = ? AND id = ?", (tenant, item_id)
            ).fetchone()
            if found is not None:
                return item_id
            key = conn.execute(
                "SELECT public FROM inbox_keys WHERE tenant = ?", (tenant,)
            ).fetchone()
            if key is not None:
                body = seal_box(bytes(key[0]), body, associated(item_id, kind))
                size = len(body) + len(meta_text)
            count, used = _usage(conn, tenant)
            if count + 1 > self.max_items or used + size > self.max_bytes:
                raise InboxFull(
                    f"the inbox of {tenant} holds {count} items ({used} bytes), as much as this "
                    "provider keeps until the home takes them"
                )
            conn.execute(
                "INSERT INTO inbox (tenant, id, kind, meta, body, size, received, sealed)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (tenant, item_id, kind, meta_text, body, size, now, int(key is not None)),
            )
            conn.execute(
                "UPDATE inbox_usage SET items = items + 1, bytes = bytes + ? WHERE tenant = ?",
                (size, tenant),
            )
        self.wakeups.wake(tenant)
        return item_id

    def result(self, tenant: str, item_id: str) -> Mapping[str, Any] | None:
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT result FROM inbox WHERE tenant = ? AND id = ? AND acked IS NOT NULL",
                (tenant, item_id),
            ).fetchone()
        if row is None or row[0] is None:
            return None
        found: dict[str, Any] = jsonio.loads(row[0])
        return found

    def connected(self, tenant: str) -> bool:
        """Whether the tenant's home is polling now, or its last poll ended within
        ``CONNECTED_MS``: then what is put now reaches it within moments."""
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT started, ended FROM inbox_polls WHERE tenant = ?", (tenant,)
            ).fetchone()
        if row is None:
            return False
        started, ended = int(row[0]), int(row[1])
        now = self.clock()
        return (started > ended and now - started < POLL_MAX_MS) or now - ended < CONNECTED_MS

    # --- the relay's side ----------------------------------------------------------------
    def poll_waits(self, tenant: str) -> None:
        """The home's poll found nothing and waits (a poll that answers at once records only
        its end, so a draining home writes one row per poll)."""
        self._polled(tenant, "started")

    def poll_ended(self, tenant: str) -> None:
        self._polled(tenant, "ended")

    def _polled(self, tenant: str, column: str) -> None:
        now = self.clock()
        with self.db.transaction() as conn:
            conn.execute(
                f"INSERT INTO inbox_polls VALUES (?, ?, ?) ON CONFLICT (tenant) DO UPDATE"
                f" SET {column} = excluded.{column}",
                (tenant, now if column == "started" else 0, now if column == "ended" else 0),
            )

    def waiting(self, tenant: str, limit: int, max_bytes: int, after: int = 0) -> list[Waiting]:
        """The oldest waiting items numbered after ``after``, in order: at most ``limit``, and
        about ``max_bytes`` (always at least one, whatever its size)."""
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT seq, id, kind, meta, body, received, sealed FROM inbox"
                " WHERE tenant = ? AND acked IS NULL AND seq > ? ORDER BY seq LIMIT ?",
                (tenant, after, limit),
            ).fetchall()
        out: list[Waiting] = []
        total = 0
        for seq, item_id, kind, meta, body, received, sealed in rows:
            data = bytes(body or b"")
            if out and total + len(data) > max_bytes:
                break
            total += len(data)
            out.append(
                Waiting(
                    int(seq), item_id, kind, jsonio.loads(meta), data, int(received), bool(sealed)
                )
            )
        return out

    def ack(self, tenant: str, results: Mapping[str, Mapping[str, Any]]) -> int:
        """Mark items applied with the home's results (ids of other tenants' items, unknown or
        already acknowledged ones change nothing); drop their bodies and results past
        ``RESULT_MS``. How many items this acknowledged."""
        now = self.clock()
        done = 0
        with self.db.transaction(lock=f"inbox:{tenant}") as conn:
            _usage(conn, tenant)
            for item_id, result in results.items():
                row = conn.execute(
                    "SELECT size FROM inbox WHERE tenant = ? AND id = ? AND acked IS NULL",
                    (tenant, item_id),
                ).fetchone()
                if row is None:
                    continue
                conn.execute(
                    "UPDATE inbox SET acked = ?, result = ?, body = NULL, size = 0"
                    " WHERE tenant = ? AND id = ?",
                    (now, jsonio.dumps_text(dict(result)), tenant, item_id),
                )
                conn.execute(
                    "UPDATE inbox_usage SET items = items - 1, bytes = bytes - ? WHERE tenant = ?",
                    (int(row[0]), tenant),
                )
                done += 1
            conn.execute(
                "DELETE FROM inbox WHERE tenant = ? AND acked IS NOT NULL AND acked < ?",
                (tenant, now - RESULT_MS),
            )
        return done

    def set_key(self, tenant: str, public: bytes) -> None:
        """The home's box key, which bodies are sealed to from now on (written only when it
        changed: every poll names it)."""
        known = self._keys.get(tenant)
        if known == public:
            return
        with self.db.transaction(lock=f"inbox:{tenant}") as conn:
            conn.execute(
                "INSERT INTO inbox_keys VALUES (?, ?, ?) ON CONFLICT (tenant) DO UPDATE"
                " SET public = excluded.public, updated = excluded.updated",
                (tenant, public, self.clock()),
            )
        self._keys[tenant] = public

    def usage(self, tenant: str) -> tuple[int, int]:
        """Waiting items and their bytes."""
        with self.db.transaction(lock=f"inbox:{tenant}") as conn:
            return _usage(conn, tenant)


def associated(item_id: str, kind: str) -> bytes:
    """What a sealed body is bound to: its item (a box cannot be moved to another)."""
    return f"homeport inbox\n{item_id}\n{kind}".encode()


def drop(db: ProviderDB, tenant: str) -> None:
    """Forget a tenant's inbox (it left this provider): its items were the home's."""
    with db.transaction(lock=f"inbox:{tenant}") as conn:
        conn.execute("DELETE FROM inbox WHERE tenant = ?", (tenant,))
        conn.execute("DELETE FROM inbox_usage WHERE tenant = ?", (tenant,))
        conn.execute("DELETE FROM inbox_keys WHERE tenant = ?", (tenant,))
        conn.execute("DELETE FROM inbox_polls WHERE tenant = ?", (tenant,))


def _usage(conn: Connection, tenant: str) -> tuple[int, int]:
    """A tenant's waiting items and bytes, kept in ``inbox_usage`` so a put costs the same
    with 10 or 10,000 items waiting (counted from the items the first time). Call it holding
    the tenant's lock."""
    row = conn.execute(
        "SELECT items, bytes FROM inbox_usage WHERE tenant = ?", (tenant,)
    ).fetchone()
    if row is not None:
        return int(row[0]), int(row[1])
    count, used = conn.execute(
        "SELECT count(*), coalesce(sum(size), 0) FROM inbox WHERE tenant = ? AND acked IS NULL",
        (tenant,),
    ).fetchone()
    conn.execute("INSERT INTO inbox_usage VALUES (?, ?, ?)", (tenant, int(count), int(used)))
    return int(count), int(used)


__all__ = ["RESULT_MS", "ProviderInbox", "Waiting", "Wakeups", "associated", "drop"]
