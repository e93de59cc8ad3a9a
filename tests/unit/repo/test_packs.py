"""A repository's objects in pack files, on SQLite and on PostgreSQL: a transaction's objects
become one pack written before its rows commit, a failure or rollback leaves no pack and no
row, repack rewrites mostly-empty packs, sweep removes packs nothing names, and verify names a
damaged pack or index row."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from homeport.core.objects import ObjectType
from homeport.repo import packs
from homeport.repo.codec import encode, object_id
from homeport.repo.repository import Repository, RepositoryError
from homeport.repo.verify import verify_repository
from homeport.store.objects_fs import FsObjectStore
from homeport.store.objects_memory import MemoryObjectStore
from homeport.store.protocols import ObjectStore, ObjectStoreFull

Opener = Callable[[ObjectStore], Repository]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the same repository (one SQLite file, or one PostgreSQL schema) on a given store."""
    opened: list[Repository] = []
    if request.param == "sqlite":

        def open_sqlite(objects: ObjectStore) -> Repository:
            opened.append(Repository(tmp_path / "repo.sqlite", None, objects=objects))
            return opened[-1]

        yield open_sqlite
    else:
        from homeport.store.pgconn import PostgresDatabase

        database = PostgresDatabase(request.getfixturevalue("postgres_url"))
        schema = "tenant_packs_" + secrets.token_hex(4)
        Repository.create_schema(database, schema)

        def open_pg(objects: ObjectStore) -> Repository:
            opened.append(Repository.in_schema(database, schema, None, objects=objects))
            return opened[-1]

        yield open_pg
        for repo in opened:
            repo.close()
        database.drop_schema(schema)
        database.close()
        return
    for repo in opened:
        repo.close()


def chunk(n: int, size: int = 1000) -> tuple[bytes, bytes]:
    """A public chunk object: its id and stored bytes (incompressible, so ``size`` is real)."""
    body = secrets.token_bytes(size - 50) + n.to_bytes(8, "big")
    oid = object_id(ObjectType.CHUNK, (), body, False, None)
    return oid, encode(ObjectType.CHUNK, (), body, False, None, oid)[1]


def put_all(repo: Repository, objects: list[tuple[bytes, bytes]], seq: int = 1) -> None:
    with repo.transaction():
        for oid, stored in objects:
            assert repo.put(oid, ObjectType.CHUNK, (), stored, seq)


def test_a_transaction_is_one_pack_written_at_commit(opener: Opener) -> None:
    store = MemoryObjectStore()
    repo = opener(store)
    objects = [chunk(i) for i in range(20)]
    with repo.transaction():
        for oid, stored in objects:
            assert repo.put(oid, ObjectType.CHUNK, (), stored, 1)
        assert list(store.names()) == []  # nothing written before the commit...
        assert repo.raw(objects[3][0]) == objects[3][1]  # ...yet the transaction reads them
        assert not repo.put(objects[0][0], ObjectType.CHUNK, (), objects[0][1], 1)
    (name,) = [n for n, _, _ in store.names()]
    assert store.size(name) == sum(len(s) for _, s in objects)  # each byte written once
    again = opener(store)
    assert [again.raw(oid) for oid, _ in objects] == [s for _, s in objects]
    assert list(again.iter_objects()) == sorted(objects)
    assert again.object_stats() == (20, sum(len(s) for _, s in objects))


def test_a_lone_write_outside_a_transaction_is_its_own_pack(opener: Opener) -> None:
    store = MemoryObjectStore()
    repo = opener(store)
    oid, stored = chunk(1)
    assert repo.put(oid, ObjectType.CHUNK, (), stored, 0, received=5)
    assert len(list(store.names())) == 1
    assert opener(store).raw(oid) == stored


def test_rollback_leaves_no_pack_and_no_row(
    opener: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packs, "PACK_BYTES", 5000)  # packs written mid-transaction too
    store = MemoryObjectStore()
    repo = opener(store)
    objects = [chunk(i) for i in range(13)]  # 6 fill a pack
    with pytest.raises(RuntimeError), repo.transaction():
        for oid, stored in objects:
            repo.put(oid, ObjectType.CHUNK, (), stored, 1)
        assert len(list(store.names())) == 2  # two full packs written already
        raise RuntimeError("the snapshot failed")
    assert list(store.names()) == []
    assert not any(repo.has(oid) for oid, _ in objects)
    put_all(repo, objects)
    assert len(list(store.names())) == 3
    reopened = opener(store)
    assert all(reopened.raw(oid) == stored for oid, stored in objects)


