"""Packs written before the transaction that indexes them (``Repository.write_pack``, what a
provider does outside its tenant lock), on SQLite and PostgreSQL: adopted, their objects read
back; taken by a repack before adoption, the caller finds out and writes again; never adopted,
discarded or left for repack and sweep, every object still read back whole."""

from __future__ import annotations

from homeport.core.objects import ObjectType
from homeport.repo.repository import Repository, RepositoryError
from homeport.store.objects_memory import MemoryObjectStore
from tests.unit.repo import test_packs
from tests.unit.repo.test_packs import Opener, chunk

opener = test_packs.opener  # the same repositories: SQLite and PostgreSQL


def damaged(repo: Repository) -> list[RepositoryError]:
    """What a scan of every indexed object finds wrong (what verify reports of the packs)."""
    return [found for _, found in repo.scan() if isinstance(found, RepositoryError)]


def test_a_written_pack_is_adopted_and_its_objects_read_back(opener: Opener) -> None:
    store = MemoryObjectStore()
    repo = opener(store)
    objects = [chunk(i) for i in range(10)]
    held = objects[3]
    with repo.transaction():
        assert repo.put(held[0], ObjectType.CHUNK, (), held[1], 0)

    written = repo.write_pack([stored for _, stored in objects])
    assert written.name in {name for name, _, _ in store.names()}
    with repo.transaction():
        assert repo.adopt_pack(written)
        new = [
            repo.put_written(written, i, oid, ObjectType.CHUNK, (), 0, received=1)
            for i, (oid, _) in enumerate(objects)
        ]

    assert new == [i != 3 for i in range(10)]  # one was held already: its copy is dead bytes
    assert [repo.raw(oid) for oid, _ in objects] == [stored for _, stored in objects]
    sizes = {u.name: u.size for u in repo.pack_usage()}
    assert sizes[written.name] == sum(len(stored) for _, stored in objects)
    assert damaged(repo) == []


def test_a_written_pack_a_repack_took_is_not_adopted(opener: Opener) -> None:
    """Nothing names a written pack until its adoption commits, so a repack may take it
    (a provider's garbage collection runs under the tenant lock the writer does not hold):
    ``adopt_pack`` says so and the objects are written again the ordinary way."""
    store = MemoryObjectStore()
    repo = opener(store)
    objects = [chunk(i) for i in range(5)]
    written = repo.write_pack([stored for _, stored in objects])

    repo.repack()
    assert written.name not in {u.name for u in repo.pack_usage()}
    with repo.transaction():
        assert not repo.adopt_pack(written)
        for oid, stored in objects:
            assert repo.put(oid, ObjectType.CHUNK, (), stored, 0)

    assert [repo.raw(oid) for oid, _ in objects] == [stored for _, stored in objects]
    repo.sweep_packs(grace_ms=0)
    assert written.name not in {name for name, _, _ in store.names()}
    assert damaged(repo) == []


def test_a_written_pack_never_adopted_is_discarded(opener: Opener) -> None:
    store = MemoryObjectStore()
    repo = opener(store)
    written = repo.write_pack([chunk(1)[1], chunk(2)[1]])

    repo.discard_pack(written)

    assert repo.pack_usage() == []
    assert list(store.names()) == []
