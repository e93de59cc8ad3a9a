"""``interop.ports.Rates`` over the provider's database: one counter per key and window, so
``provider serve --workers N``'s processes share a limit instead of each allowing it in full.

A key's row holds the start of its current window and what was taken in it; taking one is a
single upsert (atomic on both engines) that starts the count again when the window moved on.
A process that saw a key over its limit remembers it until the window ends and refuses on its
own meanwhile: a storm to one site costs the database one write per process, not one per
request.
"""

from __future__ import annotations

import threading

from homeport.provider.db import ProviderDB

_TAKE = (
    "INSERT INTO rate_windows (name, period, taken) VALUES (?, ?, 1)"
    " ON CONFLICT (name) DO UPDATE SET"
    " taken = CASE WHEN rate_windows.period = excluded.period"
    " THEN rate_windows.taken + 1 ELSE 1 END,"
    " period = excluded.period"
    " RETURNING taken"
)
REMEMBERED = 10_000
"""Keys known to be full that one process keeps in memory (a full set is cleared)."""


def seconds_left(end: int, now: int) -> int:
    return max(1, -(-(end - now) // 1000))


class ProviderRates:
    def __init__(self, db: ProviderDB) -> None:
        self.db = db
        self._full: dict[str, int] = {}
        """Key → end (ms) of the window this process saw it over its limit in."""
        self._lock = threading.Lock()

    def take(self, key: str, limit: int, window: int, now: int) -> int:
        if limit <= 0:
            return 0
        start = now - now % window
        end = start + window
        with self._lock:
            full = self._full.get(key)
        if full == end:
            return seconds_left(end, now)
        with self.db.transaction() as conn:
            (taken,) = conn.execute(_TAKE, (key, start)).fetchone()
        if int(taken) <= limit:
            return 0
        with self._lock:
            if len(self._full) >= REMEMBERED:
                self._full.clear()
            self._full[key] = end
        return seconds_left(end, now)


__all__ = ["ProviderRates"]