def test_a_full_store_is_a_rollback_and_then_room_is_enough(opener: Opener) -> None:
    store = MemoryObjectStore(capacity=10_000)
    repo = opener(store)
    objects = [chunk(i) for i in range(12)]
    with pytest.raises(ObjectStoreFull):
        put_all(repo, objects)
    assert list(store.names()) == [] and not repo.has(objects[0][0])
    assert not repo.db.in_transaction
    put_all(repo, objects[:8])
    assert repo.object_stats()[0] == 8


def test_replace_forget_and_pending(opener: Opener) -> None:
    store = MemoryObjectStore()
    repo = opener(store)
    (a, sa), (b, sb) = chunk(1), chunk(2)
    with repo.transaction():
        assert repo.put(a, ObjectType.CHUNK, (), sa, 0, received=5)
        assert repo.put(b, ObjectType.CHUNK, (), sb, 0, received=50)
    assert repo.drop_pending(received_before=10) == 1
    assert repo.stored_bytes() == len(sb)
    with pytest.raises(RepositoryError):
        repo.raw(a)
    repo.replace(b, sb[:-1] + b"!")
    assert repo.raw(b) == sb[:-1] + b"!"
    assert len(list(store.names())) == 2
    assert repo.forget([b, a]) == 1
    assert repo.stored_bytes() == 0 and not repo.has(b)


def test_repack_rewrites_mostly_empty_packs_and_drops_dead_ones(opener: Opener) -> None:
    store = MemoryObjectStore()
    repo = opener(store)
    first = [chunk(i) for i in range(10)]
    second = [chunk(100 + i) for i in range(10)]
    third = [chunk(200 + i) for i in range(10)]
    put_all(repo, first)
    put_all(repo, second)
    put_all(repo, third)
    old = {n for n, _, _ in store.names()}
    repo.forget([oid for oid, _ in first[:7]])  # 30 % live: rewritten
    repo.forget([oid for oid, _ in second])  # 0 % live: dropped
    repo.forget([oid for oid, _ in third[:3]])  # 70 % live: kept
    result = repo.repack()
    assert result.rewritten == 2 and result.moved_objects == 3
    now = {n for n, _, _ in store.names()}
    assert len(now) == 2 and len(now & old) == 1 and result.written == list(now - old)
    live = first[7:] + third[3:]
    reopened = opener(store)
    assert all(reopened.raw(oid) == stored for oid, stored in live)
    assert sorted(u.live for u in reopened.pack_usage()) == sorted(
        [sum(len(s) for _, s in first[7:]), sum(len(s) for _, s in third[3:])]
    )
    assert reopened.repack().rewritten == 0  # nothing left to do


def test_repack_merges_many_small_packs_into_one(opener: Opener) -> None:
    """Every transaction leaves a pack; once MERGE_AT small ones pile up, repack merges them
    (fewer files to list, open and read across), and leaves a lone one alone."""
    from homeport.repo.repository import MERGE_AT

    store = MemoryObjectStore()
    repo = opener(store)
    written = [[chunk(10 * t + i) for i in range(3)] for t in range(MERGE_AT - 1)]
    for objects in written:
        put_all(repo, objects)
    assert len(list(store.names())) == MERGE_AT - 1
    assert repo.repack().rewritten == 0  # not enough of them yet
    written.append([chunk(1000 + i) for i in range(3)])
    put_all(repo, written[-1])
    result = repo.repack()
    assert result.rewritten == result.merged == MERGE_AT
    assert result.moved_objects == 3 * MERGE_AT and result.freed_bytes == 0
    (merged,) = store.names()
    assert [merged[0]] == result.written
    reopened = opener(store)
    assert all(reopened.raw(oid) == stored for objects in written for oid, stored in objects)
    assert [u.objects for u in reopened.pack_usage()] == [3 * MERGE_AT]
    assert reopened.repack().rewritten == 0  # one pack: nothing to merge with
    problems = verify_repository(reopened, "did:example:none", []).problems
    assert [p for p in problems if not p.startswith("identity log")] == []


