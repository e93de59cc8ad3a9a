"""Garbage collection of a repository (``repo.gc``) on SQLite and on PostgreSQL (a provider's
tenant schema): the whole history is kept, unreachable and stale pending objects go, a
snapshot in flight is left alone, a dry run writes nothing, a damaged graph stops the sweep."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.core.objects import ObjectType
from homeport.repo import gc
from homeport.repo.bundle import import_bundle
from homeport.repo.codec import encode
from homeport.repo.repository import Repository, RepositoryError
from homeport.repo.verify import verify_repository

from .support import RepoHome, make_home

C = "/buckets/b/collections/c"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[RepoHome]:
    h = make_home(tmp_path)
    h.put("bucket", "", {"id": "b"})
    h.put("collection", "/buckets/b", {"id": "c"})
    for i in range(20):
        h.put("record", C, {"id": f"r{i}", "n": i})
    h.attach(C, "photo", secrets.token_bytes(200_000))
    h.snapshot()
    for i in range(10):  # history: edits and deletes whose old versions only commit 1 has
        h.put("record", C, {"id": f"r{i}", "n": -i})
    h.delete("record", C, "r19")
    h.attach(C, "photo", secrets.token_bytes(150_000))
    h.snapshot()
    yield h
    h.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def repo(request: pytest.FixtureRequest, home: RepoHome, tmp_path: Path) -> Iterator[Repository]:
    """The home's repository, as a copy imported into SQLite or a PostgreSQL schema."""
    if request.param == "sqlite":
        copy = Repository(tmp_path / "copy.sqlite", home.keys)
    else:
        from homeport.store.objects_fs import FsObjectStore
        from homeport.store.pgconn import PostgresDatabase

        url = request.getfixturevalue("postgres_url")
        database = PostgresDatabase(url)
        schema = f"gc_{secrets.token_hex(6)}"
        Repository.create_schema(database, schema)
        copy = Repository.in_schema(
            database, schema, home.keys, objects=FsObjectStore(tmp_path / "packs")
        )
    import_bundle(copy, io.BytesIO(home.export()), home.keys, None, home.identity["did"])
    yield copy
    copy.close()


def _chunk(repo: Repository, seq: int, received: int = 0) -> tuple[bytes, int]:
    oid, stored = encode(ObjectType.CHUNK, (), secrets.token_bytes(5000), False, None)
    with repo.transaction():
        assert repo.put(oid, ObjectType.CHUNK, (), stored, seq, received=received)
    return oid, len(stored)


def _clean(home: RepoHome, repo: Repository) -> None:
    report = verify_repository(repo, home.identity["did"], home.identity["operations"])
    assert report.problems == []


def test_the_whole_history_is_kept(home: RepoHome, repo: Repository) -> None:
    before = repo.object_stats()
    found = gc.collect(repo)
    assert (found.unreachable.count, found.pending.count) == (0, 0)
    assert found.kept.count == before[0] and found.kept.bytes == before[1]
    assert repo.object_stats() == before
    _clean(home, repo)
    # commit 1's old versions are still there: a full export imports into a new home
    again = Repository(home.data.parent / "again.sqlite", home.keys)
    try:
        bundle = io.BytesIO()
        from homeport.repo.bundle import export_bundle

        export_bundle(repo, home.identity, bundle)
        bundle.seek(0)
        result = import_bundle(again, bundle, home.keys, None, home.identity["did"])
        assert [c.seq for c in result.new_commits] == [1, 2]
    finally:
        again.close()


def test_unreachable_objects_go_and_a_dry_run_only_counts_them(
    home: RepoHome, repo: Repository
) -> None:
    head = repo.head()
    assert head is not None
    lost, size = _chunk(repo, head.seq)  # adopted by an import yet reached by no commit
    older, older_size = _chunk(repo, 1)
    dry = gc.collect(repo, dry_run=True)
    assert (dry.unreachable.count, dry.unreachable.bytes) == (2, size + older_size)
    assert repo.has(lost) and repo.has(older)
    done = gc.collect(repo)
    assert (done.unreachable.count, done.unreachable.bytes) == (2, size + older_size)
    assert not repo.has(lost) and not repo.has(older)
    assert gc.collect(repo).unreachable.count == 0
    _clean(home, repo)


def test_a_snapshot_in_flight_and_fresh_uploads_are_left_alone(
    home: RepoHome, repo: Repository
) -> None:
    head = repo.head()
    assert head is not None
    flying, _ = _chunk(repo, head.seq + 1)  # written by a snapshot whose commit is not yet
    stale, stale_size = _chunk(repo, 0, received=1_000)
    fresh, _ = _chunk(repo, 0, received=9_000)
    found = gc.collect(repo, pending_before=5_000)
    assert found.in_flight.count == 1 and found.unreachable.count == 0
    assert (found.pending.count, found.pending.bytes) == (1, stale_size)
    assert repo.has(flying) and repo.has(fresh) and not repo.has(stale)
    # without a cut-off (the home), pending objects are never touched
    assert gc.collect(repo).pending.count == 0 and repo.has(fresh)


def test_a_missing_object_stops_the_sweep(home: RepoHome, repo: Repository) -> None:
    head = repo.head()
    assert head is not None
    lost, _ = _chunk(repo, head.seq)
    root = head.root
    with repo.transaction():
        repo.forget([root])
    with pytest.raises(RepositoryError, match="missing"):
        gc.collect(repo)
    assert repo.has(lost)  # nothing was swept: the damaged tree's children included


def test_the_file_index_does_not_name_a_swept_object(home: RepoHome) -> None:
    """The snapshot's file index must not hand out a removed object (it would be reused)."""
    repo = home.repo
    head = repo.head()
    assert head is not None
    oid, _ = _chunk(repo, head.seq)
    repo.index_file("site/x.html", False, 5000, 1, 2, oid)
    assert repo.indexed_file("site/x.html", False, 5000, 1, 2) == oid
    gc.collect(repo)
    assert repo.indexed_file("site/x.html", False, 5000, 1, 2) is None
