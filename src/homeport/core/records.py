"""Rules for object timestamps and tombstones, shared by every backend."""

from __future__ import annotations

from typing import Any

JSONObject = dict[str, Any]

MAX_TIMESTAMP = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: a later client-supplied ``last_modified`` is ignored, as HTTP dates
(``Last-Modified``) cannot say it and every later write of the collection would follow it."""


def next_timestamp(current: int, now_ms: int, requested: Any = None) -> int:
    """The next ``last_modified`` of a collection: strictly after ``current``.

    A client-supplied value is kept when it is an integer later than ``current`` (Kinto keeps it
    so imports preserve history); otherwise the clock is used, bumped past ``current`` when the
    clock is behind or equal.
    """
    if (
        isinstance(requested, int)
        and not isinstance(requested, bool)
        and current < requested <= MAX_TIMESTAMP
    ):
        return requested
    return max(now_ms, current + 1)


def tombstone(object_id: str, last_modified: int) -> JSONObject:
    return {"id": object_id, "last_modified": last_modified, "deleted": True}


def strip_meta(obj: JSONObject) -> JSONObject:
    """The stored body: the object without its id, timestamp and deleted flag."""
    return {k: v for k, v in obj.items() if k not in ("id", "last_modified", "deleted")}
