"""Every ObjectStore backend against the shipped conformance suite, plus what is particular to
the local-disk one (a full disk, leftovers of killed writes, cached handles) and the opener."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.store import objects_fs
from homeport.store.objects_fs import FsObjectStore
from homeport.store.objects_memory import MemoryObjectStore
from homeport.store.open import open_object_store
from homeport.store.protocols import ObjectStore, ObjectStoreFull
from homeport.testing.conformance_objects import ObjectStoreConformance


class TestMemoryObjectStore(ObjectStoreConformance):
    @pytest.fixture
    def objects(self) -> ObjectStore:
        return MemoryObjectStore()


class TestFsObjectStore(ObjectStoreConformance):
    @pytest.fixture
    def objects(self, tmp_path: Path) -> ObjectStore:
        return FsObjectStore(tmp_path / "packs")


class TestScopedFsObjectStore(ObjectStoreConformance):
    """A tenant's view of a shared store keeps every promise of the store itself."""

    @pytest.fixture
    def objects(self, tmp_path: Path) -> ObjectStore:
        shared = FsObjectStore(tmp_path / "shared")
        shared.put("other/x.pack", [b"another tenant's"])
        return shared.scoped("tenants/t9")


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_full_disk_is_objectstorefull_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FsObjectStore(tmp_path)
    store.put("old.pack", [b"kept"])
    real_fsync = os.fsync

    def no_room(fd: int) -> None:  # the kernel reports ENOSPC for delayed allocation at fsync
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(objects_fs.os, "fsync", no_room)
    with pytest.raises(ObjectStoreFull):
        store.put("new.pack", [b"x" * 100_000])
    monkeypatch.setattr(objects_fs.os, "fsync", real_fsync)
    assert _files(tmp_path) == [tmp_path / "old.pack"]
    assert [n for n, _, _ in store.names()] == ["old.pack"]


def test_memory_capacity_refuses_what_does_not_fit() -> None:
    store = MemoryObjectStore(capacity=10)
    store.put("a", [b"123456"])
    with pytest.raises(ObjectStoreFull):
        store.put("b", [b"12345"])
    assert store.size("b") is None
    store.put("a", [b"1234567890"])  # replacing frees the old bytes
    assert store.used() == 10


def test_sweep_removes_only_old_leftovers(tmp_path: Path) -> None:
    store = FsObjectStore(tmp_path)
    store.put("t/p.pack", [b"kept"])
    old = tmp_path / "t" / ".incoming-old"
    young = tmp_path / "t" / ".incoming-young"
    old.write_bytes(b"killed write")
    young.write_bytes(b"write in progress")
    stale = time.time() - 2 * objects_fs.STALE_INCOMING_SECONDS
    os.utime(old, (stale, stale))
    assert store.sweep_incoming() == 1
    assert not old.exists() and young.exists()
    assert [n for n, _, _ in store.names()] == ["t/p.pack"]  # leftovers are never listed


def test_handle_cache_is_bounded_and_survives_eviction(tmp_path: Path) -> None:
    store = FsObjectStore(tmp_path)
    for i in range(objects_fs.HANDLES + 10):
        store.put(f"{i}.pack", [str(i).encode() * 3])
        assert store.read(f"{i}.pack", 0, len(str(i))) == str(i).encode()
    assert len(store._handles) == objects_fs.HANDLES
    pieces: Iterator[bytes] = store.stream("0.pack")  # its handle was evicted long ago
    for i in range(objects_fs.HANDLES + 10):  # evict whatever the stream holds again
        store.read(f"{i}.pack", 0, 1)
    assert b"".join(pieces) == b"000"


def test_a_pack_replaced_by_this_store_is_not_read_through_a_stale_handle(
    tmp_path: Path,
) -> None:
    store = FsObjectStore(tmp_path)
    store.put("r.pack", [b"aaaa"])
    assert store.read("r.pack", 0, 4) == b"aaaa"
    store.put("r.pack", [b"bbbb"])
    assert store.read("r.pack", 0, 4) == b"bbbb"


def test_open_object_store(tmp_path: Path) -> None:
    assert isinstance(open_object_store("memory://"), MemoryObjectStore)
    by_url = open_object_store(f"file://{tmp_path}/a")
    assert isinstance(by_url, FsObjectStore) and by_url.root == tmp_path / "a"
    by_path = open_object_store(str(tmp_path / "b"))
    assert isinstance(by_path, FsObjectStore) and by_path.root == tmp_path / "b"
    by_path.put("x", [b"1"])
    assert open_object_store(str(tmp_path / "b")).read("x", 0, 1) == b"1"


@pytest.mark.parametrize("url", ["", "ftp://host/x", "file://relative/dir", "sqlite:///x.db"])
def test_open_object_store_refuses(url: str) -> None:
    with pytest.raises(ValueError):
        open_object_store(url)
