"""Timestamps settled at commit: what a transaction handed out before it knew them.

A backend may write records with *provisional* timestamps and assign the real ones in one
statement at commit (PostgreSQL does: writers of a collection then queue on its timestamp row
for that statement only, not for the whole transaction). A caller that can rewrite what it
answers opts in by running the unit of work inside `collecting()`; after the commit the mapping
holds each provisional value and its final one, and `final` rewrites a value. Outside
`collecting()` every backend assigns timestamps as it writes, as before.

Provisional values are the transaction's write count above `PROVISIONAL_FLOOR`, in the last
weeks of year 9999: later than any real timestamp, so inside the transaction the new records
still sort newest and match any ``_since``, and HTTP dates can still spell them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from homeport.core.records import MAX_TIMESTAMP

PROVISIONAL_FLOOR = MAX_TIMESTAMP - 2**32
"""Above this, a timestamp seen inside a deferring transaction is provisional."""

_settled: ContextVar[dict[int, int] | None] = ContextVar("settled_timestamps", default=None)


@contextmanager
def collecting() -> Iterator[dict[int, int]]:
    """Let the store defer timestamps to commit; the mapping is filled when it commits."""
    mapping: dict[int, int] = {}
    token = _settled.set(mapping)
    try:
        yield mapping
    finally:
        _settled.reset(token)


def deferring() -> bool:
    """Whether the running task's caller opted in (see `collecting`)."""
    return _settled.get() is not None


def note(mapping: dict[int, int]) -> None:
    """Called by a backend once its transaction's timestamps are final."""
    target = _settled.get()
    if target is not None:
        target.update(mapping)


def final(value: Any, mapping: dict[int, int]) -> Any:
    """``value`` with a provisional timestamp replaced by its final one."""
    if isinstance(value, int) and value > PROVISIONAL_FLOOR:
        return mapping.get(value, value)
    return value


def settle_json(value: Any, mapping: dict[int, int]) -> Any:
    """``value`` with every provisional ``last_modified`` in it replaced, at any depth (a
    record, a list page, a tombstone, a 412's ``details.existing``)."""
    if not mapping:
        return value
    if isinstance(value, dict):
        return {
            k: final(v, mapping) if k == "last_modified" else settle_json(v, mapping)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [settle_json(v, mapping) for v in value]
    return value
