"""The home's repository: every object ever snapshotted, the commit chain, and the local index
that makes the next snapshot cheap. One SQLite file (``repo.sqlite`` in the data dir, WAL); a
provider on PostgreSQL keeps each tenant's in a schema of its own (``in_schema``), with the same
tables and the same SQL (``store/connection.py`` spells the differences).

Crash safety comes from SQLite transactions: objects may be written in several batches (they are
content-addressed and harmless until a commit names them), and a commit, the head, the entries
index and the change cursor move together in one last transaction. After a kill -9 the file
holds the previous commit intact, and a re-run finds the objects already there.

Tables: ``objects`` (id, the commit seq that brought it — 0 while an import is unverified —, its
type, its links, its stored size, when it was received), ``data`` (its stored bytes, apart so
that giving an object its seq rewrites a small row, not the bytes), ``commits`` (seq → id),
``entries`` (the head's keys → entry ids, mirrored so prefixes can be found), ``cursor`` (each
store pair's timestamp at the last snapshot), ``files`` (path, privacy, size, mtime, inode →
file object), ``meta``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from homeport.core.commits import Commit, CommitError, parse
from homeport.core.objects import ObjectType
from homeport.core.tree import EMPTY, Node, parse_node
from homeport.repo.codec import ObjectError, RepoKeys, decode
from homeport.store.connection import Connection, SQLiteConnection
from homeport.store.objects_fs import FsObjectStore
from homeport.store.protocols import ObjectStore

if TYPE_CHECKING:
    from homeport.store.pgconn import PostgresDatabase

REPO_FILE = "repo.sqlite"
PACKS_DIR = "packs"
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    n INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    seq INTEGER NOT NULL,
    type INTEGER NOT NULL,
    links BLOB NOT NULL,
    size INTEGER NOT NULL,
    received INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS objects_seq ON objects (seq, id);
{data}
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
_SQLITE_SCHEMA = _SCHEMA.format(
    data="""CREATE TABLE IF NOT EXISTS data (n INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TRIGGER IF NOT EXISTS objects_gone AFTER DELETE ON objects
    BEGIN DELETE FROM data WHERE n = OLD.n; END;"""
)
# PostgreSQL: a foreign key instead of the trigger; bytes stored as they come (they are
# compressed or sealed already, so TOAST's compression would only cost time)
_POSTGRES_SCHEMA = (
    _SCHEMA.format(
        data="""CREATE TABLE IF NOT EXISTS data (
    n BIGINT PRIMARY KEY REFERENCES objects (n) ON DELETE CASCADE, data BLOB NOT NULL
);
ALTER TABLE data ALTER COLUMN data SET STORAGE EXTERNAL;"""
    )
    + f"INSERT INTO meta VALUES ('schema', '{SCHEMA_VERSION}') ON CONFLICT DO NOTHING;"
)


class RepositoryError(Exception):
    """The repository cannot do what was asked; the message says why and what to do."""


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


class Repository:
    """A home's objects and commits. Not thread-safe: one command, one connection."""

    def __init__(
        self,
        path: Path,
        keys: RepoKeys | None,
        db: Connection | None = None,
        objects: ObjectStore | None = None,
    ) -> None:
        """``objects`` holds the packs; by default ``packs/`` beside the database file."""
        self.path = path
        self.keys = keys
        self.objects: ObjectStore = (
            objects if objects is not None else FsObjectStore(path.parent / PACKS_DIR)
        )
        self._nodes: dict[bytes, Node] = {}
        self.db: Connection
        if db is not None:  # opened by ``in_schema``
            self.db = db
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = SQLiteConnection(
            sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        )
        self.db.execute("PRAGMA busy_timeout=30000")
        # 64 KiB pages (set before anything is written; ignored afterwards): objects are chunks
        # of about that size, and measured here blob writes run 2.3x faster than with 4 KiB
        self.db.execute("PRAGMA page_size=65536")
        _switch_to_wal(self.db)
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA cache_size=-32000")
        row = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        found = None
        if row is not None:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            found = None if row is None else int(row[0])
        if found is not None and found > SCHEMA_VERSION:
            raise RepositoryError(f"{path} was written by a newer Homeport (schema {found})")
        if found == 1:
            self._upgrade_from_1()
        self.db.script(_SQLITE_SCHEMA)
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))

    @classmethod
    def create_schema(cls, database: PostgresDatabase, schema: str) -> None:
        """Make (or check) a repository in a PostgreSQL schema: a provider does this when a
        tenant enrolls, so opening one (``in_schema``) costs no catalog work."""
        database.create_schema(schema, _POSTGRES_SCHEMA)
        db = database.connect(schema)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        finally:
            db.close()
        found = None if row is None else row[0]
        if found is not None and int(found) > SCHEMA_VERSION:
            raise RepositoryError(
                f"PostgreSQL schema {schema} was written by a newer Homeport (schema {found})"
            )

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
        return cls(Path(schema), keys, database.connect(schema, lock=lock), objects)

    def _upgrade_from_1(self) -> None:
        """Schema 1 kept the bytes in the object's row; move them to ``data``, in one
        transaction (a kill leaves schema 1, upgraded again on the next open)."""
        with self.transaction():
            for statement in (
                "CREATE TABLE data (n INTEGER PRIMARY KEY, data BLOB NOT NULL)",
                "INSERT INTO data (n, data) SELECT n, data FROM objects",
                "ALTER TABLE objects ADD COLUMN size INTEGER NOT NULL DEFAULT 0",
                "ALTER TABLE objects ADD COLUMN received INTEGER NOT NULL DEFAULT 0",
                "UPDATE objects SET size = length(data)",
                "ALTER TABLE objects DROP COLUMN data",
                "UPDATE meta SET value = '2' WHERE key = 'schema'",
            ):
                self.db.execute(statement)

    @classmethod
    def open(cls, data_dir: Path, keys: RepoKeys | None) -> Repository:
        return cls(data_dir / REPO_FILE, keys)

    def close(self) -> None:
        self.db.close()

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (a pooled repository must not be lent with one)."""
        return self.db.in_transaction

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.begin()
        try:
            yield
        except BaseException:
            self.db.rollback()
            self._nodes.clear()
            raise
        self.db.commit()

    # --- objects ---------------------------------------------------------------------------
    def has(self, oid: bytes) -> bool:
        return self.db.execute("SELECT 1 FROM objects WHERE id = ?", (oid,)).fetchone() is not None

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
        row = (oid, seq, int(kind), b"".join(links), len(stored), received)
        if self.db.engine == "sqlite":
            cur = self.db.execute(
                "INSERT OR IGNORE INTO objects (id, seq, type, links, size, received)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )
            if cur.rowcount != 1:
                return False
            n = cur.lastrowid  # type: ignore[attr-defined]
        else:  # no lastrowid: the new row's number comes back (nothing when it was there)
            found = self.db.execute(
                "INSERT INTO objects (id, seq, type, links, size, received)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING n",
                row,
            ).fetchone()
            if found is None:
                return False
            n = found[0]
        self.db.execute("INSERT INTO data VALUES (?, ?)", (n, stored))
        return True

    def replace(self, oid: bytes, stored: bytes) -> None:
        """Overwrite an object's stored bytes (a repair: the caller checked them)."""
        self.db.execute(
            "UPDATE data SET data = ? WHERE n = (SELECT n FROM objects WHERE id = ?)",
            (stored, oid),
        )
        self.db.execute("UPDATE objects SET size = ? WHERE id = ?", (len(stored), oid))

    def raw(self, oid: bytes) -> bytes:
        """The stored bytes of an object. Raises RepositoryError if it is missing."""
        row = self.db.execute(
            "SELECT d.data FROM objects o JOIN data d ON d.n = o.n WHERE o.id = ?", (oid,)
        ).fetchone()
        if row is None:
            raise RepositoryError(f"object {oid.hex()[:16]} is missing from the repository")
        return bytes(row[0])

    def stored_bytes(self) -> int:
        """What every object takes, pending ones included."""
        return int(self.db.execute("SELECT coalesce(sum(size), 0) FROM objects").fetchone()[0])

    def drop_pending(self, received_before: int) -> int:
        """Forget pending objects (seq 0) received before ``received_before`` (ms): uploads no
        publish adopted. How many went."""
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
        header, body = decode(oid, self.raw(oid), self.keys)
        return header.type, header.links, body

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
        provider's copy included; streamed."""
        rows = self.db.stream(
            "SELECT o.id, d.data FROM objects o JOIN data d ON d.n = o.n WHERE o.seq > ?"
            " ORDER BY o.seq, o.id",
            (since_seq,),
        )
        for oid, data in rows:
            yield bytes(oid), bytes(data)

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

    def peek(self, oid: bytes, length: int) -> tuple[ObjectType, int, bytes] | None:
        """An object's type, stored size and first ``length`` stored bytes (its header, a
        frame's head) without reading the rest; None if it is not here."""
        row = self.db.execute(
            "SELECT o.type, o.size, substr(d.data, 1, ?) FROM objects o JOIN data d ON d.n = o.n"
            " WHERE o.id = ?",
            (length, oid),
        ).fetchone()
        return None if row is None else (ObjectType(row[0]), int(row[1]), bytes(row[2]))

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
