"""The home's repository: every object ever snapshotted, the commit chain, and the local index
that makes the next snapshot cheap. The index is one SQLite file (``repo.sqlite`` in the data
dir, WAL); a provider on PostgreSQL keeps each tenant's in a schema of its own (``in_schema``),
with the same tables and the same SQL (``store/connection.py`` spells the differences). The
objects' bytes live in pack files in an ObjectStore (``<data>/packs/`` at a home; a tenant's
directory or the provider's shared store), written as ``repo/packs.py`` says.

Crash safety: a transaction's pack is durable before the rows naming it commit. Objects may be
written in several batches (they are content-addressed and harmless until a commit names them),
and a commit, the head, the entries index and the change cursor move together in one last
transaction. After a kill -9 the index holds the previous commit intact, a re-run finds the
objects already there, and a pack no row names is removed by ``sweep_packs``.

Tables: ``objects`` (id, the commit seq that brought it — 0 while an import is unverified —,
its type, its links, its stored size, when it was received, and where its bytes are: pack
number and offset), ``packs`` (number → name, size, when made), ``commits`` (seq → id),
``entries`` (the head's keys → entry ids, mirrored so prefixes can be found), ``cursor`` (each
store pair's timestamp at the last snapshot), ``files`` (path, privacy, size, mtime, inode →
file object), ``meta``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeport.core.commits import Commit, CommitError, parse
from homeport.core.objects import ObjectType
from homeport.core.tree import EMPTY, Node, parse_node
from homeport.repo import packs
from homeport.repo.codec import ObjectError, RepoKeys, decode
from homeport.repo.packs import PackedConnection, PackWriter, chunked, now_ms
from homeport.store.connection import Connection, SQLiteConnection
from homeport.store.migrate import (
    MetaVersion,
    MigrationError,
    Plan,
    Step,
    has_column,
    migrate,
)
from homeport.store.objects_fs import FsObjectStore
from homeport.store.protocols import ObjectStore, ObjectStoreError

if TYPE_CHECKING:
    from homeport.store.pgconn import PostgresDatabase

REPO_FILE = "repo.sqlite"
PACKS_DIR = "packs"
SCHEMA_VERSION = 3
SHARED_GRACE_MS = 3600_000
"""A pack no row names is left this long on a store other writers may share: it may be a
transaction's in another process or node that has not committed yet."""
READ_BATCH_BYTES = 16 * 1024 * 1024
"""``iter_objects`` and ``scan`` read this much at a time (memory stays bounded)."""
READ_GAP = 256 * 1024
"""Objects of one pack this close are read together, the bytes between them read and dropped."""
READ_RUN_MAX = 8 * 1024 * 1024
"""…and no single read is longer than this (unless one object is)."""
REPACK_BELOW = 0.5
"""``repack`` rewrites a pack whose live bytes fell under this share of its size."""
SMALL_PACK = packs.PACK_BYTES // 4
"""A pack under this size is small: every transaction writes one, so a publish, an upload or
a snapshot each leave one behind, and reads, listings and sweeps pay per pack."""
MERGE_AT = 8
"""``repack`` merges the small packs into full ones once there are this many."""
REMEMBER_BYTES = 64 * 1024 * 1024
"""``remember`` keeps at most this many bytes of bodies (an import's entries, nodes and files)."""

