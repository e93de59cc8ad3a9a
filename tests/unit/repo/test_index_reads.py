"""The repository's index reads and rewrites that callers outside ``repo/`` use instead of SQL
of their own (a provider's walks, a restore's rewind), on SQLite and on PostgreSQL (a
provider's tenant schema)."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.core.objects import ObjectType
from homeport.repo.bundle import import_bundle
from homeport.repo.codec import encode
from homeport.repo.repository import Repository

from .support import RepoHome, make_home

C = "/buckets/b/collections/c"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[RepoHome]:
    h = make_home(tmp_path)
    h.put("bucket", "", {"id": "b"})
    h.put("collection", "/buckets/b", {"id": "c"})
    h.put("record", C, {"id": "r1", "n": 1})
    h.snapshot()
    h.put("record", C, {"id": "r2", "n": 2})
    h.snapshot()
    yield h
    h.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def repo(request: pytest.FixtureRequest, home: RepoHome, tmp_path: Path) -> Iterator[Repository]:
    if request.param == "sqlite":
        copy = Repository(tmp_path / "copy.sqlite", home.keys)
    else:
        from homeport.store.objects_fs import FsObjectStore
        from homeport.store.pgconn import PostgresDatabase

        database = PostgresDatabase(request.getfixturevalue("postgres_url"))
        schema = f"ix_{secrets.token_hex(6)}"
        Repository.create_schema(database, schema)
        copy = Repository.in_schema(
            database, schema, home.keys, objects=FsObjectStore(tmp_path / "packs")
        )
    import_bundle(copy, io.BytesIO(home.export()), home.keys, None, home.identity["did"])
    yield copy
    copy.close()


def test_index_rows_name_what_is_here_with_seq_type_and_links(repo: Repository) -> None:
    head = repo.head()
    assert head is not None
    pending, stored = encode(ObjectType.CHUNK, (), secrets.token_bytes(300), False, None)
    with repo.transaction():
        repo.put(pending, ObjectType.CHUNK, (), stored, 0)
    absent = [secrets.token_bytes(32) for _ in range(700)]  # more than one batch

    rows = {r[0]: r[1:] for r in repo.index_rows([*absent, head.id, head.root, pending])}

    assert set(rows) == {head.id, head.root, pending}
    assert rows[head.id] == (head.seq, ObjectType.COMMIT, repo.links(head.id))
    assert rows[head.root][1] is ObjectType.NODE
    assert rows[pending] == (0, ObjectType.CHUNK, ())


def test_peek_reads_the_first_bytes_and_the_size_only(repo: Repository) -> None:
    head = repo.head()
    assert head is not None
    raw = repo.raw(head.root)

    assert repo.peek(head.root, 12) == (ObjectType.NODE, len(raw), raw[:12])
    assert repo.peek(secrets.token_bytes(32), 12) is None


def test_rewind_forgets_later_commits_and_their_objects(repo: Repository) -> None:
    first, second = repo.commit_at(1), repo.commit_at(2)
    assert first is not None and second is not None
    assert repo.oldest_seq() == 1
    count = repo.object_stats()[0]

    with repo.transaction():
        repo.set_entries([("old", (second.root, False))])
    with repo.transaction():
        assert repo.in_transaction
        repo.rewind(1)
        repo.replace_entries([("k", (first.root, False))])
    assert not repo.in_transaction

    assert repo.head() == first and repo.commit_at(2) is None
    assert not repo.has(second.id)
    assert 0 < repo.object_stats()[0] < count
    assert repo.entry("k") == (first.root, False) and repo.entry("old") is None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty(request: pytest.FixtureRequest, home: RepoHome, tmp_path: Path) -> Iterator[Repository]:
    """An empty repository on each engine (to import into)."""
    if request.param == "sqlite":
        copy = Repository(tmp_path / "empty.sqlite", home.keys)
    else:
        from homeport.store.objects_fs import FsObjectStore
        from homeport.store.pgconn import PostgresDatabase

        database = PostgresDatabase(request.getfixturevalue("postgres_url"))
        schema = f"ix_{secrets.token_hex(6)}"
        Repository.create_schema(database, schema)
        copy = Repository.in_schema(
            database, schema, home.keys, objects=FsObjectStore(tmp_path / "empty-packs")
        )
    yield copy
    copy.close()


def seqs(repo: Repository) -> dict[bytes, int]:
    rows = repo.db.execute("SELECT id, seq FROM objects").fetchall()
    return {bytes(oid): int(seq) for oid, seq in rows}


def test_an_import_adopts_each_object_with_the_commit_that_brought_it_in_few_statements(
    home: RepoHome, empty: Repository
) -> None:
    """Each object gets the seq of the first commit reaching it, as in the exporting home;
    the walk that gives it asks the database a level at a time, not once per object."""
    for i in range(3, 203):
        home.put("record", C, {"id": f"r{i}", "n": i})
    home.snapshot()
    statements = 0
    execute = empty.db.execute

    def counted(*args: object) -> object:
        nonlocal statements
        statements += 1
        return execute(*args)

    empty.db.execute = counted  # type: ignore[method-assign]

    import_bundle(empty, io.BytesIO(home.export()), home.keys, None, home.identity["did"])

    expected = seqs(home.repo)
    assert seqs(empty) == expected
    assert {1, 2, 3} <= set(expected.values())
    # one INSERT per object, then a few dozen for the walk (it was three per object)
    assert statements < len(expected) + 60, (statements, len(expected))
