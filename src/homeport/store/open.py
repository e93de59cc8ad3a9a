"""The one place a storage URL picks a backend: a RecordStore (`open_record_store`) or an
ObjectStore for pack files (`open_object_store`).

Records: ``memory://`` (tests, throwaway servers), ``sqlite:////abs/path.db`` or ``sqlite:///relative.db``
(the default home server), ``postgresql://…`` / ``postgres://…`` (larger or shared servers).
Backends are imported lazily so a SQLite install never loads the PostgreSQL driver (nor a
home the S3 client).
"""

from __future__ import annotations

from collections.abc import Callable

from homeport.store.protocols import ObjectStore, RecordStore
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


OBJECT_SCHEMES = ("memory://", "file:///", "s3://")


def open_object_store(url: str) -> ObjectStore:
    """The ObjectStore (pack files) for ``url``: ``memory://`` (a new, empty one each call),
    ``file:///abs/dir`` or a plain directory path (local disk), ``s3://BUCKET?endpoint=URL&
    region=R`` (any S3-compatible store; ``homeport.store.objects_s3.from_url`` reads the rest
    of the URL and the standard ``AWS_*`` variables, and is imported only here, when asked)."""
    if url.startswith("memory://"):
        from homeport.store.objects_memory import MemoryObjectStore

        return MemoryObjectStore()
    if url.startswith("s3://"):
        import importlib

        s3 = importlib.import_module("homeport.store.objects_s3")
        store: ObjectStore = s3.from_url(url)
        return store
    if url.startswith("file://"):
        path = url[len("file://") :]
        if not path.startswith("/"):
            raise ValueError(f"a file:// object store URL needs an absolute path: {url!r}")
    elif "://" in url or not url:
        scheme = url.split("://", 1)[0]
        raise ValueError(
            f"unknown object store URL scheme {scheme!r} in {url!r}; expected a directory or"
            " one of " + ", ".join(s + "…" for s in OBJECT_SCHEMES)
        )
    else:
        path = url
    from homeport.store.objects_fs import FsObjectStore

    return FsObjectStore(path)