def test_sweep_removes_packs_nothing_names_after_the_grace(opener: Opener) -> None:
    store = MemoryObjectStore()
    repo = opener(store)
    objects = [chunk(i) for i in range(3)]
    put_all(repo, objects)
    store.put("stray.pack", [b"a killed transaction's pack"])
    store.put("notes.txt", [b"not a pack: never touched"])
    assert repo.sweep_packs(grace_ms=60_000) == 0  # young: maybe another node's write
    assert repo.sweep_packs(grace_ms=0) == 1
    assert sorted(n for n, _, _ in store.names())[-1] == "notes.txt"
    assert store.size("stray.pack") is None
    assert all(repo.raw(oid) == stored for oid, stored in objects)


def test_verify_names_a_damaged_pack_a_moved_row_and_a_missing_pack(opener: Opener) -> None:
    store = MemoryObjectStore()
    repo = opener(store)
    one, two, three = [chunk(i) for i in range(3)], [chunk(10)], [chunk(20)]
    put_all(repo, one)
    put_all(repo, two)
    put_all(repo, three)
    did = "did:example:none"
    names = {u.name: u for u in repo.pack_usage()}
    where = repo.locate(one[1][0])
    assert where is not None and where.pack in names
    damaged = bytearray(store.read(where.pack, 0, names[where.pack].size))
    damaged[where.pos + where.size - 1] ^= 0xFF
    store.put(where.pack, [bytes(damaged)])
    moved = repo.locate(two[0][0])
    assert moved is not None
    repo.db.execute("UPDATE objects SET pos = pos + 1 WHERE id = ?", (two[0][0],))
    gone = repo.locate(three[0][0])
    assert gone is not None and gone.pack is not None
    store.delete(gone.pack)
    report = verify_repository(repo, did, [])
    text = "\n".join(report.problems)
    assert one[1][0].hex()[:16] in text and f"pack {where.pack} at byte {where.pos}" in text
    assert two[0][0].hex()[:16] in text and str(moved.pack) in text
    assert f"its pack {gone.pack} is missing" in text
    assert one[0][0].hex()[:16] not in text and one[2][0].hex()[:16] not in text


def test_the_census_names_objects_of_lost_or_cut_packs_without_reading_them(
    opener: Opener,
) -> None:
    """``unreadable`` compares the packs' sizes with the index (one listing): a removed pack,
    a pack cut short (only the objects past the cut) and a row naming no pack are named; a
    flipped byte is not its business (it reads nothing), and a sound repository names none."""
    from homeport.repo.verify import unreadable

    store = MemoryObjectStore()
    repo = opener(store)
    one, two, three = [chunk(i) for i in range(3)], [chunk(10 + i) for i in range(3)], [chunk(20)]
    put_all(repo, one)
    put_all(repo, two)
    put_all(repo, three)
    assert unreadable(repo) == []
    gone = repo.locate(one[0][0])
    cut = repo.locate(two[0][0])
    assert gone is not None and gone.pack and cut is not None and cut.pack
    store.delete(gone.pack)
    second = repo.locate(two[1][0])
    assert second is not None
    store.put(cut.pack, [store.read(cut.pack, 0, second.pos + second.size - 1)])
    repo.db.execute("UPDATE objects SET pack = 999 WHERE id = ?", (three[0][0],))
    found = set(unreadable(repo))
    assert found == {oid for oid, _ in one} | {two[1][0], two[2][0], three[0][0]}
    assert len(unreadable(repo, limit=2)) == 2


def test_home_store_defaults_to_packs_beside_the_database(tmp_path: Path) -> None:
    repo = Repository.open(tmp_path, None)
    oid, stored = chunk(1)
    put_all(repo, [(oid, stored)])
    repo.close()
    (pack,) = (tmp_path / "packs").iterdir()
    assert pack.read_bytes() == stored
    leftover = tmp_path / "packs" / "0123.pack"
    leftover.write_bytes(b"from a transaction killed after its pack was written")
    repo = Repository.open(tmp_path, None)  # the next start removes it
    try:
        assert not leftover.exists() and repo.raw(oid) == stored
        assert isinstance(repo.objects, FsObjectStore)
    finally:
        repo.close()


