"""The one place a storage URL picks a RecordStore backend.

``memory://`` (tests, throwaway servers), ``sqlite:////abs/path.db`` or ``sqlite:///relative.db``
(the default home server), ``postgresql://…`` / ``postgres://…`` (larger or shared servers).
Backends are imported lazily so a SQLite install never loads the PostgreSQL driver.
"""

from __future__ import annotations

from collections.abc import Callable

from homeport.store.protocols import RecordStore
from homeport.store.sql.store import now_ms

SCHEMES = ("memory://", "sqlite://", "postgresql://", "postgres://")


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///<path>`` URL: what follows the third slash, as written.

    So ``sqlite:////abs/h.db`` is ``/abs/h.db`` and ``sqlite:///h.db`` is ``h.db`` in the working
    directory (SQLAlchemy's convention, and what `homeport.settings` writes for the data dir).
    """
    if not url.startswith("sqlite:///"):
        raise ValueError(f"SQLite URL must look like sqlite:///path/to.db, got {url!r}")
    path = url[len("sqlite:///") :]
    if not path:
        raise ValueError(f"SQLite URL has no file path: {url!r}")
    return path


def open_record_store(url: str, clock: Callable[[], int] = now_ms) -> RecordStore:
    """A RecordStore for ``url``; call ``await store.initialize()`` before use."""
    if url.startswith("memory://"):
        from homeport.store.memory import MemoryRecordStore

        return MemoryRecordStore(clock=clock)
    if url.startswith("sqlite://"):
        from homeport.store.sqlite import SQLiteRecordStore

        return SQLiteRecordStore(sqlite_path(url), clock=clock)
    if url.startswith(("postgresql://", "postgres://")):
        from homeport.store.postgres import PostgresRecordStore

        return PostgresRecordStore(url, clock=clock)
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise ValueError(
        f"unknown storage URL scheme {scheme!r} in {url!r}; expected one of "
        + ", ".join(s + "…" for s in SCHEMES)
    )
