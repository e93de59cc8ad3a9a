"""Snapshots of an in-memory store: what a first, an empty and a small one write, privacy,
re-sealing when readers change, and attachments cut into reusable chunks."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.core import tree
from homeport.core.objects import ObjectType
from homeport.repo.verify import verify_repository

from .support import EVERYONE, RepoHome, make_home

B = "/buckets/b"
C = "/buckets/b/collections/c"
PUB = "/buckets/pub"
PUBC = "/buckets/pub/collections/posts"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[RepoHome]:
    h = make_home(tmp_path)
    h.put("bucket", "", {"id": "b"})
    h.put("collection", B, {"id": "c"})
    h.put("group", B, {"id": "friends", "members": ["account:alice"]})
    for i in range(50):
        h.put("record", C, {"id": f"r{i:02d}", "title": f"note {i}", "n": i})
    h.put("bucket", "", {"id": "pub"})
    h.set_permissions(PUB, {"read": {EVERYONE}, "write": {"account:admin"}})
    h.put("collection", PUB, {"id": "posts"})
    for i in range(10):
        h.put("record", PUBC, {"id": f"p{i}", "title": f"post {i}"})
    yield h
    h.close()


def verified(h: RepoHome) -> None:
    report = verify_repository(h.repo, h.identity["did"], h.identity["operations"])
    assert report.problems == []


def test_the_first_snapshot_holds_every_store_object(home: RepoHome) -> None:
    result = home.snapshot()
    assert result.commit is not None and result.commit.seq == 1
    assert result.commit.identity == home.identity["did"]
    keys = set(home.entries())
    assert keys == {
        B,
        C,
        f"{B}/groups/friends",
        PUB,
        PUBC,
        *(f"{C}/records/r{i:02d}" for i in range(50)),
        *(f"{PUBC}/records/p{i}" for i in range(10)),
    }
    root = home.repo.root(home.repo.head())
    assert dict(tree.entries(root, home.repo.node)) == home.entries()
    kind, _, body = home.repo.read(home.entries()[f"{C}/records/r07"][0])
    assert kind is ObjectType.ENTRY and b'"title":"note 7"' in body and b'"last_modified"' in body
    assert result.commit.objects == result.new_objects - 1  # stats count all but the commit
    verified(home)


def test_no_change_makes_no_commit(home: RepoHome) -> None:
    first = home.snapshot().commit
    count = home.object_count()
    again = home.snapshot()
    assert again.commit is None and again.new_objects == 0
    assert home.object_count() == count
    assert home.repo.head() == first


def test_one_edited_record_writes_a_few_small_objects(home: RepoHome) -> None:
    home.snapshot()
    home.put("record", C, {"id": "r07", "title": "edited", "n": 7})
    result = home.snapshot()
    assert result.commit is not None and result.commit.seq == 2
    assert result.changed_keys == 1
    assert result.new_objects <= 6 and result.new_bytes < 64 * 1024
    assert result.commit.objects == result.new_objects - 1
    _, _, body = home.repo.read(home.entries()[f"{C}/records/r07"][0])
    assert b'"title":"edited"' in body
    verified(home)


def test_a_deleted_bucket_takes_its_keys_with_it(home: RepoHome) -> None:
    home.snapshot()
    home.delete("bucket", "", "b")
    result = home.snapshot()
    assert result.commit is not None
    keys = set(home.entries())
    assert not any(k == B or k.startswith(B + "/") for k in keys)
    assert PUB in keys and f"{PUBC}/records/p3" in keys
    root = home.repo.root(home.repo.head())
    assert set(dict(tree.entries(root, home.repo.node))) == keys
    verified(home)


def test_a_deleted_record_vanishes(home: RepoHome) -> None:
    home.snapshot()
    home.delete("record", C, "r03")
    home.snapshot()
    assert f"{C}/records/r03" not in home.entries()
    assert f"{C}/records/r04" in home.entries()


def test_everyone_readable_buckets_are_public_others_sealed(home: RepoHome) -> None:
    home.snapshot()
    for key, (oid, private) in home.entries().items():
        public = key.startswith(PUB)
        assert private is not public, key
        assert home.sealed(oid) is private, key
    head = home.repo.head()
    assert head is not None and not home.sealed(head.id)  # commits are public
    assert home.sealed(head.root)  # a node with one private link is private


def test_changing_a_buckets_readers_reseals_and_unseals_its_records(home: RepoHome) -> None:
    home.snapshot()
    before = home.entries()
    home.set_permissions(B, {"read": {EVERYONE}})
    home.set_permissions(PUB, {"write": {"account:admin"}})
    # touch each bucket so the change is seen (the API bumps the bucket when its ACL changes)
    home.put("bucket", "", {"id": "b"})
    home.put("bucket", "", {"id": "pub"})
    result = home.snapshot()
    assert result.commit is not None
    after = home.entries()
    assert set(after) == set(before)
    for key, (oid, private) in after.items():
        assert private is key.startswith(PUB), key
        assert home.sealed(oid) is private, key
    assert after[f"{C}/records/r01"][0] != before[f"{C}/records/r01"][0]
    verified(home)


def test_a_collections_readers_decide_its_records(home: RepoHome) -> None:
    home.snapshot()
    home.set_permissions(C, {"read": {EVERYONE}})
    home.put("collection", B, {"id": "c"})
    home.snapshot()
    entries = home.entries()
    assert not entries[f"{C}/records/r10"][1]
    assert entries[B][1] and entries[f"{B}/groups/friends"][1]
    home.set_permissions(C, {})
    home.put("collection", B, {"id": "c"})
    home.snapshot()
    assert home.entries()[f"{C}/records/r10"][1]


def test_accounts_are_always_private(home: RepoHome) -> None:
    home.put("account", "", {"id": "alice", "password": "hash"})
    home.set_permissions("/accounts/alice", {"read": {EVERYONE}})
    home.snapshot()
    oid, private = home.entries()["/accounts/alice"]
    assert private and home.sealed(oid)


def file_chunks(h: RepoHome, key: str) -> list[bytes]:
    entry = h.entries()[key][0]
    links = h.repo.links(entry)
    assert links is not None and len(links) == 1
    chunks = h.repo.links(links[0])
    assert chunks is not None
    return list(chunks)


def test_attachments_are_chunked_reused_and_appends_add_few_chunks(home: RepoHome) -> None:
    payload = random.Random(3).randbytes(3 * 1024 * 1024)
    key = f"{PUBC}/records/photo"
    digest = home.attach(PUBC, "photo", payload)
    first = home.snapshot()
    chunks = file_chunks(home, key)
    assert len(chunks) >= 8
    assert b"".join(home.repo.read(c)[2] for c in chunks) == payload
    assert first.new_bytes > len(payload)
    # the same file again (another record): nothing is read, no chunk is new
    home.put("record", PUBC, {"id": "copy", "attachment": {"hash": digest, "size": 1}})
    again = home.snapshot()
    assert again.new_objects <= 6 and again.new_bytes < 64 * 1024
    assert file_chunks(home, f"{PUBC}/records/copy") == chunks
    # an appended copy: only the last chunks change
    longer = payload + random.Random(4).randbytes(100 * 1024)
    home.attach(PUBC, "photo", longer)
    appended = home.snapshot()
    new_chunks = file_chunks(home, key)
    assert new_chunks[: len(chunks) - 1] == chunks[:-1]
    assert len(set(new_chunks) - set(chunks)) <= 4
    assert appended.new_bytes < 2 * 100 * 1024 + 64 * 1024 + 256 * 1024
    verified(home)


def test_an_unchanged_file_is_not_read_again(
    home: RepoHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = home.attach(C, "doc", os.urandom(200_000))
    home.snapshot()
    opened: list[str] = []
    real_open = open

    def spy(path: object, *args: object, **kw: object) -> object:
        opened.append(str(path))
        return real_open(path, *args, **kw)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", spy)
    home.put("record", C, {"id": "doc", "title": "renamed", "attachment": {"hash": digest}})
    result = home.snapshot()
    assert result.commit is not None
    assert not any(digest[2:] in p for p in opened)
    # control: a new file is read
    other = home.attach(C, "doc2", os.urandom(50_000))
    home.snapshot()
    assert any(other[2:] in p for p in opened)


def test_private_attachments_are_sealed_and_public_ones_plain(home: RepoHome) -> None:
    secret = b"secret diary " * 10_000
    home.attach(C, "diary", secret)
    home.attach(PUBC, "poster", b"public poster " * 10_000)
    home.snapshot()
    for key, sealed in ((f"{C}/records/diary", True), (f"{PUBC}/records/poster", False)):
        entry = home.entries()[key][0]
        (file_id,) = home.repo.links(entry) or ()
        assert home.sealed(file_id) is sealed
        assert all(home.sealed(c) is sealed for c in home.repo.links(file_id) or ())
    assert b"secret diary" not in home.export()