KILLED_AT_COMMIT = """
import os, signal, sys
from pathlib import Path
from homeport.core.objects import ObjectType
from homeport.repo.repository import Repository
from homeport.store.connection import SQLiteConnection

repo = Repository.open(Path(sys.argv[1]), None)
SQLiteConnection.commit = lambda self: os.kill(os.getpid(), signal.SIGKILL)
with repo.transaction():
    repo.put(bytes(32), ObjectType.CHUNK, (), b"written to its pack, never indexed", 1)
"""


def test_a_kill_between_the_pack_and_its_rows_loses_nothing_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    repo = Repository.open(tmp_path, None)
    kept = [chunk(i) for i in range(3)]
    put_all(repo, kept)
    repo.close()
    killed = subprocess.run([sys.executable, "-c", KILLED_AT_COMMIT, str(tmp_path)], timeout=60)
    assert killed.returncode == -9
    assert len(list((tmp_path / "packs").iterdir())) == 2  # the pack was durable, unnamed
    repo = Repository.open(tmp_path, None)
    try:
        assert [p.name for p in (tmp_path / "packs").iterdir()] == [
            u.name for u in repo.pack_usage()
        ]
        assert not repo.has(bytes(32))
        assert all(repo.raw(oid) == stored for oid, stored in kept)
    finally:
        repo.close()


class CountingStore(MemoryObjectStore):
    """Counts ranged reads: what a round trip to S3 costs."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read(self, name: str, offset: int, length: int) -> bytes:
        self.reads += 1
        return super().read(name, offset, length)


def test_streaming_reads_neighbours_together_and_in_export_order(opener: Opener) -> None:
    store = CountingStore()
    repo = opener(store)
    objects = [chunk(i) for i in range(40)]
    put_all(repo, objects[:20], seq=1)
    put_all(repo, objects[20:], seq=2)
    store.reads = 0
    assert list(repo.iter_objects()) == sorted(objects[:20]) + sorted(objects[20:])
    assert store.reads == 2  # one read a pack, not one an object
    assert list(repo.iter_objects(since_seq=1)) == sorted(objects[20:])
    store.reads = 0
    scanned = list(repo.scan())
    assert store.reads == 2 and [s for _, s in scanned] == [s for _, s in objects]


def test_raw_many_answers_in_the_order_asked_and_skips_what_it_cannot_read(
    opener: Opener,
) -> None:
    store = CountingStore()
    repo = opener(store)
    kept, lost = [chunk(i) for i in range(10)], [chunk(100 + i) for i in range(3)]
    put_all(repo, kept)
    put_all(repo, lost)
    gone = repo.locate(lost[0][0])
    assert gone is not None and gone.pack is not None
    store.delete(gone.pack)
    store.reads = 0
    assert list(repo.raw_many([kept[7][0], bytes(32), kept[2][0]])) == [kept[7], kept[2]]
    assert store.reads == 1  # one read for the pack they share
    asked = [kept[7][0], lost[1][0], bytes(32), kept[2][0], kept[0][0]]
    assert list(repo.raw_many(asked)) == [kept[7], kept[2], kept[0]]


KILLED_IN_REPACK = """
import os, signal, sys
from pathlib import Path
from homeport.repo.repository import Repository
from homeport.store.connection import SQLiteConnection
from homeport.store.objects_fs import FsObjectStore

repo = Repository.open(Path(sys.argv[1]), None)
if sys.argv[2] == "before-commit":  # the new pack is durable, the rows have not moved
    SQLiteConnection.commit = lambda self: os.kill(os.getpid(), signal.SIGKILL)
else:  # the rows moved, the old packs are not deleted yet
    FsObjectStore.delete = lambda self, name: os.kill(os.getpid(), signal.SIGKILL)