_PACKS = """
CREATE TABLE IF NOT EXISTS packs (
    n INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, size INTEGER NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_pack ON objects (pack, pos);
"""
_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS objects (
    n INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    seq INTEGER NOT NULL,
    type INTEGER NOT NULL,
    links BLOB NOT NULL,
    size INTEGER NOT NULL,
    received INTEGER NOT NULL DEFAULT 0,
    pack INTEGER,
    pos INTEGER
);
CREATE INDEX IF NOT EXISTS objects_seq ON objects (seq, id);
CREATE TABLE IF NOT EXISTS commits (seq INTEGER PRIMARY KEY, id BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY, id BLOB NOT NULL, private INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cursor (
    resource_name TEXT NOT NULL, parent_id TEXT NOT NULL, last_modified INTEGER NOT NULL,
    PRIMARY KEY (resource_name, parent_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (
    path TEXT NOT NULL, private INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, id BLOB NOT NULL,
    PRIMARY KEY (path, private)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""
    + _PACKS
)
_FROM_1 = """
CREATE TABLE data (n INTEGER PRIMARY KEY, data BLOB NOT NULL);
INSERT INTO data (n, data) SELECT n, data FROM objects;
ALTER TABLE objects ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN received INTEGER NOT NULL DEFAULT 0;
UPDATE objects SET size = length(data);
ALTER TABLE objects DROP COLUMN data
"""
"""Schema 1 kept the bytes in the object's row: move them to ``data`` (one transaction)."""


def _packs_done(db: Connection) -> None:
    """The last of the move into packs: ``data`` gone, and the tables a schema-1 or -2 file
    lacked (``_SCHEMA`` is all ``IF NOT EXISTS``)."""
    if db.engine == "sqlite":  # PostgreSQL had a foreign key instead
        db.execute("DROP TRIGGER IF EXISTS objects_gone")
    db.execute("DROP TABLE IF EXISTS data")
    db.script(_SCHEMA)


def _unreachable(_: Connection) -> None:
    raise MigrationError("the repository's objects can only move with its object store")


def _plan(move_into_packs: Callable[[Connection], None] | None) -> Plan:
    """The repository's schema: a new one gets ``_SCHEMA`` at once; versions 1 and 2 are
    upgraded step by step (``move_into_packs`` is the repository's, which owns the packs)."""
    return Plan(
        REPO_FILE,
        (
            Step(2, "bytes out of the objects' rows", _FROM_1),
            Step(3, "bytes into packs", _packs_done, prepare=move_into_packs or _unreachable),
        ),
        MetaVersion(),
        baseline=_SCHEMA,
    )


_CURRENT: set[tuple[str, str]] = set()
"""PostgreSQL schemas found at SCHEMA_VERSION by this process (checked once, not per open)."""


class RepositoryError(Exception):
    """The repository cannot do what was asked; the message says why and what to do."""


@dataclass
class WrittenPack:
    """A pack ``Repository.write_pack`` wrote: its row number, name, and each object's place."""

    n: int
    name: str
    offsets: list[int]
    sizes: list[int]


def split_links(raw: bytes) -> tuple[bytes, ...]:
    return tuple(raw[i : i + 32] for i in range(0, len(raw), 32))


def _switch_to_wal(db: Connection) -> None:
    """``journal_mode=WAL``, retried: SQLite answers "database is locked" at once, without its
    busy handler, to a connection opening a new file while another switches it (two requests
    on a tenant's first upload did)."""
    for attempt in range(200):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 199:
                raise
            time.sleep(0.01)


@dataclass
class Located:
    """Where an object's bytes are, as its index row says."""

    id: bytes
    links: bytes
    pack: str | None
    """None: the row names a pack the index does not have."""
    pos: int
    size: int


@dataclass
class PackUsage:
    name: str
    size: int
    live: int
    """Bytes of the objects rows still name."""
    objects: int


@dataclass
class RepackResult:
    rewritten: int = 0
    """Packs whose live objects moved to new packs (or that held none) and were deleted."""
    merged: int = 0
    """Of those, small packs merged into full ones (the rest were mostly empty)."""
    moved_objects: int = 0
    moved_bytes: int = 0
    freed_bytes: int = 0
    written: list[str] | None = None


def _batches(rows: Iterable[Any]) -> Iterator[list[Located]]:
    """Index rows ``(id, links, pack, pos, size)`` as Located, in batches of bounded bytes."""
    batch: list[Located] = []
    held = 0
    for oid, links, pack, pos, size in rows:
        batch.append(Located(bytes(oid), bytes(links), pack, int(pos or 0), int(size)))
        held += int(size)
        if held >= READ_BATCH_BYTES or len(batch) >= 4096:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


class Repository:
    """A home's objects and commits. Not thread-safe: one command, one connection."""

    def __init__(
        self,
        path: Path,
        keys: RepoKeys | None,
        db: Connection | None = None,
        objects: ObjectStore | None = None,
        upgrade: bool = True,
    ) -> None:
        """``objects`` holds the packs; by default ``packs/`` beside the database file.
        ``upgrade=False``: the caller knows the schema is current (``in_schema``)."""
        self.path = path
        self.keys = keys
        self._nodes: dict[bytes, Node] = {}
        self._verified: dict[bytes, tuple[ObjectType, tuple[bytes, ...], bytes]] = {}
        self._verified_bytes = 0
        self.objects: ObjectStore = (
            objects if objects is not None else FsObjectStore(path.parent / PACKS_DIR)
        )
        self.shared = db is not None
        """Whether other processes or nodes may write this repository's packs unseen."""
        inner = db if db is not None else self._open_sqlite(path)
        self._writer = PackWriter(inner, self.objects)
        self.db: Connection = PackedConnection(inner, self._writer)
        if db is None or upgrade:  # ``upgrade=False``: opened by ``in_schema``, known current
            self._migrate()

    def _migrate(self) -> None:
        try:
            outcome = migrate(self.db, _plan(self._move_into_packs))
        except MigrationError as exc:
            raise RepositoryError(f"{self.path}: {exc}") from exc
        if self.db.engine == "sqlite" and outcome.found is not None and outcome.found < 3:
            self.db.execute("VACUUM")  # give back the pages the bytes took

    @staticmethod
    def _open_sqlite(path: Path) -> Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = SQLiteConnection(sqlite3.connect(path, isolation_level=None, check_same_thread=False))
        db.execute("PRAGMA busy_timeout=30000")
        _switch_to_wal(db)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA cache_size=-32000")
        return db

    @classmethod
    def create_schema(cls, database: PostgresDatabase, schema: str) -> None:
        """Make (or check) a repository in a PostgreSQL schema: a provider does this when a
        tenant enrolls, so opening one (``in_schema``) costs no catalog work."""
        if database.schema_exists(schema):
            db = database.connect(schema)
            try:
                found = MetaVersion().read(db)
            finally:
                db.close()
            if found is not None:
                if found > SCHEMA_VERSION:
                    raise RepositoryError(
                        f"PostgreSQL schema {schema} was written by a newer Homeport"
                        f" (schema {found})"
                    )
                return  # an older one: upgraded when first opened with its object store
        database.create_schema(schema, "")
        db = database.connect(schema)
        try:
            migrate(db, _plan(None))  # a schema with no version: the baseline, nothing to move
        finally:
            db.close()

    @classmethod
    def in_schema(
        cls,
        database: PostgresDatabase,
        schema: str,
        keys: RepoKeys | None,
        lock: str = "",
        objects: ObjectStore | None = None,
    ) -> Repository:
        """The repository in a PostgreSQL schema made by ``create_schema``, on a pooled
        connection (``close`` gives it back). With ``lock``, every write transaction first
        takes that name's advisory lock: processes sharing the database write one at a time.
        ``objects`` holds its packs (a provider's store scoped by tenant)."""
        if objects is None:
            raise RepositoryError(f"repository in schema {schema}: no object store given")
        key = (database.url, schema)
        repo = cls(
            Path(schema), keys, database.connect(schema, lock=lock), objects, key not in _CURRENT
        )
        _CURRENT.add(key)
        return repo

    def _move_into_packs(self, _: Connection) -> None:
        """Schema 2 kept each object's bytes in a ``data`` row; move them into packs, a pack's
        worth per transaction (the pack durable before the rows naming it move). A kill leaves
        schema 2 with some objects in packs already; the next open goes on from there (the
        runner's step then drops ``data`` and records schema 3)."""
        with self.transaction():
            if not has_column(self.db, "objects", "pack"):
                self.db.script(
                    "ALTER TABLE objects ADD COLUMN pack INTEGER;"
                    " ALTER TABLE objects ADD COLUMN pos INTEGER;" + _PACKS
                )
        while True:
            moved = 0
            with self.transaction():
                while moved < packs.PACK_BYTES:
                    batch = self.db.execute(
                        "SELECT o.n, d.data FROM objects o JOIN data d ON d.n = o.n"
                        " WHERE o.pack IS NULL ORDER BY o.n LIMIT 64"
                    ).fetchall()
                    if not batch:
                        break
                    for n, data in batch:
                        stored = bytes(data)
                        pack, pos = self._writer.slot()
                        self.db.execute(
                            "UPDATE objects SET pack = ?, pos = ?, size = ? WHERE n = ?",
                            (pack, pos, len(stored), n),
                        )
                        self.db.execute("DELETE FROM data WHERE n = ?", (n,))
                        self._writer.append(stored)
                        moved += len(stored) or 1
            if not moved:
                break

    @classmethod
    def open(cls, data_dir: Path, keys: RepoKeys | None) -> Repository:
        """The home's repository; packs a killed write left behind are removed."""
        repo = cls(data_dir / REPO_FILE, keys)
        repo.sweep_packs()
        return repo

    def close(self) -> None:
        self.forget_remembered()
        self.db.close()
        closing = getattr(self.objects, "close", None)
        if closing is not None and not self.shared:
            closing()

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (a pooled repository must not be lent with one)."""
        return self.db.in_transaction

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.begin()
        try:
            yield
            self.db.commit()  # writes the transaction's pack first; rolls back if that fails
        except BaseException:
            self.db.rollback()
            self._nodes.clear()
            self.forget_remembered()
            raise

    # --- objects ---------------------------------------------------------------------------
    def has(self, oid: bytes) -> bool:
        return self.db.execute("SELECT 1 FROM objects WHERE id = ?", (oid,)).fetchone() is not None

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """The caller's transaction, or one of its own for a lone write."""
        if self.db.in_transaction:
            yield
            return
        with self.transaction():
            yield

    def put(
        self,
        oid: bytes,
        kind: ObjectType,
        links: tuple[bytes, ...],
        stored: bytes,
        seq: int,
        received: int = 0,
    ) -> bool:
        """Store an object unless it is there; whether it was new. ``received`` (ms) dates a
        provider's pending upload, so one no publish adopts can be dropped later."""
        with self._writing():
            pack, pos = self._writer.slot()
            row = (oid, seq, int(kind), b"".join(links), len(stored), received, pack, pos)
            if not self._insert_object(row):
                return False
            self._writer.append(stored)
            return True

    def _insert_object(self, row: tuple[Any, ...]) -> bool:
        """One index row unless the object is there; whether it was new."""
        if self.db.engine == "sqlite":
            cur = self.db.execute(
                "INSERT OR IGNORE INTO objects (id, seq, type, links, size, received, pack,"
                " pos) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return bool(cur.rowcount == 1)
        found = self.db.execute(
            "INSERT INTO objects (id, seq, type, links, size, received, pack, pos)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING n",
            row,
        ).fetchone()
        return found is not None

    def write_pack(self, pieces: Sequence[bytes]) -> WrittenPack:
        """Write objects' stored bytes as a pack before the transaction that indexes them
        (``adopt_pack``, ``put_written``), so a caller that indexes under a lock (a provider's
        tenant lock) does not hold it while the bytes go to a slow store. The pack's row
        commits first, size 0 as while any pack is being written, so no sweep takes the
        file; a pack never adopted has no live object and the next ``repack`` deletes it."""
        if self.db.in_transaction:
            raise RepositoryError("write_pack runs outside a transaction")
        name = packs.new_pack_name()
        with self.transaction():
            row = self.db.execute(
                "INSERT INTO packs (name, size, created) VALUES (?, 0, ?) RETURNING n",
                (name, now_ms()),
            ).fetchone()
        written = WrittenPack(int(row[0]), name, [], [])
        at = 0
        for piece in pieces:
            written.offsets.append(at)
            written.sizes.append(len(piece))
            at += len(piece)
        try:
            self.objects.put(name, pieces)
        except BaseException:
            self.discard_pack(written)
            raise
        return written

    def adopt_pack(self, pack: WrittenPack) -> bool:
        """In the transaction that indexes a written pack's objects: its size recorded, or
        False when its row is gone (a repack took it while nothing named it: write again)."""
        cur = self.db.execute(
            "UPDATE packs SET size = ? WHERE n = ? AND name = ?",
            (sum(pack.sizes), pack.n, pack.name),
        )
        return bool(cur.rowcount == 1)

    def put_written(
        self,
        pack: WrittenPack,
        index: int,
        oid: bytes,
        kind: ObjectType,
        links: tuple[bytes, ...],
        seq: int,
        received: int = 0,
    ) -> bool:
        """Index the ``index``-th object of an adopted pack unless the object is there
        already (its bytes in the pack are then dead, reclaimed by a repack); whether it
        was new."""
        row = (
            oid,
            seq,
            int(kind),
            b"".join(links),
            pack.sizes[index],
            received,
            pack.n,
            pack.offsets[index],
        )
        return self._insert_object(row)

    def discard_pack(self, pack: WrittenPack) -> None:
        """A written pack no transaction adopted: its row and file go (best effort; what a
        crash leaves, the next repack and sweep remove)."""
        with contextlib.suppress(OSError, ObjectStoreError, RepositoryError):
            with self.transaction():
                named = self.db.execute(
                    "SELECT 1 FROM objects WHERE pack = ? LIMIT 1", (pack.n,)
                ).fetchone()
                if named is not None:
                    return
                self.db.execute("DELETE FROM packs WHERE n = ?", (pack.n,))
            self.objects.delete(pack.name)

    def replace(self, oid: bytes, stored: bytes) -> None:
        """Overwrite an object's stored bytes (a repair: the caller checked them). The new
        bytes go to a new pack; the old ones stay where they were until a repack."""
        with self._writing():
            pack, pos = self._writer.slot()
            cur = self.db.execute(
                "UPDATE objects SET pack = ?, pos = ?, size = ? WHERE id = ?",
                (pack, pos, len(stored), oid),
            )
            if cur.rowcount == 1:
                self._writer.append(stored)

    def locate(self, oid: bytes) -> Located | None:
        row = self.db.execute(
            "SELECT o.links, p.name, o.pos, o.size FROM objects o"
            " LEFT JOIN packs p ON p.n = o.pack WHERE o.id = ?",
            (oid,),
        ).fetchone()
        if row is None:
            return None
        return Located(oid, bytes(row[0]), row[1], int(row[2] or 0), int(row[3]))

    def _bytes_at(self, where: Located) -> bytes:
        """An object's stored bytes from its pack (or the pack being filled)."""
        name = f"object {where.id.hex()[:16]}"
        if where.pack is None:
            raise RepositoryError(f"{name}: its index row names a pack the index does not have")
        buffered = self._writer.buffered(where.pack, where.pos)
        if buffered is not None:
            return buffered
        try:
            return self.objects.read(where.pack, where.pos, where.size)
        except FileNotFoundError:
            raise RepositoryError(f"{name}: its pack {where.pack} is missing") from None
        except ObjectStoreError as exc:
            if exc.transient:
                raise
            raise RepositoryError(
                f"{name}: pack {where.pack} is damaged at {where.pos}+{where.size}: {exc}"
            ) from None

    def raw(self, oid: bytes) -> bytes:
        """The stored bytes of an object. Raises RepositoryError if it is missing."""
        where = self.locate(oid)
        if where is None:
            raise RepositoryError(f"object {oid.hex()[:16]} is missing from the repository")
        try:
            return self._bytes_at(where)
        except RepositoryError:
            again = self.locate(oid)  # a repack in another process may have just moved it
            if again is None or again == where:
                raise
            return self._bytes_at(again)

    def peek(self, oid: bytes, length: int) -> tuple[ObjectType, int, bytes] | None:
        """An object's type, stored size and first ``length`` stored bytes (its header, a
        frame's head) without reading the rest; None if it is not here."""
        row = self.db.execute(
            "SELECT o.type, p.name, o.pos, o.size FROM objects o"
            " LEFT JOIN packs p ON p.n = o.pack WHERE o.id = ?",
            (oid,),
        ).fetchone()
        if row is None:
            return None
        size = int(row[3])
        head = self._bytes_at(Located(oid, b"", row[1], int(row[2] or 0), min(length, size)))
        return ObjectType(row[0]), size, head[:length]

    def stored_bytes(self) -> int:
        """What every object takes, pending ones included."""
        return int(self.db.execute("SELECT coalesce(sum(size), 0) FROM objects").fetchone()[0])

    def drop_pending(self, received_before: int) -> int:
        """Forget pending objects (seq 0) received before ``received_before`` (ms): uploads no
        publish adopted. How many went (their bytes go at the next repack)."""
        cur = self.db.execute(
            "DELETE FROM objects WHERE seq = 0 AND received < ?", (received_before,)
        )
        return cur.rowcount

    def forget(self, ids: Iterable[bytes]) -> int:
        """Remove objects (garbage collection: the caller proved nothing it keeps reaches
        them), and the file index's rows that named them; how many went. Run it inside a
        transaction so a kill leaves all of them or none."""
        batch = list(ids)
        gone = 0
        for start in range(0, len(batch), 500):
            part = batch[start : start + 500]
            marks = ",".join("?" * len(part))
            gone += self.db.execute(f"DELETE FROM objects WHERE id IN ({marks})", part).rowcount
            self.db.execute(f"DELETE FROM files WHERE id IN ({marks})", part)
        return gone

    def read(self, oid: bytes) -> tuple[ObjectType, tuple[bytes, ...], bytes]:
        """An object's verified type, links and body (opened if private)."""
        remembered = self._verified.get(oid)
        if remembered is not None:
            return remembered
        header, body = decode(oid, self.raw(oid), self.keys)
        return header.type, header.links, body

    def remember(self, oid: bytes, kind: ObjectType, links: tuple[bytes, ...], body: bytes) -> None:
        """An object the caller has just verified (``decode``) and stored: ``read`` hands it
        back as it is instead of reading, opening and hashing it again, so an import's
        checkout trusts what the import checked. Up to REMEMBER_BYTES of bodies; forgotten
        when a transaction rolls back (``forget_remembered``)."""
        if self._verified_bytes + len(body) > REMEMBER_BYTES or oid in self._verified:
            return
        self._verified[oid] = (kind, links, body)
        self._verified_bytes += len(body)

    def forget_remembered(self) -> None:
        self._verified.clear()
        self._verified_bytes = 0

    def stored_size(self, oid: bytes) -> int:
        row = self.db.execute("SELECT size FROM objects WHERE id = ?", (oid,)).fetchone()
        if row is None:
            raise RepositoryError(f"object {oid.hex()[:16]} is missing from the repository")
        return int(row[0])

    def links(self, oid: bytes) -> tuple[bytes, ...] | None:
        row = self.db.execute("SELECT links FROM objects WHERE id = ?", (oid,)).fetchone()
        return None if row is None else split_links(bytes(row[0]))

    def node(self, oid: bytes) -> Node:
        """A tree node by id, cached (nodes are immutable)."""
        cached = self._nodes.get(oid)
        if cached is not None:
            return cached
        kind, links, body = self.read(oid)
        if kind is not ObjectType.NODE:
            raise ObjectError(f"object {oid.hex()[:16]}: a {kind.name.lower()}, not a tree node")
        node = parse_node(body, links)
        if len(self._nodes) > 50_000:
            self._nodes.clear()
        self._nodes[oid] = node
        return node

    def iter_objects(self, since_seq: int = 0) -> Iterator[tuple[bytes, bytes]]:
        """``(id, stored bytes)`` of the objects brought by commits after ``since_seq``, by that
        seq then id (``format.md``): the same content exports the same bytes on any device, a
        provider's copy included; streamed, a batch at a time (``read_many``)."""
        rows = self.db.stream(
            "SELECT o.id, o.links, p.name, o.pos, o.size FROM objects o"
            " LEFT JOIN packs p ON p.n = o.pack WHERE o.seq > ? ORDER BY o.seq, o.id",
            (since_seq,),
        )
        for batch in _batches(rows):
            yield from zip((w.id for w in batch), self.read_many(batch), strict=True)

    def raw_many(self, ids: list[bytes]) -> Iterator[tuple[bytes, bytes]]:
        """``(id, stored bytes)`` of those of ``ids`` that are here and readable, in the order
        asked, read a batch at a time (``read_many``): what a provider hands back to a
        restoring home."""
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                "SELECT o.id, o.links, p.name, o.pos, o.size FROM objects o"
                f" LEFT JOIN packs p ON p.n = o.pack WHERE o.id IN ({marks})",
                list(part),
            ).fetchall()
            found = {bytes(r[0]): r for r in rows}
            for batch in _batches(found[oid] for oid in part if oid in found):
                try:
                    yield from zip((w.id for w in batch), self.read_many(batch), strict=True)
                except RepositoryError:
                    for where in batch:
                        with contextlib.suppress(RepositoryError):
                            yield where.id, self._bytes_at(where)

    def read_many(self, located: list[Located]) -> list[bytes]:
        """The stored bytes of each, in order; objects lying near each other in a pack are
        fetched in one read (one ranged GET on S3 instead of one per object)."""
        out: list[bytes | None] = [None] * len(located)
        by_pack: dict[str, list[int]] = {}
        for i, where in enumerate(located):
            if where.pack is None or self._writer.buffered(where.pack, where.pos) is not None:
                out[i] = self._bytes_at(where)
            else:
                by_pack.setdefault(where.pack, []).append(i)
        for pack, members in by_pack.items():
            members.sort(key=lambda i: located[i].pos)
            run: list[int] = []
            end = 0
            for i in members:
                where = located[i]
                if run and (
                    where.pos > end + READ_GAP
                    or where.pos + where.size - located[run[0]].pos > READ_RUN_MAX
                ):
                    self._read_run(pack, [located[j] for j in run], run, out)
                    run = []
                run.append(i)
                end = max(end, where.pos + where.size) if len(run) > 1 else where.pos + where.size
            self._read_run(pack, [located[j] for j in run], run, out)
        return [b"" if data is None else data for data in out]

    def _read_run(
        self, pack: str, run: list[Located], places: list[int], out: list[bytes | None]
    ) -> None:
        start = run[0].pos
        end = max(w.pos + w.size for w in run)
        try:
            data = memoryview(self.objects.read(pack, start, end - start))
        except (FileNotFoundError, ObjectStoreError) as exc:
            if isinstance(exc, ObjectStoreError) and exc.transient:
                raise
            for where, i in zip(run, places, strict=True):  # name the first object it fails
                out[i] = self._bytes_at(where)
            return
        for where, i in zip(run, places, strict=True):
            out[i] = bytes(data[where.pos - start : where.pos - start + where.size])

    def scan(self) -> Iterator[tuple[Located, bytes | RepositoryError]]:
        """Every adopted object's index row with its bytes (or why they cannot be read), pack
        by pack in order: what ``verify`` checks."""
        rows = self.db.stream(
            "SELECT o.id, o.links, p.name, o.pos, o.size FROM objects o"
            " LEFT JOIN packs p ON p.n = o.pack WHERE o.seq > 0 ORDER BY o.pack, o.pos",
        )
        for batch in _batches(rows):
            try:
                found: list[bytes | RepositoryError] = list(self.read_many(batch))
            except RepositoryError:
                found = []
                for where in batch:
                    try:
                        found.append(self._bytes_at(where))
                    except RepositoryError as exc:
                        found.append(exc)
            yield from zip(batch, found, strict=True)

    def object_stats(self, since_seq: int = 0) -> tuple[int, int]:
        row = self.db.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM objects WHERE seq > ?",
            (since_seq,),
        ).fetchone()
        return int(row[0]), int(row[1])

    def index_rows(
        self, ids: Sequence[bytes]
    ) -> Iterator[tuple[bytes, int, ObjectType, tuple[bytes, ...]]]:
        """``(id, seq, type, links)`` of those of ``ids`` that are here, from the index alone
        (no object is read: a provider walks sealed trees by their links this way); seq 0 is
        an upload no commit adopted yet."""
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                f"SELECT id, seq, type, links FROM objects WHERE id IN ({marks})", list(part)
            ).fetchall()
            for oid, seq, kind, links in rows:
                yield bytes(oid), int(seq), ObjectType(kind), split_links(bytes(links))

    # --- packs -----------------------------------------------------------------------------
    def pack_usage(self) -> list[PackUsage]:
        """Each pack with the bytes its live objects take."""
        found = self.db.execute(
            "SELECT p.name, p.size, coalesce(sum(o.size), 0), count(o.n) FROM packs p"
            " LEFT JOIN objects o ON o.pack = p.n GROUP BY p.n, p.name, p.size ORDER BY p.n"
        ).fetchall()
        return [PackUsage(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in found]

    def sweep_packs(self, grace_ms: int | None = None) -> int:
        """Delete packs no index row names (a transaction killed after writing its pack); how
        many went. A repository others may share keeps those younger than ``grace_ms``
        (default SHARED_GRACE_MS); a home's own SQLite file needs none: with its write lock
        held, no other transaction can be between writing a pack and committing its rows (if
        the lock is busy, nothing is swept this time)."""
        own = self.db.engine == "sqlite" and not self.shared and grace_ms is None
        if grace_ms is None:
            grace_ms = 0 if own else SHARED_GRACE_MS
        cutoff = now_ms() - grace_ms
        if own:
            self.db.execute("PRAGMA busy_timeout=0")
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                return 0
            finally:
                self.db.execute("PRAGMA busy_timeout=30000")
        removed = 0
        try:
            known = {str(r[0]) for r in self.db.execute("SELECT name FROM packs").fetchall()}
            for name, _, modified in list(self.objects.names()):
                if name not in known and name.endswith(".pack") and modified <= cutoff:
                    self.objects.delete(name)
                    removed += 1
            sweep = getattr(self.objects, "sweep_incoming", None)
            if sweep is not None:  # half-written packs of killed writes, on local disk
                sweep(grace_ms / 1000)
        finally:
            if own:
                self.db.execute("COMMIT")
        return removed

    def repack(
        self, below: float = REPACK_BELOW, max_bytes: int = 256 * 1024 * 1024
    ) -> RepackResult:
        """Rewrite the packs whose live bytes fell under ``below`` of their size, and merge
        the small packs (under SMALL_PACK) once there are MERGE_AT of them: their live
        objects are copied to new packs and the rows moved in one transaction (the new packs
        durable first); the old packs are deleted only after it commits. A kill before the
        commit leaves new packs no row names, after it old ones: ``sweep_packs`` removes
        either. At most ``max_bytes`` of live objects move per call."""
        result = RepackResult(written=[])
        with self.transaction():
            everything = self.pack_usage()
            usage = [u for u in everything if u.live < below * u.size or u.live == 0]
            sparse = {u.name for u in usage}
            small = [u for u in everything if u.name not in sparse and u.size < SMALL_PACK]
            if len(small) >= MERGE_AT:
                usage += small
            chosen: list[PackUsage] = []
            budget = max_bytes
            for pack in sorted(usage, key=lambda u: u.live):
                if pack.live > budget and chosen:
                    break
                budget -= pack.live
                chosen.append(pack)
            for pack in chosen:
                self._move_out(pack.name, result)
                result.freed_bytes += pack.size - pack.live
                result.merged += pack.name not in sparse
            for part in chunked([p.name for p in chosen]):
                marks = ",".join("?" * len(part))
                self.db.execute(f"DELETE FROM packs WHERE name IN ({marks})", tuple(part))
            self._writer.flush()
            assert result.written is not None
            result.written.extend(self._writer.written)
        for pack in chosen:
            with contextlib.suppress(OSError, ObjectStoreError):
                self.objects.delete(pack.name)
            result.rewritten += 1
        return result

    def _move_out(self, name: str, result: RepackResult) -> None:
        found = self.db.execute(
            "SELECT o.n, o.pos, o.size FROM objects o JOIN packs p ON p.n = o.pack"
            " WHERE p.name = ? ORDER BY o.pos",
            (name,),
        ).fetchall()
        for n, pos, size in found:
            try:
                stored = self.objects.read(name, int(pos), int(size))
            except FileNotFoundError:
                raise RepositoryError(f"repack: pack {name} is missing") from None
            pack, at = self._writer.slot()
            self.db.execute("UPDATE objects SET pack = ?, pos = ? WHERE n = ?", (pack, at, n))
            self._writer.append(stored)
            result.moved_objects += 1
            result.moved_bytes += len(stored)

    # --- commits ---------------------------------------------------------------------------
    def head(self) -> Commit | None:
        row = self.db.execute("SELECT id FROM commits ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else self.commit(bytes(row[0]))

    def commit(self, oid: bytes) -> Commit:
        kind, links, body = self.read(oid)
        if kind is not ObjectType.COMMIT:
            raise CommitError(f"object {oid.hex()[:16]} is a {kind.name.lower()}, not a commit")
        return parse(oid, body, links)

    def commit_at(self, seq: int) -> Commit | None:
        row = self.db.execute("SELECT id FROM commits WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else self.commit(bytes(row[0]))

    def commits(self) -> Iterator[Commit]:
        """Newest first."""
        for (oid,) in self.db.execute("SELECT id FROM commits ORDER BY seq DESC").fetchall():
            yield self.commit(bytes(oid))

    def oldest_seq(self) -> int | None:
        """The seq of the oldest commit kept (a provider keeps a window of them)."""
        row = self.db.execute("SELECT min(seq) FROM commits").fetchone()
        return None if row[0] is None else int(row[0])

    def rewind(self, seq: int) -> None:
        """Forget the commits after ``seq``, the objects they brought and the file index's
        rows that named those (a restore setting aside what the device had). Run it inside a
        transaction with the index's new entries."""
        self.db.execute("DELETE FROM commits WHERE seq > ?", (seq,))
        self.db.execute("DELETE FROM objects WHERE seq > ?", (seq,))
        self.db.execute("DELETE FROM files WHERE id NOT IN (SELECT id FROM objects)")

    def root(self, commit: Commit | None) -> Node:
        return EMPTY if commit is None else self.node(commit.root)

    # --- the local index -------------------------------------------------------------------
    def entry(self, key: str) -> tuple[bytes, bool] | None:
        row = self.db.execute("SELECT id, private FROM entries WHERE key = ?", (key,)).fetchone()
        return None if row is None else (bytes(row[0]), bool(row[1]))

    def entries_under(self, prefix: str) -> list[str]:
        """Keys strictly below ``prefix`` (``prefix + '/'``…)."""
        low = prefix + "/"
        high = prefix + "0"  # '0' follows '/' in ASCII
        rows = self.db.execute(
            "SELECT key FROM entries WHERE key >= ? AND key < ?", (low, high)
        ).fetchall()
        return [str(r[0]) for r in rows]

    def set_entries(self, changes: Iterable[tuple[str, tuple[bytes, bool] | None]]) -> None:
        for key, value in changes:
            if value is None:
                self.db.execute("DELETE FROM entries WHERE key = ?", (key,))
            else:
                self.db.execute(
                    "INSERT INTO entries VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
                    " SET id = excluded.id, private = excluded.private",
                    (key, value[0], value[1]),
                )

    def replace_entries(self, entries: Iterable[tuple[str, tuple[bytes, bool] | None]]) -> None:
        """The whole local index anew (after a checkout of another commit)."""
        self.db.execute("DELETE FROM entries")
        self.set_entries(entries)

    def cursor(self) -> dict[tuple[str, str], int]:
        rows = self.db.execute("SELECT resource_name, parent_id, last_modified FROM cursor")
        return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}

    def set_cursor(self, timestamps: dict[tuple[str, str], int]) -> None:
        self.db.execute("DELETE FROM cursor")
        self.db.executemany(
            "INSERT INTO cursor VALUES (?, ?, ?)", [(r, p, t) for (r, p), t in timestamps.items()]
        )

    def indexed_file(
        self, path: str, private: bool, size: int, mtime_ns: int, inode: int
    ) -> bytes | None:
        row = self.db.execute(
            "SELECT f.id FROM files f JOIN objects o ON o.id = f.id WHERE f.path = ?"
            " AND f.private = ? AND f.size = ? AND f.mtime_ns = ? AND f.inode = ?",
            (path, private, size, mtime_ns, inode),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def index_file(
        self, path: str, private: bool, size: int, mtime_ns: int, inode: int, oid: bytes
    ) -> None:
        self.db.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (path, private) DO UPDATE"
            " SET size = excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode,"
            " id = excluded.id",
            (path, private, size, mtime_ns, inode, oid),
        )

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.db.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                " SET value = excluded.value",
                (key, value),
            )
