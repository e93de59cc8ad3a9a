"""A repository's objects in pack files: how a transaction's objects become one pack.

A write transaction appends the stored bytes of its new objects to an in-memory pack and
inserts their index rows (pack, offset, size) at once, so the transaction sees its own objects.
Its commit first ``put``s the pack (durable, all or nothing) and only then commits the rows:
an index row never names bytes that are not on disk. A pack over ``PACK_BYTES`` is written
mid-transaction and a new one begun; a rollback deletes the packs it wrote. A crash between the
``put`` and the commit leaves a pack no row names, which ``Repository.sweep_packs`` removes.
Each byte is written once: to its pack (no copy in the database, no WAL).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from homeport.store.connection import Connection, Cursor
from homeport.store.protocols import ObjectStore, ObjectStoreError

PACK_BYTES = 32 * 1024 * 1024
"""A pack is written once it holds this much (tens of MB: few files, cheap ranged reads)."""


def new_pack_name() -> str:
    """Random, so packs written at once by several processes or nodes never collide."""
    return f"{secrets.token_hex(16)}.pack"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class PackWriter:
    """The pack being filled by the open transaction, and those it already wrote."""

    def __init__(self, db: Connection, objects: ObjectStore) -> None:
        self.db = db
        self.objects = objects
        self.n: int | None = None
        self.name = ""
        self.size = 0
        self._pieces: list[bytes] = []
        self._at: dict[int, bytes] = {}
        self._written: list[str] = []  # by this transaction, deleted if it rolls back

    def slot(self) -> tuple[int, int]:
        """``(pack number, offset)`` for the next object; opens a pack (its index row, size 0
        until written) if none is."""
        if self.n is None:
            name = new_pack_name()
            row = self.db.execute(
                "INSERT INTO packs (name, size, created) VALUES (?, 0, ?) RETURNING n",
                (name, now_ms()),
            ).fetchone()
            self.n, self.name = int(row[0]), name
        return self.n, self.size

    def append(self, stored: bytes) -> None:
        """Add the object whose row ``slot`` placed; writes the pack once it is big enough."""
        self._at[self.size] = stored
        self._pieces.append(stored)
        self.size += len(stored)
        if self.size >= PACK_BYTES:
            self.flush()

    def buffered(self, name: str, offset: int) -> bytes | None:
        """An object of the pack not yet written, by its place."""
        return self._at.get(offset) if name == self.name else None

    def flush(self) -> None:
        """Write the open pack (before the rows naming it commit)."""
        if self.n is None:
            return
        n, name, size, pieces = self.n, self.name, self.size, self._pieces
        self._reset()
        if size == 0:  # every object it was opened for was there already
            self.db.execute("DELETE FROM packs WHERE n = ?", (n,))
            return
        self._written.append(name)
        self.objects.put(name, pieces)
        self.db.execute("UPDATE packs SET size = ? WHERE n = ?", (size, n))

    @property
    def written(self) -> list[str]:
        """The packs this transaction wrote so far."""
        return list(self._written)

    def committed(self) -> None:
        self._written.clear()

    def discard(self) -> None:
        """The transaction rolled back: forget the open pack, delete those it wrote."""
        self._reset()
        written, self._written = self._written, []
        for name in written:
            with contextlib.suppress(OSError, ObjectStoreError):
                self.objects.delete(name)

    def _reset(self) -> None:
        self.n, self.name, self.size = None, "", 0
        self._pieces, self._at = [], {}


class PackedConnection:
    """The repository's connection: ``commit`` writes the transaction's pack first, and
    ``rollback`` drops it. Statements go straight to the driver's bound methods."""

    def __init__(self, inner: Connection, writer: PackWriter) -> None:
        self.inner = inner
        self.writer = writer
        self.engine = inner.engine
        self.execute = inner.execute
        self.executemany = inner.executemany
        self.stream = inner.stream
        self.script = inner.script

    @property
    def in_transaction(self) -> bool:
        return self.inner.in_transaction

    def begin(self) -> None:
        self.inner.begin()

    def commit(self) -> None:
        try:
            self.writer.flush()
        except BaseException:
            self.rollback()
            raise
        self.inner.commit()
        self.writer.committed()

    def rollback(self) -> None:
        try:
            self.inner.rollback()
        finally:
            self.writer.discard()

    def close(self) -> None:
        self.writer.discard()
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # what a backend offers beyond the protocol
        return getattr(self.inner, name)


def chunked(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def rows(cursor: Cursor) -> Iterable[Any]:
    while batch := cursor.fetchmany(256):
        yield from batch