repo.repack()
"""


@pytest.mark.parametrize("moment", ["before-commit", "after-commit"])
def test_a_kill_during_repack_loses_nothing_and_the_next_start_cleans_up(
    tmp_path: Path, moment: str
) -> None:
    import subprocess
    import sys

    repo = Repository.open(tmp_path, None)
    first, second = [chunk(i) for i in range(10)], [chunk(100 + i) for i in range(10)]
    put_all(repo, first)
    put_all(repo, second)
    with repo.transaction():
        repo.forget([oid for oid, _ in first[:8]])
    repo.close()
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_IN_REPACK, str(tmp_path), moment], timeout=60
    )
    assert killed.returncode == -9
    assert len(list((tmp_path / "packs").iterdir())) == 3  # a pack no row names is left
    repo = Repository.open(tmp_path, None)
    try:
        assert sorted(p.name for p in (tmp_path / "packs").iterdir()) == sorted(
            u.name for u in repo.pack_usage()
        )
        assert all(repo.raw(oid) == stored for oid, stored in first[8:] + second)
        assert repo.repack().rewritten == (1 if moment == "before-commit" else 0)
        assert all(repo.raw(oid) == stored for oid, stored in first[8:] + second)
    finally:
        repo.close()


@pytest.mark.postgres
def test_a_schema_2_repository_in_postgresql_moves_its_bytes_into_packs(
    postgres_url: str,
) -> None:
    from homeport.store.pgconn import PostgresDatabase

    database = PostgresDatabase(postgres_url)
    schema = "tenant_old_" + secrets.token_hex(4)
    objects = [chunk(i) for i in range(30)]
    old = """
CREATE TABLE objects (
    n INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, seq INTEGER NOT NULL,
    type INTEGER NOT NULL, links BLOB NOT NULL, size INTEGER NOT NULL,
    received INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX objects_seq ON objects (seq, id);
CREATE TABLE data (
    n BIGINT PRIMARY KEY REFERENCES objects (n) ON DELETE CASCADE, data BLOB NOT NULL
);
CREATE TABLE commits (seq INTEGER PRIMARY KEY, id BLOB NOT NULL);
CREATE TABLE entries (key TEXT PRIMARY KEY, id BLOB NOT NULL, private INTEGER NOT NULL);
CREATE TABLE cursor (resource_name TEXT NOT NULL, parent_id TEXT NOT NULL,
    last_modified INTEGER NOT NULL, PRIMARY KEY (resource_name, parent_id));
CREATE TABLE files (path TEXT NOT NULL, private INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, id BLOB NOT NULL,
    PRIMARY KEY (path, private));
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema', '2');
"""
    database.create_schema(schema, old)
    db = database.connect(schema)
    try:
        db.begin()
        for n, (oid, stored) in enumerate(objects, 1):
            db.execute(
                "INSERT INTO objects VALUES (?, ?, 1, ?, ?, ?, 0)",
                (n, oid, int(ObjectType.CHUNK), b"", len(stored)),
            )
            db.execute("INSERT INTO data VALUES (?, ?)", (n, stored))
        db.commit()
    finally:
        db.close()
    store = MemoryObjectStore()
    Repository.create_schema(database, schema)  # an enrolled tenant's schema is left as it is
    repo = Repository.in_schema(database, schema, None, objects=store)
    try:
        assert repo.meta("schema") == "3"
        assert [repo.raw(oid) for oid, _ in objects] == [s for _, s in objects]
        assert sum(size for _, size, _ in store.names()) == sum(len(s) for _, s in objects)
        assert (
            repo.db.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = ?"
                " AND table_name = 'data'",
                (schema,),
            ).fetchone()[0]
            == 0
        )
    finally:
        repo.close()
        database.drop_schema(schema)
        database.close()


def test_a_collection_removes_packs_nothing_names(opener: Opener) -> None:
    from homeport.repo.gc import collect

    store = MemoryObjectStore()
    repo = opener(store)
    store.put("stray.pack", [b"a killed transaction's pack"])
    collect(repo, dry_run=True)
    assert store.size("stray.pack") is not None  # a dry run touches nothing
    if repo.shared:  # another node may still be committing it: only once it is old
        collect(repo)
        assert store.size("stray.pack") is not None
        repo.sweep_packs(grace_ms=0)
    else:
        collect(repo)
    assert store.size("stray.pack") is None
